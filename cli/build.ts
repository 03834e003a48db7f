// Build the model a RunConfig describes, sized for its data source.

import { Seq2SeqTransformer, TransformerLM, type TransformerConfig } from '../models/index.ts';
import type { RunConfig } from './flags.ts';
import type { Model, Source } from './sources.ts';

export function buildModel(c: RunConfig, source: Source): Model {
  const config: TransformerConfig = {
    vocabSize: source.vocabSize, blockSize: source.blockSize, nLayer: c.layers, nHead: c.heads, nEmbd: c.dModel,
    ffnHidden: c.ffn, dropout: c.dropout, norm: c.norm, position: c.position,
    attention: c.attention, scale: c.scale, window: c.window, rate: c.rate, chunk: c.chunk, sinks: c.sinks,
    ...(c.trainLen ? { trainLen: c.trainLen } : {}),
  };
  return c.model === 'seq2seq' ? new Seq2SeqTransformer(config) : new TransformerLM(config);
}
