// The one seam through which positions, scales and windows reach softmax attention. Plain attention
// computes scores = q·kᵀ/√hs, adds its mask and takes the softmax; a modifier may act at three
// points of that, each optional:
//
//   rotate(q, k, past)   before the dot product: RoPE rotates queries and the new keys
//   band(call)           the (T, S) visibility band, instead of the causal one: window + sinks
//   scores(s, call)      on the scaled scores, before the mask: log-n scale, ALiBi, KERPLE, T5
//
// A config names its modifiers (position, scale, window); scoreModifiers() builds the list in the
// order they apply. Each piece lives with its formula in relative-positions.ts.
// Read next: relative-positions.ts.

import type { Tensor } from '../lib/index.ts';
import { Module } from '../nn/module.ts';
import type { PositionName } from './config.ts';
import {
  AlibiBias,
  KerpleLogBias,
  lognScale,
  rope,
  T5Bias,
  windowMask,
  type RelativeBias,
} from './relative-positions.ts';

/** One attention call as a modifier sees it: T queries at positions S − T … S − 1, S keys. */
export interface ScoreCall {
  T: number;
  S: number;
  causal: boolean;
  windowed: boolean; // the caller asked for the inference-time window
  mask: Tensor | null; // additive (…, T, S): the band and the padding, once both are known
}

export abstract class ScoreModifier extends Module {
  rotate?(q: Tensor, k: Tensor, past: number): [Tensor, Tensor];
  band?(call: ScoreCall): Tensor | null;
  scores?(scores: Tensor, call: ScoreCall): Tensor;
}

/** RoPE: q and k rotated by their absolute positions, so q·k depends on i − j only. */
export class Rope extends ScoreModifier {
  rotate(q: Tensor, k: Tensor, past: number): [Tensor, Tensor] {
    return [rope(q, past), rope(k, past)]; // (B, nh, T, hs) each
  }
}

/** A relative-position bias (nh, T, S) added to the scores. */
export class AddBias extends ScoreModifier {
  constructor(readonly bias: RelativeBias) {
    super();
  }
  scores(scores: Tensor, { T, S, causal }: ScoreCall): Tensor {
    return scores.add(this.bias.forward(T, S, causal).to(scores.dtype)); // + (nh, T, S)
  }
}

/**
 * Entropy-invariant scale: × κ, κ = log n / log base, n = the keys each query sees; clamped to
 * max(1, κ) (our default: nothing changes up to the base) or not (the article's form, base 512).
 */
export class LognScale extends ScoreModifier {
  constructor(
    readonly base: number,
    readonly clamp = true,
  ) {
    super();
  }
  scores(scores: Tensor, { S, mask }: ScoreCall): Tensor {
    return scores.mul(lognScale(mask, S, this.base, scores.dtype, this.clamp)); // × (…, T, 1)
  }
}

/** Keys within `window` of the query plus the first `sinks` (Λ-mask): always, or on request. */
export class WindowBand extends ScoreModifier {
  constructor(
    readonly window: number,
    readonly sinks: number,
    readonly always: boolean,
  ) {
    super();
  }
  band({ T, S, causal, windowed }: ScoreCall): Tensor | null {
    if (!this.always && !windowed) return null;
    return windowMask(T, S, this.window, this.sinks, causal); // (T, S)
  }
}

/** The config fields attention reads; a Required<TransformerConfig> fits as it is. */
export interface AttentionSettings {
  // rope, alibi, kerple, t5 act here; none, sinusoidal, learned in the embedding
  position?: PositionName;
  scale?: 'sqrt' | 'logn';
  trainLen?: number; // the length the log-n scale is calibrated at
  lognBase?: number; // … unless a base is given (the article: 512)
  lognClamp?: boolean; // κ = max(1, log n / log base) (default) or log n / log base
  window?: number; // windowed attention: keys within this distance of the query
  sinks?: number; // ... and the first `sinks` keys
  windowed?: boolean; // apply the window in every call (HWFA's window layers)
}

const biases: Partial<Record<PositionName, new (nHead: number) => RelativeBias>> = {
  alibi: AlibiBias,
  kerple: KerpleLogBias,
  t5: T5Bias,
};

/** The modifiers a config asks for, in the order they apply: rotation, window, scale, bias. */
export function scoreModifiers(
  who: string,
  settings: AttentionSettings,
  nEmbd: number,
  nHead: number,
) {
  const { position = 'none', scale = 'sqrt', window, sinks = 0 } = settings;
  const base = settings.lognBase ?? settings.trainLen ?? 0;
  if (position === 'rope' && (nEmbd / nHead) % 2 !== 0) {
    throw new Error(`${who}: RoPE rotates pairs, so the head size ${nEmbd / nHead} must be even`);
  }
  if (scale === 'logn' && !(base >= 2)) {
    throw new Error(`${who}: scale 'logn' needs a base (lognBase or trainLen) ≥ 2, got ${base}`);
  }
  if (settings.windowed && window === undefined) {
    throw new Error(`${who}: windowed attention needs settings.window`);
  }
  const modifiers: ScoreModifier[] = [];
  if (position === 'rope') modifiers.push(new Rope());
  if (window !== undefined)
    modifiers.push(new WindowBand(window, sinks, settings.windowed ?? false));
  if (scale === 'logn') modifiers.push(new LognScale(base, settings.lognClamp ?? true));
  const Bias = biases[position];
  if (Bias) modifiers.push(new AddBias(new Bias(nHead)));
  return modifiers;
}
