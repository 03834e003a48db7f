// Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs", arXiv 2006.16236) over
// feature-mapped queries and keys: o_i = φ(q_i)ᵀ S / (φ(q_i)ᵀ z + eps) with S = Σ_j φ(k_j) v_jᵀ and
// z = Σ_j φ(k_j) over all keys (bidirectional) or over j ≤ i (causal). Bidirectional is a composite
// of two (d × dv) matmuls; causal is one fused primitive, because writing it with cumsum would
// materialise every prefix state S_i: O(n·d·dv) memory instead of O(n·d + d·dv).
// Read next: ../backend/cpu/linear-attention.ts (the sweeps and their gradient formulas).

import { backend, type LinearAttentionDims } from '../backend/backend.ts';
import { isFloat } from '../dtype.ts';
import { fmt, sizeOf } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { checkSameDtype } from './elementwise.ts';
import { primitive } from './primitive.ts';

/**
 * (..., n, d), (..., n, d), (..., n, dv) → the kernels' sizes; throws naming the op and the shapes.
 */
function dimsOf(op: string, q: Tensor, k: Tensor, v: Tensor): LinearAttentionDims {
  const shapes = `φ(q) ${fmt(q.shape)}, φ(k) ${fmt(k.shape)}, v ${fmt(v.shape)}`;
  const lead = q.shape.slice(0, -1);
  const ok =
    q.ndim >= 2 &&
    fmt(k.shape) === fmt(q.shape) &&
    v.ndim === q.ndim &&
    fmt(v.shape.slice(0, -1)) === fmt(lead);
  if (!ok)
    throw new Error(
      `${op}: expected φ(q), φ(k) (..., n, d) and v (..., n, dv) with the same leading dims, got ` +
        `${shapes}`,
    );
  checkSameDtype(op, q, k);
  checkSameDtype(op, q, v);
  if (!isFloat(q.dtype)) throw new Error(`${op}: expected float tensors, got ${q.dtype}`);
  const [n, d] = q.shape.slice(-2);
  return { heads: sizeOf(q.shape.slice(0, -2)), n, d, dv: v.shape[v.ndim - 1] };
}

interface CausalAttrs {
  eps: number;
  dims: LinearAttentionDims;
}

// Forward and backward are the backend's causalLinearAttention kernels (cpu/linear-attention.ts).
// With q = φ(q), k = φ(k), D_i = q_iᵀ z_i + eps, y_i = S_iᵀ q_i / D_i, dN_i = dy_i / D_i, dD_i =
// −(dy_i · y_i)/D_i: dq_i = S_i dN_i + z_i dD_i;  dk_j = Σ_{i≥j} q_i (dN_i · v_j + dD_i);  dv_j =
// Σ_{i≥j} (q_i · k_j) dN_i
const causalLinearAttentionP = primitive<CausalAttrs>({
  name: 'causalLinearAttention',
  forward: ([q, k, v], { eps, dims }) =>
    new Tensor(backend().causalLinearAttention(q.data, k.data, v.data, dims, eps), v.shape),
  backward: (dy, [q, k, v], y, { eps, dims }) => {
    const g = backend().causalLinearAttentionBackward(
      dy.data,
      q.data,
      k.data,
      v.data,
      y.data,
      dims,
      eps,
    );
    return [new Tensor(g.dq, q.shape), new Tensor(g.dk, k.shape), new Tensor(g.dv, v.shape)];
  },
});

function checkEps(op: string, eps: number): void {
  if (!(eps >= 0 && Number.isFinite(eps)))
    throw new Error(`${op}: eps must be a finite number ≥ 0, got ${eps}`);
}

/**
 * Causal linear attention, o_i = φ(q_i)ᵀ S_i / (φ(q_i)ᵀ z_i + eps), S_i and z_i summed over keys j
 * ≤ i. φ(q), φ(k) (..., n, d) should be non-negative (a zero φ(k) row is a padded key); v (..., n,
 * dv).
 */
export function causalLinearAttention(phiQ: Tensor, phiK: Tensor, v: Tensor, eps = 1e-6): Tensor {
  checkEps('causalLinearAttention', eps);
  return causalLinearAttentionP([phiQ, phiK, v], {
    eps,
    dims: dimsOf('causalLinearAttention', phiQ, phiK, v),
  });
}

export interface LinearAttentionOptions {
  causal?: boolean;
  eps?: number; // in the normaliser: a row whose keys all have φ(k) = 0 gives 0, not 0/0
}

/**
 * Linear attention, bidirectional or causal: φ(q), φ(k) (..., n, d), v (..., n, dv) → (..., n, dv).
 */
export function linearAttention(
  phiQ: Tensor,
  phiK: Tensor,
  v: Tensor,
  { causal = false, eps = 1e-6 }: LinearAttentionOptions = {},
): Tensor {
  if (causal) return causalLinearAttention(phiQ, phiK, v, eps);
  checkEps('linearAttention', eps);
  dimsOf('linearAttention', phiQ, phiK, v);
  const kv = phiK.transpose(-2, -1).matmul(v); // (..., d, dv): Σ_j φ(k_j) v_jᵀ
  const z = phiK.sum(-2, true).transpose(-2, -1); // (..., d, 1): Σ_j φ(k_j)
  return phiQ.matmul(kv).div(phiQ.matmul(z).add(eps)); // (..., n, dv) / (..., n, 1)
}
