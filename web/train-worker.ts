// The playground's training worker: owns the Session, trains step after step while the page stays
// responsive, and answers the page's messages between steps (protocol.ts lists them). It runs the
// engine's thread pool (its own Web Workers, when the page is cross-origin isolated) and, when
// asked, gpu.js on WebGL through an OffscreenCanvas. Read next: session.ts, playground.ts.

import {
  backend,
  getNumThreads,
  gpuCounters,
  initWebGlBackend,
  poolStatus,
  registerBackend,
  setBackend,
  usePoolWorker,
  type GpuJs,
} from '../lib/browser.ts';
import { checkpointBytesConfig } from '../nn/portable.ts';
import { Session, type Settings } from './session.ts';
import type { BackendChoice, FromWorker, ToWorker } from './protocol.ts';

usePoolWorker(new URL('./pool-worker.js', import.meta.url));

const scope = globalThis as unknown as { postMessage(m: FromWorker, t: Transferable[]): void };
const post = (message: FromWorker, transfer: Transferable[] = []) =>
  scope.postMessage(message, transfer);
let session: Session | null = null;
let running = false;
let input = '';
let corpus: string | undefined;
let gpuLine: string | null = null;

/** The backend the user picked; gpu.js is loaded on first use. One line says what runs. */
async function useBackend(choice: BackendChoice): Promise<string> {
  if (choice === 'gpu') {
    if (gpuLine === null) {
      const module = (await import('gpu.js')) as unknown as { default?: GpuJs } & GpuJs;
      const init = initWebGlBackend(module.default ?? module, { force: true });
      if (init.backend) registerBackend(init.backend);
      gpuLine = init.reason;
    }
    if (!gpuLine.startsWith('gpu: gpu.js')) throw new Error(gpuLine);
    setBackend('gpu');
    return `${gpuLine}; ${poolStatus()}`;
  }
  setBackend(choice);
  return choice === 'cpu' ? 'cpu: the TypeScript reference kernels, one thread' : poolStatus();
}

async function corpusText(): Promise<string> {
  corpus ??= await (await fetch(new URL('./tinyshakespeare.txt', import.meta.url))).text();
  return corpus;
}

async function start(settings: Settings, choice: BackendChoice, steps: number): Promise<void> {
  running = false;
  const line = await useBackend(choice);
  session = new Session(settings, settings.task === 'text' ? await corpusText() : undefined);
  post({ type: 'started', backend: `${backend().name} — ${line}`, threads: getNumThreads() });
  running = true;
  void train(session, steps);
}

/** Train until `steps` or a stop; maps and outputs refresh about four times a second. */
async function train(run: Session, steps: number): Promise<void> {
  let shown = 0;
  while (running && run === session && run.step < steps) {
    const started = performance.now();
    const loss = run.trainStep();
    const ms = performance.now() - started;
    const { runs, cpuFallbacks } = gpuCounters();
    post({ type: 'step', step: run.step, loss, ms, gpuRuns: runs, cpuFallbacks });
    if (performance.now() - shown > 250 || run.step === steps) {
      inspect(run);
      shown = performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 0)); // let the page's messages in
  }
  if (run === session) post({ type: 'stopped', step: run.step });
}

function inspect(run: Session): void {
  if (!input) return;
  try {
    post({ type: 'inspect', ...run.inspect(input) });
  } catch (e) {
    post({ type: 'inputError', message: (e as Error).message });
  }
}

async function handle(message: ToWorker): Promise<void> {
  if (message.type === 'start') {
    input = message.input;
    return start(message.settings, message.backend, message.steps);
  }
  if (message.type === 'stop') return void (running = false);
  if (!session) throw new Error(`${message.type}: start a run first`);
  if (message.type === 'input') {
    input = message.input;
    return inspect(session);
  }
  if (message.type === 'save') {
    const bytes = session.save();
    return post({ type: 'checkpoint', bytes, step: session.step }, [bytes.buffer]);
  }
  if (message.type === 'load') {
    running = false;
    const { settings } = checkpointBytesConfig(message.bytes) as { settings: Settings };
    const text = settings.task === 'text' ? await corpusText() : undefined;
    const loaded = new Session(settings, text);
    loaded.load(message.bytes);
    session = loaded;
    post({ type: 'loaded', settings, step: loaded.step });
    return inspect(loaded);
  }
  if (message.type === 'logits') {
    post({ type: 'logits', id: message.id, values: session.logits(message.input) });
  }
}

addEventListener('message', (event: MessageEvent<ToWorker>) => {
  handle(event.data).catch((e: Error) => post({ type: 'error', message: e.message }));
});
post({ type: 'ready', status: poolStatus() });
