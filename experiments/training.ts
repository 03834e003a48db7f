// The training loop every trained experiment shares: AdamW on a loss the experiment computes for
// each step (from its own batch stream, seeded apart from weight init, so arms see the same
// batches), an optional linear warmup and gradient clipping, and the progress bar ticked per step.
// Read next: length-extrapolation.ts (an experiment that trains).

import type { Tensor } from '../lib/index.ts';
import {
  CharDataset,
  corpusPath,
  stepSeed,
  textStream,
  type BatchStream,
  type TextBatch,
  type TextStreamOptions,
} from '../data/index.ts';
import type { TransformerLM } from '../models/index.ts';
import { AdamW, clipGradNorm, linearWarmup, type Module } from '../nn/index.ts';
import type { PartContext } from './experiment.ts';

let corpus: CharDataset | null = null;
/** The shipped Shakespeare, read once per process (the text every char-LM experiment trains on). */
export const shakespeare = () => (corpus ??= CharDataset.fromFile(corpusPath('shakespeare')));

/** A part's char-LM batches on the shipped text, seeded apart from weight init: every arm sees them. */
export const shakespeareBatches = (seed: number, options: Omit<TextStreamOptions, 'seed'>) =>
  textStream(shakespeare(), { seed: stepSeed(seed, 0x5eed), ...options });

export interface TrainOptions {
  steps: number;
  lr: number;
  warmup?: number; // steps of linear warmup from 0 (default none: a constant rate)
  clip?: number; // max gradient norm (default 1)
  weightDecay?: number; // AdamW's (default 0)
  onStep?: (step: number, loss: number) => void; // e.g. the progress bar
}

/** Train `model` for options.steps steps on lossAt(step) (steps 1 … steps); returns the losses. */
export function trainModel(
  model: Module,
  lossAt: (step: number) => Tensor,
  options: TrainOptions,
): number[] {
  const { steps, lr, warmup = 0, clip = 1, weightDecay = 0 } = options;
  const parameters = model.namedParameters();
  const optimizer = new AdamW(parameters, { lr, weightDecay });
  const rate = warmup > 0 ? linearWarmup(lr, warmup) : () => lr;
  const losses: number[] = [];
  model.train();
  for (let step = 1; step <= steps; step++) {
    optimizer.zeroGrad();
    const loss = lossAt(step);
    loss.backward();
    if (clip > 0) clipGradNorm(model.parameters(), clip);
    optimizer.lr = rate(step);
    optimizer.step();
    losses.push(loss.item());
    options.onStep?.(step, losses[step - 1]);
  }
  model.eval();
  return losses;
}

/** The onStep of arm `index` of `count` arms of `steps` steps each: one progress bar across all. */
export const armProgress =
  (progress: PartContext['progress'], name: string, index: number, count: number, steps: number) =>
  (step: number, loss: number) =>
    progress(index * steps + step, count * steps, `${name} loss ${loss.toFixed(3)}`);

/** A causal char-LM's loss on step s's windows of a text stream. */
export const textLoss =
  (model: TransformerLM, batches: BatchStream<TextBatch>) => (step: number) => {
    const { x, y } = batches.at(step);
    return model.forward(x, y).loss!;
  };
