// HWFA, hybrid window-full attention (Su, kexue.fm 9603): a stack of windowed softmax layers with
// RoPE, then one full layer with the log-n scale and no positions at all. Trained short, it runs
// long: the window layers only ever see distances they were trained on, and the last layer's log-n
// scale keeps its attention as sharp on a longer input as on the training length.
// Read next: score-modifiers.ts (the window, RoPE and log-n pieces this config switches on).

import type { TransformerConfig } from './config.ts';

/**
 * The config of layer `layer` of an nLayer stack: layers 0 … nLayer − 2 windowed with RoPE, in
 * training too; the last layer full attention with the log-n scale and no positions. The window
 * is a distance (relative-positions.ts windowMask), so the window layers reach
 * window·(nLayer − 1) + 1 positions; Su keeps that ≤ ¾ of the training length (his w = 16 keys is
 * window 15). The embedding adds no positions (the 'hwfa' entry of mixers.ts says so).
 */
export function hwfaLayerConfig(
  config: Required<TransformerConfig>,
  layer: number,
): Required<TransformerConfig> {
  const last = layer === config.nLayer - 1;
  return {
    ...config,
    attention: 'softmax',
    position: last ? 'none' : 'rope',
    scale: last ? 'logn' : 'sqrt',
    windowed: !last,
  };
}
