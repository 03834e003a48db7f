// Fused softmax attention: softmax(scale·q·kᵀ + bias + mask)·v as one primitive whose forward keeps
// only the output and the row log-sum-exp, so memory is linear in the length rather than holding
// the (B, nh, T, S) scores and probabilities the composite (matmul, softmax, matmul) keeps for its
// backward. Which keys a query sees (causal, a window with sinks, key padding), the ALiBi bias and
// the log-n scale are attributes the kernels apply to each score. It is the same function as the
// composite: test/fused-attention.test.ts holds the two together in float64 for every mask.
// Read next: ../backend/cpu/fused-attention.ts (the online softmax and the gradient formulas).

import { backend, type FusedAttentionDims, type FusedAttentionMask } from '../backend/backend.ts';
import { isFloat } from '../dtype.ts';
import { fmt } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { checkSameDtype } from './elementwise.ts';
import { primitive } from './primitive.ts';

export interface FusedAttentionOptions {
  scale?: number; // multiplies q·k; default 1/√d
  causal?: boolean; // query t (position S − T + t) sees keys j ≤ S − T + t
  keep?: Tensor | null; // (B, S): 1 = a real key, 0 = padding
  window?: number | null; // keys within this distance of the query ...
  sinks?: number; // ... and the first `sinks` keys (then causal, if set)
  slopes?: readonly number[] | null; // ALiBi: − slopes[h]·|i − j| added to head h's scores
  logn?: { base: number; clamp: boolean } | null; // × max(clamp ? 1 : 0, log n_i / log base)
}

interface FusedAttrs {
  dims: FusedAttentionDims;
  mask: FusedAttentionMask;
  lse?: Float64Array; // the row log-sum-exp, saved by forward for backward
}

// d/dq, d/dk, d/dv: the backward kernel recomputes p = exp(s − lse) tile by tile, then dv = pᵀ dy,
// ds = p ⊙ (dy·vᵀ − rowsum(dy ⊙ y)), dq = c·ds k, dk = c·dsᵀ q (cpu/fused-attention.ts)
const fusedAttentionP = primitive<FusedAttrs>({
  name: 'fusedAttention',
  forward: ([q, k, v], attrs) => {
    const { y, lse } = backend().fusedAttention(q.data, k.data, v.data, attrs.dims, attrs.mask);
    attrs.lse = lse;
    const [B, nh, T] = q.shape;
    return new Tensor(y, [B, nh, T, attrs.dims.dv]);
  },
  backward: (dy, [q, k, v], y, { dims, mask, lse }) => {
    const g = backend().fusedAttentionBackward(
      dy.data,
      q.data,
      k.data,
      v.data,
      y.data,
      lse!,
      dims,
      mask,
    );
    return [new Tensor(g.dq, q.shape), new Tensor(g.dk, k.shape), new Tensor(g.dv, v.shape)];
  },
});

/** q (B, nh, T, d), k (B, nh, S, d), v (B, nh, S, dv) → the kernels' sizes, or an Error. */
function dimsOf(q: Tensor, k: Tensor, v: Tensor): FusedAttentionDims {
  const [B, nh, T, d] = q.shape;
  const ok =
    q.ndim === 4 &&
    k.ndim === 4 &&
    v.ndim === 4 &&
    fmt(k.shape.slice(0, 2)) === fmt([B, nh]) &&
    k.shape[3] === d &&
    fmt(v.shape.slice(0, 3)) === fmt(k.shape.slice(0, 3)) &&
    T >= 1 &&
    k.shape[2] >= 1;
  if (!ok)
    throw new Error(
      `fusedAttention: expected q (B, nh, T, d), k (B, nh, S, d), v (B, nh, S, dv), T, S ≥ 1, ` +
        `got q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)}`,
    );
  checkSameDtype('fusedAttention', q, k);
  checkSameDtype('fusedAttention', q, v);
  if (!isFloat(q.dtype)) throw new Error(`fusedAttention: expected float tensors, got ${q.dtype}`);
  return { batch: B, heads: nh, T, S: k.shape[2], d, dv: v.shape[3] };
}

/** The options checked against the sizes, as the kernels' mask. */
function maskOf(dims: FusedAttentionDims, options: FusedAttentionOptions): FusedAttentionMask {
  const { scale = 1 / Math.sqrt(dims.d), causal = false, keep = null } = options;
  const { window = null, sinks = 0, slopes = null, logn = null } = options;
  const fail = (what: string) => {
    throw new Error(`fusedAttention: ${what}`);
  };
  if (!Number.isFinite(scale)) fail(`scale must be finite, got ${scale}`);
  if (keep && fmt(keep.shape) !== fmt([dims.batch, dims.S]))
    fail(`keep must be (B, S) = ${fmt([dims.batch, dims.S])}, got ${fmt(keep.shape)}`);
  if (window !== null && !(Number.isInteger(window) && window >= 0))
    fail(`window must be an integer ≥ 0, got ${window}`);
  if (!(Number.isInteger(sinks) && sinks >= 0)) fail(`sinks must be an integer ≥ 0, got ${sinks}`);
  if (slopes && slopes.length !== dims.heads)
    fail(`slopes must give one slope per head (${dims.heads}), got ${slopes.length}`);
  if (logn && !(logn.base >= 2)) fail(`logn.base must be ≥ 2, got ${logn.base}`);
  return {
    scale,
    causal,
    window,
    sinks,
    keep: keep?.data ?? null,
    slopes,
    logn: logn && { base: logn.base, floor: logn.clamp ? 1 : 0 },
  };
}

/**
 * softmax(scale·q·kᵀ − slope·|i − j| + mask)·v without the (B, nh, T, S) matrix: q (B, nh, T, d), k
 * (B, nh, S, d), v (B, nh, S, dv) → (B, nh, T, dv). A query that sees no key gives zeros.
 */
export function fusedAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  options: FusedAttentionOptions = {},
): Tensor {
  const dims = dimsOf(q, k, v);
  return fusedAttentionP([q, k, v], { dims, mask: maskOf(dims, options) });
}
