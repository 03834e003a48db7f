// ndarray views over our contiguous typed arrays: the toolkit for strided movement, so no kernel
// hand-writes index arithmetic for arbitrary strides.
// Broadcasting is a view with stride 0 on the broadcast dims; permute is a view with permuted
// strides.

import ndarray, { type NdArray } from 'ndarray';
import type { TypedArray } from '../../dtype.ts';
import { stridesOf, type Shape } from '../../shape.ts';

export function view(
  data: TypedArray,
  shape: Shape,
  strides?: readonly number[],
  offset = 0,
): NdArray<TypedArray> {
  return ndarray(data, [...shape], [...(strides ?? stridesOf(shape))], offset);
}

/**
 * A view of `data` (shape `shape`) broadcast to `outShape`: size-1 and missing dims get stride 0.
 */
export function broadcastView(
  data: TypedArray,
  shape: Shape,
  outShape: Shape,
): NdArray<TypedArray> {
  const own = stridesOf(shape);
  const lead = outShape.length - shape.length;
  const strides = outShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : own[i - lead]));
  return view(data, outShape, strides);
}
