// Synthesizer (Tay et al. 2020, arXiv 2005.00743; Su's reading, kexue.fm 7430): does attention
// need token–token dot products? Every arm is the same 2-layer decoder-only LM with one mixer
// swapped (models/synthesizer.ts), trained on the same batches from the same initial draws:
//   softmax                  vanilla QKᵀ/√hs
//   synth-dense              logits of each query from its own token (an MLP, ℓ wide)
//   synth-random             a trained ℓ×ℓ table per head, the same for every input
//   synth-fixed              the same table frozen at its random init
//   synth-factorized-dense   the Dense row as a product of an a-wide and a b-wide MLP output
//   synth-factorized-random  the table as R₁R₂ᵀ of rank 8
//   synth-mix                Random + Vanilla, mixed by learned weights summing to 1
// Parts: A1 a fixed permutation (reverse 16 symbols: where to look depends on the position only),
// A2 associative recall (where to look depends on the content: 8 pairs in recall1's one-token
// layout, `c4 a7 … e1 a?` → 7, so one attention step from the query answers), A3 a char-LM. Every
// task runs decoder-only at one fixed length: in seq2seq the vanilla cross-attention would do the
// work whatever the self-attention is.
// Read next: training.ts, ../models/synthesizer.ts.

import { manualSeed, noGrad } from '../lib/index.ts';
import { scoreTargets } from '../nn/index.ts';
import {
  CharDataset,
  EOS,
  IGNORE_INDEX,
  lmBatch,
  makeTask,
  NUM_VALUES,
  stepSeed,
  taskStream,
  type Example,
  type Task,
} from '../data/index.ts';
import { attentionNames, TransformerLM, type AttentionName } from '../models/index.ts';
import {
  rowMaker,
  type ArticleFigure,
  type Experiment,
  type ExperimentOptions,
  type ExperimentPart,
  type PartContext,
  type Row,
} from './experiment.ts';
import { mean } from './stats.ts';
import { armProgress, textLoss, trainModel, shakespeare, shakespeareBatches } from './training.ts';

const EXPERIMENT = 'synthesizer';
const ARMS = attentionNames.filter((name) => name === 'softmax' || name.startsWith('synth-'));
const row = rowMaker(EXPERIMENT);

/** steps: A1 and A3; recallSteps: A2 (vanilla leaves recall's plateau only after ~400 steps). */
function sizesOf({ full, smoke }: ExperimentOptions) {
  const sizes = { width: 64, heads: 4, every: 25, examples: 256, evalBatches: 16 };
  if (smoke)
    return { ...sizes, width: 16, heads: 2, steps: 2, recallSteps: 2, every: 1, examples: 8 };
  if (full) {
    return {
      ...sizes,
      steps: 1000,
      recallSteps: 2000,
      every: 100,
      examples: 1000,
      evalBatches: Infinity,
    };
  }
  return { ...sizes, steps: 200, recallSteps: 700 };
}

/** The arm's model: 2 pre-norm layers, learned positions, ℓ = the task's fixed length. */
function modelOf(
  arm: AttentionName,
  vocabSize: number,
  length: number,
  options: ExperimentOptions,
) {
  const { width, heads } = sizesOf(options);
  return new TransformerLM({
    vocabSize,
    blockSize: length,
    nLayer: 2,
    nHead: heads,
    nEmbd: width,
    norm: 'pre',
    position: 'learned',
    attention: arm,
  });
}

/** Top-1 accuracy on the answer tokens of held-out examples (EOS, which is free, not scored). */
function answerAccuracy(model: TransformerLM, task: Task, examples: Example[]): number {
  return noGrad(() => {
    const { tokens, targets } = lmBatch(examples, { separator: task.separator });
    const answers = targets.clone();
    answers.data.forEach((t, i) => {
      if (t === EOS) answers.data[i] = IGNORE_INDEX;
    });
    const { correct, count } = scoreTargets(model.forward(tokens).logits, answers);
    return correct / count;
  });
}

/**
 * A1 and A2: every arm trained on `task` (all inputs of one length), held-out answer accuracy
 * every `every` steps (metric `<name>-curve`, x = step) and at the end (`<name>-acc`).
 */
function taskRun(
  name: string,
  task: Task,
  steps: number,
  { options, seed, progress }: PartContext,
): Row[] {
  const { every, examples } = sizesOf(options);
  const layout = { separator: task.separator };
  const batches = taskStream(task, { seed: stepSeed(seed, 0x5eed), batchSize: 32 });
  const test = task.heldOut(examples);
  const length = lmBatch(test, layout).tokens.shape[1]; // input (SEP) answer EOS
  const rows: Row[] = [];
  ARMS.forEach((arm, armIndex) => {
    manualSeed(seed); // the same initial draws for every arm
    const model = modelOf(arm, task.vocabSize, length, options);
    const lossAt = (step: number) => {
      const { tokens, targets } = lmBatch(batches.at(step), layout);
      return model.forward(tokens, targets).loss!;
    };
    const onStep = armProgress(progress, arm, armIndex, ARMS.length, steps);
    trainModel(model, lossAt, {
      steps,
      lr: 3e-3,
      onStep: (step, loss) => {
        onStep(step, loss);
        if (step % every === 0)
          rows.push(row(arm, `${name}-curve`, step, answerAccuracy(model, task, test), seed));
      },
    });
    const value = answerAccuracy(model, task, test); // the final accuracy: a summary row, no x
    rows.push({ experiment: EXPERIMENT, arm, metric: `${name}-acc`, value, seed });
  });
  return rows;
}

const LM_LENGTH = 64;

/** Bits per character on the first `batches` batches of consecutive validation windows. */
function bitsPerChar(model: TransformerLM, data: CharDataset, batches: number): number {
  return noGrad(() => {
    let [lossSum, count] = [0, 0];
    for (const { x, y } of data.evalBatches('val', 32, LM_LENGTH, batches)) {
      const scored = scoreTargets(model.forward(x).logits, y);
      [lossSum, count] = [lossSum + scored.lossSum, count + scored.count];
    }
    return lossSum / count / Math.LN2;
  });
}

/** A3: every arm as a char-LM at n = 64; dev bits/char, parameters, the training loss curve. */
function lmRun({ options, seed, progress }: PartContext): Row[] {
  const { steps, every, evalBatches } = sizesOf(options);
  const data = shakespeare();
  const batches = shakespeareBatches(seed, {
    batchSize: 16,
    blockSize: LM_LENGTH,
  });
  const rows: Row[] = [];
  ARMS.forEach((arm, armIndex) => {
    manualSeed(seed);
    const model = modelOf(arm, data.vocabSize, LM_LENGTH, options);
    const losses = trainModel(model, textLoss(model, batches), {
      steps,
      lr: 3e-3,
      onStep: armProgress(progress, arm, armIndex, ARMS.length, steps),
    });
    // the training loss, averaged over each stretch of `every` steps
    for (let end = every; end <= steps; end += every) {
      rows.push(row(arm, 'lm-loss-curve', end, mean(losses.slice(end - every, end)), seed));
    }
    const params = model.numParameters(); // trainable: the frozen table is not counted
    rows.push({ experiment: EXPERIMENT, arm, metric: 'params', value: params, seed });
    const value = bitsPerChar(model, data, evalBatches);
    rows.push({ experiment: EXPERIMENT, arm, metric: 'bits-per-char', value, seed });
  });
  return rows;
}

/** Mean over seeds of an arm's summary metric. */
const finalOf = (rows: Row[], metric: string) => (arm: string) =>
  mean(rows.filter((r) => r.arm === arm && r.metric === metric).map((r) => r.value));

const listed = (rows: Row[], metric: string, digits = 3) =>
  ARMS.map((arm) => `${arm} ${finalOf(rows, metric)(arm).toFixed(digits)}`).join(', ');

const PERMUTATION_LENGTH = 16;

const permutationPart: ExperimentPart = {
  id: 'A1',
  claim: 'Random learns a fixed permutation (reverse) as well as vanilla; frozen Random cannot',
  figures: [
    {
      arm: 'synth-random',
      metric: 'permutation-acc',
      value: 0.95,
      text: '≥ 0.95',
      source: 'notes rule',
    },
    {
      arm: 'synth-fixed',
      metric: 'permutation-acc',
      value: Number.NaN,
      text: 'clearly lower',
      source: 'notes rule',
    },
    {
      arm: 'synth-dense',
      metric: 'permutation-acc',
      value: Number.NaN,
      text: 'works',
      source: 'notes',
    },
  ],
  plots: [
    {
      metric: 'permutation-curve',
      title: `A1: reverse ${PERMUTATION_LENGTH} symbols, held-out token accuracy while training`,
      xLabel: 'training step',
      yLabel: 'token accuracy (chance 0.1)',
    },
  ],
  run: (context) => {
    const task = makeTask('reverse', {
      minLen: PERMUTATION_LENGTH,
      maxLen: PERMUTATION_LENGTH,
      numSymbols: 10,
    });
    return taskRun('permutation', task, sizesOf(context.options).steps, context);
  },
  summary: (rows) => [
    `held-out token accuracy: ${listed(rows, 'permutation-acc')}`,
    'chance 0.1; notes: Random ≥ 0.95 (it can store the permutation in its table), Fixed clearly lower',
  ],
};

const RECALL_PAIRS = 8;

const recallPart: ExperimentPart = {
  id: 'A2',
  claim:
    'recall needs token–token matching: vanilla and the mixture solve it, Random and Dense do not',
  figures: [
    ...(['softmax', 'synth-mix'] as const).map((arm) => ({
      arm,
      metric: 'recall-acc',
      value: 0.9,
      text: '≥ 0.9',
      source: 'notes rule',
    })),
    ...(['synth-random', 'synth-dense'] as const).map((arm) => ({
      arm,
      metric: 'recall-acc',
      value: 2 / NUM_VALUES,
      text: '≤ 0.2 (2× chance)',
      source: 'notes rule',
    })),
  ],
  plots: [
    {
      metric: 'recall-curve',
      title: `A2: associative recall, ${RECALL_PAIRS} pairs, held-out accuracy while training`,
      xLabel: 'training step',
      yLabel: `accuracy (chance ${1 / NUM_VALUES})`,
    },
  ],
  run: (context) => {
    const task = makeTask('recall1', { pairs: RECALL_PAIRS, numSymbols: 16 });
    return taskRun('recall', task, sizesOf(context.options).recallSteps, context);
  },
  summary: (rows) => [
    `held-out accuracy at the query: ${listed(rows, 'recall-acc')}`,
    `chance ${1 / NUM_VALUES}; notes: vanilla and Random + Vanilla ≥ 0.9, Random and Dense ≤ 2× ` +
      'chance (a direction: fixed mixing weights still pass a blend of every pair to the FFN)',
  ],
};

/** Secondary-source LM1B perplexities (the notes quote a third-party summary of Table 2). */
const LM1B: [AttentionName, number][] = [
  ['softmax', 38.21],
  ['synth-random', 40.6],
  ['synth-dense', 42.4],
  ['synth-mix', 40.05],
];

const lmFigures: ArticleFigure[] = [
  ...LM1B.map(([arm, ppl]) => ({
    arm,
    metric: 'bits-per-char',
    value: Number.NaN,
    text: `LM1B ppl ${ppl}`,
    source: 'paper via notes (secondary)',
  })),
  {
    arm: 'synth-fixed',
    metric: 'bits-per-char',
    value: Number.NaN,
    text: 'worst',
    source: 'notes rule',
  },
];

const lmPart: ExperimentPart = {
  id: 'A3',
  claim: 'char-LM: vanilla ≈ Random + Vanilla ≤ Dense ≈ Random < frozen Random',
  figures: lmFigures,
  plots: [
    {
      metric: 'lm-loss-curve',
      title: `A3: char-LM at n = ${LM_LENGTH}, training loss`,
      xLabel: 'training step',
      yLabel: 'loss (nats/char)',
    },
  ],
  run: lmRun,
  summary: (rows) => {
    const bits = finalOf(rows, 'bits-per-char');
    const order = [...ARMS].sort((a, b) => bits(a) - bits(b));
    return [
      `dev bits/char: ${listed(rows, 'bits-per-char')}`,
      `best to worst: ${order.join(' < ')}; notes: vanilla ≈ mix ≤ dense ≈ random < fixed`,
      `trainable parameters: ${listed(rows, 'params', 0)}`,
    ];
  },
};

export const synthesizer: Experiment = {
  name: EXPERIMENT,
  claim:
    'synthesized attention (no token–token products) vs vanilla, by task (Synthesizer, Su 7430)',
  description:
    'Every arm a 2-layer pre-norm decoder-only LM, d 64, 4 heads, learned positions, ℓ = the ' +
    'fixed length, batch 32 (A3: 16), AdamW 3e-3, the same batches and initial draws for every ' +
    'arm. A1: reverse 16 of 10 symbols; A2: recall1, 8 pairs (keys from 16 symbols, 10 ' +
    'values); A3: Shakespeare char-LM at n = 64, dev bits/char on 16 batches of 32 validation ' +
    'windows. Default: 7 arms × 200 steps (A2: 700), 256 held-out inputs (7 min 50 s measured on the ' +
    'quiet 2-core machine); --full: 1000 ' +
    'steps (A2: 2000), 1000 inputs, the whole validation split, 3 seeds (about 4× the default a seed: 1.5–2.5 hours alone).',
  parts: [permutationPart, recallPart, lmPart],
};
