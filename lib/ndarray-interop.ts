// Interop with the scijs ecosystem: a Tensor as an ndarray view (shared data) and back (a copy).

import ndarray, { type NdArray } from 'ndarray';
import ops from 'ndarray-ops';
import { allocate, dtypeOf, type TypedArray } from './dtype.ts';
import { stridesOf } from './shape.ts';
import { Tensor } from './tensor.ts';

/** An ndarray over the tensor's own buffer: writes through it change the tensor. */
export function toNdarray(t: Tensor): NdArray<TypedArray> {
  return ndarray(t.data, [...t.shape], stridesOf(t.shape));
}

/** A contiguous copy of any ndarray (strided, sliced, transposed) of a float or int32 array. */
export function fromNdarray(a: NdArray<TypedArray>): Tensor {
  if (!(
    a.data instanceof Float32Array ||
    a.data instanceof Float64Array ||
    a.data instanceof Int32Array
  )) {
    throw new Error('fromNdarray: data must be a Float32Array, Float64Array or Int32Array');
  }
  const out = allocate(dtypeOf(a.data), a.size);
  if (a.size > 0) ops.assign(ndarray(out, a.shape), a);
  return new Tensor(out, a.shape);
}
