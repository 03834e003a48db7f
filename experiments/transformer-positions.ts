// "Attention is All You Need" reading notes (Su, kexue.fm 4765): without position encodings
// self-attention is permutation-equivariant, "a fancy bag of words". F1 checks the consequence on
// two classification toys (data/order-tasks.ts): `before` (does a come before b?) needs order,
// `contains` (does a occur?) does not. Each is learned by the same bidirectional encoder with
// sinusoidal positions and with none; the classifier averages over positions, as Su's IMDB demo
// does (Embedding → Attention → GlobalAveragePooling → sigmoid). Read next: training.ts.

import { crossEntropy, manualSeed, noGrad, type Tensor } from '../lib/index.ts';
import {
  classStream,
  OrderTask,
  orderTaskNames,
  stepSeed,
  type ClassBatch,
} from '../data/index.ts';
import { MaskedLM } from '../models/index.ts';
import {
  rowMaker,
  type ArticleFigure,
  type Experiment,
  type ExperimentPart,
  type PartContext,
  type Row,
} from './experiment.ts';
import { mean } from './stats.ts';
import { armProgress, trainModel } from './training.ts';

const EXPERIMENT = 'transformer-positions';
const POSITIONS = ['sinusoidal', 'none'] as const;

function settingsOf({ full, smoke }: PartContext['options']) {
  if (smoke) return { steps: 4, every: 2, width: 16, heads: 2, examples: 16 };
  return full
    ? { steps: 1000, every: 100, width: 64, heads: 4, examples: 1000 }
    : { steps: 200, every: 25, width: 32, heads: 4, examples: 500 };
}

/**
 * The pooled classifier's logits (B, 2), no then yes: the encoder's own output head averaged over
 * positions, read at the two answer tokens. The head is linear, so the average of its logits is
 * the head applied to the averaged states: global average pooling, then a linear layer.
 */
export function classLogits(model: MaskedLM, task: OrderTask, tokens: Tensor): Tensor {
  const logits = model.forward(tokens).logits; // (B, n, V)
  return logits.mean(1).narrow(1, task.no, 2); // (B, V) → (B, 2)
}

/** The share of held-out inputs whose likelier class is the answer. */
function accuracy(model: MaskedLM, task: OrderTask, test: ClassBatch): number {
  return noGrad(() => {
    const logits = classLogits(model, task, test.tokens).data; // (B, 2)
    let correct = 0;
    test.labels.data.forEach((label, b) => {
      if (Number(logits[2 * b + 1] > logits[2 * b]) === label) correct++;
    });
    return correct / test.labels.size;
  });
}

function run({ options, seed, progress }: PartContext): Row[] {
  const settings = settingsOf(options);
  const runs = orderTaskNames.flatMap((name) => POSITIONS.map((position) => ({ name, position })));
  const rows: Row[] = [];
  runs.forEach(({ name, position }, runIndex) => {
    const task = new OrderTask(name, { length: 16, numSymbols: 8 });
    const batches = classStream(task, { seed: stepSeed(seed, 0x5eed), batchSize: 32 });
    const test = task.batch(task.heldOut(settings.examples));
    const arm = `${name}-${position}`;
    manualSeed(seed); // the same initial draws for every arm
    const model = new MaskedLM({
      vocabSize: task.vocabSize,
      blockSize: task.options.length,
      nLayer: 2,
      nHead: settings.heads,
      nEmbd: settings.width,
      norm: 'pre',
      position,
    });
    const onStep = armProgress(progress, arm, runIndex, runs.length, settings.steps);
    const lossAt = (step: number) => {
      const { tokens, labels } = batches.at(step);
      return crossEntropy(classLogits(model, task, tokens), labels);
    };
    trainModel(model, lossAt, {
      steps: settings.steps,
      lr: 3e-3,
      onStep: (step, loss) => {
        onStep(step, loss);
        if (step % settings.every !== 0) return;
        rows.push(row(arm, 'acc-curve', step, accuracy(model, task, test), seed)); // no dropout
      },
    });
    const value = accuracy(model, task, test); // the final accuracy: a summary row, no x
    rows.push({ experiment: EXPERIMENT, arm, metric: 'acc', value, seed });
  });
  return rows;
}

const row = rowMaker(EXPERIMENT);

function summary(rows: Row[]): string[] {
  const final = (arm: string) =>
    mean(rows.filter((r) => r.arm === arm && r.metric === 'acc').map((r) => r.value));
  const effect = (name: string) => final(`${name}-sinusoidal`) - final(`${name}-none`);
  const lines = orderTaskNames.map(
    (name) =>
      `${name}: with positions ${final(`${name}-sinusoidal`).toFixed(3)}, without ` +
      `${final(`${name}-none`).toFixed(3)} (positions add ${effect(name).toFixed(3)})`,
  );
  lines.push(
    'chance 0.5; notes: positions matter only for the order task (without them it is at chance: ' +
      'swapping a and b leaves the bag of tokens, so the prediction, unchanged)',
  );
  return lines;
}

const figures: ArticleFigure[] = [
  { arm: 'before-none', metric: 'acc', value: 0.5, text: '≈ chance', source: 'notes rule' },
  {
    arm: 'before-sinusoidal',
    metric: 'acc',
    value: Number.NaN,
    text: 'high',
    source: 'notes rule',
  },
  ...(['contains-sinusoidal', 'contains-none'] as const).map((arm) => ({
    arm,
    metric: 'acc',
    value: Number.NaN,
    text: 'high, with or without',
    source: 'notes rule',
  })),
  // Su's IMDB demo (one attention layer, average pooling), validation accuracy after epoch 1, 2
  {
    arm: 'contains-none',
    metric: 'acc',
    value: 0.8284,
    text: '0.8430, 0.8284',
    source: 'article, IMDB',
  },
  {
    arm: 'contains-sinusoidal',
    metric: 'acc',
    value: 0.8447,
    text: '0.8413, 0.8447',
    source: 'article, IMDB',
  },
];

const part: ExperimentPart = {
  id: 'F1',
  claim:
    'without positions attention is a bag of words: positions matter for order, not for content',
  figures,
  plots: [
    {
      metric: 'acc-curve',
      title: 'F1: held-out accuracy while training, with and without positions',
      xLabel: 'training step',
      yLabel: 'accuracy (chance 0.5)',
    },
  ],
  run,
  summary,
};

export const transformerPositions: Experiment = {
  name: EXPERIMENT,
  claim: 'without position encodings self-attention cannot tell order (Su 4765)',
  description:
    'F1: inputs of 16 tokens over 8 symbols; `before` (a before b?) and `contains` (a in it?), ' +
    'each learned by a 2-layer pre-norm bidirectional encoder with average pooling, with ' +
    'sinusoidal positions and with none (batch 32, AdamW 3e-3, the same batches and initial ' +
    'draws for both). Default: width 32, 4 × 200 steps, 500 held-out inputs (1 min 39 s on the ' +
    '2 shared cores, 33 CPU-seconds); --full: width 64, 1000 steps, 1000 inputs, 3 seeds ' +
    '(estimated 15–30 min).',
  parts: [part],
};
