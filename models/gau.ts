// GAU, the Gated Attention Unit of "Transformer Quality in Linear Time" (Hua, Dai, Liu, Le, 2022,
// arXiv 2202.10447), as read by Su Jianlin in "GAU needs no warmup" (kexue.fm 8990) and GAU-α
// (9052). One GAU layer replaces a whole Transformer block (attention + FFN): a gated linear unit
// whose value path is mixed over time by a single-head attention built from one narrow shared
// projection Z.
//
//   U = φ(X Wu), V = φ(X Wv)  (T, e);   Z = φ(X Wz)  (T, s);   φ = SiLU (swish), on all three
//   Q = Z ⊙ γq + βq,  K = Z ⊙ γk + βk                  per-dimension scale and offset of one Z
//   A = relu²(Q Kᵀ / √s) / n                            n = the number of keys row t may see
//   O = (U ⊙ A V) Wo
//
// n is counted per row: t + 1 for causal row t, minus padded keys (Su: not the sequence length).
// `scale: 'logn'` selects GAU-α's softmax variant instead: A = softmax(κ · Q Kᵀ / √s) with the
// entropy-invariant κ = log n / log lognBase (κ = 1 at that length; by default the training length).
// Parameters: 2Ce + Cs + eC ≈ 3Ce, so with e = 2C two GAU layers ≈ one Transformer block (12C²):
// FLASH-Quad stacks 2L GAU layers where a Transformer has L blocks.
//
// A GAU layer is a token mixer that is its own FFN: the 'gau' entry of mixers.ts builds blocks of
// it with no FFN sublayer, and the block adds the residual and the norm (post-norm LN(x + GAU(x))
// is Su's setting). It works bidirectionally (GAU-α is an encoder) and causally.
//
// Glossary: B batch, T time, C channels (nEmbd), e expanded width (expansion·C), s shared q/k width
// (sharedDim), L the length attended over (T here, the chunk length in flash.ts).
// Read next: flash.ts (the same unit made linear in T by mixing chunks).

import { ones, zeros, type DType, type Tensor } from '../lib/index.ts';
import { Linear, init } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import type { TransformerConfig } from './config.ts';
import type { AttentionProbe, MixerOptions, TokenMixer } from './mixer.ts';

export type GAUConfig = Pick<
  Required<TransformerConfig>,
  'nEmbd' | 'expansion' | 'sharedDim' | 'scale' | 'lognBase'
>;

/** z ⊙ γ + β per dimension: separate Q and K for the price of 2s numbers each. */
export class ScaleOffset extends Module {
  gamma: Tensor; // (s,) 1-D, so Xavier init (matrices only) and AdamW's weight decay pass it by
  beta: Tensor; // (s,)
  constructor(s: number) {
    super();
    this.gamma = ones([s], { requiresGrad: true });
    this.beta = zeros([s], { requiresGrad: true });
  }
  forward(z: Tensor): Tensor {
    return z.mul(this.gamma).add(this.beta); // (..., s)
  }
}

/** (..., L, L) 1/0: key j is visible to query t (j ≤ t if causal, keep_j = 1); null if all are. */
export function visibleKeys(
  L: number,
  causal: boolean,
  keep: Tensor | null,
  dtype: DType,
): Tensor | null {
  const triangle = causal ? ones([L, L], { dtype }).tril() : null; // (L, L)
  const keys = keep ? keep.to(dtype).unsqueeze(-2) : null; // (..., 1, L)
  if (triangle && keys) return triangle.mul(keys); // (..., L, L)
  return triangle ?? keys;
}

export interface AttendOptions {
  causal?: boolean; // query t sees keys ≤ t only
  keep?: Tensor | null; // (…, L) padding mask: 1 = real key, 0 = padding
  softmax?: boolean; // GAU-α's softmax with the log-n scale instead of relu²/n
  logBase?: number; // softmax: the length at which κ = 1 (config.lognBase)
  probe?: AttentionProbe; // introspection: the weights land here
}

/**
 * GAU's single-head attention over the last two dims: q, k (..., L, s), v (..., L, e) → (..., L,
 * e). Masks are multiplicative for relu² (a hidden key's weight is zeroed: there is no exponential
 * to turn an additive −∞ into 0, and n must count the visible keys anyway) and −∞ for softmax. A
 * row with no visible key gives 0: n is clamped to ≥ 1 and the fused softmax zeroes all −∞ rows.
 */
export function gauAttention(q: Tensor, k: Tensor, v: Tensor, options: AttendOptions = {}): Tensor {
  const [L, s] = q.shape.slice(-2);
  const { causal = false, keep = null, softmax = false } = options;
  const visible = visibleKeys(L, causal, keep, q.dtype); // (..., L, L)
  const n = visible ? visible.sum(-1, true).clamp(1) : L; // (..., L, 1) visible keys per row
  const scores = q.matmul(k, { transB: true }).mul(1 / Math.sqrt(s)); // (..., L, L)
  let weights: Tensor; // (..., L, L)
  if (!softmax) {
    const a = scores.relu().square(); // (..., L, L)
    weights = (visible ? a.mul(visible) : a).div(n);
  } else {
    // a length of 1 would divide by log 1 = 0
    const logBase = Math.log(Math.max(2, options.logBase ?? L));
    const kappa = typeof n === 'number' ? Math.log(n) / logBase : n.log().div(logBase); // (…, L, 1)
    const logits = scores.mul(kappa); // (..., L, L)
    weights = (visible ? logits.maskedFill(visible.eq(0), -Infinity) : logits).softmax(-1);
  }
  if (options.probe) options.probe.weights = weights.unsqueeze(-3); // (B, 1, L, L): one head
  return weights.matmul(v); // (..., L, e)
}

/** One GAU layer, without its residual and norm (the block adds those). */
export class GatedAttentionUnit extends Module implements TokenMixer {
  hidden: Linear; // C → 2e + s: U, V and Z from one matmul, split after
  q: ScaleOffset;
  k: ScaleOffset;
  out: Linear; // e → C
  readonly e: number;
  readonly s: number;
  readonly softmax: boolean;
  readonly logBase: number;
  constructor(config: GAUConfig) {
    super();
    [this.e, this.s] = [config.expansion * config.nEmbd, config.sharedDim];
    [this.softmax, this.logBase] = [config.scale === 'logn', config.lognBase];
    this.hidden = new Linear(config.nEmbd, 2 * this.e + this.s);
    this.q = new ScaleOffset(this.s);
    this.k = new ScaleOffset(this.s);
    this.out = new Linear(this.e, config.nEmbd);
    initGau(this);
  }

  /** No generation state: every step recomputes the window (the shells do so when any is null). */
  newState(): null {
    return null;
  }

  /** x (B, T, C) → U, V (B, T, e) and Z (B, T, s), each through φ = SiLU. */
  protected project(x: Tensor): Tensor[] {
    // (B, T, e), (B, T, e), (B, T, s)
    return this.hidden.forward(x).silu().split([this.e, this.e, this.s], -1);
  }

  forward(x: Tensor, { causal = false, keep = null, probe }: MixerOptions = {}): Tensor {
    const [u, v, z] = this.project(x);
    const attend = { causal, keep, softmax: this.softmax, logBase: this.logBase, probe };
    const y = gauAttention(this.q.forward(z), this.k.forward(z), v, attend); // (B, T, e)
    return this.out.forward(u.mul(y)); // (B, T, C)
  }
}

/**
 * Su's no-warmup recipe (post 8990): Xavier-uniform matrices, zero biases, γ = 1 and β = 0, so that
 * Q = K = Z at init. The GAU branch then starts ~1/20 of x and post-norm LN(x + GAU(x)) ≈ LN(x).
 * (The shells Xavier-initialise every matrix again, from the same distribution; biases stay 0.)
 */
export function initGau(m: Module): void {
  for (const [, sub] of m.namedModules()) {
    if (sub instanceof Linear) {
      init.xavierUniform(sub.weight);
      if (sub.bias) init.zeros(sub.bias);
    } else if (sub instanceof ScaleOffset) {
      init.ones(sub.gamma);
      init.zeros(sub.beta);
    }
  }
}
