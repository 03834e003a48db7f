// Build the model a RunConfig describes, sized for its data source. Read next: models/index.ts.

import { Seq2SeqTransformer, TransformerLM, type TransformerConfig } from '../models/index.ts';
import type { RunConfig } from './flags.ts';
import type { Model, Source } from './sources.ts';

export function buildModel(config: RunConfig, source: Source): Model {
  const { vocabSize, blockSize } = source;
  const { ffn: ffnHidden, dropout, norm, position, attention, scale, window, rate, chunk } = config;
  const transformer: TransformerConfig = {
    vocabSize,
    blockSize,
    nLayer: config.layers,
    nHead: config.heads,
    nEmbd: config.dModel,
    ffnHidden,
    dropout,
    norm,
    position,
    attention,
    scale,
    window,
    rate,
    chunk,
    sinks: config.sinks,
    ...(config.trainLen ? { trainLen: config.trainLen } : {}),
  };
  const isSeq2Seq = config.model === 'seq2seq';
  return isSeq2Seq ? new Seq2SeqTransformer(transformer) : new TransformerLM(transformer);
}
