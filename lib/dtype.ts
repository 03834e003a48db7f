// Data types: each dtype is a typed-array constructor. Read next: shape.ts.

import { noteAllocated, reuse } from './storage-pool.ts';

export type DType = 'float32' | 'float64' | 'int32';
export type TypedArray = Float32Array | Float64Array | Int32Array;

const constructors = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64' || x === 'int32';
}

/** An array of `size`: a released one where the pool has one (storage-pool.ts), else a new one. */
function take(dtype: DType, size: number, zeroed: boolean): TypedArray {
  const Ctor = constructors[dtype];
  const a = reuse(Ctor, size, zeroed) ?? new Ctor(size);
  noteAllocated(a);
  return a;
}

/** Zeros of `dtype`. */
export const allocate = (dtype: DType, size: number): TypedArray => take(dtype, size, true);

/** A copy of x[start, end) in an array of its own (not zeroed first: every element is written). */
export function copyOf(x: TypedArray, start = 0, end = x.length): TypedArray {
  const a = take(dtypeOf(x), end - start, false);
  a.set(x.subarray(start, end));
  return a;
}

export function dtypeOf(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return 'int32';
}

export function isFloat(dtype: DType): boolean {
  return dtype !== 'int32';
}

/** Copy `values` into a new array of `dtype` (rounds when going to float32 or int32). */
export function castArray(values: ArrayLike<number>, dtype: DType): TypedArray {
  const out = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i];
  return out;
}
