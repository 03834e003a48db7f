// attngrad/models: the Transformer, masks, positions, sampling, and the data (toy tasks, char
// text).
export {
  MultiHeadAttention,
  getFusedAttention,
  setFusedAttention,
  withFusedAttention,
  type FusedAttentionMode,
} from './attention.ts';
export type {
  KVCache,
  KeyValueState,
  MixerOptions,
  MixerState,
  RunningSumState,
  TokenMixer,
} from './mixer.ts';
export { makeMixer, variantOf, type Variant } from './mixers.ts';
export { MaskedLM, type MaskedLMOptions } from './masked-lm.ts';
export { Embedder, initWeights } from './embedder.ts';
export {
  Block,
  Residual,
  runBlocks,
  type Trace,
  type BlockOptions,
  type BlockState,
} from './block.ts';
export {
  ScoreModifier,
  scoreModifiers,
  type AttentionSettings,
  type ScoreCall,
} from './score-modifiers.ts';
export { splitHeads, mergeHeads } from './heads.ts';
export {
  Seq2SeqTransformer,
  TransformerLM,
  FeedForward,
  EncoderLayer,
  DecoderLayer,
  type ModelOutput,
} from './transformer.ts';
export {
  checkConfig,
  attentionNames,
  positionNames,
  type AttentionName,
  type PositionName,
  type TransformerConfig,
} from './config.ts';
export { causalMask, paddingMask, combineMasks } from './masks.ts';
export { SinusoidalPositions, LearnedPositions } from './positions.ts';
export { sampleNext, type SampleOptions } from './sampling.ts';
export * from '../data/index.ts';
