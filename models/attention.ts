// Scaled dot-product multi-head attention (Attention is All You Need, §3.2), for self-attention and
// for encoder-decoder cross-attention, with a key/value state for generation:
//
//   Attention(Q, K, V) = softmax(Q Kᵀ / √hs + mask) V,   one such map per head, heads concatenated.
//
// Positions that act inside attention (RoPE, ALiBi, KERPLE, T5), the log-n scale and windows reach
// it through one seam, a list of score modifiers (score-modifiers.ts); with none, this is the
// paper's.
//
// Glossary: B batch, T query length, S key length, C channels (nEmbd), nh heads, hs = C / nh.
// Read next: score-modifiers.ts, block.ts.

import { fusedAttention, type FusedAttentionOptions, type Tensor } from '../lib/index.ts';
import { Dropout } from '../nn/index.ts';
import { appendKeysValues, HeadProjections, splitHeads } from './heads.ts';
import { causalMask, combineMasks, paddingMask } from './masks.ts';
import { keyValueState, stateOf } from './mixer.ts';
import type { KeyValueState, MixerOptions, TokenMixer } from './mixer.ts';
import { AlibiBias } from './relative-positions.ts';
import {
  AddBias,
  LognScale,
  Rope,
  scoreModifiers,
  WindowBand,
  type AttentionSettings,
  type ScoreCall,
  type ScoreModifier,
} from './score-modifiers.ts';

export type { AttentionSettings } from './score-modifiers.ts';

export interface LogitOptions {
  causal?: boolean;
  keep?: Tensor | null; // (B, S) padding mask
  windowed?: boolean; // the inference-time window (Λ-mask), when the modifiers hold one
}

/** When softmax attention runs as one fused kernel: always, never, or 'auto' (the default). */
export type FusedAttentionMode = boolean | 'auto';
let fusedMode: FusedAttentionMode = 'auto';

// 'auto' fuses from 512 × 512 scores a (batch, head) group. Measured on 2 cores (bench-style
// forward+backward of a causal mixer, fused ÷ unfused time): B 16, 4 heads of 32: 1.68 at n 64,
// 1.17 at 256, 0.89 at 512; B 1, 4 heads of 16: 0.67 at 256, 0.69 at 512, 0.59 at 1024. Below
// it the batched matmuls of the unfused path win, and its n × n matrices are still small.
const AUTO_MIN_SCORES = 512 * 512;

/**
 * Run softmax attention as one fused kernel (lib fusedAttention: no (B, nh, T, S) matrix) wherever
 * it applies (true), never (false: matmul, softmax, matmul), or where it pays ('auto', the
 * default: from T·S ≥ 512² a group). The same function either way, to rounding.
 */
export function setFusedAttention(mode: FusedAttentionMode): void {
  if (mode !== true && mode !== false && mode !== 'auto')
    throw new Error(`setFusedAttention: expected true, false or 'auto', got ${String(mode)}`);
  fusedMode = mode;
}

export function getFusedAttention(): FusedAttentionMode {
  return fusedMode;
}

/** Run `fn` with the fused-attention mode set to `mode`, then restore the previous mode. */
export function withFusedAttention<T>(mode: FusedAttentionMode, fn: () => T): T {
  const previous = fusedMode;
  setFusedAttention(mode);
  try {
    return fn();
  } finally {
    fusedMode = previous;
  }
}

/** Does the mode send a T × S score matrix to the fused kernel? */
const fusing = (T: number, S: number) =>
  fusedMode === 'auto' ? T * S >= AUTO_MIN_SCORES : fusedMode;

/**
 * The fused kernel's options for these modifiers, or null where it cannot follow them: RoPE acts
 * on q and k before it, a window becomes its band, log-n and ALiBi its per-score terms; KERPLE and
 * T5 (learned biases) stay on the unfused path.
 */
function fusedOptions(
  modifiers: readonly ScoreModifier[],
  { causal = false, keep = null, windowed = false }: LogitOptions,
): FusedAttentionOptions | null {
  const options: FusedAttentionOptions = { causal, keep };
  for (const m of modifiers) {
    if (m instanceof WindowBand) {
      if (m.always || windowed) [options.window, options.sinks] = [m.window, m.sinks];
    } else if (m instanceof LognScale) options.logn = { base: m.base, clamp: m.clamp };
    else if (m instanceof AddBias && m.bias instanceof AlibiBias) options.slopes = m.bias.slopes;
    else if (!(m instanceof Rope)) return null;
  }
  return options;
}

export class MultiHeadAttention extends HeadProjections implements TokenMixer {
  attnDropout: Dropout;
  modifiers: ScoreModifier[];
  constructor(nEmbd: number, nHead: number, dropout = 0, settings: AttentionSettings = {}) {
    super(nEmbd, nHead);
    this.attnDropout = new Dropout(dropout);
    this.modifiers = scoreModifiers('MultiHeadAttention', settings, nEmbd, nHead);
  }

  newState() {
    return keyValueState();
  }

  forward(x: Tensor, options: MixerOptions = {}): Tensor {
    const { memory, causal = false, keep = null, inferenceWindow = false, probe } = options;
    const state = stateOf('MultiHeadAttention', 'keys-values', options.state);
    // (B, nh, ·, hs)
    let [q, k, v] = memory ? this.crossKeysValues(x, memory, state) : this.project(x);
    if (!memory) {
      const past = state?.k ? state.k.shape[2] : 0; // the new tokens sit after the cached ones
      for (const m of this.modifiers) if (m.rotate) [q, k] = m.rotate(q, k, past);
      [k, v] = appendKeysValues(state, k, v); // (B, nh, S, hs)
    }
    const logitOptions = { causal, keep, windowed: inferenceWindow };
    const dropping = this.attnDropout.training && this.attnDropout.p > 0;
    const fused =
      fusing(q.shape[2], k.shape[2]) &&
      !probe &&
      !dropping &&
      fusedOptions(this.modifiers, logitOptions);
    if (fused) return this.output(fusedAttention(q, k, v, fused)); // (B, nh, T, hs) → (B, T, C)
    const scores = this.logits(q, k, logitOptions); // (B, nh, T, S)
    const probs = scores.softmax(-1); // (B, nh, T, S)
    if (probe) probe.weights = probs;
    return this.output(this.attnDropout.forward(probs).matmul(v)); // (B, nh, T, hs) → (B, T, C)
  }

  /** The scores before softmax, (B, nh, T, S): q·kᵀ/√hs, modified, plus the mask. */
  logits(q: Tensor, k: Tensor, options: LogitOptions = {}): Tensor {
    const { causal = false, keep = null, windowed = false } = options;
    const [, , T, hs] = q.shape;
    const S = k.shape[2]; // query t sits at position S − T + t
    const call: ScoreCall = { T, S, causal, windowed, mask: null };
    const band = this.modifiers.reduce<Tensor | null>((b, m) => m.band?.(call) ?? b, null);
    // additive masks: (T, S) band or causal; padding (B, 1, 1, S); together (B, 1, T, S)
    call.mask = combineMasks(band ?? (causal ? causalMask(T, S) : null), keep && paddingMask(keep));
    let scores = q.matmul(k, { transB: true }).mul(1 / Math.sqrt(hs)); // (B, nh, T, S)
    for (const m of this.modifiers) if (m.scores) scores = m.scores(scores, call);
    return call.mask ? scores.add(call.mask.to(scores.dtype)) : scores;
  }

  /** Cross-attention: queries from x, keys and values from the memory, projected once a state. */
  private crossKeysValues(
    x: Tensor,
    memory: Tensor,
    state: KeyValueState | null,
  ): [Tensor, Tensor, Tensor] {
    if (this.modifiers.length > 0) {
      throw new Error(
        'MultiHeadAttention: positions, scales and windows are for self-attention; ' +
          'build cross-attention without settings',
      );
    }
    const q = splitHeads(this.query.forward(x), this.nHead); // (B, nh, T, hs)
    if (state?.k && state.v) return [q, state.k, state.v]; // the memory's keys never change
    const k = splitHeads(this.key.forward(memory), this.nHead); // (B, nh, S, hs)
    const v = splitHeads(this.value.forward(memory), this.nHead); // (B, nh, S, hs)
    if (state) [state.k, state.v] = [k, v];
    return [q, k, v];
  }
}
