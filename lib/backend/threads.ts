// The threaded CPU backend ('cpu-threads'): the CPU reference with its big kernels split across a
// worker pool, each override behind an `accepts` size test so small work stays on the calling
// thread, and matmul's inner loops in WebAssembly SIMD (wasm/matmul-kernel.ts) on every thread,
// split or not, as are softmax's row exps (wasm/exp-kernel.ts) and, on the calling thread, float32
// softmax along the last dim (wasm/softmax-kernel.ts), float32 binary ops, a Linear's epilogue,
// relu's gradient and column sums (wasm/elementwise-kernel.ts), and float32 LayerNorm and RMSNorm
// (wasm/norm-kernel.ts).
// Read next: threads/pool.ts (the fork-join), threads/jobs.ts (the arena layout).
//
// Adding a threaded kernel is one entry in `splits` below: when the call is worth splitting
// (`accepts`), how it is cut into chunks (`plan`), and what one chunk computes (`chunk`, which
// the workers look up by the kernel's name; it writes into the shared output, as the CPU kernels'
// `...Into` forms do). The overrides, the pool and the workers need no edit, and backend.ts's
// table of what runs where wants its row.
//
// Every split runs the CPU kernel's own code on a piece of the output: matmul through matmulBlock
// on bands of rows (rows = batch × M) or of columns, whichever side is longer; unary ops and
// softmax (forward and backward) by calling the kernel on a slice of whole rows; norms on the
// TypeScript loops by rows, and their dγ, dβ by columns (threads/norm.ts). Each output
// element is computed by the same operations in the same order whoever computes it, so the result
// is bitwise the CPU backend's for any thread count (the SIMD panel kernel does the reference's
// sums in the reference's order). Operands are copied into a shared arena and the output copied
// out (a memcpy, ~0.2 ns an element), small against what is split: ~0.1 ns a multiply-add in
// matmul, times K for each output element, 20–80 ns an element for exp, tanh, erf, and 3–10 for
// softmax on the SIMD row exp.
// What stays on one thread: cheap or bandwidth-bound kernels (binary ops, copies, the float32
// softmax rows), and reductions, whose sums would change order with the split.

import type { Backend, KernelName, MatmulArgs, UnaryOp } from './backend.ts';
import { cpuBackend } from './cpu.ts';
import { unaryInto } from './cpu/elementwise.ts';
import { fusedAttentionBackwardOn, fusedAttentionOn } from './cpu/fused-attention.ts';
import { getMatmulPrecision, matmulBlock, outRows, type MatmulPrecision } from './cpu/matmul.ts';
import {
  softmaxBackwardInto,
  softmaxBackwardOn,
  softmaxInto,
  softmaxOn,
  usesRowExp,
} from './cpu/softmax.ts';
import { fusedAttentionSplits } from './threads/fused-attention.ts';
import { normSplits } from './threads/norm.ts';
import { overrideBackend, type Override, type Overrides } from './override.ts';
import { fastRowExp } from './wasm/exp-kernel.ts';
import { fastSoftmaxExps } from './wasm/softmax-kernel.ts';
import {
  fastBiasActivation,
  fastBinary,
  fastReduce,
  fastReluBackward,
} from './wasm/elementwise-kernel.ts';
import { fastMatmul, fastPanelKernel, fastPanels } from './wasm/matmul-kernel.ts';
import { fastNorm, fastNormBackward } from './wasm/norm-kernel.ts';
import { copyOf, dtypeOf, type TypedArray } from '../dtype.ts';
import { aroundDim, type Shape } from '../shape.ts';
import { jobViews, type Job } from './threads/jobs.ts';
import { arenaOf, getNumThreads, runJob } from './threads/pool.ts';

export { getNumThreads, setNumThreads, threadStats, type ThreadStats } from './threads/pool.ts';

// The size tests, measured on a shared 2-core VM (AMD EPYC, Node 20). A job costs ~0.05–0.1 ms
// (copies, waking a worker). matmul with the WebAssembly kernel does ~10^10 multiply-adds a second
// on one thread, so 2^22 is ~0.4 ms: alone, a split at 2^22–2^24 swings between 0.5× and 1.2×
// (the two cores often differ in speed by ~40%), and 1.6× at 2^26. Inside the reference train step
// (bench/train-step.ts, 20 steps, two runs each) splitting from 2^22 was fastest: 216 ms a step,
// against 233–247 from 2^24, 243–277 from 2^26, 270 never. Re-measured with sums in float32
// (f32x4, ~2×10^10 multiply-adds a second, packing in WebAssembly; quiet, Intel, README "Why
// matmul is fast"): alone, 2^23 products lose (1.07–1.20× the time), 2^24 gain (0.83–0.97×), 2^26
// 0.67–0.79×; inside the train step 2^22, 2^24, 2^26 and never were level (matmul 84–90 ms a
// step), so it stays at 2^22, where sums in doubles want it (0.85–0.94× at 2^23). exp, tanh,
// erf and softmax gain 1.3–1.7× from 2^15 elements; neg, abs, sign and relu cost a few ns an
// element, gain nothing at 2^16: they stay.
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

/** What a split call becomes: the job's params (plain data), its chunks, its operands. */
export interface Plan<P> {
  params: P; // posted to every worker with the job
  chunks: number;
  inputs: TypedArray[]; // copied into the arena, in this order, then the output's `outLength`
  outLength: number;
}

/**
 * A kernel the pool can split. `accepts`: is this call worth splitting (2+ threads is checked
 * for every kernel, once, below); `plan`: the job for the call; `chunk`: what any thread runs for
 * chunk c, over the arena's views (the inputs, then the output). Every chunk runs the CPU
 * kernel's own code on its share of the output, so the result never depends on the split.
 */
export interface Split<K extends KernelName, P> {
  accepts: (...args: Parameters<Backend[K]>) => boolean;
  plan: (...args: Parameters<Backend[K]>) => Plan<P>;
  chunk: (params: P, views: TypedArray[]) => (chunk: number) => void;
  /** The kernel's result from the job's output, where it is not that array itself. */
  result?: (out: TypedArray, ...args: Parameters<Backend[K]>) => ReturnType<Backend[K]>;
}

/** Row kernels: `rows` independent rows of `rowLength` elements, cut into runs of whole rows. */
interface Rows {
  rows: number;
  chunkRows: number;
  rowLength: number;
}

/** `rows` rows in CHUNKS_PER_THREAD chunks a thread. */
function rowPlan<P>(params: P, rows: number, rowLength: number, inputs: TypedArray[]) {
  const chunkRows = Math.ceil(rows / (getNumThreads() * CHUNKS_PER_THREAD));
  const chunks = Math.ceil(rows / chunkRows);
  const outLength = rows * rowLength;
  return { params: { ...params, rows, chunkRows, rowLength }, chunks, inputs, outLength };
}

/**
 * A row kernel's chunk: `kernel` on rows [lo, hi) of every view, written straight into the
 * shared output (a chunk allocates no arrays: garbage in a worker's heap is collected late and
 * bloats the process).
 */
const byRows =
  <P extends Rows>(kernel: (params: P, views: TypedArray[], rows: number) => void) =>
  (params: P, views: TypedArray[]) =>
  (chunk: number) => {
    const { rows, chunkRows, rowLength } = params;
    const lo = chunk * chunkRows,
      hi = Math.min(rows, lo + chunkRows);
    kernel(
      params,
      views.map((v) => v.subarray(lo * rowLength, hi * rowLength)),
      hi - lo,
    );
  };

// Rows are the dims before `dim`: with one row there is nothing to split. The float32 row kernel
// (wasm/softmax-kernel.ts: float32 precision, the last dim) stays on the calling thread: the
// arena's copies in and out cost about what it does, and on 2 threads it took more time
// at 2^16, 2^18 and 2^21 elements (1.2–3.8×, forward and backward, at load 0.6 and 3.5).
const softmaxAccepts = (x: TypedArray, shape: Shape, dim: number) => {
  const [outer, , inner] = aroundDim(shape, dim);
  return x.length >= MIN_ELEMENTS && outer > 1 && !(inner === 1 && usesRowExp(x));
};

/**
 * softmax (forward or backward) as rows: the dims before `dim`, each of n × inner elements; which
 * exp (`poly`: the SIMD row exp, else exp.ts) is the calling thread's choice (a worker's own
 * precision setting may differ).
 */
function softmaxPlan(shape: Shape, dim: number, log: boolean, inputs: TypedArray[]) {
  const [outer, n, inner] = aroundDim(shape, dim);
  return rowPlan({ n, inner, log, poly: usesRowExp(inputs[0]) }, outer, n * inner, inputs);
}
type SoftmaxParams = Rows & { n: number; inner: number; log: boolean; poly: boolean };

/**
 * matmul: out = op(A)·op(B) cut into blocks: bands of `chunkRows` of the output's rows across
 * the batch (batch × M) times bands of `chunkCols` columns (N); chunk c is row band ⌊c / b⌋ and
 * column band c mod b, with b the number of column bands. Each block is matmulBlock with the
 * SIMD panel kernel of the calling thread's matmul precision (a worker's own setting may differ).
 */
type MatmulShapes = Omit<MatmulArgs, 'a' | 'b'>;
type MatmulParams = MatmulShapes & {
  chunkRows: number;
  chunkCols: number;
  precision: MatmulPrecision;
};
const matmulSplit: Split<'matmul', MatmulParams> = {
  accepts: (args) => {
    const { rows, cols, K } = matmulSize(args);
    return Math.max(rows, cols) >= 2 * MIN_EXTENT && rows * cols * K >= MIN_WORK;
  },
  plan: ({ a, b, ...shapes }) => {
    const { rows, cols } = matmulSize(shapes);
    // Cut the longer side: a row band repacks op(B) (K × cols), a column band op(A) (rows × K).
    const target = getNumThreads() * CHUNKS_PER_THREAD;
    const band = (n: number) => Math.max(MIN_EXTENT, Math.ceil(n / target));
    const [chunkRows, chunkCols] = rows >= cols ? [band(rows), cols] : [rows, band(cols)];
    const chunks = Math.ceil(rows / chunkRows) * Math.ceil(cols / chunkCols);
    const params = { ...shapes, chunkRows, chunkCols, precision: getMatmulPrecision() };
    return { params, chunks, inputs: [a, b], outLength: rows * cols };
  },
  chunk: ({ chunkRows, chunkCols, precision, ...shapes }, [a, b, out]) => {
    const { rows, cols } = matmulSize(shapes);
    const bands = Math.ceil(cols / chunkCols);
    return (chunk) => {
      const r0 = Math.floor(chunk / bands) * chunkRows,
        j0 = (chunk % bands) * chunkCols;
      const r1 = Math.min(rows, r0 + chunkRows),
        j1 = Math.min(cols, j0 + chunkCols);
      matmulBlock({ a, b, ...shapes }, out, r0, r1, j0, j1, fastPanels(a, precision));
    };
  },
};

/** The output's rows (batch × M), its columns (N) and K, the length of each dot product. */
function matmulSize({ aShape, outShape, transA }: MatmulShapes) {
  const K = aShape[aShape.length - (transA ? 2 : 1)];
  return { rows: outRows(outShape), cols: outShape[outShape.length - 1], K };
}

/** Every kernel the pool splits, by name. */
const splits = {
  matmul: matmulSplit,
  unary: {
    accepts: (op, x) => x.length >= MIN_ELEMENTS && !CHEAP.has(op),
    plan: (op, x, param = 0) => rowPlan({ op, param }, x.length, 1, [x]),
    chunk: byRows(({ op, param }, [x, out]) => unaryInto(op, x, param, out)),
  } satisfies Split<'unary', Rows & { op: UnaryOp; param: number }>,
  softmax: {
    accepts: (x, shape, dim) => softmaxAccepts(x, shape, dim),
    plan: (x, shape, dim, log) => softmaxPlan(shape, dim, log, [x]),
    chunk: byRows(({ n, inner, log, poly }, [x, out], rows) =>
      softmaxInto(x, [rows, n, inner], 1, log, out, poly ? fastSoftmaxExps() : null),
    ),
  } satisfies Split<'softmax', SoftmaxParams>,
  softmaxBackward: {
    accepts: (y, _dy, shape, dim) => softmaxAccepts(y, shape, dim),
    plan: (y, dy, shape, dim, log) => softmaxPlan(shape, dim, log, [y, dy]),
    chunk: byRows(({ n, inner, log, poly }, [y, dy, dx], rows) =>
      softmaxBackwardInto(y, dy, [rows, n, inner], 1, log, dx, poly ? fastSoftmaxExps() : null),
    ),
  } satisfies Split<'softmaxBackward', SoftmaxParams>,
  ...fusedAttentionSplits,
  ...normSplits,
};

export type SplitKernel = keyof typeof splits;

/** A split with its types erased, for the code that treats every split alike. */
type AnySplit = Split<KernelName, unknown> & {
  accepts: (...args: unknown[]) => boolean;
  plan: (...args: unknown[]) => Plan<unknown>;
  result?: (out: TypedArray, ...args: unknown[]) => unknown;
};
const splitOf = (kernel: SplitKernel) => splits[kernel] as unknown as AnySplit;

/** What any thread runs for one chunk of `job` (the workers call this too). */
export const chunkRunner = (job: Job, arena: SharedArrayBuffer): ((chunk: number) => void) =>
  splitOf(job.kernel).chunk(job.params, jobViews(job, arena));

/**
 * Copy the inputs into the arena, run the job on the pool, return a private copy of the output
 * (allocated like any kernel's, so backward can hand it back for reuse: ../storage-pool.ts).
 */
function runSplit(kernel: SplitKernel, args: unknown[]): TypedArray {
  const { params, chunks, inputs, outLength } = splitOf(kernel).plan(...args);
  const lengths = [...inputs.map((x) => x.length), outLength];
  const job: Job = { kernel, chunks, dtype: dtypeOf(inputs[0]), lengths, params };
  const elements = lengths.reduce((sum, n) => sum + n, 0);
  const arena = arenaOf(elements * inputs[0].BYTES_PER_ELEMENT); // one dtype: every view is aligned
  const views = jobViews(job, arena);
  inputs.forEach((x, i) => views[i].set(x));
  runJob(job, arena, chunkRunner(job, arena));
  return copyOf(views[views.length - 1]); // the arena is reused by the next job
}

const overrides: Overrides = {};
for (const kernel of Object.keys(splits) as SplitKernel[]) {
  const override: Override<(...args: unknown[]) => unknown> = {
    accepts: (...args) => getNumThreads() > 1 && splitOf(kernel).accepts(...args),
    run: (...args) => {
      const out = runSplit(kernel, args);
      return splitOf(kernel).result?.(out, ...args) ?? out;
    },
  };
  (overrides as Record<SplitKernel, unknown>)[kernel] = override;
}

/**
 * 'cpu' with matmul's SIMD panel kernel on every call (fused attention's tile products too, and
 * its exps and softmax's on the SIMD row exp), the f32x4 elementwise kernels, and the splits above
 * as overrides.
 */
export const threadedBackend: Backend = overrideBackend(
  'cpu-threads',
  {
    ...cpuBackend,
    matmul: fastMatmul,
    binary: fastBinary,
    biasActivation: fastBiasActivation,
    reluBackward: fastReluBackward,
    reduce: fastReduce,
    norm: fastNorm,
    normBackward: fastNormBackward,
    softmax: softmaxOn(fastSoftmaxExps),
    softmaxBackward: softmaxBackwardOn(fastSoftmaxExps),
    fusedAttention: fusedAttentionOn(fastPanelKernel, fastRowExp),
    fusedAttentionBackward: fusedAttentionBackwardOn(fastPanelKernel, fastRowExp),
  },
  overrides,
);
