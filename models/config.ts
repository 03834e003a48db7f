// Model configuration with defaults and checks that name the bad field and value.

export interface TransformerConfig {
  vocabSize: number;
  blockSize: number; // longest sequence (positions)
  nLayer: number;
  nHead: number;
  nEmbd: number;
  ffnHidden?: number; // default 4·nEmbd
  dropout?: number;
  norm?: 'pre' | 'post'; // post = the paper's LN(x + F(x))
  position?: 'sinusoidal' | 'learned' | 'none';
  activation?: 'relu' | 'gelu';
}

const choices = {
  norm: ['pre', 'post'],
  position: ['sinusoidal', 'learned', 'none'],
  activation: ['relu', 'gelu'],
} as const;

export function checkConfig(model: string, config: TransformerConfig): Required<TransformerConfig> {
  const c: Required<TransformerConfig> = {
    ffnHidden: 4 * config.nEmbd, dropout: 0, norm: 'post', position: 'sinusoidal', activation: 'relu', ...config,
  };
  for (const key of ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'ffnHidden'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new Error(`${model}: ${key} must be a positive integer, got ${c[key]}`);
  }
  if (c.nEmbd % c.nHead !== 0) throw new Error(`${model}: nEmbd ${c.nEmbd} is not divisible by nHead ${c.nHead}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`${model}: dropout must be in [0, 1), got ${c.dropout}`);
  for (const [key, allowed] of Object.entries(choices)) {
    const value = c[key as keyof typeof choices];
    if (!(allowed as readonly string[]).includes(value)) {
      throw new Error(`${model}: ${key} must be one of ${allowed.join(', ')}, got '${value}'`);
    }
  }
  return c;
}
