// attngrad/models: the Transformer and (soon) the attention zoo, masks, positions, sampling, data.
export { MultiHeadAttention, type KVCache, type AttentionOptions } from './attention.ts';
export { Seq2SeqTransformer, TransformerLM, FeedForward, EncoderLayer, DecoderLayer, type ModelOutput } from './transformer.ts';
export { checkConfig, type TransformerConfig } from './config.ts';
export { causalMask, paddingMask, combineMasks } from './masks.ts';
export { SinusoidalPositions, LearnedPositions } from './positions.ts';
export { sampleNext, type SampleOptions } from './sampling.ts';
