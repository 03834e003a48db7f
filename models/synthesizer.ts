// The Synthesizer (Tay et al. 2020, "Synthesizer: Rethinking Self-Attention in Transformer Models",
// arXiv 2005.00743; Su Jianlin's reading in kexue.fm post 7430). The n×n mixing matrix softmax(B)
// is synthesized without token–token dot products: from each token alone (Dense) or not from the
// input at all (Random). Values and the output projection are those of multi-head attention:
//
//   Y_h = softmax(B_h + mask) · X W_v^(h),   heads concatenated, then W_o.
//
//   Dense               B_i = W₂ relu(W₁ x_i + b₁) + b₂ ∈ R^ℓ, one W₂ block per head
//   Random              B = R ∈ R^{ℓ×ℓ} per head, trainable; Fixed Random: the same table, frozen
//   Factorized Dense    B_ij = A_i[j mod a] · B'_i[⌊j/a⌋], A = F_A(x_i) ∈ R^a, B' = F_B(x_i) ∈ R^b
//   Factorized Random   R = R₁ R₂ᵀ, R₁, R₂ ∈ R^{ℓ×k}, k = config.rank
//   Mixture (R+V)       B = α₀ R + α₁ QKᵀ/√hs, α = softmax(θ) so α₀ + α₁ = 1
//
// ℓ = blockSize is the longest sequence: row p and columns 0…S−1 of the ℓ-wide logits belong to the
// query at position p and the S keys, so nothing extrapolates past ℓ. Every variant generates step
// by step with a 'keys-values' state: the synthesized row of a new token needs only its position
// (and, for Dense, the token), so the state holds values (and the mixture's keys) only.
//
// Glossary: B batch, T query length, S key length (S = T, or cached + T), C channels (nEmbd),
// nh heads, hs = C / nh, ℓ blockSize, k rank, a·b ≥ ℓ the factorized-dense widths.
// Read next: attention.ts (the dot-product mixer these replace), mixer.ts (the contract).

import { zeros, type Tensor } from '../lib/index.ts';
import { Dropout, init, Linear } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import type { TransformerConfig } from './config.ts';
import { append, checkHeads, mergeHeads, splitHeads } from './heads.ts';
import { causalMask, combineMasks, paddingMask } from './masks.ts';
import { keyValueState, stateOf } from './mixer.ts';
import type { KeyValueState, MixerOptions, TokenMixer } from './mixer.ts';

export type SynthesizerConfig = Pick<
  TransformerConfig,
  'nEmbd' | 'nHead' | 'blockSize' | 'dropout' | 'rank'
>;

/** A trainable (or frozen) table of N(0, std²) entries. */
const table = (shape: number[], std: number, trainable = true) =>
  init.normal(zeros(shape), std).requiresGrad_(trainable);

/** The shared part: value path, masks, softmax, output projection, the value state. */
export abstract class Synthesizer extends Module implements TokenMixer {
  value: Linear;
  proj: Linear;
  attnDropout: Dropout;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly blockSize: number;
  constructor(config: SynthesizerConfig) {
    super();
    [this.nEmbd, this.nHead, this.blockSize] = [config.nEmbd, config.nHead, config.blockSize];
    checkHeads(new.target.name, config.nEmbd, config.nHead);
    this.value = new Linear(config.nEmbd, config.nEmbd);
    this.proj = new Linear(config.nEmbd, config.nEmbd);
    this.attnDropout = new Dropout(config.dropout ?? 0);
  }

  /**
   * Synthesized logits for the T new queries (positions S−T … S−1) over S keys: (B or 1, nh, T, S).
   */
  protected abstract logits(x: Tensor, S: number, state: KeyValueState | null): Tensor;

  newState(): KeyValueState {
    return keyValueState();
  }

  forward(x: Tensor, { causal = false, keep, state, memory, probe }: MixerOptions = {}): Tensor {
    const [B, T] = x.shape;
    const who = this.constructor.name;
    if (memory) {
      throw new Error(
        `${who}: cross-attention is not supported (synthesized weights ignore the memory)`,
      );
    }
    const past = stateOf(who, 'keys-values', state);
    const S = (past?.v?.shape[2] ?? 0) + T; // keys so far and the new ones
    if (S > this.blockSize) {
      throw new Error(`${who}: key length ${S} exceeds blockSize ${this.blockSize} (ℓ)`);
    }
    const v = append(past, 'v', splitHeads(this.value.forward(x), this.nHead)); // (B, nh, S, hs)
    let scores = this.logits(x, S, past); // (B or 1, nh, T, S)
    // additive masks: causal (T, S) with query t at position S − T + t; padding (B, 1, 1, S)
    const mask = combineMasks(causal ? causalMask(T, S) : null, keep ? paddingMask(keep) : null);
    if (mask) scores = scores.add(mask.to(scores.dtype)); // (B, nh, T, S)
    const probs = scores.softmax(-1); // (B or 1, nh, T, S); masked rows → 0
    if (probe) probe.weights = probs.expand([B, this.nHead, T, S]);
    const y = this.attnDropout.forward(probs).matmul(v); // (B, nh, T, hs)
    return this.proj.forward(mergeHeads(y)); // (B, T, C)
  }
}

/** Dense: a two-layer MLP of each token alone gives its row of logits, ℓ wide per head. */
export class DenseSynthesizer extends Synthesizer {
  hidden: Linear;
  out: Linear;
  constructor(config: SynthesizerConfig) {
    super(config);
    this.hidden = new Linear(config.nEmbd, config.nEmbd); // W₁, shared by the heads
    // W₂, one ℓ-wide block per head
    this.out = new Linear(config.nEmbd, config.nHead * config.blockSize);
  }
  protected logits(x: Tensor, S: number): Tensor {
    const [B, T] = x.shape;
    const b = this.out.forward(this.hidden.forward(x).relu()); // (B, T, nh·ℓ)
    const rows = b.reshape([B, T, this.nHead, this.blockSize]).transpose(1, 2); // (B, nh, T, ℓ)
    return rows.narrow(3, 0, S); // (B, nh, T, S)
  }
}

/** Random: one ℓ×ℓ table per head, trainable, or frozen (a buffer: saved, never updated). */
export class RandomSynthesizer extends Synthesizer {
  table: Tensor;
  constructor(config: SynthesizerConfig, { trainable = true } = {}) {
    super(config);
    // N(0, 1) and no 1/√hs: a larger spread makes softmax(R) peaked from the start, and a peaked
    // softmax passes little gradient, so R trains slowly
    // (nh, ℓ, ℓ)
    this.table = table([config.nHead, config.blockSize, config.blockSize], 1, trainable);
  }
  protected logits(x: Tensor, S: number): Tensor {
    const [, T] = x.shape;
    return this.table
      .narrow(1, S - T, T)
      .narrow(2, 0, S)
      .unsqueeze(0); // (1, nh, T, S)
  }
}

/** Factorized Random: R = R₁ R₂ᵀ of rank k, 2ℓk numbers per head instead of ℓ². */
export class FactorizedRandomSynthesizer extends Synthesizer {
  left: Tensor;
  right: Tensor;
  constructor(config: SynthesizerConfig) {
    super(config);
    const k = config.rank ?? 8;
    // entries N(0, 1/√k) each, so an entry of R₁R₂ᵀ (a sum of k products) has variance 1
    this.left = table([config.nHead, config.blockSize, k], k ** -0.5); // (nh, ℓ, k)
    this.right = table([config.nHead, config.blockSize, k], k ** -0.5); // (nh, ℓ, k)
  }
  protected logits(x: Tensor, S: number): Tensor {
    const [, T] = x.shape;
    const r1 = this.left.narrow(1, S - T, T); // (nh, T, k)
    const r2 = this.right.narrow(1, 0, S); // (nh, S, k)
    return r1.matmul(r2.transpose(1, 2)).unsqueeze(0); // (nh, T, k) @ (nh, k, S) → (1, nh, T, S)
  }
}

/**
 * Factorized Dense: two narrow MLP heads, A (a wide) and B' (b wide), tiled and multiplied so that
 * column j pairs A[j mod a] with B'[⌊j/a⌋] — every column a distinct (a, b) pair, so no two keys
 * share a logit (tiling both A and B' the same way would repeat pairs).
 * a = ⌈√ℓ⌉, b = ⌈ℓ/a⌉, so a·b ≥ ℓ for any ℓ (the paper's a·b = ℓ needs ℓ to factor well).
 */
export class FactorizedDenseSynthesizer extends Synthesizer {
  hidden: Linear;
  outA: Linear;
  outB: Linear;
  readonly a: number;
  readonly b: number;
  constructor(config: SynthesizerConfig) {
    super(config);
    this.a = Math.ceil(Math.sqrt(config.blockSize));
    this.b = Math.ceil(config.blockSize / this.a);
    this.hidden = new Linear(config.nEmbd, config.nEmbd);
    this.outA = new Linear(config.nEmbd, config.nHead * this.a);
    this.outB = new Linear(config.nEmbd, config.nHead * this.b);
  }
  protected logits(x: Tensor, S: number): Tensor {
    const [B, T] = x.shape;
    const h = this.hidden.forward(x).relu(); // (B, T, C)
    // (B, nh, T, a)
    const fa = this.outA.forward(h).reshape([B, T, this.nHead, this.a]).transpose(1, 2);
    // (B, nh, T, b)
    const fb = this.outB.forward(h).reshape([B, T, this.nHead, this.b]).transpose(1, 2);
    // (B, nh, T, b, 1) ⊙ (B, nh, T, 1, a) → (B, nh, T, b, a)
    const grid = fb.unsqueeze(4).mul(fa.unsqueeze(3));
    return grid.reshape([B, this.nHead, T, this.b * this.a]).narrow(3, 0, S); // (B, nh, T, S)
  }
}

/**
 * Random + Vanilla. Of the paper's mixtures (R+V, D+V, R+D) this is the one the paper reports best
 * on MT and LM (WMT EnDe 28.47 vs 27.67 vanilla) and the one the associative-recall experiment
 * needs: R supplies position-only mixing, QKᵀ the content matching that R and D lack. α =
 * softmax(θ) over the two logit sources, one pair per layer as in Mesh-TF's "random_plus_alpha"; θ
 * = 0 at init (an even mix), so Σα = 1 and the logit scale cannot blow up. θ is 1-D so that shells
 * which Xavier-initialise every matrix leave it at zero.
 */
export class MixtureSynthesizer extends Synthesizer {
  query: Linear;
  key: Linear;
  table: Tensor;
  mixLogits: Tensor;
  constructor(config: SynthesizerConfig) {
    super(config);
    this.query = new Linear(config.nEmbd, config.nEmbd);
    this.key = new Linear(config.nEmbd, config.nEmbd);
    this.table = table([config.nHead, config.blockSize, config.blockSize], 1); // (nh, ℓ, ℓ)
    this.mixLogits = zeros([2], { requiresGrad: true }); // θ
  }
  /** α = softmax(θ): (2,), α₀ weighs R, α₁ weighs QKᵀ/√hs. */
  weights(): Tensor {
    return this.mixLogits.softmax(-1);
  }
  protected logits(x: Tensor, S: number, state: KeyValueState | null): Tensor {
    const [, T, C] = x.shape;
    const q = splitHeads(this.query.forward(x), this.nHead); // (B, nh, T, hs)
    const k = append(state, 'k', splitHeads(this.key.forward(x), this.nHead)); // (B, nh, S, hs)
    const dot = q.matmul(k, { transB: true }).mul(1 / Math.sqrt(C / this.nHead)); // (B, nh, T, S)
    const r = this.table.narrow(1, S - T, T).narrow(2, 0, S); // (nh, T, S)
    const [aR, aV] = this.weights().split(1); // (1,) each
    return r.mul(aR).add(dot.mul(aV)); // (nh, T, S) + (B, nh, T, S) → (B, nh, T, S)
  }
}

export type SynthesizerName =
  | 'synth-dense'
  | 'synth-random'
  | 'synth-fixed'
  | 'synth-factorized-dense'
  | 'synth-factorized-random'
  | 'synth-mix';
