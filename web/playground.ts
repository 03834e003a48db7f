// The playground page: settings in a form, training in a worker (train-worker.ts) so the page stays
// responsive, a live loss curve, attention heatmaps per layer × head for the typed input
// (report/heatmap.ts, the grid `attngrad viz` draws), greedy and sampled outputs, and checkpoints
// downloaded and loaded as safetensors files. Plain DOM and SVG. Read next: train-worker.ts.

import { attentionNames, positionNames } from '../models/config.ts';
import { heatmapGridSvg, type Heatmap } from '../report/heatmap.ts';
import { lineChartSvg } from '../report/line-chart.ts';
import { defaultSettings, taskChoices, type Settings, type TaskChoice } from './session.ts';
import type { BackendChoice, FromWorker, ToWorker } from './protocol.ts';

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = byId<HTMLFormElement>('settings');
const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
const show = (id: string, text: string) => void (byId(id).textContent = text);

const sampleInputs: Record<TaskChoice, string> = {
  reverse: 'a b c d e f',
  recall: 'a 1 c 7 e 4 g 2 e',
  text: 'ROMEO:',
};

const worker = new Worker(new URL('./train-worker.js', import.meta.url), { type: 'module' });
const send = (message: ToWorker, transfer: Transferable[] = []) =>
  worker.postMessage(message, transfer);

let losses: [number, number][] = [];
let curveDrawn = 0;
const pendingLogits = new Map<number, (values: Float32Array) => void>();

function fillForm(): void {
  const options = (name: string, values: readonly string[]) =>
    (field(name).innerHTML = values.map((v) => `<option>${v}</option>`).join(''));
  options('task', taskChoices);
  options('attention', attentionNames);
  options('position', positionNames);
  for (const [key, value] of Object.entries(defaultSettings)) {
    if (form.elements.namedItem(key)) field(key).value = String(value);
  }
  field('steps').value = '300';
  byId<HTMLInputElement>('input').value = sampleInputs[defaultSettings.task];
  field('task').addEventListener('change', () => {
    byId<HTMLInputElement>('input').value = sampleInputs[field('task').value as TaskChoice];
  });
}

function readSettings(): Settings {
  const number = (name: string) => Number(field(name).value);
  return {
    task: field('task').value as TaskChoice,
    attention: field('attention').value as Settings['attention'],
    position: field('position').value as Settings['position'],
    layers: number('layers'),
    heads: number('heads'),
    width: number('width'),
    batch: number('batch'),
    lr: number('lr'),
    seed: number('seed'),
    block: defaultSettings.block,
  };
}

/** Put an SVG into `id`, given a viewBox so that CSS can scale it to the column's width. */
function drawSvg(id: string, svg: string): void {
  const box = byId(id);
  box.innerHTML = svg;
  const element = box.querySelector('svg');
  if (element && !element.getAttribute('viewBox')) {
    const [w, h] = ['width', 'height'].map((k) => element.getAttribute(k));
    element.setAttribute('viewBox', `0 0 ${w} ${h}`);
  }
}

function drawCurve(force = false): void {
  if (!force && performance.now() - curveDrawn < 200) return;
  curveDrawn = performance.now();
  const series = [{ name: 'training loss', points: losses, color: '#1f77b4' }];
  drawSvg('curve', lineChartSvg('training loss', 'step', 'loss', series));
}

/** One panel per layer × head, rows = queries, columns = keys; future keys hatched (causal). */
function drawMaps(tokens: string[], maps: { layer: number; head: number; values: Float32Array }[]) {
  const T = tokens.length;
  const masked = Float32Array.from({ length: T * T }, (_, k) =>
    k % T > Math.floor(k / T) ? 1 : 0,
  );
  const layers = Math.max(...maps.map((m) => m.layer)) + 1;
  const grid: Heatmap[][] = Array.from({ length: layers }, (_, l) =>
    maps
      .filter((m) => m.layer === l)
      .map((m) => ({
        title: `layer ${l + 1} head ${m.head + 1}`,
        rows: tokens,
        cols: tokens,
        values: m.values,
        masked,
      })),
  );
  const options = { maskedLabel: 'future (causal mask)' };
  drawSvg('heatmaps', heatmapGridSvg('attention (queries × keys)', grid, options));
}

worker.addEventListener('message', (event: MessageEvent<FromWorker>) => {
  const m = event.data;
  if (m.type === 'ready') show('status', m.status);
  if (m.type === 'started') {
    show('backend', m.backend);
    setRunning(true);
  }
  if (m.type === 'step') {
    losses.push([m.step, m.loss]);
    const gpu =
      m.gpuRuns + m.cpuFallbacks > 0
        ? `, gpu.js kernels ${m.gpuRuns}, below its size thresholds on the CPU ${m.cpuFallbacks}`
        : '';
    const line = `step ${m.step}  loss ${m.loss.toFixed(4)}  ${m.ms.toFixed(1)} ms/step${gpu}`;
    show('stats', line);
    drawCurve();
  }
  if (m.type === 'stopped') {
    drawCurve(true);
    setRunning(false);
  }
  if (m.type === 'inspect') {
    show('input-error', '');
    show('greedy', m.greedy);
    show('sampled', m.sampled);
    if (m.maps) drawMaps(m.tokens, m.maps);
    else show('heatmaps', 'this mixer forms no attention weights to draw');
  }
  if (m.type === 'inputError') show('input-error', m.message);
  if (m.type === 'checkpoint') download(m.bytes, m.step);
  if (m.type === 'loaded') {
    for (const [key, value] of Object.entries(m.settings)) {
      if (form.elements.namedItem(key)) field(key).value = String(value);
    }
    show('stats', `loaded a checkpoint at step ${m.step}`);
    byId<HTMLButtonElement>('save').disabled = false;
  }
  if (m.type === 'logits') pendingLogits.get(m.id)?.(m.values);
  if (m.type === 'error') {
    show('input-error', m.message);
    console.warn(`worker: ${m.message}`);
    setRunning(false);
  }
});

function setRunning(running: boolean): void {
  byId<HTMLButtonElement>('train').disabled = running;
  byId<HTMLButtonElement>('stop').disabled = !running;
  byId<HTMLButtonElement>('save').disabled = false;
}

function download(bytes: Uint8Array, step: number): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  const link = document.createElement('a');
  link.href = url;
  link.download = `playground-step${step}.safetensors`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  losses = [];
  const steps = Number(field('steps').value);
  const input = byId<HTMLInputElement>('input').value;
  const backend = field('backend').value as BackendChoice;
  send({ type: 'start', settings: readSettings(), backend, steps, input });
});
byId('stop').addEventListener('click', () => send({ type: 'stop' }));
byId('save').addEventListener('click', () => send({ type: 'save' }));
byId<HTMLInputElement>('load').addEventListener('change', async (event) => {
  const file = (event.target as HTMLInputElement).files?.[0];
  if (file) {
    const bytes = await file.arrayBuffer();
    send({ type: 'load', bytes }, [bytes]);
  }
});
byId<HTMLInputElement>('input').addEventListener('input', (event) =>
  send({ type: 'input', input: (event.target as HTMLInputElement).value }),
);

let nextId = 0;
/** For tests and the console: the losses so far, and the model's logits on `input`. */
const playground = {
  losses: () => losses.map(([, loss]) => loss),
  logits: (input: string) =>
    new Promise<number[]>((resolve) => {
      const id = nextId++;
      pendingLogits.set(id, (values) => resolve(Array.from(values)));
      send({ type: 'logits', id, input });
    }),
};
Object.assign(globalThis, { playground });

fillForm();
