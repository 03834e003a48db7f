// The token-mixer contract: every attention variant is a Module with forward(x, options) mapping
// (B, T, C) to (B, T, C). The shells in transformer.ts build their blocks around whichever mixer
// the config names (mixers.ts), so a variant defines only how tokens exchange information.
// Masks are described, not materialised: a mixer gets `causal` and a padding `keep` vector and
// builds whatever it needs (an n×n additive mask for softmax, a band for local attention, zeroed
// features for linear attention), so O(n·w) and O(n) variants stay O(n·w) and O(n) in memory.

import type { Tensor } from '../lib/index.ts';
import type { Module } from '../nn/module.ts';

/**
 * What a mixer keeps of the positions seen so far, per layer, so each new token costs O(S) not
 * O(S²): keys and values for softmax attention; linear attention keeps its running sums here.
 */
export interface KVCache {
  k: Tensor | null; // (B, nh, S, hs)
  v: Tensor | null; // (B, nh, S, hs)
}

export interface MixerOptions {
  causal?: boolean; // query t sees keys s ≤ t only
  keep?: Tensor | null; // (B, S) 1 = real key, 0 = padding (never attended to)
  memory?: Tensor; // (B, S, C) cross-attention source (softmax attention only)
  cache?: KVCache; // generation: keys/values of earlier positions (mixers that support it)
  inferenceWindow?: boolean; // softmax attention: keys within config.window of the query + the first config.sinks (Λ-mask)
}

export interface TokenMixer extends Module {
  forward(x: Tensor, options?: MixerOptions): Tensor;
}
