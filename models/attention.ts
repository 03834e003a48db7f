// Scaled dot-product multi-head attention (Attention is All You Need, §3.2), for self-attention
// and for encoder-decoder cross-attention, with an optional KV cache for generation.
//
//   Attention(Q, K, V) = softmax(Q Kᵀ / √hs + mask) V,  one such map per head, heads concatenated.
//
// Glossary: B batch, T query length, S key length, C channels (nEmbd), nh heads, hs = C / nh.
// Read next: transformer.ts.

import { cat, type Tensor } from '../lib/index.ts';
import { Dropout, Linear } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import { causalMask, combineMasks, paddingMask } from './masks.ts';
import type { MixerOptions, TokenMixer } from './mixer.ts';

export class MultiHeadAttention extends Module implements TokenMixer {
  query: Linear;
  key: Linear;
  value: Linear;
  proj: Linear;
  attnDropout: Dropout;
  constructor(readonly nEmbd: number, readonly nHead: number, dropout = 0) {
    super();
    if (nEmbd % nHead !== 0) throw new Error(`MultiHeadAttention: nEmbd ${nEmbd} is not divisible by nHead ${nHead}`);
    this.query = new Linear(nEmbd, nEmbd);
    this.key = new Linear(nEmbd, nEmbd);
    this.value = new Linear(nEmbd, nEmbd);
    this.proj = new Linear(nEmbd, nEmbd);
    this.attnDropout = new Dropout(dropout);
  }

  /** (B, L, C) → (B, nh, L, hs) */
  private heads(x: Tensor): Tensor {
    const [B, L] = x.shape;
    return x.reshape([B, L, this.nHead, this.nEmbd / this.nHead]).transpose(1, 2); // (B, nh, L, hs)
  }

  forward(x: Tensor, { memory, causal = false, keep, cache }: MixerOptions = {}): Tensor {
    const [B, T, C] = x.shape;
    const hs = C / this.nHead;
    const q = this.heads(this.query.forward(x)); // (B, nh, T, hs)
    let k: Tensor, v: Tensor;
    if (memory && cache?.k && cache.v) {
      [k, v] = [cache.k, cache.v]; // cross-attention: the memory's keys never change
    } else {
      const source = memory ?? x;
      k = this.heads(this.key.forward(source)); // (B, nh, S_new, hs)
      v = this.heads(this.value.forward(source)); // (B, nh, S_new, hs)
      if (cache && !memory && cache.k && cache.v) {
        k = cat([cache.k, k], 2); // (B, nh, S, hs)
        v = cat([cache.v, v], 2); // (B, nh, S, hs)
      }
      if (cache) [cache.k, cache.v] = [k, v];
    }
    const S = k.shape[2];
    // additive masks: causal (T, S), query t at absolute position S − T + t; padding (B, 1, 1, S)
    const mask = combineMasks(causal ? causalMask(T, S) : null, keep ? paddingMask(keep) : null);
    let scores = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(hs)); // (B, nh, T, S)
    if (mask) scores = scores.add(mask.to(scores.dtype));
    const att = this.attnDropout.forward(scores.softmax(-1)); // (B, nh, T, S)
    const y = att.matmul(v); // (B, nh, T, hs)
    return this.proj.forward(y.transpose(1, 2).reshape([B, T, C])); // (B, T, C)
  }
}
