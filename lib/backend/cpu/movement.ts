// Data movement: strided copies (permute, expand, slice are all views copied out), the scatter
// that undoes a slice, concatenation, and prefix sums. All through ndarray views and ops.assign,
// but for stridedCopy's contiguous runs (below).

import ops from 'ndarray-ops';
import { allocate, copyOf, dtypeOf, type TypedArray } from '../../dtype.ts';
import { aroundDim, sizeOf, type Shape } from '../../shape.ts';
import type { Kernel } from '../backend.ts';
import { view } from './views.ts';

// ndarray-ops compiles no loop for 0-d arrays, so scalars travel as shape [1]
const atLeast1d = (shape: Shape, strides: readonly number[]) =>
  shape.length === 0 ? { shape: [1], strides: [1] } : { shape, strides };

// stridedCopy's fast paths: a view that is one contiguous run is copied out (a memcpy); a view
// whose innermost run is contiguous and at least MIN_RUN long is copied a run at a time with
// TypedArray.set (the head split and merge of a train step, runs of 32 floats: ~1.4× faster than
// ops.assign); anything else (a transpose of the last dim, a broadcast) goes through ops.assign.
const MIN_RUN = 16;

export const stridedCopy: Kernel<'stridedCopy'> = (x, shape, strides, offset) => {
  const size = sizeOf(shape);
  const runs = contiguousRuns(shape, strides);
  if (runs.length === 1 && runs[0][1] === 1) return copyOf(x, offset, offset + size);
  const out = allocate(dtypeOf(x), size);
  if (out.length === 0) return out;
  const [n, step] = runs[runs.length - 1];
  if (step === 1 && n >= MIN_RUN) {
    copyRuns(x, offset, runs, out);
    return out;
  }
  const s = atLeast1d(shape, strides);
  ops.assign(view(out, s.shape), view(x, s.shape, s.strides, offset));
  return out;
};

/**
 * The view as [length, stride] runs, outermost first: size-1 dims dropped, and a dim merged into
 * the one before it where that one steps over it exactly (stride = its stride × its length).
 */
function contiguousRuns(shape: Shape, strides: readonly number[]): [number, number][] {
  const runs: [number, number][] = [];
  shape.forEach((n, i) => {
    if (n === 1) return;
    const last = runs[runs.length - 1];
    if (last && last[1] === strides[i] * n) runs[runs.length - 1] = [last[0] * n, strides[i]];
    else runs.push([n, strides[i]]);
  });
  return runs.length > 0 ? runs : [[1, 1]];
}

/** out = the view, its innermost run (stride 1) copied with one set() per run. */
function copyRuns(x: TypedArray, offset: number, runs: [number, number][], out: TypedArray) {
  const outer = runs.slice(0, -1),
    n = runs[runs.length - 1][0];
  const index = outer.map(() => 0);
  for (let oi = 0, si = offset; oi < out.length; oi += n) {
    out.set(x.subarray(si, si + n), oi);
    // the next run: bump the innermost outer index, carrying outwards
    for (let k = outer.length - 1; k >= 0; k--) {
      si += outer[k][1];
      if (++index[k] < outer[k][0]) break;
      si -= outer[k][1] * outer[k][0];
      index[k] = 0;
    }
  }
}

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
