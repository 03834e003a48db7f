// Reductions over any set of dims, accumulating in a JS number (double) and storing in the dtype.
// Scheme: permute the reduced dims to the end (an ndarray view copied out once when they are not
// already last), then each output element reduces one contiguous run.

import ops from 'ndarray-ops';
import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import { aroundDim, sizeOf, stridesOf, type Shape } from '../../shape.ts';
import type { ReduceOp } from '../backend.ts';
import { view } from './views.ts';

function reducedLast(x: TypedArray, shape: Shape, dims: readonly number[]): TypedArray {
  const kept = shape.map((_, i) => i).filter((i) => !dims.includes(i));
  const order = [...kept, ...dims];
  if (order.every((d, i) => d === i)) return x;
  const strides = stridesOf(shape);
  const out = allocate(dtypeOf(x), x.length);
  ops.assign(view(out, order.map((d) => shape[d])), view(x, order.map((d) => shape[d]), order.map((d) => strides[d])));
  return out;
}

export function reduce(op: ReduceOp, x: TypedArray, shape: Shape, dims: readonly number[]): TypedArray {
  const n = sizeOf(dims.map((d) => shape[d]));
  const outSize = n === 0 ? sizeOf(shape.filter((_, i) => !dims.includes(i))) : x.length / n;
  const src = reducedLast(x, shape, dims);
  const out = allocate(dtypeOf(x), outSize);
  for (let o = 0; o < outSize; o++) {
    const base = o * n;
    if (op === 'sum') {
      let s = 0;
      for (let i = 0; i < n; i++) s += src[base + i];
      out[o] = s;
    } else {
      // max/min of an empty set is ∓Infinity, as in NumPy's identity for maximum.reduce
      let m = op === 'max' ? -Infinity : Infinity;
      for (let i = 0; i < n; i++) {
        const v = src[base + i];
        if (op === 'max' ? v > m || Number.isNaN(v) : v < m || Number.isNaN(v)) m = v;
      }
      out[o] = m;
    }
  }
  return out;
}

/** Index of the first max (min) along `dim`. */
export function argReduce(op: 'argmax' | 'argmin', x: TypedArray, shape: Shape, dim: number): Int32Array {
  const [outer, n, inner] = aroundDim(shape, dim);
  const out = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = 0;
      let bestV = x[o * n * inner + j];
      for (let i = 1; i < n; i++) {
        const v = x[(o * n + i) * inner + j];
        if (op === 'argmax' ? v > bestV : v < bestV) (best = i), (bestV = v);
      }
      out[o * inner + j] = best;
    }
  }
  return out;
}
