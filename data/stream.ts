// The batch of every training step as a pure function of (data seed, step): step s draws on its
// own private generator stream seeded with stepSeed(seed, s) (rng.ts). Weight init, dropout and
// validation draw from the global stream and never shift the batches, and a run resumed at step
// s sees exactly the batches an uninterrupted run would. Read next: cli/sources.ts (the loss of a
// batch for each model kind).

import type { CharDataset, TextBatch } from './char-text.ts';
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

/** batchSize random windows of blockSize characters from the train split per step. */
export function textStream(
  data: CharDataset,
  { seed, batchSize, blockSize }: { seed: number; batchSize: number; blockSize: number },
): BatchStream<TextBatch> {
  return {
    seed,
    at(step) {
      checkStep(step);
      const windows = () => data.batch('train', batchSize, blockSize);
      return withStream(seedStream(stepSeed(seed, step)), windows)[0];
    },
  };
}
