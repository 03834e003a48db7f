// Reductions over any set of dims, accumulating in a JS number (double) and storing in the dtype.
// Scheme: when the reduced dims are one run (the usual case: a bias gradient sums the leading dims,
// a mean the last), x is read in place as (outer, n, inner) and reduced over n; other sets of dims
// are first permuted to the end (an ndarray view copied out once), which makes them one run.
// Either way each output element sees its n values in the same order, i = 0, 1, …, n − 1.

import ops from 'ndarray-ops';
import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import { aroundDim, sizeOf, stridesOf, type Shape } from '../../shape.ts';
import type { Kernel } from '../backend.ts';
import { view } from './views.ts';

/** x with the reduced dims permuted to the end (a copy), and the shape it now has. */
function reducedLast(x: TypedArray, shape: Shape, dims: readonly number[]): [TypedArray, Shape] {
  const order = [...shape.map((_, i) => i).filter((i) => !dims.includes(i)), ...dims];
  const strides = stridesOf(shape);
  const permuted = order.map((d) => shape[d]);
  const out = allocate(dtypeOf(x), x.length);
  ops.assign(
    view(out, permuted),
    view(
      x,
      permuted,
      order.map((d) => strides[d]),
    ),
  );
  return [out, permuted];
}

/**
 * Sums of the `inner` columns of n rows of x from `at`, each in row order in doubles, written into
 * `acc`: a faster kernel with the loop's bits (../wasm/elementwise-kernel.ts), or false when it
 * does not take the call.
 */
export type ColumnSums = (
  x: TypedArray,
  at: number,
  n: number,
  inner: number,
  acc: Float64Array,
) => boolean;

/** reduce, its sums of columns handed first to `columnSums` (null: the loops below only). */
export const reduceWith =
  (columnSums: ColumnSums | null): Kernel<'reduce'> =>
  (op, x, shape, dims) => {
    const run = dims.every((d, i) => d === dims[0] + i);
    const [src, srcShape] = run ? [x, shape] : reducedLast(x, shape, dims);
    const first = run ? (dims[0] ?? shape.length) : shape.length - dims.length; // no dims: a copy
    const outer = sizeOf(srcShape.slice(0, first)),
      inner = sizeOf(srcShape.slice(first + dims.length));
    const n = sizeOf(dims.map((d) => shape[d]));
    // max/min of an empty set is ∓Infinity, as in NumPy's identity for maximum.reduce
    const acc = new Float64Array(outer * inner).fill(
      op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity,
    );
    for (let o = 0; o < outer; o++) {
      const a = o * inner;
      if (op === 'sum' && columnSums?.(src, o * n * inner, n, inner, acc.subarray(a, a + inner)))
        continue;
      for (let i = 0; i < n; i++) {
        const base = (o * n + i) * inner;
        if (op === 'sum') for (let j = 0; j < inner; j++) acc[a + j] += src[base + j];
        else if (op === 'max')
          for (let j = 0; j < inner; j++) acc[a + j] = maxOf(acc[a + j], src[base + j]);
        else for (let j = 0; j < inner; j++) acc[a + j] = minOf(acc[a + j], src[base + j]);
      }
    }
    const out = allocate(dtypeOf(x), acc.length);
    out.set(acc);
    return out;
  };

export const reduce: Kernel<'reduce'> = reduceWith(null);

// NaN wins, as in torch.max
const maxOf = (m: number, v: number) => (v > m || Number.isNaN(v) ? v : m);
const minOf = (m: number, v: number) => (v < m || Number.isNaN(v) ? v : m);

/** Index of the first max (min) along `dim`. */
export const argReduce: Kernel<'argReduce'> = (op, x, shape, dim) => {
  const [outer, n, inner] = aroundDim(shape, dim);
  const out = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = 0;
      let bestV = x[o * n * inner + j];
      for (let i = 1; i < n; i++) {
        const v = x[(o * n + i) * inner + j];
        if (op === 'argmax' ? v > bestV : v < bestV) ((best = i), (bestV = v));
      }
      out[o * inner + j] = best;
    }
  }
  return out;
};
