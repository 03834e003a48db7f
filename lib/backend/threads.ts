// The threaded CPU backend ('cpu-threads'): the CPU reference with its big kernels split across a
// worker pool, each override behind an `accepts` size test so small work stays on the calling
// thread, and matmul's inner loops in WebAssembly SIMD (wasm/matmul-kernel.ts) on every thread.
// Read next: threads/pool.ts (the fork-join), threads/jobs.ts (what a chunk computes).
//
// Every split runs the CPU kernel's own code on a piece of the output: matmul through matmulBlock
// on bands of rows (rows = batch × M) or of columns, whichever side is longer; unary ops and
// softmax (forward and backward) by calling the kernel on a slice of whole rows. Each output
// element is computed by the same operations in the same order whoever computes it, so the result
// is bitwise the CPU backend's for any thread count (the SIMD panel kernel does the reference's
// sums in the reference's order). Operands are copied into a shared arena and the output copied
// out (a memcpy, ~0.2 ns an element), small against what is split: ~0.1 ns a multiply-add in
// matmul, times K for each output element, and 20–80 ns an element for exp, tanh, erf and softmax.
// What stays on one thread: cheap or bandwidth-bound kernels (binary ops, norms, copies), and
// reductions, whose sums would change order with the split.

import type { Backend, MatmulArgs, UnaryOp } from './backend.ts';
import { cpuBackend } from './cpu.ts';
import { outRows } from './cpu/matmul.ts';
import { fastMatmul } from './wasm/matmul-kernel.ts';
import { dtypeOf, type TypedArray } from '../dtype.ts';
import { aroundDim, type Shape } from '../shape.ts';
import { jobLengths, jobViews, type Job, type MatmulJob } from './threads/jobs.ts';
import { arenaOf, getNumThreads, runJob } from './threads/pool.ts';

export { getNumThreads, setNumThreads, threadStats, type ThreadStats } from './threads/pool.ts';

// The size tests, measured on a shared 2-core VM (AMD EPYC, Node 20). A job costs ~0.05–0.1 ms
// (copies, waking a worker). matmul with the WebAssembly kernel does ~10^10 multiply-adds a second
// on one thread, so 2^22 is ~0.4 ms: alone, a split at 2^22–2^24 swings between 0.5× and 1.2×
// (the two cores often differ in speed by ~40%), and 1.6× at 2^26. Inside the reference train step
// (bench/train-step.ts, 20 steps, two runs each) splitting from 2^22 was fastest: 216 ms a step,
// against 233–247 from 2^24, 243–277 from 2^26, 270 never. exp, tanh, erf and softmax gain
// 1.3–1.7× from 2^15 elements; neg, abs, sign and relu cost a few ns an element, gain nothing at
// 2^16: they stay.
export const MIN_WORK = 1 << 22; // matmul: multiply-adds, M·N·K·batch
export const MIN_ELEMENTS = 1 << 15; // unary, softmax: elements
const CHEAP: ReadonlySet<UnaryOp> = new Set(['neg', 'abs', 'sign', 'relu']);
// Two chunks a thread: a thread slowed by another process hands part of its share to the others.
// One a thread is ~5% faster on an idle machine, four ~5% slower (each chunk repacks its operands).
const CHUNKS_PER_THREAD = 2;
// matmul: the fewest rows or columns in a chunk. A chunk packs all of op(B) for its columns (or
// all of op(A) for its rows), which another chunk packs too: cut into 64-row bands, products of
// the train step's shapes (1024 × 128–512 × 128–512) took 11–14% longer than in one call.
const MIN_EXTENT = 64;

/** A kernel override: `run` replaces the CPU kernel when `accepts` says the work is big enough. */
interface Override<Kernel extends (...args: never[]) => unknown> {
  accepts: (...args: Parameters<Kernel>) => boolean;
  run: Kernel;
}

/** matmul: split across the pool when big enough, else on this thread; both with the fast kernel. */
function matmul(args: MatmulArgs): TypedArray {
  const { a, b, aShape, bShape, outShape, transA, transB } = args;
  const K = aShape[aShape.length - (transA ? 2 : 1)];
  const rows = outRows(outShape), cols = outShape[outShape.length - 1];
  const splits = Math.max(rows, cols) >= 2 * MIN_EXTENT;
  if (getNumThreads() === 1 || !splits || rows * cols * K < MIN_WORK) return fastMatmul(args);
  // Cut the longer side: a row band repacks op(B) (K × cols), a column band op(A) (rows × K).
  const target = getNumThreads() * CHUNKS_PER_THREAD;
  const band = (n: number) => Math.max(MIN_EXTENT, Math.ceil(n / target));
  const [chunkRows, chunkCols] = rows >= cols ? [band(rows), cols] : [rows, band(cols)];
  const chunks = Math.ceil(rows / chunkRows) * Math.ceil(cols / chunkCols);
  const job: MatmulJob = {
    kernel: 'matmul', chunks, dtype: dtypeOf(a), rows, chunkRows, cols, chunkCols,
    aShape, bShape, outShape, transA, transB, aLength: a.length, bLength: b.length,
  };
  return run(job, [a, b]);
}

const unary: Override<Backend['unary']> = {
  accepts: (op, x) => getNumThreads() > 1 && x.length >= MIN_ELEMENTS && !CHEAP.has(op),
  run: (op: UnaryOp, x: TypedArray, param = 0) =>
    run({ kernel: 'unary', op, param, ...rowChunks(x, x.length, 1) }, [x]),
};

const softmax: Override<Backend['softmax']> = {
  // Rows are the dims before `dim`: with one row there is nothing to split.
  accepts: (x, shape, dim) =>
    getNumThreads() > 1 && x.length >= MIN_ELEMENTS && aroundDim(shape, dim)[0] > 1,
  run: (x: TypedArray, shape: Shape, dim: number, log: boolean) => {
    const [outer, n, inner] = aroundDim(shape, dim);
    return run({ kernel: 'softmax', n, inner, log, ...rowChunks(x, outer, n * inner) }, [x]);
  },
};

const softmaxBackward: Override<Backend['softmaxBackward']> = {
  accepts: (y, _dy, shape, dim) => softmax.accepts(y, shape, dim, false),
  run: (y: TypedArray, dy: TypedArray, shape: Shape, dim: number, log: boolean) => {
    const [outer, n, inner] = aroundDim(shape, dim);
    return run({ kernel: 'softmaxBackward', n, inner, log, ...rowChunks(y, outer, n * inner) }, [y, dy]);
  },
};

/** `rows` rows of `rowLength` elements, in CHUNKS_PER_THREAD chunks a thread. */
function rowChunks(x: TypedArray, rows: number, rowLength: number) {
  const chunkRows = Math.ceil(rows / (getNumThreads() * CHUNKS_PER_THREAD));
  return { chunks: Math.ceil(rows / chunkRows), dtype: dtypeOf(x), rows, chunkRows, rowLength };
}

/** Copy the inputs into the arena, run the job on the pool, return a private copy of the output. */
function run(job: Job, inputs: TypedArray[]): TypedArray {
  const elements = jobLengths(job).reduce((sum, n) => sum + n, 0);
  const arena = arenaOf(elements * inputs[0].BYTES_PER_ELEMENT); // one dtype: every view is aligned
  const views = jobViews(job, arena);
  inputs.forEach((x, i) => views[i].set(x));
  runJob(job, arena);
  return views[views.length - 1].slice(); // the arena is reused by the next job
}

/** Wrap a CPU kernel: the override runs when it accepts the call, the CPU kernel otherwise. */
function withOverride<Kernel extends (...args: never[]) => unknown>(
  cpu: Kernel, override: Override<Kernel>,
): Kernel {
  const kernel = (...args: Parameters<Kernel>) =>
    override.accepts(...args) ? override.run(...args) : cpu(...args);
  return kernel as Kernel;
}

export const threadedBackend = {
  ...cpuBackend,
  name: 'cpu-threads',
  matmul,
  unary: withOverride(cpuBackend.unary, unary),
  softmax: withOverride(cpuBackend.softmax, softmax),
  softmaxBackward: withOverride(cpuBackend.softmaxBackward, softmaxBackward),
} satisfies Backend;
