// What a pool job carries: plain data, posted to every worker, with its operands and output end to
// end in a shared arena. What a chunk computes is the job's kernel's entry in `splits` in
// ../threads.ts, where a worker looks it up by name. Read next: pool.ts.

import type { DType, TypedArray } from '../../dtype.ts';
import type { SplitKernel } from '../threads.ts';

export interface Job {
  kernel: SplitKernel;
  chunks: number;
  dtype: DType; // of every operand and the output
  lengths: number[]; // elements of each input, then of the output
  params: unknown; // what every chunk needs to know (shapes, flags): the split's own record
}

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
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
};

/** The job's inputs then its output as views of the arena, end to end in the job's dtype. */
export function jobViews(job: Job, arena: SharedArrayBuffer): TypedArray[] {
  const Ctor = constructors[job.dtype];
  let offset = 0;
  return job.lengths.map((length) => {
    const view = new Ctor(arena, offset * Ctor.BYTES_PER_ELEMENT, length);
    offset += length;
    return view;
  });
}
