// Shared machinery of the benchmarks: loading tfjs (cpu and wasm backends), finding which attngrad
// engines exist (threads, GPU.js), timing with warm-up and medians, seeded inputs, atomic writes.
// Read next: cases.ts (what is timed), train-step.ts, benchmark.ts (the driver).
//
// Timing. Every measured function is warmed up first (JIT, caches, lazily built kernels), then
// timed in one of two ways, picked from the warm-up time of one call:
// - under FAST_MS per call: the `benchmark` package (Benchmark.js). It batches many calls into each
//   sample until the sample outlasts its minTime, so a 50 µs op is not at the mercy of the timer,
//   and its samples' median is what we report.
// - slower calls: our own loop, one call per sample. Benchmark.js runs an untimed "pretest" call
//   before every cycle, which doubles the cost of a 1 s op and buys nothing once one call already
//   dwarfs the timer's resolution; on a shared 2-core machine that time is better spent on samples.
// Either way the row keeps the median and the min–max spread of its samples.

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as TF from '@tensorflow/tfjs-core';
import * as lib from '../lib/index.ts';
import { random } from '../lib/random.ts';
import { writeFileAtomic } from '../nn/atomic-write.ts';

export const require = createRequire(import.meta.url);
export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

// ---- tfjs ----
// tfjs-core's ES build imports directories, which Node's ESM loader refuses: load it with require.
export const tf = require('@tensorflow/tfjs-core') as typeof TF;
require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-core/dist/register_all_gradients'); // tf.grads needs the gradient table
// Production mode, as a user timing tfjs would run it; it also silences the "install tfjs-node"
// banner. (IS_TEST, used by the tests, would add a per-kernel leak check to every timed call.)
tf.enableProdMode();

export type TfBackendName = 'cpu' | 'wasm';
let wasmReady: Promise<string | null> | null = null;

/** Registers the wasm backend once; resolves to a description, or null (with a printed reason). */
function loadWasm(): Promise<string | null> {
  wasmReady ??= (async () => {
    try {
      const wasm = require('@tensorflow/tfjs-backend-wasm');
      const dist =
        join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
      wasm.setWasmPaths(dist);
      if (!(await tf.setBackend('wasm'))) throw new Error('tf.setBackend("wasm") returned false');
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
      return `tfjs-backend-wasm ${wasm.version_wasm}, ${simd}, ${wasm.getThreadsCount()} thread(s)`;
    } catch (e) {
      console.warn(`tfjs-wasm unavailable, its rows are skipped: ${(e as Error).message}`);
      return null;
    }
  })();
  return wasmReady;
}

/** Switch tfjs to a backend. Tensors are created after switching, so none migrates between them. */
export async function useTf(name: TfBackendName): Promise<void> {
  if (name === 'wasm' && !(await loadWasm())) throw new Error('tfjs-wasm is not available');
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`);
}

// ---- the implementations compared ----
export interface Impl {
  id: string; // attngrad, attngrad-1t, attngrad-gpu-<mode>, tfjs-cpu, tfjs-wasm
  framework: 'attngrad' | 'tfjs';
  label: string; // the backend spelled out, for the legend
  enter(): Promise<void>;
  leave(): Promise<void>;
}

/** A promise that rejects after `ms` (a probe of a native GPU stack must not hang the bench). */
function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)),
  );
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * attngrad's engines: 'attngrad' is the threaded backend ('cpu-threads') on all threads,
 * 'attngrad-1t' the same backend on one (as tfjs-wasm runs in Node). initGpuBackend adds
 * 'attngrad-gpu-<mode>' for the mode it picks by itself (a real adapter; none on a CPU-only
 * machine) and for each mode forced with BENCH_GPU_MODES=webgpu,headlessgl,webasm,cpu (software
 * modes are slow: a 1024³ matmul takes seconds, see docs/gpujs.md, so they are opt-in to keep `npm
 * run bench` under 10 minutes).
 */
export async function attngradImpls(notes: string[]): Promise<Impl[]> {
  const all = availableParallelism();
  const home = lib.backend().name; // the backend lib starts with, restored after every impl
  const use = (backendName: string, n: number) => async () => {
    lib.setBackend(backendName);
    lib.setNumThreads(n);
  };
  const leave = async () => {
    lib.setNumThreads(all);
    lib.setBackend(home);
  };
  const impls: Impl[] = [
    {
      id: 'attngrad',
      framework: 'attngrad',
      label: `attngrad 'cpu-threads' backend, ${all} threads`,
      enter: use('cpu-threads', all),
      leave,
    },
    {
      id: 'attngrad-1t',
      framework: 'attngrad',
      label: "attngrad 'cpu-threads' backend, 1 thread",
      enter: use('cpu-threads', 1),
      leave,
    },
  ];
  if (process.env.BENCH_GPU === '0') {
    notes.push('BENCH_GPU=0: no attngrad-gpu-<mode> rows.');
    return impls;
  }
  const forced = (process.env.BENCH_GPU_MODES ?? '').split(',').filter(Boolean);
  for (const mode of [undefined, ...forced]) {
    try {
      // gpu.js may pick another mode than asked (headless-gl without a display runs webasm), so the
      // row is named by the mode that ran
      const got = await withTimeout(
        lib.initGpuBackend({ mode } as lib.GpuBackendOptions),
        30_000,
        `gpu.js ${mode ?? 'auto'}: initGpuBackend did not answer in 30 s`,
      );
      if (!got.backend) {
        notes.push(`gpu.js ${mode ?? 'auto'}: ${got.reason}`);
        continue;
      }
      const backend = got.backend,
        ran = String(got.mode ?? mode);
      if (impls.some((i) => i.id === `attngrad-gpu-${ran}`)) continue;
      const enter = async () => {
        lib.registerBackend(backend); // modes share the name 'gpu': register this one again
        lib.setBackend(backend.name);
      };
      impls.push({
        id: `attngrad-gpu-${ran}`,
        framework: 'attngrad',
        label: `attngrad gpu.js ${ran}: ${got.reason}`,
        enter,
        leave: async () => lib.setBackend(home),
      });
    } catch (e) {
      notes.push(
        `gpu.js ${mode ?? 'auto'} did not initialise: ${(e as Error).message.split('\n')[0]}`,
      );
    }
  }
  lib.setBackend(home);
  return impls;
}

export async function tfjsImpls(notes: string[]): Promise<Impl[]> {
  const impls: Impl[] = [];
  const core = `tfjs-core ${tf.version_core}`;
  const cpuVersion = (require('@tensorflow/tfjs-backend-cpu/package.json') as { version: string })
    .version;
  impls.push({
    id: 'tfjs-cpu',
    framework: 'tfjs',
    label: `${core} + tfjs-backend-cpu ${cpuVersion} (plain JS, 1 thread)`,
    enter: () => useTf('cpu'),
    leave: async () => {},
  });
  const wasm = await loadWasm();
  if (wasm) {
    impls.push({
      id: 'tfjs-wasm',
      framework: 'tfjs',
      label: `${core} + ${wasm}`,
      enter: () => useTf('wasm'),
      leave: async () => {},
    });
  } else notes.push('tfjs-wasm did not load: no tfjs-wasm rows.');
  await useTf('cpu');
  return impls;
}

// ---- timing ----
export interface Timing {
  msMedian: number;
  msMin: number;
  msMax: number;
  samples: number;
  timer: 'benchmark.js' | 'loop';
}

const Benchmark = require('benchmark') as typeof import('benchmark');
const FAST_MS = 30;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b),
    mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarize(ms: number[], timer: Timing['timer']): Timing {
  return {
    msMedian: median(ms),
    msMin: Math.min(...ms),
    msMax: Math.max(...ms),
    samples: ms.length,
    timer,
  };
}

/**
 * Warm up `run`, then time it (see the header for the two paths). `budgetMs` bounds the timed
 * part for slow calls: samples = budget / call time, clamped to [minSamples, 15].
 */
export function time(run: () => void, { budgetMs = 2500, minSamples = 5 } = {}): Timing {
  run(); // cold call: compiles, allocates
  let t = performance.now();
  run();
  const warmMs = performance.now() - t;
  if (warmMs < FAST_MS) {
    for (let i = 0; i < 3; i++) run();
    const bench = new Benchmark('case', run, {
      minSamples: Math.max(minSamples, 9),
      maxTime: budgetMs / 1e3 / 2,
      minTime: 0.05,
      initCount: 1,
    });
    bench.run({ async: false });
    if (bench.error) throw bench.error;
    return summarize(
      bench.stats.sample.map((s) => s * 1e3),
      'benchmark.js',
    );
  }
  const n = Math.min(15, Math.max(minSamples, Math.round(budgetMs / warmMs)));
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    t = performance.now();
    run();
    ms.push(performance.now() - t);
  }
  return summarize(ms, 'loop');
}

// ---- command-line flags of the bench scripts ----
/**
 * The word after `name` (say '--steps') on the command line, or undefined when the flag is absent.
 */
export function flagValue(name: string): string | undefined {
  const args = process.argv.slice(2),
    i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/**
 * A positive-integer flag, `fallback` when absent; anything else throws, naming the script and
 * flag.
 */
export function countFlag(script: string, name: string, fallback: number): number {
  const text = flagValue(name),
    value = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${script}: ${name} needs a positive integer, got '${text}'`);
  return value;
}

// ---- inputs, checks, output ----
/** Uniform in [-scale, scale) from attngrad's seeded generator: the same numbers for every impl. */
export function uniform(n: number, scale = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = scale * (2 * random() - 1);
  return x;
}

/** max |got − want| / max(|want|): 0 for identical arrays, ~1e-7 for float32 rounding noise. */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let err = 0,
    scale = 1e-30;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return Number.isFinite(err) ? err / scale : Infinity;
}

/**
 * Create the folder, then write atomically (../nn/atomic-write.ts), so a reader never sees half a
 * file.
 */
export function writeAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileAtomic(file, text);
}

export function machine(): { node: string; cpu: string; cores: number; date: string } {
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    date: new Date().toISOString(),
  };
}

export const fmtMs = (ms: number) =>
  ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
