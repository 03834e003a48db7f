// Softmax and log-softmax along one dim, max-subtracted so logits of ±1e4 never overflow.
// Three passes per row: max, Σ exp(x − max) (each exp kept in a row of doubles), then write. A row
// whose entries are all −Infinity (fully masked) has max = −Infinity; it gives zeros for softmax
// (not 0/0 = NaN) and −Infinity for log-softmax. The (outer, n, inner) layout handles any dim
// without a transpose.
// Backward, fused, from the output y (two passes per row, the sum in a double):
//   softmax:      dx = y ⊙ (dy − Σ dy ⊙ y)
//   log-softmax:  dx = dy − exp(y) · Σ dy        (exp(y) = softmax(x))
// A fully masked row (y = 0 for softmax) gets dx = 0.
//
// The arithmetic is chosen like matmul's sums (getMatmulPrecision). At the default 'float32'
// precision, float32 rows along the last dim (inner = 1) are computed in float32 arithmetic, an
// f32x4 exp within 2^−23 of e^x and sums in doubles (softmax-f32.ts; on 'cpu-threads' its
// WebAssembly SIMD kernel, many rows a call, the same bits), within 2^−21 of the float64 results
// relative to their terms. Other float32 tensors at 'float32' (strided rows, inner > 1, or a
// float64 output) take the polynomial row exp (exp-poly.ts, within 2 ulp of e^x), through a
// RowExp: each row is gathered into its tile of doubles, exponentiated there in one call, and
// stored from it; on 'cpu-threads' in WebAssembly SIMD (wasm/exp-kernel.ts), on 'cpu' by the
// TypeScript reference, the same bits. float64 tensors, and all at 'float64' precision, take
// exp.ts (Math.exp's bits) in plain loops: the numerics from before the row exp, bit for bit.
// Rows longer than SEGMENT go through the tile a segment at a time (their sum adds the segments'
// sums in order; softmax exponentiates each segment twice, once for the sum and once to write it).

import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import { aroundDim, type Shape } from '../../shape.ts';
import type { Kernel } from '../backend.ts';
import { exp } from './exp.ts';
import { SIMD_ROW, tsRowExp, type RowExp } from './exp-poly.ts';
import { getMatmulPrecision } from './matmul.ts';
import { scratch } from './scratch.ts';
import { tsRowSoftmax, type RowSoftmax } from './softmax-f32.ts';

/** The most doubles a row exp call takes (at most the WebAssembly tile, wasm/exp-kernel.ts). */
export const SEGMENT = 8192;

/** Whether softmax of `x` takes the polynomial row exp (else exp.ts) at the current precision. */
export const usesRowExp = (x: TypedArray): boolean =>
  x instanceof Float32Array && getMatmulPrecision() === 'float32';

/** The exps at 'float32' precision: float32 rows along the last dim, else the row exp. */
export interface SoftmaxExps {
  rows: RowSoftmax;
  rowExp: RowExp;
}
export const tsSoftmaxExps: SoftmaxExps = { rows: tsRowSoftmax, rowExp: tsRowExp };

/** Whether `arrays` are float32 rows along the last dim (softmax-f32.ts takes them). */
const f32Rows = (inner: number, arrays: TypedArray[]): arrays is Float32Array[] =>
  inner === 1 && arrays.every((a) => a instanceof Float32Array);

/** The softmax kernel with its exps on `exps()` where usesRowExp says so. */
export const softmaxOn =
  (exps: () => SoftmaxExps): Kernel<'softmax'> =>
  (x, shape, dim, log) => {
    const out = allocate(dtypeOf(x), x.length);
    return softmaxInto(x, shape, dim, log, out, usesRowExp(x) ? exps() : null);
  };

/** The softmaxBackward kernel, its exps as softmaxOn's. */
export const softmaxBackwardOn =
  (exps: () => SoftmaxExps): Kernel<'softmaxBackward'> =>
  (y, dy, shape, dim, log) => {
    const dx = allocate(dtypeOf(y), y.length);
    return softmaxBackwardInto(y, dy, shape, dim, log, dx, usesRowExp(y) ? exps() : null);
  };

/** The reference: the exps in TypeScript. */
export const softmax = softmaxOn(() => tsSoftmaxExps);
export const softmaxBackward = softmaxBackwardOn(() => tsSoftmaxExps);

/**
 * softmax written into `out` (x's length), its exps on `exps`, or on exp.ts where null (the
 * threaded backend's chunks write their rows in place).
 */
export function softmaxInto(
  x: TypedArray,
  shape: Shape,
  dim: number,
  log: boolean,
  out: TypedArray,
  exps: SoftmaxExps | null,
): TypedArray {
  if (!exps) return softmaxExact(x, shape, dim, log, out);
  const [outer, n, inner] = aroundDim(shape, dim);
  const arrays = [x, out];
  if (f32Rows(inner, arrays)) {
    exps.rows.forward(arrays[0], arrays[1], outer, n, log);
    return out;
  }
  const { rowExp } = exps;
  const whole = n <= SEGMENT; // the tile holds the row
  const tile = rowExp.tile(Math.min(n, SEGMENT));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      let max = -Infinity;
      for (let s = 0; s < n; s += SEGMENT) {
        const length = Math.min(SEGMENT, n - s);
        max = Math.max(max, rowExp.load(x, base + s * inner, inner, length, tile));
      }
      if (max === -Infinity) {
        for (let i = 0, at = base; i < n; i++, at += inner) out[at] = log ? -Infinity : 0;
        continue;
      }
      let sum = 0;
      for (let s = 0; s < n; s += SEGMENT) {
        const length = Math.min(SEGMENT, n - s);
        if (!whole) rowExp.load(x, base + s * inner, inner, length, tile);
        sum += rowExp.expShifted(tile, 0, length, max);
      }
      const logSum = Math.log(sum) + max,
        inv = 1 / sum;
      for (let s = 0; s < n; s += SEGMENT) {
        const length = Math.min(SEGMENT, n - s),
          at = base + s * inner;
        if (log) {
          rowExp.storeShifted(x, logSum, out, at, inner, length);
          continue;
        }
        if (!whole) {
          rowExp.load(x, at, inner, length, tile);
          rowExp.expShifted(tile, 0, length, max);
        }
        rowExp.storeScaled(tile, inv, out, at, inner, length);
      }
    }
  }
  return out;
}

/** softmaxInto on exp.ts (Math.exp's bits), an exp per element into a row of doubles. */
function softmaxExact(x: TypedArray, shape: Shape, dim: number, log: boolean, out: TypedArray) {
  const [outer, n, inner] = aroundDim(shape, dim);
  const e = scratch('softmax row', n);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j,
        end = base + n * inner;
      let max = -Infinity;
      for (let at = base; at < end; at += inner) max = Math.max(max, x[at]);
      if (max === -Infinity) {
        for (let at = base; at < end; at += inner) out[at] = log ? -Infinity : 0;
        continue;
      }
      let sum = 0;
      // a masked score (−∞, in runs: a predictable branch) skips exp, whose value there is 0
      for (let i = 0, at = base; i < n; i++, at += inner) {
        const v = x[at] - max;
        sum += e[i] = v === -Infinity ? 0 : exp(v);
      }
      if (log) {
        const logSum = Math.log(sum) + max;
        for (let at = base; at < end; at += inner) out[at] = x[at] - logSum;
      } else {
        const inv = 1 / sum;
        for (let i = 0, at = base; i < n; i++, at += inner) out[at] = e[i] * inv;
      }
    }
  }
  return out;
}

/** softmaxBackward written into `dx` (y's length), exp(y) (log-softmax) on `exps` or exp.ts. */
export function softmaxBackwardInto(
  y: TypedArray,
  dy: TypedArray,
  shape: Shape,
  dim: number,
  log: boolean,
  dx: TypedArray,
  exps: SoftmaxExps | null,
): TypedArray {
  const [outer, n, inner] = aroundDim(shape, dim);
  const arrays = [y, dy, dx];
  if (exps && f32Rows(inner, arrays)) {
    exps.rows.backward(arrays[0], arrays[1], arrays[2], outer, n, log);
    return dx;
  }
  const rowExp = exps?.rowExp;
  const tile = log && rowExp ? rowExp.tile(Math.min(n, SEGMENT)) : null;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j,
        end = base + n * inner;
      let s = 0;
      if (!log) {
        for (let at = base; at < end; at += inner) s += dy[at] * y[at];
        // no exp here: the row moves only for speed, where they are faster
        if (!rowExp || n < SIMD_ROW) {
          for (let at = base; at < end; at += inner) dx[at] = y[at] * (dy[at] - s);
          continue;
        }
        for (let k = 0; k < n; k += SEGMENT)
          rowExp.storeProduct(y, dy, s, dx, base + k * inner, inner, Math.min(SEGMENT, n - k));
        continue;
      }
      for (let at = base; at < end; at += inner) s += dy[at];
      if (!rowExp || !tile) {
        for (let at = base; at < end; at += inner) dx[at] = dy[at] - exp(y[at]) * s;
        continue;
      }
      for (let k = 0; k < n; k += SEGMENT) {
        const length = Math.min(SEGMENT, n - k),
          at = base + k * inner;
        rowExp.load(y, at, inner, length, tile);
        rowExp.expShifted(tile, 0, length, 0);
        rowExp.storeDiff(dy, tile, s, dx, at, inner, length);
      }
    }
  }
  return dx;
}
