// WebGPU (Dawn, the `webgpu` package) behind a synchronous call. Read next: ../gpu.ts.
//
// The problem: every gpu.js webgpu kernel returns a Promise (readback is mapAsync), while a
// Backend kernel must return its array. The scheme: gpu.js and the Dawn device live in a worker
// thread; a call posts the arguments to it and blocks this thread in Atomics.wait on a shared
// flag. The worker runs the kernel, posts the result on a MessageChannel (its buffer transferred,
// not copied), and flips the flag; this thread wakes and takes the message synchronously with
// receiveMessageOnPort. Cost per call: one structured-clone copy of the arguments and a thread
// wake-up (tens of µs), small beside a GPU launch and readback.
//
//    main thread                              worker thread
//    flag = 0; post {key, args}   ───────▶    kernel = cache[key] ?? compile(source)
//    Atomics.wait(flag, 0)                    result = await kernel(...args)
//                                 ◀───────    port.post(result); flag = 1; notify
//    receiveMessageOnPort(port) → result
//
// The worker's code is a string run with `eval: true`, so the worker needs no TypeScript loader
// (bin/attngrad.mjs registers tsx in the main thread only). The adapter is created in the worker
// too (an adapter cannot cross threads). gpu.js asks navigator.gpu.requestAdapter() with no options
// (which finds nothing on Mesa without a display), so the worker's navigator.gpu is a stub that
// returns the adapter chosen here.

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import {
  MessageChannel,
  receiveMessageOnPort,
  Worker,
  type MessagePort,
} from 'node:worker_threads';
import type { KernelSpec } from './kernels.ts';
import { counters, countRun, type KernelRunner } from './runner.ts';

// Adapter discovery, shared by the probe (a child process) and the worker. Dawn's default backends
// come first (Vulkan on Linux), then its OpenGL ES backend in compatibility mode. Each Dawn
// instance is kept alive in `keep`: an instance collected while its adapter is in use crashes the
// process.
const findAdapterSource = String.raw`
const attempts = [
  ['default', [], { powerPreference: 'high-performance' }],
  ['opengles', ['backend=opengles'], { powerPreference: 'high-performance', featureLevel: 'compatibility' }],
];
const software = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i;
async function findAdapter(create, only, forced, keep) {
  const tried = [];
  for (const [name, flags, options] of attempts) {
    if (only && name !== only) continue;
    let adapter = null;
    try {
      const instance = create(flags);
      keep.push(instance);
      adapter = await instance.requestAdapter(options);
    } catch (e) {
      tried.push(name + ': ' + e.message);
      continue;
    }
    if (!adapter) {
      tried.push(name + ': no adapter');
      continue;
    }
    const info = adapter.info || {};
    const label = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ').trim() || 'unnamed adapter';
    const isSoftware = Boolean(info.isFallbackAdapter || adapter.isFallbackAdapter) || software.test(label);
    if (isSoftware && !forced) {
      tried.push(name + ': ' + label + ' (software)');
      continue;
    }
    return { adapter, name, label: label + ' via ' + name + (isSoftware ? ' (software)' : ''), tried };
  }
  return { adapter: null, tried };
}
`;

// The probe: a child process, so that Dawn's warnings on stderr ("Couldn't load Vulkan", ...) do
// not reach the user when the answer is "no GPU"; it prints the attempt that found an adapter (a
// real one unless forced), and the worker then creates only that one.
const probeSource = String.raw`${findAdapterSource}
const { create } = await import(process.argv[1]);
const found = await findAdapter(create, null, process.argv[2] === 'forced', []);
process.stdout.write(JSON.stringify({ name: found.adapter ? found.name : null, tried: found.tried }));
process.exit(0);
`;

const workerSource = String.raw`${findAdapterSource}
const { parentPort, workerData } = require('node:worker_threads');
const { port, flag, gpujsPath, webgpuUrl, only, forced } = workerData;
const keep = [];
const kernels = new Map();
let gpu = null;

async function init() {
  const { create, globals } = await import(webgpuUrl); // an ES module
  Object.assign(globalThis, globals);
  const found = await findAdapter(create, only, forced, keep);
  if (!found.adapter) return { ok: false, tried: found.tried };
  globalThis.navigator = { gpu: { requestAdapter: async () => found.adapter, getPreferredCanvasFormat: () => 'rgba8unorm' } };
  const { GPU } = require(gpujsPath);
  gpu = new GPU({ mode: 'webgpu' });
  return { ok: true, adapter: found.label, tried: found.tried };
}

async function run(msg) {
  let kernel = kernels.get(msg.key);
  if (!kernel) {
    kernel = gpu.createKernel(msg.source, { output: [msg.output], constants: msg.constants, precision: 'single' });
    kernels.set(msg.key, kernel);
  }
  const out = await kernel(...msg.args);
  return out instanceof Float32Array ? out.slice() : Float32Array.from(out);
}

parentPort.on('message', async (msg) => {
  if (msg.type === 'init') {
    parentPort.postMessage(await init().catch((e) => ({ ok: false, tried: ['init: ' + e.message] })));
    return;
  }
  try {
    const result = await run(msg);
    port.postMessage({ result }, [result.buffer]);
  } catch (e) {
    port.postMessage({ error: String((e && e.message) || e) });
  }
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

/**
 * How long a call may block before the bridge gives up (a first compile on llvmpipe takes ~0.4 s).
 */
const callTimeoutMs = 120_000;

export interface WebGpuProbe {
  runner: WebGpuRunner | null;
  /** The adapter in use, or why none was taken: one line. */
  detail: string;
}

/**
 * Start the worker and pick an adapter. `forced`: take a software adapter (llvmpipe) too.
 * Resolves with a runner, or with none and the adapters that were tried.
 */
export async function startWebGpu(forced: boolean): Promise<WebGpuProbe> {
  const require = createRequire(import.meta.url);
  let gpujsPath: string, webgpuUrl: string;
  try {
    [gpujsPath, webgpuUrl] = [
      require.resolve('gpu.js'),
      pathToFileURL(require.resolve('webgpu')).href,
    ];
  } catch {
    return { runner: null, detail: 'the webgpu package is not installed' };
  }
  // Dawn's OpenGL ES backend needs an EGL platform that works with no display; set here, in the
  // main thread, because a worker's process.env does not reach the C library's getenv
  process.env.EGL_PLATFORM ??= 'surfaceless';
  const probe = await probeAdapters(webgpuUrl, forced);
  if (!probe.name) return { runner: null, detail: probe.tried.join('; ') || 'no adapter' };
  const only = probe.name;
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(workerSource, {
    eval: true,
    workerData: { port: port2, flag, gpujsPath, webgpuUrl, only, forced },
    transferList: [port2],
  });
  const answer = await new Promise<{ ok: boolean; adapter?: string; tried: string[] }>(
    (resolve) => {
      worker.once('message', resolve);
      worker.once('error', (e) => resolve({ ok: false, tried: [`worker: ${e.message}`] }));
      worker.postMessage({ type: 'init' });
    },
  );
  if (!answer.ok) {
    await worker.terminate();
    return { runner: null, detail: answer.tried.join('; ') || 'no adapter' };
  }
  worker.unref(); // an idle bridge must not keep the process alive
  port1.unref();
  return { runner: new WebGpuRunner(worker, port1, flag), detail: answer.adapter! };
}

/**
 * Run the adapter search in a child process with its output captured: which attempt found a real
 * GPU.
 */
async function probeAdapters(
  webgpuUrl: string,
  forced: boolean,
): Promise<{ name: string | null; tried: string[] }> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', probeSource, webgpuUrl, forced ? 'forced' : 'real'],
      { timeout: 60_000, env: process.env, encoding: 'utf8' },
      (error, stdout) => {
        try {
          resolve(JSON.parse(stdout));
        } catch {
          resolve({
            name: null,
            tried: [`probe failed: ${error?.message.split('\n')[0] ?? 'no answer'}`],
          });
        }
      },
    );
  });
}

export class WebGpuRunner implements KernelRunner {
  readonly mode = 'webgpu';
  private known = new Set<string>();

  constructor(
    private worker: Worker,
    private port: MessagePort,
    private flag: Int32Array,
  ) {}

  run(spec: KernelSpec, args: readonly Float32Array[]): Float32Array {
    const fresh = !this.known.has(spec.key);
    Atomics.store(this.flag, 0, 0);
    // the source travels only with a key's first call; the worker caches the compiled kernel
    this.worker.postMessage({ ...spec, source: fresh ? spec.source : undefined, args });
    if (Atomics.wait(this.flag, 0, 0, callTimeoutMs) === 'timed-out') {
      throw new Error(`gpu webgpu: kernel ${spec.key} did not answer in ${callTimeoutMs / 1000} s`);
    }
    const reply = receiveMessageOnPort(this.port)?.message as
      { result?: Float32Array; error?: string } | undefined;
    if (!reply?.result)
      throw new Error(`gpu webgpu: kernel ${spec.key} failed: ${reply?.error ?? 'no reply'}`);
    if (fresh) {
      this.known.add(spec.key);
      counters.compiles++;
    }
    countRun(args, reply.result);
    return reply.result;
  }
}
