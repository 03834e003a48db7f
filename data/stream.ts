// The batch of every training step as a pure function of (data seed, step): step s draws on its
// own private generator stream seeded with stepSeed(seed, s) (rng.ts). Weight init, dropout and
// validation draw from the global stream and never shift the batches, and a run resumed at step
// s sees exactly the batches an uninterrupted run would. Text windows can be repeated windows
// (repeated-text.ts) and masked for the masked LM (masking.ts), both drawn on the step's stream
// after the windows, so the windows are the same with or without them. Read next: cli/sources.ts
// (the loss of a batch for each model kind).

import { random, type RngState } from '../lib/random.ts';
import type { CharDataset, TextBatch } from './char-text.ts';
import { maskTokens, type MaskedBatch } from './masking.ts';
import { repeatRows } from './repeated-text.ts';
import { seedStream, stepSeed, withStream } from './rng.ts';
import type { Example } from './tokens.ts';
import { makeTask, type Task } from './toy-tasks.ts';

export interface BatchStream<T> {
  readonly seed: number;
  /** The batch of training step `step`: the same for the same (seed, step), whatever ran before. */
  at(step: number): T;
}

function checkStep(step: number): void {
  if (!Number.isInteger(step)) {
    throw new Error(`BatchStream.at: step must be an integer, got ${step}`);
  }
}

/** batchSize training examples of `task` per step (never a held-out input). */
export function taskStream(
  task: Task,
  { seed, batchSize }: { seed: number; batchSize: number },
): BatchStream<Example[]> {
  return {
    seed,
    at(step) {
      checkStep(step);
      // the same task with the step's seed: its private stream is the step's stream
      const stepTask = makeTask(task.name, { ...task.options, seed: stepSeed(seed, step) });
      return Array.from({ length: batchSize }, () => stepTask.sample('train'));
    },
  };
}

export interface TextStreamOptions {
  seed: number;
  batchSize: number;
  blockSize: number;
  repeatFraction?: number; // each window is a repeated window with this probability (default 0)
}

function checkFraction(fn: string, fraction: number): void {
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new Error(`${fn}: repeatFraction must be in [0, 1], got ${fraction}`);
  }
}

/** Step `step`'s windows and the step's stream advanced past them (and past the repeat draws). */
function windowsAt(data: CharDataset, options: TextStreamOptions, step: number) {
  checkStep(step);
  const { batchSize, blockSize, repeatFraction = 0 } = options;
  const draws = () => {
    const batch = data.batch('train', batchSize, blockSize);
    if (repeatFraction === 0) return batch; // no draws: the plain stream's windows and stream
    return repeatRows(
      batch,
      Array.from({ length: batchSize }, () => random() < repeatFraction),
    );
  };
  return withStream(seedStream(stepSeed(options.seed, step)), draws);
}

/** batchSize random windows of blockSize characters from the train split per step. */
export function textStream(data: CharDataset, options: TextStreamOptions): BatchStream<TextBatch> {
  checkFraction('textStream', options.repeatFraction ?? 0);
  return { seed: options.seed, at: (step) => windowsAt(data, options, step)[0] };
}

/**
 * The masked LM's batch of each step: textStream's windows (x), masked by BERT's rule at `rate`
 * (masking.ts) with draws that follow the windows' on the step's stream. MASK is data.maskId.
 */
export function maskedTextStream(
  data: CharDataset,
  options: TextStreamOptions & { rate?: number },
): BatchStream<MaskedBatch> {
  checkFraction('maskedTextStream', options.repeatFraction ?? 0);
  const { maskId, maskedVocabSize: vocabSize } = data;
  return {
    seed: options.seed,
    at(step) {
      const [{ x }, stream]: [TextBatch, RngState] = windowsAt(data, options, step);
      const { input, targets } = maskTokens(x, { rate: options.rate, stream, maskId, vocabSize });
      return { input, targets };
    },
  };
}
