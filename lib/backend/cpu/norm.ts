// LayerNorm and RMSNorm over the last dim, forward and backward fused (one pass for the statistics,
// one to write), with the row statistics kept for backward.
//   LayerNorm: x̂ = (x − μ)·r, r = 1/√(var + ε), y = γ ⊙ x̂ + β
//   RMSNorm:   x̂ = x·r,       r = 1/√(mean(x²) + ε), y = γ ⊙ x̂
// Backward with g = γ ⊙ dy (per row of n):
//   LayerNorm: dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂))
//   RMSNorm:   dx = r·(g − x̂·mean(g ⊙ x̂))
//   dγ = Σ_rows dy ⊙ x̂,  dβ = Σ_rows dy
// LayerNorm with γ and β, the common case, has its own loops (no per-element tests: ~15% faster).
// Every product and quotient is a double rounded once to the dtype on the store. The row sums (μ,
// Σ(x − μ)², Σ g, Σ g ⊙ x̂) are in doubles, their order chosen by the matmul precision
// (setMatmulPrecision in matmul.ts): for float32 tensors at 'float32' (the default), in four
// lanes (sumTerms: the order of the f64x2 kernel ../wasm/norm-kernel.ts, which 'cpu-threads'
// runs); at 'float64', and for float64 tensors, in order, one element after another (the loops'
// own sums: the numerics before the lanes, at their speed).
// The loops are over a range of rows (and the affine gradients over a range of columns), so the
// threaded backend's chunks run this code on their share: rows are independent, and each column's
// dγ and dβ are summed over all rows in row order whoever sums them.

import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import type { Shape } from '../../shape.ts';
import type { Kernel, NormResult } from '../backend.ts';
import { summedInFloat32 } from './matmul.ts';
import { scratch } from './scratch.ts';

/** x as rows of its last dim: [rows, n]. */
export function rowsOf(x: TypedArray, shape: Shape): [number, number] {
  const n = shape[shape.length - 1];
  return [n === 0 ? 0 : x.length / n, n];
}

/** Whether x's norms sum their rows in four lanes (float32 at matmul precision 'float32'). */
export const normLanes = (x: TypedArray): boolean => summedInFloat32(x);

/**
 * Σ a[at..at + n) in doubles in four lanes: term i into partial i mod 4 over the first ⌊n/4⌋·4
 * terms, combined as (p0 + p2) + (p1 + p3) (two f64x2 sums added, then their lanes), the last
 * n mod 4 terms added after, in order.
 */
export function sumTerms(a: ArrayLike<number>, at: number, n: number): number {
  let p0 = 0,
    p1 = 0,
    p2 = 0,
    p3 = 0,
    i = 0;
  for (; i + 4 <= n; i += 4) {
    p0 += a[at + i];
    p1 += a[at + i + 1];
    p2 += a[at + i + 2];
    p3 += a[at + i + 3];
  }
  let s = p0 + p2 + (p1 + p3);
  for (; i < n; i++) s += a[at + i];
  return s;
}

/** The norm kernel on `rowLoops` (normRows, or the threaded backend's SIMD rows). */
export const normOn =
  (rowLoops: typeof normRows): Kernel<'norm'> =>
  (x, shape, gamma, beta, eps, rms) => {
    const [rows, n] = rowsOf(x, shape);
    const out = { y: allocate(dtypeOf(x), x.length), mean: new Float64Array(rows) };
    const stats = { ...out, rstd: new Float64Array(rows) };
    rowLoops(x, n, gamma, beta, eps, rms, normLanes(x), stats, 0, rows);
    return stats;
  };
export const norm = normOn(normRows);

/** Rows [lo, hi) of norm: y, and each row's mean and rstd, written into `out`. */
export function normRows(
  x: TypedArray,
  n: number,
  gamma: TypedArray | null,
  beta: TypedArray | null,
  eps: number,
  rms: boolean,
  lanes: boolean,
  { y, mean, rstd }: NormResult,
  lo: number,
  hi: number,
): void {
  // The sums are made in order; in lanes they are made again from the terms (kept in `squares`).
  const squares = scratch('norm squares', n);
  for (let r = lo; r < hi; r++) {
    const base = r * n;
    let mu = 0,
      sq = 0;
    if (!rms) {
      for (let i = 0; i < n; i++) mu += x[base + i];
      mu = (lanes ? sumTerms(x, base, n) : mu) / n;
    }
    for (let i = 0; i < n; i++) sq += squares[i] = (x[base + i] - mu) ** 2;
    if (lanes) sq = sumTerms(squares, 0, n);
    const rs = 1 / Math.sqrt(sq / n + eps);
    mean[r] = mu;
    rstd[r] = rs;
    if (gamma && beta)
      for (let i = 0; i < n; i++) y[base + i] = gamma[i] * ((x[base + i] - mu) * rs) + beta[i];
    else
      for (let i = 0; i < n; i++) {
        const xhat = (x[base + i] - mu) * rs;
        y[base + i] = (gamma ? gamma[i] * xhat : xhat) + (beta ? beta[i] : 0);
      }
  }
}

/** The normBackward kernel on `rowLoops` (normBackwardRows, or the SIMD rows). */
export const normBackwardOn =
  (rowLoops: typeof normBackwardRows): Kernel<'normBackward'> =>
  (dy, x, shape, gamma, hasBeta, stats, rms) => {
    const [rows, n] = rowsOf(x, shape);
    const dx = allocate(dtypeOf(x), x.length);
    const dgamma = gamma ? new Float64Array(n) : null;
    const dbeta = hasBeta ? new Float64Array(n) : null;
    rowLoops(dy, x, n, gamma, stats, rms, normLanes(x), dx, dgamma, dbeta, 0, rows);
    const dtype = dtypeOf(x);
    const cast = (a: Float64Array | null) => (a && dtype !== 'float64' ? Float32Array.from(a) : a);
    return { dx, dgamma: cast(dgamma), dbeta: cast(dbeta) };
  };
export const normBackward = normBackwardOn(normBackwardRows);

/** Rows [lo, hi) of dx, adding their terms of dγ and dβ where those are given (in one pass). */
export function normBackwardRows(
  dy: TypedArray,
  x: TypedArray,
  n: number,
  gamma: TypedArray | null,
  { mean, rstd }: Omit<NormResult, 'y'>,
  rms: boolean,
  lanes: boolean,
  dx: TypedArray,
  dgamma: Float64Array | null,
  dbeta: Float64Array | null,
  lo: number,
  hi: number,
): void {
  // the terms of Σ g and Σ g ⊙ x̂, summed again in lanes where `lanes` asks (as normRows's)
  const gs = scratch('norm g', n),
    gxs = scratch('norm g x̂', n);
  for (let r = lo; r < hi; r++) {
    const base = r * n;
    const mu = mean[r],
      rs = rstd[r];
    let meanG = 0,
      meanGX = 0;
    if (gamma && dgamma && dbeta) {
      for (let i = 0; i < n; i++) {
        const d = dy[base + i],
          xhat = (x[base + i] - mu) * rs,
          g = gamma[i] * d;
        meanG += gs[i] = g;
        meanGX += gxs[i] = g * xhat;
        dgamma[i] += d * xhat;
        dbeta[i] += d;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const xhat = (x[base + i] - mu) * rs;
        const g = gamma ? gamma[i] * dy[base + i] : dy[base + i];
        meanG += gs[i] = g;
        meanGX += gxs[i] = g * xhat;
        if (dgamma) dgamma[i] += dy[base + i] * xhat;
        if (dbeta) dbeta[i] += dy[base + i];
      }
    }
    if (lanes) [meanG, meanGX] = [sumTerms(gs, 0, n), sumTerms(gxs, 0, n)];
    meanG = rms ? 0 : meanG / n;
    meanGX /= n;
    if (gamma)
      for (let i = 0; i < n; i++) {
        const xhat = (x[base + i] - mu) * rs;
        dx[base + i] = rs * (gamma[i] * dy[base + i] - meanG - xhat * meanGX);
      }
    else
      for (let i = 0; i < n; i++) {
        const xhat = (x[base + i] - mu) * rs;
        dx[base + i] = rs * (dy[base + i] - meanG - xhat * meanGX);
      }
  }
}

/**
 * Columns [j0, j1) of dγ and dβ over all `rows` rows, in row order (the sums normBackwardRows
 * makes), each written to its array in that array's dtype; either may be null. Rows outside, a
 * band of columns inside, the running sums in doubles.
 */
export function normAffineGrads(
  dy: TypedArray,
  x: TypedArray,
  n: number,
  rows: number,
  { mean, rstd }: Omit<NormResult, 'y'>,
  dgamma: TypedArray | null,
  dbeta: TypedArray | null,
  j0: number,
  j1: number,
): void {
  const sg = scratch('norm dgamma', j1 - j0).fill(0),
    sb = scratch('norm dbeta', j1 - j0).fill(0);
  for (let r = 0; r < rows; r++) {
    const mu = mean[r],
      rs = rstd[r];
    for (let j = j0, at = r * n + j0; j < j1; j++, at++) {
      sg[j - j0] += dy[at] * ((x[at] - mu) * rs);
      sb[j - j0] += dy[at];
    }
  }
  for (let j = j0; j < j1; j++) {
    if (dgamma) dgamma[j] = sg[j - j0];
    if (dbeta) dbeta[j] = sb[j - j0];
  }
}
