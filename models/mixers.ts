// The registry: the one place that maps `attention: '...'` (and the CLI's --attention) to what a
// block is made of. Every entry gives the token mixer of layer `layer`; a mixer that is a whole
// block by itself (GAU, FLASH: the gated unit is its own FFN) says `ffn: false`, and a stack that
// places positions in its layers (HWFA) says `embedPositions: false`. The shells in transformer.ts
// read these two flags and never a variant's name.
// Read next: block.ts (the block built around the mixer), transformer.ts (the shells).

import { MultiHeadAttention } from './attention.ts';
import type { AttentionName, TransformerConfig } from './config.ts';
import { FlashUnit } from './flash.ts';
import { GatedAttentionUnit } from './gau.ts';
import { hwfaLayerConfig } from './hwfa.ts';
import { LinearAttention } from './linear-attention.ts';
import type { TokenMixer } from './mixer.ts';
import { SparseAttention, type SparseKind } from './sparse-attention.ts';
import {
  DenseSynthesizer,
  FactorizedDenseSynthesizer,
  FactorizedRandomSynthesizer,
  MixtureSynthesizer,
  RandomSynthesizer,
} from './synthesizer.ts';

type Config = Required<TransformerConfig>;

export interface Variant {
  mixer: (config: Config, layer: number) => TokenMixer;
  ffn?: boolean; // default true: a position-wise FFN sublayer follows the mixer
  embedPositions?: boolean; // default true: the embedding adds absolute positions (if configured)
}

const softmax = (config: Config) =>
  new MultiHeadAttention(config.nEmbd, config.nHead, config.dropout, config);

const sparse = (kind: SparseKind): Variant => ({
  mixer: (config) => {
    const pattern = { kind, window: config.window, rate: config.rate };
    return new SparseAttention(config.nEmbd, config.nHead, pattern, config.dropout);
  },
});

const variants: Record<AttentionName, Variant> = {
  softmax: { mixer: softmax },
  'synth-dense': { mixer: (config) => new DenseSynthesizer(config) },
  'synth-random': { mixer: (config) => new RandomSynthesizer(config) },
  'synth-fixed': { mixer: (config) => new RandomSynthesizer(config, { trainable: false }) },
  'synth-factorized-dense': { mixer: (config) => new FactorizedDenseSynthesizer(config) },
  'synth-factorized-random': { mixer: (config) => new FactorizedRandomSynthesizer(config) },
  'synth-mix': { mixer: (config) => new MixtureSynthesizer(config) },
  gau: { mixer: (config) => new GatedAttentionUnit(config), ffn: false },
  flash: { mixer: (config) => new FlashUnit(config), ffn: false },
  local: sparse('local'),
  atrous: sparse('atrous'),
  strided: sparse('strided'),
  fixed: sparse('fixed'),
  sparse: sparse('sparse'),
  linear: { mixer: (config) => new LinearAttention(config.nEmbd, config.nHead, config.featureMap) },
  hwfa: {
    mixer: (config, layer) => softmax(hwfaLayerConfig(config, layer)),
    embedPositions: false,
  },
};

/** The registry entry of config.attention. */
export function variantOf(config: Config): Required<Variant> {
  const variant = variants[config.attention];
  if (!variant) throw new Error(`variantOf: unknown attention '${config.attention}'`);
  return { ffn: true, embedPositions: true, ...variant };
}

/** The token mixer of layer `layer` (0-based) of a stack built from `config`. */
export function makeMixer(config: Config, layer = 0): TokenMixer {
  return variantOf(config).mixer(config, layer);
}
