// The exp of fused attention's tiles (fused-attention.ts): e^x by a polynomial, written so that
// WebAssembly SIMD (../wasm/exp-kernel.ts, two doubles a lane pair) does the same operations in the
// same order and so gives the same bits. This file is the TypeScript reference: the `cpu` backend
// runs it, `cpu-threads` runs the SIMD module. (exp.ts is bit for bit Math.exp; this is not.)
//
// Scheme: k = nearest(x / ln2) (ties to even: (x·1/ln2 + 1.5·2^52) − 1.5·2^52 rounds to an
// integer in the addition, exact for |x·1/ln2| < 2^51), r = (x − k·ln2_hi) − k·ln2_lo
// with |r| ≤ ln2/2 (k·ln2_hi is exact: ln2_hi has 32 significant bits), then
//   e^r ≈ 1 + (r + r²·Q(r)),  Q of degree 9 ≈ (e^r − 1 − r)/r²  (a Chebyshev fit, mpmath, 50 digits)
// times 2^k, a normal double for −1021 ≤ k ≤ 1023 (the SIMD version writes its exponent bits).
// Bound: the fit is within 0.15 ulp of e^r; with the rounding of the steps the result is within
// 2 ulp of e^x (test/exp-kernel.test.ts checks it against Math.exp over the whole range; the worst
// seen in 6 million inputs was 1 ulp, on 4% of them).
// Cut-offs: x < −708 gives 0 (e^x < 2^−1021 there: 2^k would go subnormal; −∞ too), x > 709 gives
// +∞ (k would reach 1024; e^709 ≈ 8.2e307, so (709, 709.78] is +∞ where Math.exp is finite); NaN
// stays NaN. The fused kernel only takes x ≤ 0.

import { INV_LN2, LN2_HI, LN2_LO, POW2 } from './exp.ts';
import type { TypedArray } from '../../dtype.ts';
import { scratch } from './scratch.ts';

// the reduction's constants and the 2^k table are exp.ts's (fdlibm's); 2^k is the same double as
// the bits the SIMD version builds
export { INV_LN2, LN2_HI, LN2_LO };

export const EXP_LOW = -708;
export const EXP_HIGH = 709;
export const ROUND = 1.5 * 2 ** 52; // t + ROUND − ROUND: t rounded to an integer, ties to even
/** Q's coefficients, Q_0 first. */
export const Q = [
  0.5000000000000001, 0.16666666666666669, 0.041666666666624164, 0.008333333333330065,
  0.0013888888917197209, 0.00019841269863040922, 2.4801521321606647e-5, 2.7557268479724004e-6,
  2.7620076242527254e-7, 2.510037611136142e-8,
];
const [Q0, Q1, Q2, Q3, Q4, Q5, Q6, Q7, Q8, Q9] = Q;

/** e^x within 2 ulp for −708 ≤ x ≤ 709; 0 below, +∞ above, NaN for NaN. */
export function expPoly(x: number): number {
  if (x !== x) return x;
  if (x < EXP_LOW) return 0;
  if (x > EXP_HIGH) return Infinity;
  const k = x * INV_LN2 + ROUND - ROUND;
  const r = x - k * LN2_HI - k * LN2_LO;
  // Q(r) by Estrin's scheme (pairs, then pairs of pairs): a shorter chain of dependent steps
  const r2 = r * r,
    r4 = r2 * r2;
  const q =
    Q0 +
    Q1 * r +
    (Q2 + Q3 * r) * r2 +
    (Q4 + Q5 * r + (Q6 + Q7 * r) * r2) * r4 +
    (Q8 + Q9 * r) * (r4 * r4);
  return (1 + (r + r2 * q)) * POW2[(k | 0) + 1022];
}

/**
 * x[at + j] = e^(x[at + j] − shift) for j < n, in place; returns their sum, added as the SIMD
 * version adds it: even j in one lane, odd j in the other, an odd n's last one into the even
 * lane, then even + odd.
 */
export function expShiftedRow(x: Float64Array, at: number, n: number, shift: number): number {
  let even = 0,
    odd = 0,
    j = at;
  for (const end = at + n - (n & 1); j < end; j += 2) {
    const a = expPoly(x[j] - shift),
      b = expPoly(x[j + 1] - shift);
    x[j] = a;
    x[j + 1] = b;
    even += a;
    odd += b;
  }
  if (n & 1) {
    x[j] = expPoly(x[j] - shift);
    even += x[j];
  }
  return even + odd;
}

/**
 * The shortest row the SIMD row moves (load, store...) take: per row, their copies' calls cost
 * ~0.15 µs, and from about here the loops they replace cost more (measured at 16–512, one
 * thread); shorter rows take the loops, the same bits.
 */
export const SIMD_ROW = 128;

/**
 * A row exp and the tile it reads: this reference, or the SIMD module (../wasm/exp-kernel.ts).
 * Softmax (softmax.ts) also moves its rows in and out of the tile through it: `load` and the
 * `store...` forms take rows of `n` elements `stride` apart from `at`, and do each element's
 * arithmetic as written (a double result rounded once to the array's type), so every
 * implementation gives the same bits.
 */
export interface RowExp {
  /** `length` doubles where expShifted can read them (for SIMD: in the module's memory). */
  tile: (length: number) => Float64Array;
  /** expShiftedRow's result and bits, on x from tile(). */
  expShifted: (x: Float64Array, at: number, n: number, shift: number) => number;
  /** tile[i] = x[at + i·stride]; returns their max (Math.max's: NaN if any is; −∞ for none). */
  load: (x: TypedArray, at: number, stride: number, n: number, tile: Float64Array) => number;
  /** out[at + i·stride] = tile[i] · scale. */
  storeScaled: (
    tile: Float64Array,
    scale: number,
    out: TypedArray,
    at: number,
    stride: number,
    n: number,
  ) => void;
  /** out[at + i·stride] = x[at + i·stride] − shift. */
  storeShifted: (
    x: TypedArray,
    shift: number,
    out: TypedArray,
    at: number,
    stride: number,
    n: number,
  ) => void;
  /** dx[at + i·stride] = dy[at + i·stride] − tile[i] · scale. */
  storeDiff: (
    dy: TypedArray,
    tile: Float64Array,
    scale: number,
    dx: TypedArray,
    at: number,
    stride: number,
    n: number,
  ) => void;
  /** dx[at + i·stride] = y[at + i·stride] · (dy[at + i·stride] − shift) (softmax's backward). */
  storeProduct: (
    y: TypedArray,
    dy: TypedArray,
    shift: number,
    dx: TypedArray,
    at: number,
    stride: number,
    n: number,
  ) => void;
}

export const tsRowExp: RowExp = {
  tile: (length) => scratch('exp tile', length),
  expShifted: expShiftedRow,
  load: (x, at, stride, n, tile) => {
    let max = -Infinity;
    for (let i = 0; i < n; i++, at += stride) max = Math.max(max, (tile[i] = x[at]));
    return max;
  },
  storeScaled: (tile, scale, out, at, stride, n) => {
    for (let i = 0; i < n; i++, at += stride) out[at] = tile[i] * scale;
  },
  storeShifted: (x, shift, out, at, stride, n) => {
    for (let i = 0; i < n; i++, at += stride) out[at] = x[at] - shift;
  },
  storeDiff: (dy, tile, scale, dx, at, stride, n) => {
    for (let i = 0; i < n; i++, at += stride) dx[at] = dy[at] - tile[i] * scale;
  },
  storeProduct: (y, dy, shift, dx, at, stride, n) => {
    for (let i = 0; i < n; i++, at += stride) dx[at] = y[at] * (dy[at] - shift);
  },
};
