// Scaled dot-product multi-head attention (Attention is All You Need, §3.2), for self-attention
// and for encoder-decoder cross-attention, with an optional KV cache for generation, and the
// position schemes and scales that act inside attention (relative-positions.ts):
//
//   Attention(Q, K, V) = softmax(λ · Q Kᵀ / √hs + bias + mask) V,  one such map per head, heads concatenated.
//
// RoPE rotates q and k; ALiBi, KERPLE-log and T5 add a bias; λ is 1, or the log-n factor
// max(1, log n / log trainLen) per query. A window (distance `window`, plus the first `sinks` keys)
// can hold in training (HWFA's window layers) or for one call at inference (Su's "super baseline").
//
// Glossary: B batch, T query length, S key length, C channels (nEmbd), nh heads, hs = C / nh.
// Read next: relative-positions.ts, transformer.ts.

import { cat, type Tensor } from '../lib/index.ts';
import { Dropout, Linear } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import type { PositionName, TransformerConfig } from './config.ts';
import { causalMask, combineMasks, paddingMask } from './masks.ts';
import type { MixerOptions, TokenMixer } from './mixer.ts';
import { AlibiBias, KerpleLogBias, lognScale, rope, T5Bias, windowMask, type RelativeBias } from './relative-positions.ts';

/** The config fields attention reads; a Required<TransformerConfig> fits as it is. */
export interface AttentionSettings {
  position?: PositionName; // rope, alibi, kerple, t5 act here; none, sinusoidal, learned in the embedding
  scale?: 'sqrt' | 'logn';
  trainLen?: number; // the length the log-n scale is calibrated at
  window?: number; // windowed attention: keys within this distance of the query
  sinks?: number; // ... and the first `sinks` keys
  windowed?: boolean; // apply the window in every call (HWFA's window layers)
}

const biases: Partial<Record<PositionName, new (nHead: number) => RelativeBias>> = { alibi: AlibiBias, kerple: KerpleLogBias, t5: T5Bias };

export class MultiHeadAttention extends Module implements TokenMixer {
  query: Linear;
  key: Linear;
  value: Linear;
  proj: Linear;
  attnDropout: Dropout;
  bias: RelativeBias | null;
  readonly rope: boolean;
  readonly scale: 'sqrt' | 'logn';
  readonly trainLen: number;
  readonly window: number | null;
  readonly sinks: number;
  readonly windowed: boolean;
  constructor(readonly nEmbd: number, readonly nHead: number, dropout = 0, settings: AttentionSettings = {}) {
    super();
    if (nEmbd % nHead !== 0) throw new Error(`MultiHeadAttention: nEmbd ${nEmbd} is not divisible by nHead ${nHead}`);
    const { position = 'none', scale = 'sqrt', trainLen = 0, window = null, sinks = 0, windowed = false } = settings;
    if (position === 'rope' && (nEmbd / nHead) % 2 !== 0) {
      throw new Error(`MultiHeadAttention: RoPE rotates pairs, so the head size ${nEmbd / nHead} must be even`);
    }
    if (scale === 'logn' && !(trainLen >= 2)) throw new Error(`MultiHeadAttention: scale 'logn' needs trainLen ≥ 2, got ${trainLen}`);
    this.query = new Linear(nEmbd, nEmbd);
    this.key = new Linear(nEmbd, nEmbd);
    this.value = new Linear(nEmbd, nEmbd);
    this.proj = new Linear(nEmbd, nEmbd);
    this.attnDropout = new Dropout(dropout);
    this.rope = position === 'rope';
    const Bias = biases[position];
    this.bias = Bias ? new Bias(nHead) : null;
    [this.scale, this.trainLen, this.window, this.sinks, this.windowed] = [scale, trainLen, window, sinks, windowed];
  }

  /** (B, L, C) → (B, nh, L, hs) */
  private heads(x: Tensor): Tensor {
    const [B, L] = x.shape;
    return x.reshape([B, L, this.nHead, this.nEmbd / this.nHead]).transpose(1, 2); // (B, nh, L, hs)
  }

  forward(x: Tensor, { memory, causal = false, keep, cache, inferenceWindow = false }: MixerOptions = {}): Tensor {
    const [B, T, C] = x.shape;
    const windowed = this.windowed || inferenceWindow;
    if (memory && (this.rope || this.bias || windowed)) {
      throw new Error('MultiHeadAttention: positions and windows are for self-attention; build cross-attention without them');
    }
    let q = this.heads(this.query.forward(x)); // (B, nh, T, hs)
    let k: Tensor, v: Tensor;
    if (memory && cache?.k && cache.v) {
      [k, v] = [cache.k, cache.v]; // cross-attention: the memory's keys never change
    } else {
      const source = memory ?? x;
      k = this.heads(this.key.forward(source)); // (B, nh, S_new, hs)
      v = this.heads(this.value.forward(source)); // (B, nh, S_new, hs)
      // RoPE uses absolute positions: the new tokens start after the cached ones (S − T); the cache
      // keeps rotated keys, so each key is rotated once
      const past = cache?.k ? cache.k.shape[2] : 0;
      if (this.rope) [q, k] = [rope(q, past), rope(k, past)]; // (B, nh, T, hs)
      if (cache && !memory && cache.k && cache.v) {
        k = cat([cache.k, k], 2); // (B, nh, S, hs)
        v = cat([cache.v, v], 2); // (B, nh, S, hs)
      }
      if (cache) [cache.k, cache.v] = [k, v];
    }
    const att = this.attnDropout.forward(this.logits(q, k, { causal, keep, windowed }).softmax(-1)); // (B, nh, T, S)
    const y = att.matmul(v); // (B, nh, T, hs)
    return this.proj.forward(y.transpose(1, 2).reshape([B, T, C])); // (B, T, C)
  }

  /** The scores before softmax, (B, nh, T, S): λ · q·kᵀ/√hs + bias + mask; query t at position S − T + t. */
  logits(q: Tensor, k: Tensor, o: { causal?: boolean; keep?: Tensor | null; windowed?: boolean } = {}): Tensor {
    const [, , T, hs] = q.shape;
    const S = k.shape[2];
    const causal = o.causal ?? false;
    if (o.windowed && this.window === null) throw new Error('MultiHeadAttention: a windowed call needs settings.window');
    // additive masks: (T, S) causal or window + sinks; padding (B, 1, 1, S); together (B, 1, T, S)
    const band = o.windowed ? windowMask(T, S, this.window ?? 0, this.sinks, causal) : causal ? causalMask(T, S) : null;
    const mask = combineMasks(band, o.keep ? paddingMask(o.keep) : null);
    let scores = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(hs)); // (B, nh, T, S)
    if (this.scale === 'logn') scores = scores.mul(lognScale(mask, S, this.trainLen, scores.dtype)); // × (…, T, 1)
    if (this.bias) scores = scores.add(this.bias.forward(T, S, causal).to(scores.dtype)); // + (nh, T, S)
    if (mask) scores = scores.add(mask.to(scores.dtype));
    return scores;
  }
}

/**
 * HWFA (Su, post 9603), the config of layer `layer` of an nLayer stack: layers 0 … nLayer − 2 are
 * windowed attention with RoPE, trained so; the last layer is full attention with the log-n scale
 * and no positions. The window is a distance (relative-positions.ts windowMask), so the window layers
 * reach window·(nLayer − 1) + 1 positions; Su keeps that ≤ ¾ of the training length (his w = 16 keys
 * is window 15). The embedding must add no positions (position 'none' in the shell's Embedder).
 */
export function hwfaLayerConfig(c: Required<TransformerConfig>, layer: number): Required<TransformerConfig> {
  const last = layer === c.nLayer - 1;
  return { ...c, attention: 'softmax', position: last ? 'none' : 'rope', scale: last ? 'logn' : 'sqrt', windowed: !last };
}
