// Even pairs (Su, kexue.fm 9603: HWFA reaches 100%): is the first symbol of a binary
// string equal to its last? A causal LM reads `string SEP` and answers = or ≠ at SEP. Trained on
// strings of length 2 … 32, tested on strings of 32 (in distribution) up to 256. The answer needs
// the two ends of the string at once, so a model that sees only a window should fail past it
// (unless the window keeps the first tokens: rope-window keeps 4 "sinks"), while full attention
// with positions it can extrapolate may succeed. Arms: those of length-extrapolation.ts, trained
// at length 34 (the longest string, SEP and the answer). Chance is 1/2. Read next: training.ts.

import { manualSeed, noGrad, type Tensor } from '../lib/index.ts';
import { lmBatch, makeTask, stepSeed, taskStream, type Example } from '../data/index.ts';
import { TransformerLM } from '../models/index.ts';
import type { Experiment, ExperimentPart, PartContext, Row } from './experiment.ts';
import { positionArms } from './length-extrapolation.ts';
import { mean } from './stats.ts';
import { armProgress, trainModel } from './training.ts';

const EXPERIMENT = 'even-pairs';
const TRAIN_MAX = 32; // the longest training string
const TRAIN_LENGTH = TRAIN_MAX + 2; // … with SEP and the answer: what the model reads in training

function settingsOf({ full, smoke }: PartContext['options']) {
  if (smoke) return { steps: 2, width: 16, heads: 2, lengths: [32, 64], examples: 8 };
  const lengths = [32, 64, 128, 256];
  return full
    ? { steps: 2000, width: 64, heads: 4, lengths, examples: 256 }
    : { steps: 400, width: 64, heads: 4, lengths, examples: 128 };
}

const task = (seed: number, testLength = TRAIN_MAX) =>
  makeTask('even-pairs', {
    numSymbols: 2,
    minLen: 2,
    maxLen: TRAIN_MAX,
    testMinLen: testLength,
    testMaxLen: testLength,
    seed,
  });

/** Accuracy of the answer at SEP over held-out strings of one length: = or ≠, the likelier. */
function accuracy(model: TransformerLM, examples: Example[], inferenceWindow = false): number {
  return noGrad(() => {
    const { tokens, targets } = lmBatch(examples);
    const logits: Tensor = model.forward(tokens, undefined, { inferenceWindow }).logits; // (B, L, V)
    const [B, L, V] = logits.shape;
    const [same, differ] = [V - 2, V - 1]; // the answers are the vocabulary's last two tokens
    let correct = 0;
    for (let b = 0; b < B; b++) {
      const at = (b * L + examples[b].input.length) * V; // SEP's position predicts the answer
      const answer = logits.data[at + same] > logits.data[at + differ] ? same : differ;
      if (answer === targets.data[at / V]) correct++;
    }
    return correct / B;
  });
}

function run({ options, seed, progress }: PartContext): Row[] {
  const settings = settingsOf(options);
  const arms = Object.entries(positionArms(TRAIN_LENGTH)).filter(
    ([, arm]) => options.full || !arm.full,
  );
  const training = task(0);
  const batches = taskStream(training, { seed: stepSeed(seed, 0x5eed), batchSize: 32 });
  const tests = settings.lengths.map((n) => ({
    n,
    examples: task(0, n).heldOut(settings.examples),
  }));
  const rows: Row[] = [];
  arms.forEach(([name, arm], armIndex) => {
    manualSeed(seed); // the same initial draws for every arm
    const model = new TransformerLM({
      vocabSize: training.vocabSize,
      blockSize: Math.max(...settings.lengths) + 2, // absolute tables reach the longest test
      trainLen: TRAIN_LENGTH,
      nLayer: 2,
      nHead: settings.heads,
      nEmbd: settings.width,
      norm: 'pre',
      ...arm.config,
    });
    const lossAt = (step: number) => {
      const { tokens, targets } = lmBatch(batches.at(step));
      return model.forward(tokens, targets).loss!;
    };
    trainModel(model, lossAt, {
      steps: settings.steps,
      lr: 3e-3,
      onStep: armProgress(progress, name, armIndex, arms.length, settings.steps),
    });
    for (const { n, examples } of tests) {
      const value = accuracy(model, examples, arm.inferenceWindow);
      rows.push({ experiment: EXPERIMENT, arm: name, metric: 'acc', x: n, value, seed });
    }
  });
  return rows;
}

function summary(rows: Row[]): string[] {
  const at = (arm: string, x: number) =>
    mean(rows.filter((r) => r.arm === arm && r.x === x).map((r) => r.value));
  const lengths = [...new Set(rows.map((r) => r.x!))].sort((a, b) => a - b);
  const arms = [...new Set(rows.map((r) => r.arm))];
  const longest = lengths[lengths.length - 1];
  return [
    `accuracy at ${lengths[0]} (in distribution) → ${longest}: ` +
      arms
        .map((arm) => `${arm} ${at(arm, lengths[0]).toFixed(2)} → ${at(arm, longest).toFixed(2)}`)
        .join(', '),
    'chance 0.5; articles: window-only attention fails past its window, HWFA reaches 100%',
  ];
}

const part: ExperimentPart = {
  id: 'C3',
  claim: 'trained ≤ 32: a global view answers even pairs at 256, a window alone cannot',
  figures: [
    { arm: 'hwfa', metric: 'acc', value: 1, text: '100%', source: 'article (GAU-α, 24 layers)' },
  ],
  plots: [
    {
      metric: 'acc',
      title: 'C3: even pairs, accuracy vs string length (trained on 2…32)',
      xLabel: 'string length',
      yLabel: 'accuracy (chance 0.5)',
      logX: true,
    },
  ],
  run,
  summary,
};

export const evenPairs: Experiment = {
  name: EXPERIMENT,
  claim: 'which position schemes answer "first symbol = last?" on strings longer than trained',
  description:
    'causal LM, d 64, 4 heads, 2 pre-norm layers, binary strings of length 2…32 (batch 32, AdamW ' +
    '3e-3), 128 held-out strings per test length 32/64/128/256. Default: 5 arms × 400 steps ' +
    '(7 min 35 s measured on the 2 shared cores); --full: 9 arms × 2000 steps, 256 ' +
    'strings, 3 seeds (estimated 2 hours).',
  parts: [part],
};
