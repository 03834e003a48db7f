// Data movement: strided copies (permute, expand, slice are all views copied out), the scatter
// that undoes a slice, concatenation, and prefix sums. All through ndarray views and ops.assign.

import ops from 'ndarray-ops';
import { allocate, dtypeOf } from '../../dtype.ts';
import { aroundDim, sizeOf, type Shape } from '../../shape.ts';
import type { Kernel } from '../backend.ts';
import { view } from './views.ts';

// ndarray-ops compiles no loop for 0-d arrays, so scalars travel as shape [1]
const atLeast1d = (shape: Shape, strides: readonly number[]) =>
  shape.length === 0 ? { shape: [1], strides: [1] } : { shape, strides };

export const stridedCopy: Kernel<'stridedCopy'> = (x, shape, strides, offset) => {
  const out = allocate(dtypeOf(x), sizeOf(shape));
  if (out.length === 0) return out;
  const s = atLeast1d(shape, strides);
  ops.assign(view(out, s.shape), view(x, s.shape, s.strides, offset));
  return out;
};

export const stridedScatter: Kernel<'stridedScatter'> = (src, srcShape, shape, strides, offset) => {
  const out = allocate(dtypeOf(src), sizeOf(shape));
  if (src.length === 0) return out;
  const s = atLeast1d(srcShape, strides);
  ops.assign(view(out, s.shape, s.strides, offset), view(src, s.shape));
  return out;
};

export const cat: Kernel<'cat'> = (parts, shapes, dim, outShape) => {
  const out = allocate(dtypeOf(parts[0]), sizeOf(outShape));
  const [outer, total, inner] = aroundDim(outShape, dim);
  let at = 0;
  parts.forEach((part, p) => {
    const n = shapes[p][dim];
    // each part is an (outer, n·inner) block written at column `at` of the (outer, total·inner)
    // output
    if (part.length > 0)
      ops.assign(
        view(out, [outer, n * inner], [total * inner, 1], at * inner),
        view(part, [outer, n * inner]),
      );
    at += n;
  });
  return out;
};

export const cumsum: Kernel<'cumsum'> = (x, shape, dim, reverse) => {
  const [outer, n, inner] = aroundDim(shape, dim);
  const out = allocate(dtypeOf(x), x.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let s = 0; // a double, so long float32 prefix sums do not drift
      for (let t = 0; t < n; t++) {
        const i = o * n * inner + (reverse ? n - 1 - t : t) * inner + j;
        s += x[i];
        out[i] = s;
      }
    }
  }
  return out;
};
