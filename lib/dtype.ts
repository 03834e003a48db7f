// Data types: each dtype is a typed-array constructor. Read next: shape.ts.

import { noteAllocated, reuse } from './storage-pool.ts';

export type DType = 'float32' | 'float64' | 'int32';
export type TypedArray = Float32Array | Float64Array | Int32Array;

const constructors = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64' || x === 'int32';
}

/** Zeros of `dtype`: a released array of that length where the pool has one (storage-pool.ts). */
export function allocate(dtype: DType, size: number): TypedArray {
  const Ctor = constructors[dtype];
  const a = reuse(Ctor, size) ?? new Ctor(size);
  noteAllocated(a);
  return a;
}

/** A copy of x[start, end) in an array of its own: a released one where the pool has one. */
export function copyOf(x: TypedArray, start = 0, end = x.length): TypedArray {
  const Ctor = constructors[dtypeOf(x)];
  const a = reuse(Ctor, end - start, false) ?? new Ctor(end - start);
  a.set(x.subarray(start, end));
  noteAllocated(a);
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
