// bench/harness.ts for a browser: the bench page's bundle uses this module in its place (web/build.ts
// swaps it), so bench/train-step.ts and bench/cases.ts run unchanged in a Web Worker: the same
// seeded weights, batches and kernel cases as `npm run bench`. What differs is the platform: tfjs
// from its browser builds (cpu, wasm, webgl), attngrad's threads as Web Workers and its GPU backend
// on WebGL, flags from the page's query string (?steps=10), and a plain timing loop instead of
// Benchmark.js. Read next: bench-worker.ts.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as lib from '../lib/browser.ts';
import { random } from '../lib/random.ts';
// type-only, so erased from the bundle: the Node harness's shapes, which this module must match
import type { Impl, Timing } from '../bench/harness.ts';

export { tf };
export type { Impl, Timing };
tf.enableProdMode();
setWasmPaths(new URL('./', import.meta.url).href); // the .wasm files sit beside the bundle

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b),
    mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarize(ms: number[], timer: Timing['timer']): Timing {
  const [msMin, msMax] = [Math.min(...ms), Math.max(...ms)];
  return { msMedian: median(ms), msMin, msMax, samples: ms.length, timer };
}

/** Warm up `run` twice, then one call a sample until `budgetMs` is spent (3 to 15 samples). */
export function time(run: () => void, budgetMs = 1500): Timing {
  run();
  run();
  const ms: number[] = [];
  const end = performance.now() + budgetMs;
  while (ms.length < 3 || (ms.length < 15 && performance.now() < end)) {
    const t = performance.now();
    run();
    ms.push(performance.now() - t);
  }
  return summarize(ms, 'loop');
}

/** Uniform in [-scale, scale) from attngrad's seeded generator: the same numbers for every impl. */
export function uniform(n: number, scale = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = scale * (2 * random() - 1);
  return x;
}

/** A flag from the page's query string: `?steps=20` is --steps 20. */
export function flagValue(name: string): string | undefined {
  const search = (globalThis as { location?: { search: string } }).location?.search ?? '';
  return new URLSearchParams(search).get(name.replace(/^--/, '')) ?? undefined;
}

export function countFlag(script: string, name: string, fallback: number): number {
  const text = flagValue(name),
    value = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${script}: ${name} needs a positive integer, got '${text}'`);
  return value;
}

/**
 * attngrad's engines here: 'cpu-threads' on every thread the pool has (Web Workers, when the page
 * is cross-origin isolated) and on one, and gpu.js on WebGL (forced: in headless Chromium it is
 * SwiftShader, a CPU renderer) with the Node backend's size thresholds.
 */
export async function attngradImpls(notes: string[]): Promise<Impl[]> {
  const all = lib.getNumThreads();
  const use = (name: string, n: number) => async () => {
    lib.setBackend(name);
    lib.setNumThreads(n);
  };
  const leave = async () => {
    lib.setNumThreads(all);
    lib.setBackend('cpu-threads');
  };
  const impls: Impl[] = [
    {
      id: 'attngrad',
      framework: 'attngrad',
      label: `attngrad 'cpu-threads', ${lib.poolStatus()}`,
      enter: use('cpu-threads', all),
      leave,
    },
  ];
  if (all > 1) {
    const label = "attngrad 'cpu-threads', 1 thread";
    impls.push({
      id: 'attngrad-1t',
      framework: 'attngrad',
      label,
      enter: use('cpu-threads', 1),
      leave,
    });
  }
  const gpujs = (await import('gpu.js')) as unknown as { default?: lib.GpuJs } & lib.GpuJs;
  const gpu = lib.initWebGlBackend(gpujs.default ?? gpujs, { force: true });
  if (gpu.backend) {
    lib.registerBackend(gpu.backend);
    const id = `attngrad-gpu-${gpu.mode}`;
    impls.push({ id, framework: 'attngrad', label: gpu.reason, enter: use('gpu', all), leave });
  } else notes.push(gpu.reason);
  return impls;
}

/** tfjs on each browser backend that starts here, by its own name. */
export async function tfjsImpls(notes: string[]): Promise<Impl[]> {
  const impls: Impl[] = [];
  for (const name of ['cpu', 'wasm', 'webgl']) {
    try {
      if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
      const label = `tfjs-core ${tf.version_core}, backend ${name}`;
      const enter = async () => void (await tf.setBackend(name));
      impls.push({ id: `tfjs-${name}`, framework: 'tfjs', label, enter, leave: async () => {} });
    } catch (e) {
      notes.push(`tfjs-${name} did not start: ${(e as Error).message}`);
    }
  }
  await tf.setBackend('cpu');
  return impls;
}
