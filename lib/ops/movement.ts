// Movement primitives: reshape (free: shares the buffer), permute, expand, slice and its adjoint
// sliceScatter, cat, cumsum. Each backward is the adjoint movement. Read next: indexing.ts.

import { backend } from '../backend/backend.ts';
import { fmt, normDim, sizeOf, stridesOf, type Shape } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { primitive, type Op } from './primitive.ts';

export const reshapeP = primitive<number[]>({
  name: 'reshape',
  forward: ([x], shape) => new Tensor(x.data, shape),
  backward: (dy, [x]) => [dy.reshape(x.shape)],
});

/** Resolve one -1 in a target shape and check the sizes agree. */
export function resolveShape(op: string, from: Shape, to: readonly number[]): number[] {
  const known = to.filter((d) => d !== -1);
  if (to.length - known.length > 1 || known.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`${op}: invalid shape ${fmt(to)} (non-negative integers and at most one -1)`);
  }
  const size = sizeOf(from);
  const rest = sizeOf(known);
  const inferred = to.length > known.length ? (rest === 0 ? 0 : size / rest) : null;
  const shape = to.map((d) => (d === -1 ? inferred! : d));
  if (!Number.isInteger(inferred ?? 0) || sizeOf(shape) !== size) {
    throw new Error(`${op}: cannot reshape ${fmt(from)} (${size} elements) to ${fmt(to)}`);
  }
  return shape;
}

export const permuteP = primitive<number[]>({
  name: 'permute',
  forward: ([x], dims) => {
    const strides = stridesOf(x.shape);
    const shape = dims.map((d) => x.shape[d]);
    return new Tensor(
      backend().stridedCopy(
        x.data,
        shape,
        dims.map((d) => strides[d]),
        0,
      ),
      shape,
    );
  },
  // the inverse permutation puts every dim back where it came from
  backward: (dy, _x, _y, dims) => [dy.permute(dims.map((_, i) => dims.indexOf(i)))],
});

// expand: broadcast size-1 dims by a stride-0 view; the engine's sumToShape is its backward
export const expandP = primitive<number[]>({
  name: 'expand',
  forward: ([x], shape) => {
    const own = stridesOf(x.shape);
    const lead = shape.length - x.ndim;
    const strides = shape.map((_, i) => (i < lead || x.shape[i - lead] === 1 ? 0 : own[i - lead]));
    return new Tensor(backend().stridedCopy(x.data, shape, strides, 0), shape);
  },
  backward: (dy) => [dy],
});

export interface SliceAttrs {
  dim: number;
  start: number;
  length: number;
  step: number;
  fullShape: number[]; // the shape of the tensor being sliced
}

// The slice of `fullShape` as a strided view: offset to `start`, stride × step along dim.
function sliceView({ dim, start, length, step, fullShape }: SliceAttrs) {
  const strides = stridesOf(fullShape);
  const shape = fullShape.map((d, i) => (i === dim ? length : d));
  return {
    shape,
    strides: strides.map((s, i) => (i === dim ? s * step : s)),
    offset: start * strides[dim],
  };
}

export const sliceP: Op<SliceAttrs> = primitive<SliceAttrs>({
  name: 'slice',
  forward: ([x], attrs) => {
    const v = sliceView(attrs);
    return new Tensor(backend().stridedCopy(x.data, v.shape, v.strides, v.offset), v.shape);
  },
  backward: (dy, _x, _y, attrs) => [sliceScatterP([dy], attrs)],
});

// sliceScatter: zeros of fullShape with the slice filled from the input (the adjoint of slice)
export const sliceScatterP: Op<SliceAttrs> = primitive<SliceAttrs>({
  name: 'sliceScatter',
  forward: ([src], attrs) => {
    const v = sliceView(attrs);
    return new Tensor(
      backend().stridedScatter(src.data, v.shape, attrs.fullShape, v.strides, v.offset),
      attrs.fullShape,
    );
  },
  backward: (dy, _x, _y, attrs) => [sliceP([dy], attrs)],
});

/**
 * The slice (dim, start, end, step) of a tensor of `shape`, torch-style: start/end may be
 * negative or past the ends (clamped), step ≥ 1. `op` names the caller in errors.
 */
export function sliceAttrs(
  op: string,
  shape: readonly number[],
  dim: number,
  start: number,
  end: number,
  step: number,
): SliceAttrs {
  const d = normDim(op, dim, shape.length);
  if (!Number.isInteger(step) || step < 1) {
    throw new Error(`${op}: step must be a positive integer, got ${step}`);
  }
  const n = shape[d];
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const lo = clamp(start),
    hi = clamp(end);
  const length = Math.max(0, Math.ceil((hi - lo) / step));
  return { dim: d, start: lo, length, step, fullShape: [...shape] };
}

/** torch-style slice along dim: start/end may be negative or past the ends (clamped), step ≥ 1. */
export function slice(x: Tensor, dim: number, start = 0, end = Infinity, step = 1): Tensor {
  return sliceP([x], sliceAttrs('slice', x.shape, dim, start, end, step));
}

export const catP = primitive<number>({
  name: 'cat',
  forward: (xs, dim) => {
    const shape = xs[0].shape.map((s, i) =>
      i === dim ? xs.reduce((n, x) => n + x.shape[dim], 0) : s,
    );
    return new Tensor(
      backend().cat(
        xs.map((x) => x.data),
        xs.map((x) => x.shape),
        dim,
        shape,
      ),
      shape,
    );
  },
  // each input gets back its own slice of dy
  backward: (dy, xs, _y, dim) => {
    let at = 0;
    return xs.map((x) => {
      const part = slice(dy, dim, at, at + x.shape[dim]);
      at += x.shape[dim];
      return part;
    });
  },
});

export function cat(xs: Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('cat: expected a non-empty list of tensors');
  const first = xs[0];
  const d = normDim('cat', dim, first.ndim);
  for (const x of xs) {
    const ok = x.ndim === first.ndim && x.shape.every((s, i) => i === d || s === first.shape[i]);
    if (!ok)
      throw new Error(
        `cat: shapes ${xs.map((t) => fmt(t.shape)).join(', ')} differ outside dim ${dim}`,
      );
    if (x.dtype !== first.dtype)
      throw new Error(`cat: dtype mismatch (${first.dtype} vs ${x.dtype})`);
  }
  return catP(xs, d);
}

export interface CumsumAttrs {
  dim: number;
  reverse: boolean;
}

// y_t = Σ_{s≤t} x_s, so dx_s = Σ_{t≥s} dy_t: the reverse cumsum
export const cumsumP: Op<CumsumAttrs> = primitive<CumsumAttrs>({
  name: 'cumsum',
  forward: ([x], { dim, reverse }) =>
    new Tensor(backend().cumsum(x.data, x.shape, dim, reverse), x.shape),
  backward: (dy, _x, _y, { dim, reverse }) => [cumsumP([dy], { dim, reverse: !reverse })],
});
