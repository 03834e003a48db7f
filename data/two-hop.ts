// Two-hop copy (the sparse-attention test of Child et al. 2019 / Su 6853 at toy size): a sequence
// of n tokens opens with a value (one of `values` symbols), then n − 2 fillers (their own symbols),
// then a query token; a causal LM must answer the value at the query. The answer is n − 1 positions
// back, so a mixer whose pattern never links the last position to the first cannot solve it in one
// layer: a factorized pattern (strided, fixed, Su's sparse) needs a second layer to pass the value
// through an intermediate position, a window of w needs ⌈(n − 1)/w⌉ layers. Fillers and values are
// disjoint, so finding the value is a content lookup, not a position count. Chance is 1/values.
// Read next: stream.ts (the batch of each step).

import { randomInt } from '../lib/random.ts';
import { tensor, type Tensor } from '../lib/index.ts';
import { seedStream, stepSeed, withStream } from './rng.ts';
import type { BatchStream } from './stream.ts';
import { IGNORE_INDEX } from './tokens.ts';

export interface TwoHopOptions {
  length: number; // n: value, n − 2 fillers, query
  values: number; // the answer's alphabet: ids 0 … values − 1
  fillers: number; // ids values … values + fillers − 1; the query is the next id
}

export interface TwoHopBatch {
  x: Tensor; // (B, n) ids
  y: Tensor; // (B, n) the value at the last position, IGNORE_INDEX elsewhere
}

const HELD_OUT_SEED = 0x2407;

function checkOptions({ length, values, fillers }: TwoHopOptions): void {
  for (const [key, v, min] of [
    ['length', length, 3],
    ['values', values, 2],
    ['fillers', fillers, 1],
  ] as const) {
    if (!(Number.isInteger(v) && v >= min))
      throw new Error(`two-hop: ${key} must be an integer ≥ ${min}, got ${v}`);
  }
}

/** Values, fillers and the query token. */
export const twoHopVocabSize = ({ values, fillers }: TwoHopOptions) => values + fillers + 1;

/** batchSize sequences drawn from the current generator. */
function draw(batchSize: number, options: TwoHopOptions): TwoHopBatch {
  const { length: n, values, fillers } = options;
  const x = new Int32Array(batchSize * n);
  const y = new Int32Array(batchSize * n).fill(IGNORE_INDEX);
  for (let b = 0; b < batchSize; b++) {
    const row = b * n;
    x[row] = randomInt(0, values);
    for (let t = 1; t < n - 1; t++) x[row + t] = values + randomInt(0, fillers);
    x[row + n - 1] = values + fillers; // the query
    y[row + n - 1] = x[row];
  }
  const shape = [batchSize, n];
  return { x: tensor(x, { shape }), y: tensor(y, { shape }) };
}

/** batchSize training sequences per step, a pure function of (seed, step) like stream.ts's. */
export function twoHopStream(
  options: TwoHopOptions & { seed: number; batchSize: number },
): BatchStream<TwoHopBatch> {
  checkOptions(options);
  return {
    seed: options.seed,
    at(step) {
      if (!Number.isInteger(step)) throw new Error(`two-hop: step must be an integer, got ${step}`);
      const stream = seedStream(stepSeed(options.seed, step));
      return withStream(stream, () => draw(options.batchSize, options))[0];
    },
  };
}

/**
 * count test sequences, the same for every seed; drawn from their own stream (a training batch
 * repeats one with probability ≈ count · fillers^−(n−2): never, at n ≥ 8).
 */
export function twoHopHeldOut(count: number, options: TwoHopOptions): TwoHopBatch {
  checkOptions(options);
  if (!(Number.isInteger(count) && count >= 1))
    throw new Error(`two-hop: count must be a positive integer, got ${count}`);
  return withStream(seedStream(HELD_OUT_SEED), () => draw(count, options))[0];
}
