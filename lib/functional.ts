// Composites: ops written with primitives, so their gradients come for free. Also the argument
// checks and dim handling that the Tensor methods share. Read next: creation.ts.

import { allocate, type DType } from './dtype.ts';
import { arange, full, rand } from './creation.ts';
import * as E from './ops/elementwise.ts';
import {
  expandP,
  permuteP,
  reshapeP,
  resolveShape,
  slice as sliceOp,
  cumsumP,
  cat,
} from './ops/movement.ts';
import { sliceAttrs, sliceScatterP } from './ops/movement.ts';
import { primitive } from './ops/primitive.ts';
import { argReduce, max as maxP, min as minP, reduceAttrs, sum as sumP } from './ops/reduce.ts';
import { fmt, normDim, normDims, sameShape, sizeOf } from './shape.ts';
import { Tensor } from './tensor.ts';
import { checkIndex } from './ops/indexing.ts';
import { logSoftmax } from './ops/softmax.ts';
import { linearP } from './ops/linear.ts';
import type { Activation } from './backend/backend.ts';

type Dims = number | number[] | undefined;

// ---- dtype and copies ----
export const cast = primitive<DType>({
  name: 'cast',
  forward: ([x], dtype) => {
    const out = allocate(dtype, x.size);
    out.set(x.data); // typed-array set converts (rounds to float32, truncates to int32)
    return new Tensor(out, x.shape);
  },
  backward: (dy, [x]) => [dy.to(x.dtype)],
});

// expand to its own shape: a copy whose gradient is the identity
export const clone = (x: Tensor) => expandP([x], [...x.shape]);

// ---- reductions ----
export const sum = (x: Tensor, dim: Dims, keepdim: boolean) =>
  sumP([x], reduceAttrs('sum', x, dim, keepdim));
export const max = (x: Tensor, dim: Dims, keepdim: boolean) =>
  maxP([x], reduceAttrs('max', x, dim, keepdim));
export const min = (x: Tensor, dim: Dims, keepdim: boolean) =>
  minP([x], reduceAttrs('min', x, dim, keepdim));
export const argmax = (x: Tensor, dim: number | undefined, keepdim: boolean) =>
  argReduce('argmax', x, dim, keepdim);
export const argmin = (x: Tensor, dim: number | undefined, keepdim: boolean) =>
  argReduce('argmin', x, dim, keepdim);

const countOver = (x: Tensor, dim: Dims) =>
  sizeOf(normDims('mean', dim, x.ndim).map((d) => x.shape[d]));

export const mean = (x: Tensor, dim: Dims, keepdim: boolean) =>
  x.sum(dim, keepdim).div(countOver(x, dim));

// var = Σ(x − mean)² / (n − correction)
export function variance(x: Tensor, dim: Dims, keepdim: boolean, correction: number): Tensor {
  const centred = x.sub(x.mean(dim, true));
  return centred
    .square()
    .sum(dim, keepdim)
    .div(Math.max(countOver(x, dim) - correction, 0));
}

// logsumexp = m + log Σ exp(x − m), with m = max(x) held constant (the result does not depend on m)
export function logsumexp(x: Tensor, dim: Dims, keepdim: boolean): Tensor {
  const m = x.max(dim, true).detach();
  // all −∞ rows: keep m finite, the result is −∞
  const safeM = m.maskedFill(m.abs().eq(Infinity), 0);
  const out = x.sub(safeM).exp().sum(dim, true).log().add(safeM);
  return keepdim
    ? out
    : out.squeeze(typeof dim === 'number' ? dim : undefined).reshape(x.sum(dim, false).shape);
}

// ---- activations ----
// gelu(x) = x·Φ(x) = ½x(1 + erf(x/√2)); 'tanh' is the approximation ½x(1 + tanh(√(2/π)(x +
// 0.044715x³)))
export function gelu(x: Tensor, approximate: 'none' | 'tanh'): Tensor {
  if (approximate === 'tanh') {
    return x.mul(0.5).mul(
      x
        .add(x.pow(3).mul(0.044715))
        .mul(Math.sqrt(2 / Math.PI))
        .tanh()
        .add(1),
    );
  }
  return x.mul(0.5).mul(x.div(Math.SQRT2).erf().add(1));
}
export const silu = (x: Tensor) => x.mul(x.sigmoid()); // x·σ(x)
// elu = x for x > 0, α(eˣ − 1) otherwise; exp sees min(x, 0) so it never overflows (no ∞·0 in
// backward)
export const elu = (x: Tensor, alpha: number) =>
  where(x.gt(0), x, x.minimum(0).exp().sub(1).mul(alpha));

export function clamp(x: Tensor, lo?: number, hi?: number): Tensor {
  if (lo !== undefined && hi !== undefined && lo > hi)
    throw new Error(`clamp: min ${lo} is greater than max ${hi}`);
  let y = x;
  if (lo !== undefined) y = where(y.lt(lo), scalarLike(lo, x), y);
  if (hi !== undefined) y = where(y.gt(hi), scalarLike(hi, x), y);
  return y;
}

/** where(cond, a, b): a where cond is non-zero, b elsewhere; all three broadcast together. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : cond;
  return E.where([cond, toTensor(a, like), toTensor(b, like)], undefined);
}

export const maskedFill = (x: Tensor, mask: Tensor, value: number) =>
  where(mask, scalarLike(value, x), x);

const scalarLike = (v: number, like: Tensor) => full([], v, { dtype: like.dtype });
const toTensor = (v: Tensor | number, like: Tensor) =>
  v instanceof Tensor ? v : scalarLike(v, like);

// ---- shape ----
export const reshape = (x: Tensor, shape: readonly number[]) =>
  reshapeP([x], resolveShape('reshape', x.shape, shape));

export function flatten(x: Tensor, startDim: number, endDim: number): Tensor {
  if (x.ndim === 0) return x.reshape([1]);
  const s = normDim('flatten', startDim, x.ndim),
    e = normDim('flatten', endDim, x.ndim);
  return x.reshape([
    ...x.shape.slice(0, s),
    sizeOf(x.shape.slice(s, e + 1)),
    ...x.shape.slice(e + 1),
  ]);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const norm = dims.map((d) => normDim('permute', d, x.ndim));
  if (norm.length !== x.ndim || new Set(norm).size !== x.ndim) {
    throw new Error(
      `permute: dims ${fmt(dims)} are not a permutation of ${x.ndim} dims (input ${fmt(x.shape)})`,
    );
  }
  return norm.every((d, i) => d === i) ? x : permuteP([x], norm);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const dims = [...x.shape.keys()];
  const a = normDim('transpose', dim0, x.ndim),
    b = normDim('transpose', dim1, x.ndim);
  [dims[a], dims[b]] = [dims[b], dims[a]];
  return x.permute(dims);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  return x.reshape([...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return x.reshape(x.shape.filter((s) => s !== 1));
  const d = normDim('squeeze', dim, x.ndim);
  return x.shape[d] === 1 ? x.reshape(x.shape.filter((_, i) => i !== d)) : x;
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.ndim;
  // -1 keeps the existing size, as in torch.expand
  const target = shape.map((s, i) => (s === -1 && i >= lead ? x.shape[i - lead] : s));
  const ok =
    lead >= 0 &&
    target.every(
      (s, i) =>
        Number.isInteger(s) &&
        s >= 0 &&
        (i < lead || x.shape[i - lead] === s || x.shape[i - lead] === 1),
    );
  if (!ok) throw new Error(`expand: cannot expand shape ${fmt(x.shape)} to ${fmt(shape)}`);
  return target.every((s, i) => s === x.shape[i - lead]) && lead === 0 ? x : expandP([x], target);
}

export const slice = (x: Tensor, dim: number, start?: number, end?: number, step?: number) =>
  sliceOp(x, dim, start, end, step);

/**
 * torch.slice_scatter: x with its slice (dim, start, end, step) replaced by src, which has the
 * slice's shape. Gradients: dx is dy with the slice zeroed, dsrc is dy's slice.
 */
export function sliceScatter(x: Tensor, src: Tensor, dim = 0, start = 0, end = Infinity, step = 1) {
  const attrs = sliceAttrs('sliceScatter', x.shape, dim, start, end, step);
  const expected = x.shape.map((s, i) => (i === attrs.dim ? attrs.length : s));
  if (!sameShape(src.shape, expected)) {
    const at = `dim ${dim}, start ${start}, end ${end}, step ${step}`;
    const shapes = `src ${fmt(src.shape)} does not match the slice ${fmt(expected)}`;
    throw new Error(`sliceScatter: ${shapes} of input ${fmt(x.shape)} (${at})`);
  }
  if (src.dtype !== x.dtype) {
    throw new Error(`sliceScatter: dtype mismatch (input ${x.dtype} vs src ${src.dtype})`);
  }
  const inside = sliceScatterP([full(expected, 1, { dtype: x.dtype })], attrs); // 1 in the slice
  return where(inside, sliceScatterP([src], attrs), x);
}

export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim('narrow', dim, x.ndim);
  if (start < 0 || length < 0 || start + length > x.shape[d]) {
    throw new Error(
      `narrow: start ${start} + length ${length} exceeds dim ${dim} of size ${x.shape[d]}`,
    );
  }
  return sliceOp(x, d, start, start + length);
}

/** torch.split: pieces of splitSize (the last may be smaller), or of the listed sizes. */
export function split(x: Tensor, splitSize: number | number[], dim: number): Tensor[] {
  const d = normDim('split', dim, x.ndim);
  const n = x.shape[d];
  const sizes = typeof splitSize === 'number' ? splitSizes(n, splitSize) : splitSize;
  if (sizes.reduce((a, b) => a + b, 0) !== n) {
    throw new Error(`split: sizes ${fmt(sizes)} do not add up to dim ${dim} of size ${n}`);
  }
  let at = 0;
  return sizes.map((s) => sliceOp(x, d, at, (at += s)));
}

function splitSizes(n: number, size: number): number[] {
  if (!Number.isInteger(size) || size < 1)
    throw new Error(`split: split size must be a positive integer, got ${size}`);
  return Array.from({ length: Math.ceil(n / size) }, (_, i) => Math.min(size, n - i * size));
}

/** torch.chunk: `chunks` pieces of ceil(n / chunks). */
export function chunk(x: Tensor, chunks: number, dim: number): Tensor[] {
  if (!Number.isInteger(chunks) || chunks < 1)
    throw new Error(`chunk: chunks must be a positive integer, got ${chunks}`);
  const n = x.shape[normDim('chunk', dim, x.ndim)];
  return split(x, Math.max(1, Math.ceil(n / chunks)), dim);
}

export function stack(xs: Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('stack: expected a non-empty list of tensors');
  const bad = xs.find((x) => fmt(x.shape) !== fmt(xs[0].shape));
  if (bad)
    throw new Error(
      `stack: all tensors must have one shape, got ${fmt(xs[0].shape)} and ${fmt(bad.shape)}`,
    );
  const d = normDim('stack', dim, xs[0].ndim + 1);
  return cat(
    xs.map((x) => x.unsqueeze(d)),
    d,
  );
}

export const cumsum = (x: Tensor, dim: number) =>
  cumsumP([x], { dim: normDim('cumsum', dim, x.ndim), reverse: false });

// tril keeps row i, column j when j − i ≤ diagonal (triu: when j − i ≥ diagonal), over the last two
// dims
function triangle(op: string, x: Tensor, diagonal: number, keepLower: boolean): Tensor {
  if (x.ndim < 2) throw new Error(`${op}: input needs at least 2 dims, got ${fmt(x.shape)}`);
  const [n, m] = x.shape.slice(-2);
  const rows = arange(0, n).reshape([n, 1]);
  const offset = arange(0, m).reshape([1, m]).sub(rows); // j − i
  const keep = keepLower ? offset.le(diagonal) : offset.ge(diagonal);
  return where(keep, x, 0);
}
export const tril = (x: Tensor, diagonal: number) => triangle('tril', x, diagonal, true);
export const triu = (x: Tensor, diagonal: number) => triangle('triu', x, diagonal, false);

// ---- layers ----
/**
 * torch.nn.functional.linear: y = x·Wᵀ + b for W of shape (out, in); leading dims of x are batch.
 * `activation` 'relu' gives relu(x·Wᵀ + b) from the same fused primitive (ops/linear.ts).
 */
export function linear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  activation: Activation = 'none',
): Tensor {
  const [out, inFeatures] = weight.shape;
  if (weight.ndim !== 2 || x.ndim === 0 || x.shape[x.ndim - 1] !== inFeatures) {
    throw new Error(
      `linear: input ${fmt(x.shape)} and weight ${fmt(weight.shape)} are not compatible (need ` +
        `input [..., ${inFeatures}] and weight [out, in])`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== out))
    throw new Error(`linear: bias must have shape [${out}], got ${fmt(bias.shape)}`);
  if (activation !== 'none' && activation !== 'relu')
    throw new Error(`linear: activation must be 'none' or 'relu', got '${activation}'`);
  const rows = x.reshape([-1, inFeatures]); // (N, in): one 2-D product instead of a batched one
  const y = linearP(bias ? [rows, weight, bias] : [rows, weight], activation); // (N, out)
  return y.reshape([...x.shape.slice(0, -1), out]);
}

// ---- losses and regularisation ----
/** oneHot(ids, numClasses): float32 rows with a 1 at each id (no gradient). */
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new Error(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  const ids = checkIndex('oneHot', indices, numClasses);
  const out = new Float32Array(ids.length * numClasses);
  ids.forEach((c, i) => (out[i * numClasses + c] = 1));
  return new Tensor(out, [...indices.shape, numClasses]);
}

/**
 * Inverted dropout: zero each element with probability p and scale the rest by 1/(1 − p); identity
 * in eval.
 */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const keep = rand([...x.shape], { dtype: x.dtype }).ge(p);
  return x.mul(keep).div(1 - p);
}

export interface CrossEntropyOptions {
  ignoreIndex?: number;
  labelSmoothing?: number;
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy of logits (..., C) against int32 class ids (...): −log softmax(z)_y, averaged over
 * the targets that are not ignoreIndex. Label smoothing ε mixes in the uniform distribution:
 * loss = (1 − ε)·(−log p_y) + ε·mean_c(−log p_c). A batch whose targets are all ignored gives 0.
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  const { ignoreIndex = -100, labelSmoothing = 0, reduction = 'mean' } = options;
  const C = logits.shape[logits.ndim - 1];
  if (logits.ndim < 1 || fmt(logits.shape.slice(0, -1)) !== fmt(targets.shape)) {
    throw new Error(
      `crossEntropy: logits ${fmt(logits.shape)} need shape [...targets, C] for targets ` +
        `${fmt(targets.shape)}`,
    );
  }
  if (targets.dtype !== 'int32')
    throw new Error(`crossEntropy: targets must have dtype int32, got ${targets.dtype}`);
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
    throw new Error(`crossEntropy: labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  const ids = targets.data as Int32Array;
  const valid = new Int32Array(ids.length);
  const safeIds = new Int32Array(ids.length);
  ids.forEach((t, i) => {
    if (t === ignoreIndex) return;
    if (t < 0 || t >= C)
      throw new Error(
        `crossEntropy: target ${t} at position ${i} is out of range for ${C} classes`,
      );
    valid[i] = 1;
    safeIds[i] = t;
  });
  const logp = logSoftmax(logits.reshape([-1, C]), -1); // (N, C)
  const nll = logp
    .gather(1, new Tensor(safeIds, [ids.length, 1]))
    .squeeze(1)
    .neg(); // (N,)
  const smooth =
    labelSmoothing > 0
      ? nll.mul(1 - labelSmoothing).add(logp.mean(1).neg().mul(labelSmoothing))
      : nll;
  const mask = new Tensor(valid, [ids.length]).to(logits.dtype);
  const losses = smooth.mul(mask);
  if (reduction === 'none') return losses.reshape(targets.shape);
  const total = losses.sum();
  return reduction === 'sum'
    ? total
    : total.div(
        Math.max(
          1,
          valid.reduce((a, b) => a + b, 0),
        ),
      );
}
