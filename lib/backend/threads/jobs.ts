// What a pool job carries, and how any thread (the main one or a worker) runs one chunk of it.
// A job is plain data, posted to every worker; its operands and output live in the shared arena.
// Every chunk runs the CPU reference's own code on its share (matmul with the SIMD panel kernel,
// which sums as the reference does), so results never depend on the split.
// Read next: ../cpu/matmul.ts (matmulBlock, the code a matmul chunk runs).

import type { DType, TypedArray } from '../../dtype.ts';
import type { Shape } from '../../shape.ts';
import type { UnaryOp } from '../backend.ts';
import { unaryInto } from '../cpu/elementwise.ts';
import { matmulBlock } from '../cpu/matmul.ts';
import { fastPanelKernel } from '../wasm/matmul-kernel.ts';
import { softmaxBackwardInto, softmaxInto } from '../cpu/softmax.ts';

interface Chunked {
  chunks: number;
  dtype: DType;
  rows: number; // the work is `rows` independent rows, cut into chunks of `chunkRows`
  chunkRows: number;
}

/**
 * out = op(A)·op(B) cut into blocks: bands of `chunkRows` of the output's rows across the batch
 * (batch × M) times bands of `chunkCols` columns (N); chunk c is row band ⌊c / b⌋ and column
 * band c mod b, with b the number of column bands.
 */
export interface MatmulJob extends Chunked {
  kernel: 'matmul';
  cols: number;
  chunkCols: number;
  aShape: Shape;
  bShape: Shape;
  outShape: Shape;
  transA: boolean;
  transB: boolean;
  aLength: number;
  bLength: number;
}

/** Kernels whose rows are independent: a chunk is the CPU kernel on rows [lo, hi) of x. */
interface RowsJob extends Chunked {
  rowLength: number;
}
export interface UnaryJob extends RowsJob {
  kernel: 'unary'; // rows of length 1: every element is its own row
  op: UnaryOp;
  param: number;
}
export interface SoftmaxJob extends RowsJob {
  kernel: 'softmax' | 'softmaxBackward'; // x (or y and dy) as (rows, n, inner), softmax along n
  n: number;
  inner: number;
  log: boolean;
}

export type Job = MatmulJob | UnaryJob | SoftmaxJob;

/** A job as posted to the workers: `gen` tells a current job from a stale one. */
export interface Post {
  gen: number;
  job: Job;
  arena: SharedArrayBuffer;
}

interface ViewConstructor {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray;
  BYTES_PER_ELEMENT: number;
}
const constructors: Record<DType, ViewConstructor> = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array,
};

/** Lengths of the job's inputs then its output: [a, b, out], [y, dy, dx] or [x, out]. */
export function jobLengths(job: Job): number[] {
  if (job.kernel === 'matmul') return [job.aLength, job.bLength, job.rows * job.cols];
  const length = job.rows * job.rowLength;
  return job.kernel === 'softmaxBackward' ? [length, length, length] : [length, length];
}

/** The job's inputs then its output as views of the arena, end to end in the job's dtype. */
export function jobViews(job: Job, arena: SharedArrayBuffer): TypedArray[] {
  const Ctor = constructors[job.dtype];
  let offset = 0;
  return jobLengths(job).map((length) => {
    const view = new Ctor(arena, offset * Ctor.BYTES_PER_ELEMENT, length);
    offset += length;
    return view;
  });
}

export function chunkRunner(job: Job, arena: SharedArrayBuffer): (chunk: number) => void {
  const { rows, chunkRows } = job;
  const range = (chunk: number) => [chunk * chunkRows, Math.min(rows, (chunk + 1) * chunkRows)];
  if (job.kernel === 'matmul') {
    const [a, b, out] = jobViews(job, arena);
    const { aShape, bShape, outShape, transA, transB, cols, chunkCols } = job;
    const args = { a, b, aShape, bShape, outShape, transA, transB };
    const bands = Math.ceil(cols / chunkCols);
    return (chunk) => {
      const [lo, hi] = range(Math.floor(chunk / bands));
      const j0 = (chunk % bands) * chunkCols;
      matmulBlock(args, out, lo, hi, j0, Math.min(cols, j0 + chunkCols), fastPanelKernel());
    };
  }
  const { rowLength } = job;
  const rowsOf = (a: TypedArray, lo: number, hi: number) => a.subarray(lo * rowLength, hi * rowLength);
  // The CPU kernel on rows [lo, hi), writing them straight into the shared output (a chunk
  // allocates nothing: garbage in a worker's heap is collected late and bloats the process).
  if (job.kernel === 'softmaxBackward') {
    const [y, dy, dx] = jobViews(job, arena);
    return (chunk) => {
      const [lo, hi] = range(chunk);
      softmaxBackwardInto(rowsOf(y, lo, hi), rowsOf(dy, lo, hi), [hi - lo, job.n, job.inner], 1, job.log, rowsOf(dx, lo, hi));
    };
  }
  const [x, out] = jobViews(job, arena);
  const kernel = job.kernel === 'unary'
    ? (xs: TypedArray, to: TypedArray) => unaryInto(job.op, xs, job.param, to)
    : (xs: TypedArray, to: TypedArray) => softmaxInto(xs, [xs.length / rowLength, job.n, job.inner], 1, job.log, to);
  return (chunk) => {
    const [lo, hi] = range(chunk);
    kernel(rowsOf(x, lo, hi), rowsOf(out, lo, hi));
  };
}
