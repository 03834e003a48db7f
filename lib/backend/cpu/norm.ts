// LayerNorm and RMSNorm over the last dim, forward and backward fused (one pass for the statistics,
// one to write), with the row statistics kept for backward.
//   LayerNorm: x̂ = (x − μ)·r, r = 1/√(var + ε), y = γ ⊙ x̂ + β
//   RMSNorm:   x̂ = x·r,       r = 1/√(mean(x²) + ε), y = γ ⊙ x̂
// Backward with g = γ ⊙ dy (per row of n):
//   LayerNorm: dx = r·(g − mean(g) − x̂·mean(g ⊙ x̂))
//   RMSNorm:   dx = r·(g − x̂·mean(g ⊙ x̂))
//   dγ = Σ_rows dy ⊙ x̂,  dβ = Σ_rows dy

import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import type { Shape } from '../../shape.ts';
import type { Kernel } from '../backend.ts';

/** x as rows of its last dim: [rows, n]. */
function rowsOf(x: TypedArray, shape: Shape): [number, number] {
  const n = shape[shape.length - 1];
  return [n === 0 ? 0 : x.length / n, n];
}

export const norm: Kernel<'norm'> = (x, shape, gamma, beta, eps, rms) => {
  const [rows, n] = rowsOf(x, shape);
  const y = allocate(dtypeOf(x), x.length);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    let mu = 0;
    if (!rms) {
      for (let i = 0; i < n; i++) mu += x[base + i];
      mu /= n;
    }
    let sq = 0;
    for (let i = 0; i < n; i++) sq += (x[base + i] - mu) ** 2;
    const rs = 1 / Math.sqrt(sq / n + eps);
    mean[r] = mu;
    rstd[r] = rs;
    for (let i = 0; i < n; i++) {
      const xhat = (x[base + i] - mu) * rs;
      y[base + i] = (gamma ? gamma[i] * xhat : xhat) + (beta ? beta[i] : 0);
    }
  }
  return { y, mean, rstd };
};

export const normBackward: Kernel<'normBackward'> = (dy, x, shape, gamma, hasBeta, stats, rms) => {
  const [rows, n] = rowsOf(x, shape);
  const dx = allocate(dtypeOf(x), x.length);
  const dgamma = gamma ? new Float64Array(n) : null;
  const dbeta = hasBeta ? new Float64Array(n) : null;
  for (let r = 0; r < rows; r++) {
    const base = r * n;
    const mu = stats.mean[r],
      rs = stats.rstd[r];
    let meanG = 0,
      meanGX = 0;
    for (let i = 0; i < n; i++) {
      const xhat = (x[base + i] - mu) * rs;
      const g = gamma ? gamma[i] * dy[base + i] : dy[base + i];
      meanG += g;
      meanGX += g * xhat;
      if (dgamma) dgamma[i] += dy[base + i] * xhat;
      if (dbeta) dbeta[i] += dy[base + i];
    }
    meanG = rms ? 0 : meanG / n;
    meanGX /= n;
    for (let i = 0; i < n; i++) {
      const xhat = (x[base + i] - mu) * rs;
      const g = gamma ? gamma[i] * dy[base + i] : dy[base + i];
      dx[base + i] = rs * (g - meanG - xhat * meanGX);
    }
  }
  const dtype = dtypeOf(x);
  const cast = (a: Float64Array | null) => (a && dtype !== 'float64' ? Float32Array.from(a) : a);
  return { dx, dgamma: cast(dgamma), dbeta: cast(dbeta) };
};
