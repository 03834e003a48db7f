// The token mixer a config names. Each variant lives in its own file; this table is the one place
// that maps `attention: '...'` (and the CLI's --attention) to a class.

import { MultiHeadAttention } from './attention.ts';
import type { AttentionName, TransformerConfig } from './config.ts';
import type { TokenMixer } from './mixer.ts';
import { synthesizerMixers } from './synthesizer.ts';
import { linearMixers } from './linear-attention.ts';
import { sparseMixers } from './sparse-attention.ts';

type Config = Required<TransformerConfig>;

const mixers: Partial<Record<AttentionName, (c: Config) => TokenMixer>> = {
  softmax: (c) => new MultiHeadAttention(c.nEmbd, c.nHead, c.dropout, c),
  ...synthesizerMixers,
  ...linearMixers,
  ...sparseMixers,
};

export function makeMixer(c: Config): TokenMixer {
  const make = mixers[c.attention];
  if (!make) throw new Error(`makeMixer: attention '${c.attention}' is not available yet`);
  return make(c);
}
