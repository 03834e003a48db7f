// Model configuration with defaults, and checks that name the bad field and value. One vocabulary
// for code, CLI flags and docs: attention / position / scale / norm take the values listed here.

export const attentionNames = [
  'softmax',
  'synth-dense',
  'synth-random',
  'synth-fixed',
  'synth-factorized-dense',
  'synth-factorized-random',
  'synth-mix',
  'gau',
  'flash',
  'local',
  'atrous',
  'strided',
  'fixed',
  'sparse',
  'linear',
  'hwfa',
] as const;
export type AttentionName = (typeof attentionNames)[number];
export const positionNames = [
  'none',
  'sinusoidal',
  'learned',
  'rope',
  'alibi',
  'kerple',
  't5',
] as const;
export type PositionName = (typeof positionNames)[number];

export interface TransformerConfig {
  vocabSize: number;
  blockSize: number; // longest sequence (positions)
  nLayer: number;
  nHead: number;
  nEmbd: number;
  ffnHidden?: number; // default 4·nEmbd
  dropout?: number;
  norm?: 'pre' | 'post'; // post = the paper's LN(x + F(x))
  // none/sinusoidal/learned are added to the embeddings; the rest act inside attention
  position?: PositionName;
  activation?: 'relu' | 'gelu';
  attention?: AttentionName; // the token mixer of every block
  scale?: 'sqrt' | 'logn'; // 1/√d, or the entropy-invariant log(n)/log(trainLen) · 1/√d
  trainLen?: number; // the training length the log-n scale is relative to (default blockSize)
  lognBase?: number; // log-n: κ = log n / log lognBase (default trainLen; the article: 512)
  lognClamp?: boolean; // log-n: κ = max(1, ·) (default true); the article's form has no clamp
  window?: number; // local / sparse: keys within this distance
  rate?: number; // atrous / sparse: dilation; strided / fixed: stride
  chunk?: number; // FLASH chunk length
  sinks?: number; // inference-time window: the first k tokens stay visible
  // softmax attention: every call, training too, sees keys within `window` (+ the first `sinks`)
  windowed?: boolean;
  expansion?: number; // GAU: e = expansion · nEmbd
  sharedDim?: number; // GAU: s, the width of the shared Q/K projection
  rank?: number; // factorized Synthesizer: rank k
  featureMap?: 'elu' | 'relu'; // linear attention's φ
}

const choices = {
  norm: ['pre', 'post'],
  position: positionNames,
  activation: ['relu', 'gelu'],
  attention: attentionNames,
  scale: ['sqrt', 'logn'],
  featureMap: ['elu', 'relu'],
} as const;

export function checkConfig(model: string, given: TransformerConfig): Required<TransformerConfig> {
  const config: Required<TransformerConfig> = {
    ffnHidden: 4 * given.nEmbd,
    dropout: 0,
    norm: 'post',
    position: 'sinusoidal',
    activation: 'relu',
    attention: 'softmax',
    scale: 'sqrt',
    trainLen: given.blockSize,
    lognBase: given.trainLen ?? given.blockSize,
    lognClamp: true,
    window: 16,
    rate: 4,
    chunk: 64,
    sinks: 0,
    expansion: 2,
    sharedDim: 128,
    rank: 8,
    featureMap: 'elu',
    windowed: false,
    ...given,
  };
  const positive = [
    'vocabSize',
    'blockSize',
    'nLayer',
    'nHead',
    'nEmbd',
    'ffnHidden',
    'trainLen',
    'lognBase',
    'window',
    'rate',
    'chunk',
    'expansion',
    'sharedDim',
    'rank',
  ] as const;
  for (const key of positive) {
    if (!Number.isInteger(config[key]) || config[key] < 1)
      throw new Error(`${model}: ${key} must be a positive integer, got ${config[key]}`);
  }
  if (!Number.isInteger(config.sinks) || config.sinks < 0)
    throw new Error(`${model}: sinks must be an integer ≥ 0, got ${config.sinks}`);
  if (config.nEmbd % config.nHead !== 0)
    throw new Error(`${model}: nEmbd ${config.nEmbd} is not divisible by nHead ${config.nHead}`);
  if (!(config.dropout >= 0 && config.dropout < 1))
    throw new Error(`${model}: dropout must be in [0, 1), got ${config.dropout}`);
  for (const [key, allowed] of Object.entries(choices)) {
    const value = config[key as keyof typeof choices];
    if (!(allowed as readonly string[]).includes(value)) {
      throw new Error(`${model}: ${key} must be one of ${allowed.join(', ')}, got '${value}'`);
    }
  }
  return config;
}
