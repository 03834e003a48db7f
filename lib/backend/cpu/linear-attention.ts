// Causal linear attention (Katharopoulos et al. 2020), forward and backward, streamed over time
// with an O(d·dv) state per head in doubles: two kernels of the Backend table, which the primitive
// in ../../ops/linear-attention.ts reaches through backend() (../backend.ts declares the dims
// types).
//
// Per head, with q_i = φ(q_i), k_j = φ(k_j) ∈ R^d and v_j ∈ R^dv:
//   S_i = Σ_{j≤i} k_j v_jᵀ (d×dv),  z_i = Σ_{j≤i} k_j,
//   N_i = S_iᵀ q_i,  D_i = q_iᵀ z_i + eps,  y_i = N_i / D_i
// Both prefix sums are one state S'_i = [S_i | z_i] (d × (dv+1)): z is S for a value column of
// ones. Backward with g_i = dy_i, dN_i = g_i / D_i and dD_i = −(g_i · y_i) / D_i, so that
// dN'_i = [dN_i, dD_i]:
//   dq_i = S'_i dN'_i                                      (prefix state: a forward sweep)
//   G'_j = Σ_{i≥j} q_i dN'_iᵀ,  dk_j = G'_j [v_j, 1],  dv_j = G_jᵀ k_j   (suffix state: reverse)
// No S_i is ever stored: the forward keeps one state, the backward rebuilds S'_i in a second
// forward sweep and G'_j in a reverse sweep, keeping only D_i (n doubles) between them. Memory: the
// outputs plus O(n + d·dv) scratch, against O(n·d·dv) for materialised prefix states.

import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import type { Kernel, LinearAttentionDims, LinearAttentionGrads } from '../backend.ts';

export type { LinearAttentionDims, LinearAttentionGrads };

// state (d × w, w = dv + 1) += k_i [v_i, 1]ᵀ
function addOuter(
  state: Float64Array,
  k: TypedArray,
  ki: number,
  v: TypedArray,
  vi: number,
  d: number,
  dv: number,
): void {
  const w = dv + 1;
  for (let a = 0; a < d; a++) {
    const ka = k[ki + a];
    if (ka === 0) continue; // padded keys (φ(k) zeroed) add nothing
    const row = a * w;
    for (let c = 0; c < dv; c++) state[row + c] += ka * v[vi + c];
    state[row + dv] += ka;
  }
}

/** y (heads, n, dv) in v's dtype; q, k (heads, n, d), v (heads, n, dv), all contiguous. */
export const causalLinearAttention: Kernel<'causalLinearAttention'> = (q, k, v, dims, eps) => {
  const { heads, n, d, dv } = dims;
  const w = dv + 1;
  const y = allocate(dtypeOf(v), heads * n * dv);
  const state = new Float64Array(d * w); // S'_i = [S_i | z_i]
  const num = new Float64Array(w); // N'_i = S'_iᵀ q_i = [N_i, D_i − eps]
  // Row r = h·n + i of every head in turn; each head starts from an empty state.
  for (let r = 0; r < heads * n; r++) {
    if (r % n === 0) state.fill(0);
    const qi = r * d,
      vi = r * dv;
    addOuter(state, k, qi, v, vi, d, dv);
    num.fill(0);
    for (let a = 0; a < d; a++) {
      const qa = q[qi + a];
      for (let c = 0; c < w; c++) num[c] += qa * state[a * w + c];
    }
    const den = num[dv] + eps;
    for (let c = 0; c < dv; c++) y[vi + c] = num[c] / den;
  }
  return y;
};

/** Gradients of q, k, v given dy and the forward's output y (both (heads, n, dv)). */
export const causalLinearAttentionBackward: Kernel<'causalLinearAttentionBackward'> = (
  dy,
  q,
  k,
  v,
  y,
  dims,
  eps,
) => {
  const { heads, n, d, dv } = dims;
  const w = dv + 1;
  const dq = allocate(dtypeOf(q), q.length),
    dk = allocate(dtypeOf(k), k.length);
  const dvOut = allocate(dtypeOf(v), v.length);
  const state = new Float64Array(d * w); // S'_i in the forward sweep, G'_j in the reverse sweep
  const den = new Float64Array(n); // D_i, kept between the sweeps
  const dn = new Float64Array(w); // dN'_i
  const acc = new Float64Array(dv); // dv_j = G_jᵀ k_j, summed in doubles
  // dN'_i = [g_i / D_i, −(g_i · y_i) / D_i]
  const gradN = (vi: number, D: number) => {
    let gy = 0;
    for (let c = 0; c < dv; c++) {
      dn[c] = dy[vi + c] / D;
      gy += dy[vi + c] * y[vi + c];
    }
    dn[dv] = -gy / D;
  };
  for (let h = 0; h < heads; h++) {
    state.fill(0);
    for (let i = 0; i < n; i++) {
      const qi = (h * n + i) * d,
        vi = (h * n + i) * dv;
      addOuter(state, k, qi, v, vi, d, dv);
      let D = eps;
      for (let a = 0; a < d; a++) D += q[qi + a] * state[a * w + dv];
      den[i] = D;
      gradN(vi, D);
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let c = 0; c < w; c++) s += state[a * w + c] * dn[c];
        dq[qi + a] = s;
      }
    }
    state.fill(0);
    for (let i = n - 1; i >= 0; i--) {
      const qi = (h * n + i) * d,
        vi = (h * n + i) * dv;
      gradN(vi, den[i]);
      for (let a = 0; a < d; a++) {
        const qa = q[qi + a],
          row = a * w;
        for (let c = 0; c < w; c++) state[row + c] += qa * dn[c];
      }
      acc.fill(0);
      for (let a = 0; a < d; a++) {
        const row = a * w,
          ka = k[qi + a];
        let s = state[row + dv]; // the ones column of [v_j, 1]
        for (let c = 0; c < dv; c++) {
          s += state[row + c] * v[vi + c];
          acc[c] += state[row + c] * ka;
        }
        dk[qi + a] = s;
      }
      for (let c = 0; c < dv; c++) dvOut[vi + c] = acc[c];
    }
  }
  return { dq, dk, dv: dvOut };
};
