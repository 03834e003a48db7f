// Linear attention as a token mixer: "Transformers are RNNs: Fast Autoregressive Transformers with
// Linear Attention" (Katharopoulos, Vyas, Pappas, Fleuret, ICML 2020, arXiv 2006.16236), as read by
// Su Jianlin in kexue.fm 7546 (must attention have a softmax?) and 9889 (can attention focus?).
//
//   o_i = φ(q_i)ᵀ Σ_j φ(k_j) v_jᵀ / (φ(q_i)ᵀ Σ_j φ(k_j) + eps),   one such map per head, then W_o
//   φ(x) = elu(x) + 1 (the paper's) or relu(x) (config.featureMap); no 1/√hs, since φ is not exp
//
// Bidirectional, j runs over all keys: two (hs × hs) state matmuls, O(T·hs²) time, no T×T matrix.
// Causal, j ≤ i: the fused prefix-sum primitive of lib/ops/linear-attention.ts, whose backward
// recomputes the prefix states, so training memory is O(T·hs + hs²) per head as well. Padding is
// multiplicative: φ(k_j) and v_j are zeroed at padded keys, so they add nothing to either sum
// (there is no softmax to send an additive −∞ through); a row with no visible key gives 0 (eps
// keeps 0/0 away). Generation: the RNN form. The state carries the running sums instead of keys and
// values, KV = Σ_j φ(k_j) v_jᵀ (B, nh, hs, hs) and z = Σ_j φ(k_j) (B, nh, hs, 1) (a 'running-sums'
// state, mixer.ts), so a generated token costs O(hs²) per head whatever the length so far. Position
// schemes that act inside attention (rope, alibi, ...) are not applied here; use absolute ones.
//
// Glossary: B batch, T time (the new tokens), C channels (nEmbd), nh heads, hs = C / nh head size.
// Read next: attention.ts (the softmax mixer this replaces), ../lib/ops/linear-attention.ts.

import { causalLinearAttention, elu, linearAttention, type Tensor } from '../lib/index.ts';
import type { TransformerConfig } from './config.ts';
import { HeadProjections } from './heads.ts';
import { stateOf, type MixerOptions, type RunningSumState, type TokenMixer } from './mixer.ts';

export type FeatureMap = Required<TransformerConfig>['featureMap'];

/** φ: non-negative features, so every attention weight φ(q)ᵀφ(k) ≥ 0. */
export const featureMaps: Record<FeatureMap, (x: Tensor) => Tensor> = {
  elu: (x) => elu(x, 1).add(1), // > 0 everywhere: no key is ever ignored (Su 9889: it cannot focus)
  relu: (x) => x.relu(), // exact zeros: a query or key may drop out of a sum entirely
};

export class LinearAttention extends HeadProjections implements TokenMixer {
  readonly phi: (x: Tensor) => Tensor;
  constructor(
    nEmbd: number,
    nHead: number,
    readonly featureMap: FeatureMap = 'elu',
    readonly eps = 1e-6,
  ) {
    if (!Object.hasOwn(featureMaps, featureMap)) {
      throw new Error(`LinearAttention: featureMap must be elu or relu, got '${featureMap}'`);
    }
    super(nEmbd, nHead);
    this.phi = featureMaps[featureMap];
  }

  newState(): RunningSumState {
    return { kind: 'running-sums', kv: null, z: null };
  }

  forward(x: Tensor, { causal = false, keep, state, memory, probe }: MixerOptions = {}): Tensor {
    const [B, T] = x.shape;
    if (memory) {
      throw new Error(
        'LinearAttention: cross-attention (memory) is not supported; ' +
          'it mixes a sequence with itself',
      );
    }
    const sums = stateOf('LinearAttention', 'running-sums', state);
    let [q, k, v] = this.project(x); // (B, nh, T, hs) each
    [q, k] = [this.phi(q), this.phi(k)];
    if (keep) {
      // keep covers every key (B, S) as for softmax attention; the new tokens are its last T
      // columns
      const real = keep
        .narrow(1, keep.shape[1] - T, T)
        .to(x.dtype)
        .reshape([B, 1, T, 1]); // (B, 1, T, 1)
      [k, v] = [k.mul(real), v.mul(real)];
    }
    if (probe && !sums) probe.weights = this.impliedWeights(q, k, causal);
    const y = sums
      ? this.carry(q, k, v, causal, sums)
      : linearAttention(q, k, v, { causal, eps: this.eps }); // (B, nh, T, hs)
    return this.output(y); // (B, T, C)
  }

  /**
   * The weights linear attention applies without forming them, for inspection (O(T²)):
   * a_ij = φ(q_i)·φ(k_j) / (Σ_j' φ(q_i)·φ(k_j') + eps) over the visible keys, (B, nh, T, T).
   */
  impliedWeights(q: Tensor, k: Tensor, causal: boolean): Tensor {
    const scores = q.matmul(k, { transB: true }); // (B, nh, T, T), padded keys already 0
    const visible = causal ? scores.tril() : scores;
    return visible.div(visible.sum(-1, true).add(this.eps));
  }

  /**
   * Attend with the sums KV0, z0 of earlier tokens (if any) included; leave the new sums in the
   * state.
   */
  private carry(q: Tensor, k: Tensor, v: Tensor, causal: boolean, sums: RunningSumState): Tensor {
    const [kv0, z0] = [sums.kv, sums.z];
    let kv = k.transpose(-2, -1).matmul(v); // (B, nh, hs, hs): Σ_j φ(k_j) v_jᵀ over the new tokens
    let z = k.sum(2, true).transpose(-2, -1); // (B, nh, hs, 1): Σ_j φ(k_j)
    if (kv0 && z0) [kv, z] = [kv.add(kv0), z.add(z0)];
    [sums.kv, sums.z] = [kv, z];
    if (!causal) return q.matmul(kv).div(q.matmul(z).add(this.eps)); // (B, nh, T, hs)
    // (B, nh, T, hs): N_i / (D_i + eps) over the new tokens
    const own = causalLinearAttention(q, k, v, this.eps);
    if (!kv0 || !z0) return own;
    // o_i = (φ(q_i)ᵀKV0 + N_i) / (φ(q_i)ᵀz0 + D_i + eps): undo own's normaliser, add the old sums
    const d = q.mul(k.cumsum(2)).sum(-1, true); // (B, nh, T, 1): D_i = φ(q_i)ᵀ Σ_{j≤i} φ(k_j)
    const n = own.mul(d.add(this.eps)); // (B, nh, T, hs): N_i
    return q.matmul(kv0).add(n).div(q.matmul(z0).add(d).add(this.eps)); // (B, nh, T, hs)
  }
}
