// Private streams of the project's one generator (lib/random.ts). A stream is a saved generator
// state: drawing on it swaps it in, draws, and puts the global state back, so data never moves
// the global stream that weight init and dropout draw from. Read next: stream.ts.

import { getRngState, manualSeed, setRngState, type RngState } from '../lib/random.ts';

/** A fresh stream seeded with `seed`; the global state is left as it was. */
export function seedStream(seed: number): RngState {
  const outer = getRngState();
  manualSeed(seed);
  const stream = getRngState();
  setRngState(outer);
  return stream;
}

/** Run `draws` on a private stream; returns its result and the advanced stream. */
export function withStream<T>(stream: RngState, draws: () => T): [T, RngState] {
  const outer = getRngState();
  setRngState(stream);
  try {
    const result = draws();
    return [result, getRngState()];
  } finally {
    setRngState(outer);
  }
}

/** The seed of training step `step` of a stream seeded with `seed` (one stream per step). */
export const stepSeed = (seed: number, step: number) => seed * 1_000_003 + step;
