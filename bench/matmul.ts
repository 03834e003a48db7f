// Micro-benchmark: attngrad's packed CPU matmul kernel with its TypeScript micro-kernel and with
// its WebAssembly SIMD one, on one thread, and split across every core (the 'cpu-threads' backend),
// against tfjs-core's CPU backend, on float32 square matmuls with the
// same seeded inputs. Warm-up, then timed rounds that run each implementation in turn (so load
// from other processes hits them alike) and the median per implementation. Prints a markdown
// table and writes bench/results/matmul.json. Usage: npm run bench:matmul
// Read next: ../lib/backend/cpu/matmul.ts (the kernel and its scheme), ../lib/backend/threads.ts,
// ../lib/backend/wasm/matmul-kernel.ts.

import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { matmul } from '../lib/backend/cpu/matmul.ts';
import { setNumThreads, threadStats, threadedBackend } from '../lib/backend/threads.ts';
import { wasmPanelKernel } from '../lib/backend/wasm/matmul-kernel.ts';
import { manualSeed, random } from '../lib/random.ts';
import { resultsDir, tf, writeAtomic } from './harness.ts';

await tf.setBackend('cpu');

const SIZES = [128, 512, 1024];
const TFJS = 'tfjs-cpu (@tensorflow/tfjs-backend-cpu)';
const THREADS = availableParallelism(); // the threaded row uses every core

interface Row {
  size: number;
  impl: string;
  threads: number;
  medianMs: number;
  gflops: number;
  ratioVsTfjsCpu: number;
}

/** Warm up each (JIT, caches), then time `reps` rounds of one run each; the medians in ms. */
function medians(runs: (() => void)[], warmup: number, reps: number): number[] {
  for (const run of runs) for (let i = 0; i < warmup; i++) run();
  const times = runs.map((): number[] => []);
  for (let i = 0; i < reps; i++) {
    runs.forEach((run, r) => {
      const start = performance.now();
      run();
      times[r].push(performance.now() - start);
    });
  }
  return times.map((t) => {
    t.sort((x, y) => x - y);
    const mid = t.length >> 1;
    return t.length % 2 ? t[mid] : (t[mid - 1] + t[mid]) / 2;
  });
}

function uniform(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 2 * random() - 1;
  return x;
}

/** Start the pool's workers; wait until they take chunks (they boot in 0.5–1 s: they load tsx). */
function startPool(threads: number): void {
  setNumThreads(threads);
  const n = 256,
    a = uniform(n * n);
  const args = {
    a,
    b: a,
    aShape: [n, n],
    bShape: [n, n],
    outShape: [n, n],
    transA: false,
    transB: false,
  };
  const deadline = Date.now() + 30_000;
  while (threadStats().workerChunks < 100 && Date.now() < deadline) threadedBackend.matmul(args);
}

if (THREADS > 1) startPool(THREADS);
const rows: Row[] = [];
for (const n of SIZES) {
  manualSeed(42);
  const a = uniform(n * n),
    b = uniform(n * n);
  // Small sizes are timed more often: their runs are short, noisier, and take longer to reach
  // V8's optimised code.
  const [warmup, reps] = n <= 128 ? [100, 101] : n <= 512 ? [5, 11] : [2, 7];

  const [aShape, bShape, outShape] = [
    [n, n],
    [n, n],
    [n, n],
  ];
  const args = { a, b, aShape, bShape, outShape, transA: false, transB: false };
  const ours = () => {
    matmul(args);
  };
  const simd = wasmPanelKernel();
  const oursSimd = () => {
    if (simd) matmul(args, simd);
  };
  const split = () => {
    threadedBackend.matmul(args);
  };
  const ta = tf.tensor2d(a, [n, n]),
    tb = tf.tensor2d(b, [n, n]);
  const theirs = () => {
    const c = tf.matMul(ta, tb);
    c.dataSync(); // the CPU backend is synchronous, but read back as any user would
    c.dispose();
  };

  // Same inputs, same answer: guard against timing a broken kernel.
  const wantTensor = tf.matMul(ta, tb);
  const want = wantTensor.dataSync();
  wantTensor.dispose();
  const got = matmul(args);
  let maxErr = 0;
  for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
  if (maxErr > 1e-3) throw new Error(`bench matmul ${n}: attngrad and tfjs-cpu differ (${maxErr})`);
  // The SIMD kernel and the threaded backend compute every element as the CPU kernel does:
  // bitwise the same.
  const same = (other: ArrayLike<number>) => got.every((x, i) => Object.is(x, other[i]));
  if (simd && !same(matmul(args, simd)))
    throw new Error(`bench matmul ${n}: the SIMD kernel differs`);
  if (!same(threadedBackend.matmul(args)))
    throw new Error(`bench matmul ${n}: threads differ from 1`);

  const impls: [string, number, () => void][] = [
    ['attngrad cpu (packed 4×4, TypeScript)', 1, ours],
    [TFJS, 1, theirs],
  ];
  if (simd) impls.push(['attngrad packed 4×4, WebAssembly SIMD', 1, oursSimd]);
  if (THREADS > 1) impls.push([`attngrad cpu-threads (${THREADS} threads)`, THREADS, split]);
  const ms = medians(
    impls.map(([, , run]) => run),
    warmup,
    reps,
  );
  ta.dispose();
  tb.dispose();
  const flop = 2 * n ** 3,
    tfMs = ms[1];
  impls.forEach(([impl, threads], i) => {
    const gflops = flop / ms[i] / 1e6;
    rows.push({ size: n, impl, threads, medianMs: ms[i], gflops, ratioVsTfjsCpu: tfMs / ms[i] });
  });
}

console.log('| size | impl | median ms | GFLOP/s | ratio vs tfjs-cpu |');
console.log('|---:|---|---:|---:|---:|');
for (const r of rows) {
  const cells = [`${r.size}³`, r.impl, r.medianMs.toFixed(2), r.gflops.toFixed(2)];
  console.log(`| ${cells.join(' | ')} | ${r.ratioVsTfjsCpu.toFixed(2)}× |`);
}
const cores = availableParallelism();
console.log(`\nratio = tfjs-cpu median / this median (above 1: faster). float32, ${cores} cores.`);

const file = join(resultsDir, 'matmul.json');
const result = {
  bench: 'matmul',
  dtype: 'float32',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores,
  tfjsBackend: tf.getBackend(),
  rows,
};
writeAtomic(file, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${file}`);
