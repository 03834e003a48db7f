// attngrad/models: the Transformer, masks, positions, sampling, and the data (toy tasks, char text).
export { MultiHeadAttention, type KVCache, type AttentionOptions } from './attention.ts';
export { Seq2SeqTransformer, TransformerLM, FeedForward, EncoderLayer, DecoderLayer, type ModelOutput } from './transformer.ts';
export { checkConfig, type TransformerConfig } from './config.ts';
export { causalMask, paddingMask, combineMasks } from './masks.ts';
export { SinusoidalPositions, LearnedPositions } from './positions.ts';
export { sampleNext, type SampleOptions } from './sampling.ts';
export * from './data.ts';
