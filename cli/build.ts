// Build the model a RunConfig describes, sized for its data source: the encoder-decoder, the
// decoder-only LM or the masked LM. Text trained on windows shorter than the model's blockSize
// (--train-block) takes the training window as the length log-n scaling is relative to.
// Read next: models/index.ts.

import {
  MaskedLM,
  Seq2SeqTransformer,
  TransformerLM,
  type TransformerConfig,
} from '../models/index.ts';
import type { RunConfig } from './flags.ts';
import type { Model, Source } from './sources.ts';

export function buildModel(config: RunConfig, source: Source): Model {
  const { vocabSize, blockSize } = source;
  const { ffn: ffnHidden, dropout, norm, position, attention, scale, window, rate, chunk } = config;
  const trainLen = config.trainLen ?? config.trainBlock;
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
    ...(trainLen ? { trainLen } : {}),
    ...(config.lognBase ? { lognBase: config.lognBase } : {}),
    ...(config.lognClamp !== undefined ? { lognClamp: config.lognClamp } : {}),
  };
  if (config.model === 'seq2seq') return new Seq2SeqTransformer(transformer);
  return config.model === 'mlm' ? new MaskedLM(transformer) : new TransformerLM(transformer);
}

/**
 * The longest input a model takes: its blockSize when it has absolute position tables
 * (sinusoidal, learned) or a synthesizer (ℓ = blockSize wide mixing), else no limit.
 */
export function lengthLimit(model: Model): { blockSize: number; why: string } | null {
  const { blockSize, attention, position } = model.config;
  if (attention.startsWith('synth')) return { blockSize, why: `its ${attention} mixer (ℓ)` };
  if (model.embed.positions) return { blockSize, why: `its ${position} position table` };
  return null;
}
