// The token-mixer contract: every attention variant is a Module with forward(x, options) mapping
// (B, T, C) to (B, T, C), bidirectional by default and causal when asked. The blocks of block.ts
// wrap whichever mixer the config names (mixers.ts), so a variant defines only how tokens exchange
// information. Masks are described, not materialised: a mixer gets `causal` and a padding `keep`
// vector and builds what it needs (an n×n additive mask for softmax, a band for local attention,
// zeroed features for linear attention), so O(n·w) and O(n) variants stay so in memory.
// Read next: heads.ts (the shared head split), attention.ts (the paper's mixer), mixers.ts.

import type { Tensor } from '../lib/index.ts';
import type { Module } from '../nn/module.ts';

/**
 * Keys and values of the positions seen so far, each (B, nh, S, ·), so a new token costs O(S), not
 * O(S²): softmax and sparse attention, the synthesizers (values, and the mixture's keys), and the
 * memory of cross-attention.
 */
export interface KeyValueState {
  kind: 'keys-values';
  k: Tensor | null; // (B, nh, S, hs)
  v: Tensor | null; // (B, nh, S, hs)
}

/** Linear attention's RNN form: the running sums over every key so far. */
export interface RunningSumState {
  kind: 'running-sums';
  kv: Tensor | null; // (B, nh, hs, hs)  Σ_j φ(k_j) v_jᵀ
  z: Tensor | null; // (B, nh, hs, 1)   Σ_j φ(k_j)
}

/** What a mixer carries from one generation step to the next; each mixer says which kind. */
export type MixerState = KeyValueState | RunningSumState;

/** The old name of KeyValueState (a KV cache). */
export type KVCache = KeyValueState;

export interface MixerOptions {
  causal?: boolean; // query t sees keys s ≤ t only
  keep?: Tensor | null; // (B, S) padding mask: 1 = real key, 0 = padding (never attended to)
  memory?: Tensor; // (B, S, C) cross-attention source (softmax attention only)
  state?: MixerState; // generation: what earlier positions left (from the mixer's newState())
  inferenceWindow?: boolean; // softmax: keys within config.window + the first config.sinks (Λ-mask)
  probe?: AttentionProbe; // introspection: the mixer leaves its attention weights here
}

/**
 * Where a mixer leaves the attention weights it applied, (B, nh, T, S), row t the weights of the
 * keys for query t (a distribution for softmax; GAU's relu²/n weights need not sum to 1), when a
 * caller asks (introspection). FLASH, which never forms them, leaves null. Not asking costs nothing.
 */
export interface AttentionProbe {
  weights: Tensor | null;
}

export interface TokenMixer extends Module {
  forward(x: Tensor, options?: MixerOptions): Tensor;
  /** An empty state for step-by-step generation; null when the mixer keeps none (recompute). */
  newState(): MixerState | null;
}

export const keyValueState = (): KeyValueState => ({ kind: 'keys-values', k: null, v: null });

/** The state a call brought, checked to be the kind this mixer keeps. */
export function stateOf<K extends MixerState['kind']>(
  who: string,
  kind: K,
  state: MixerState | undefined,
): Extract<MixerState, { kind: K }> | null {
  if (!state) return null;
  if (state.kind !== kind)
    throw new Error(`${who}: expected a '${kind}' state, got '${state.kind}'`);
  return state as Extract<MixerState, { kind: K }>;
}
