// A small config for any attention variant, shared by the tests that run every --attention in
// the shells (shells.test.ts, introspection.test.ts): 2 layers of width 16, 2 heads, and each
// variant's own knobs (window, rate, chunk, shared width) small enough for sequences of ~8.

import type { AttentionName, TransformerConfig } from '../../models/index.ts';

export const VOCAB = 11;

export const variantConfig = (attention: AttentionName): TransformerConfig => ({
  vocabSize: VOCAB,
  blockSize: 16,
  nLayer: 2,
  nHead: 2,
  nEmbd: 16,
  ffnHidden: 32,
  attention,
  window: 3,
  rate: 2,
  chunk: 4,
  sharedDim: 8,
  expansion: 2,
  trainLen: 8,
});
