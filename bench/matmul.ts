// Micro-benchmark: attngrad's packed CPU matmul in both precisions (sums in float64 or float32),
// with its TypeScript micro-kernels and its WebAssembly SIMD ones on one thread (the f32x4 one
// also with its panels packed in TypeScript rather than WebAssembly), and split across
// every core (the 'cpu-threads' backend), against tfjs-core's CPU and wasm backends, on float32
// square matmuls with the same seeded inputs. Warm-up, then timed rounds that run each
// implementation in turn (so load from other processes hits them alike) and the median per
// implementation; tfjs-wasm is timed in a second pass (switching tfjs backends is asynchronous).
// `--tiles` adds the f32x4 kernel with other tiles and blockings, one thread. Prints a markdown
// table and writes bench/results/matmul.json. Usage: npm run bench:matmul [-- --tiles]
// Read next: ../lib/backend/cpu/matmul.ts (the kernel and its scheme), ../lib/backend/threads.ts,
// ../lib/backend/wasm/matmul-kernel.ts.

import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import type { MatmulArgs } from '../lib/backend/backend.ts';
import {
  matmul,
  setMatmulPrecision,
  tsPanelKernel,
  tsPanelKernelF32,
  type Blocking,
  type MatmulPrecision,
  type PanelKernel,
  type Panels,
} from '../lib/backend/cpu/matmul.ts';
import { setNumThreads, threadStats, threadedBackend } from '../lib/backend/threads.ts';
import {
  F32_BLOCKING,
  wasmPanelKernel,
  wasmPanelKernelF32,
  wasmPanelKernelF32With,
} from '../lib/backend/wasm/matmul-kernel.ts';
import { manualSeed } from '../lib/random.ts';
import { resultsDir, tf, tfjsImpls, uniform, useTf, writeAtomic } from './harness.ts';

const SIZES = [128, 512, 1024];
const THREADS = availableParallelism(); // the threaded rows use every core
// --tiles: the f32x4 tiles and blockings compared with the default (4×8, kc 256, mc 64, nc 512)
const TILES: Blocking[] = [
  { mr: 4, nr: 4, kc: 256, mc: 64, nc: 256, mb: 1024 },
  { mr: 6, nr: 8, kc: 256, mc: 66, nc: 256, mb: 1056 },
  { mr: 8, nr: 8, kc: 256, mc: 64, nc: 256, mb: 1024 },
  { mr: 4, nr: 12, kc: 256, mc: 64, nc: 252, mb: 1024 },
  { mr: 4, nr: 8, kc: 256, mc: 64, nc: 256, mb: 1024 },
  { mr: 4, nr: 8, kc: 512, mc: 64, nc: 512, mb: 1024 },
];

interface Row {
  size: number;
  impl: string;
  sums: MatmulPrecision | 'tfjs';
  threads: number;
  medianMs: number;
  gflops: number;
  ratioVsTfjsCpu: number;
  ratioVsTfjsWasm: number | null;
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

/** Small sizes are timed more often: their runs are short, noisier, and slower to reach V8's
 * optimised code. */
const rounds = (n: number): [number, number] =>
  n <= 128 ? [100, 101] : n <= 512 ? [5, 11] : [2, 7];

const square = (a: Float32Array, b: Float32Array, n: number): MatmulArgs => ({
  a,
  b,
  aShape: [n, n],
  bShape: [n, n],
  outShape: [n, n],
  transA: false,
  transB: false,
});

/** Start the pool's workers; wait until they take chunks (they boot in 0.5–1 s: they load tsx). */
function startPool(threads: number): void {
  setNumThreads(threads);
  const n = 256,
    a = uniform(n * n);
  const deadline = Date.now() + 30_000;
  while (threadStats().workerChunks < 100 && Date.now() < deadline)
    threadedBackend.matmul(square(a, a, n));
}

/** tfjs's product on its active backend, read back as any user would. */
function tfMatmul(a: Float32Array, b: Float32Array, n: number): () => Float32Array {
  const ta = tf.tensor2d(a, [n, n]),
    tb = tf.tensor2d(b, [n, n]);
  return () => {
    const c = tf.matMul(ta, tb);
    const out = c.dataSync() as Float32Array;
    c.dispose();
    return out;
  };
}

/** The threaded backend at `precision` (set for the call, then put back to the default). */
const threaded = (args: MatmulArgs, precision: MatmulPrecision) => () => {
  setMatmulPrecision(precision);
  threadedBackend.matmul(args);
  setMatmulPrecision('float32');
};

const [f64Simd, f32Simd] = [wasmPanelKernel(), wasmPanelKernelF32()];
if (!f64Simd || !f32Simd) throw new Error('bench matmul: WebAssembly SIMD is missing');
const tile = ({ mr, nr, kc, nc }: Blocking) => `${mr}×${nr}, kc ${kc}, nc ${nc}`;
const kernels: [string, MatmulPrecision, PanelKernel<Panels>][] = [
  ['attngrad TypeScript 4×4', 'float64', tsPanelKernel],
  ['attngrad TypeScript 4×4', 'float32', tsPanelKernelF32],
  ['attngrad WebAssembly f64x2 4×4', 'float64', f64Simd],
  [`attngrad WebAssembly f32x4 ${tile(F32_BLOCKING)}`, 'float32', f32Simd],
  // the same kernel packing its panels in TypeScript, as before matmul-pack.ts
  ['attngrad f32x4, packed in TypeScript', 'float32', { ...f32Simd, packer: undefined }],
];
if (process.argv.includes('--tiles')) {
  for (const blocking of TILES)
    kernels.push([`f32x4 ${tile(blocking)}`, 'float32', wasmPanelKernelF32With(blocking)!]);
}

await useTf('cpu');
if (THREADS > 1) startPool(THREADS);
const rows: Row[] = [];
const inputs = new Map<number, [Float32Array, Float32Array]>();
for (const n of SIZES) {
  manualSeed(42);
  const a = uniform(n * n),
    b = uniform(n * n);
  inputs.set(n, [a, b]);
  const args = square(a, b, n);
  const theirs = tfMatmul(a, b, n);

  // Same inputs, same answer: guard against timing a broken kernel. Each precision's kernels and
  // thread counts give the same bits; the two precisions and tfjs agree to float32 rounding.
  const want = theirs();
  const references = {
    float32: matmul(args, tsPanelKernelF32),
    float64: matmul(args, tsPanelKernel),
  };
  for (const [impl, precision, kernel] of kernels) {
    const got = matmul(args, kernel);
    if (!got.every((x, i) => Object.is(x, references[precision][i])))
      throw new Error(`bench matmul ${n}: ${impl} differs from its reference`);
    let maxErr = 0;
    for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
    if (maxErr > 1e-3)
      throw new Error(`bench matmul ${n}: ${impl} and tfjs-cpu differ by ${maxErr}`);
  }
  for (const precision of ['float32', 'float64'] as const) {
    setMatmulPrecision(precision);
    const [got, one] = [threadedBackend.matmul(args), matmul(args)];
    if (!got.every((x, i) => Object.is(x, one[i])))
      throw new Error(`bench matmul ${n}: ${THREADS} threads differ from 1 (${precision})`);
  }
  setMatmulPrecision('float32');

  const impls: [string, MatmulPrecision | 'tfjs', number, () => void][] = [
    ...kernels.map(([impl, precision, kernel]): [string, MatmulPrecision, number, () => void] => [
      impl,
      precision,
      1,
      () => void matmul(args, kernel),
    ]),
    ['tfjs-cpu (@tensorflow/tfjs-backend-cpu)', 'tfjs', 1, theirs],
  ];
  if (THREADS > 1) {
    for (const precision of ['float64', 'float32'] as const)
      impls.push([`attngrad cpu-threads`, precision, THREADS, threaded(args, precision)]);
  }
  const ms = medians(
    impls.map(([, , , run]) => run),
    ...rounds(n),
  );
  const tfMs = ms[kernels.length],
    flop = 2 * n ** 3;
  impls.forEach(([impl, sums, threads], i) => {
    const gflops = flop / ms[i] / 1e6;
    rows.push({
      size: n,
      impl,
      sums,
      threads,
      medianMs: ms[i],
      gflops,
      ratioVsTfjsCpu: tfMs / ms[i],
      ratioVsTfjsWasm: null,
    });
  });
}

// tfjs-wasm, in a pass of its own; its ratio is filled in for every row of the same size.
const wasm = (await tfjsImpls([])).find((impl) => impl.id === 'tfjs-wasm');
if (wasm) {
  await wasm.enter();
  for (const n of SIZES) {
    const [a, b] = inputs.get(n)!;
    const [ms] = medians([tfMatmul(a, b, n)], ...rounds(n));
    const same = rows.filter((r) => r.size === n);
    for (const r of same) r.ratioVsTfjsWasm = ms / r.medianMs;
    rows.push({
      size: n,
      impl: wasm.label,
      sums: 'tfjs',
      threads: 1,
      medianMs: ms,
      gflops: (2 * n ** 3) / ms / 1e6,
      ratioVsTfjsCpu: same.find((r) => r.impl.startsWith('tfjs-cpu'))!.medianMs / ms,
      ratioVsTfjsWasm: 1,
    });
  }
}

console.log('| size | impl | sums | threads | median ms | GFLOP/s | vs tfjs-cpu | vs tfjs-wasm |');
console.log('|---:|---|---|---:|---:|---:|---:|---:|');
for (const r of [...rows].sort((x, y) => x.size - y.size)) {
  const cells = [`${r.size}³`, r.impl, r.sums, r.threads, r.medianMs.toFixed(2)];
  const wasmRatio = r.ratioVsTfjsWasm === null ? '–' : `${r.ratioVsTfjsWasm.toFixed(2)}×`;
  console.log(
    `| ${cells.join(' | ')} | ${r.gflops.toFixed(2)} | ${r.ratioVsTfjsCpu.toFixed(2)}× | ${wasmRatio} |`,
  );
}
const cores = availableParallelism();
console.log(
  `\nratio = tfjs median / this median (above 1: faster). float32 inputs, ${cores} cores; ` +
    `sums: the precision the products are summed in.`,
);

const file = join(resultsDir, 'matmul.json');
const result = {
  bench: 'matmul',
  dtype: 'float32',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores,
  tfjsWasm: wasm?.label ?? null,
  rows,
};
writeAtomic(file, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${file}`);
