// Choosing the next token from logits: greedy (temperature 0), or sampling from
// softmax(logits / temperature) restricted to the top-k, drawn with the project's seeded generator.

import { random } from '../lib/random.ts';
import type { Tensor } from '../lib/index.ts';

export interface SampleOptions {
  temperature?: number; // 0 = greedy (argmax)
  topK?: number; // keep only the k most likely tokens
}

/** logits (B, V) → one token id per row. */
export function sampleNext(
  logits: Tensor,
  { temperature = 0, topK }: SampleOptions = {},
): Int32Array {
  const [B, V] = logits.shape;
  if (!(temperature >= 0)) throw new Error(`sample: temperature must be ≥ 0, got ${temperature}`);
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1))
    throw new Error(`sample: topK must be a positive integer, got ${topK}`);
  const out = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const row = Array.from(logits.data.subarray(b * V, (b + 1) * V));
    const order = row.map((_, i) => i).sort((i, j) => row[j] - row[i]);
    if (temperature === 0) {
      out[b] = order[0];
      continue;
    }
    const kept = order.slice(0, Math.min(topK ?? V, V));
    // max-subtracted
    const weights = kept.map((i) => Math.exp((row[i] - row[kept[0]]) / temperature));
    let u = random() * weights.reduce((a, w) => a + w, 0);
    out[b] = kept[kept.length - 1];
    for (let j = 0; j < kept.length; j++)
      if ((u -= weights[j]) < 0) ((out[b] = kept[j]), (j = kept.length));
  }
  return out;
}
