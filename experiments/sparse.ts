// Sparse attention (Su, kexue.fm 6853; Child et al. 2019, "Generating Long Sequences with Sparse
// Transformers", arXiv 1904.10509): each query sees a fixed pattern of keys (models/
// sparse-attention.ts: local, atrous, strided, fixed, Su's sparse), so the cost grows as n·W, not n².
//   G2    a causal char-LM at n = 256 per pattern and dense softmax: dev bits/char and s/step.
//         The paper (Enwik8): fixed ≈ dense, strided worse on text, both faster.
//   G3    two-hop copy (data/two-hop.ts): the last token must answer the first, n − 1 back. At one
//         and two layers: dense succeeds in one; local (window 7) cannot reach; atrous never links
//         the two (63 is not a multiple of its rate 8); strided, fixed and sparse need two layers.
//   cost  time and peak memory of one forward+backward vs n = 256 … 16,384 for softmax, local,
//         linear and FLASH (mixer-cost.ts), log-log slopes fitted: softmax ≈ 2, the rest ≈ 1.
//         Softmax is skipped where its predicted peak passes SOFTMAX_CAP.
// Read next: ../models/sparse-attention.ts, mixer-cost.ts, training.ts.

import { manualSeed, noGrad } from '../lib/index.ts';
import { CharDataset, stepSeed } from '../data/index.ts';
import {
  twoHopHeldOut,
  twoHopStream,
  twoHopVocabSize,
  type TwoHopOptions,
} from '../data/two-hop.ts';
import {
  TransformerLM,
  withFusedAttention,
  type AttentionName,
  type TransformerConfig,
} from '../models/index.ts';
import { scoreTargets } from '../nn/index.ts';
import {
  rowMaker,
  type Experiment,
  type ExperimentPart,
  type PartContext,
  type Row,
} from './experiment.ts';
import { costMixer, mixerCost, quadraticPeakBytes } from './mixer-cost.ts';
import { logLogSlope, mean, median } from './stats.ts';
import { armProgress, textLoss, trainModel, shakespeare, shakespeareBatches } from './training.ts';

const EXPERIMENT = 'sparse';
const row = rowMaker(EXPERIMENT);
/** A row without x: one number per arm and seed (a final score, a fitted slope). */
const summaryRow = (arm: string, metric: string, value: number, seed: number): Row => ({
  experiment: EXPERIMENT,
  arm,
  metric,
  value,
  seed,
});
const PATTERN_ARMS: AttentionName[] = ['softmax', 'local', 'atrous', 'strided', 'fixed', 'sparse'];
const SOFTMAX_CAP = 2 * 2 ** 30; // bytes: softmax's n×n matrices past this are not run

/** The sizes of a run: the default (≤ 10 min on 2 cores), --full, or the seconds-long smoke test. */
function settingsOf({ full, smoke }: PartContext['options']) {
  if (smoke) {
    return {
      lm: { length: 32, window: 3, rate: 4, width: 16, heads: 2, steps: 2, every: 1, batches: 1 },
      hop: { length: 16, window: 3, rate: 4, width: 16, steps: 2, tests: 16 },
      cost: { sizes: [64, 128], shape: { batch: 1, channels: 16, heads: 2 } },
    };
  }
  const lm = { length: 256, window: 15, rate: 16, width: 64, heads: 4 };
  const hop = { length: 64, window: 7, rate: 8, width: 32, tests: 256 };
  const cost = {
    sizes: [256, 512, 1024, 2048, 4096, 8192, 16384],
    shape: { batch: 1, channels: 64, heads: 4 },
  };
  return full
    ? {
        lm: { ...lm, steps: 1000, every: 50, batches: 32 },
        hop: { ...hop, steps: 600 },
        cost,
      }
    : {
        lm: { ...lm, steps: 120, every: 10, batches: 8 },
        hop: { ...hop, steps: 200 },
        cost,
      };
}

// ---- G2: char-LM at n = 256 ----

const LM_BATCH = 8;

/** Bits per character on the first `batches` batches of consecutive validation windows. */
function bitsPerChar(model: TransformerLM, data: CharDataset, length: number, batches: number) {
  return noGrad(() => {
    let [lossSum, count] = [0, 0];
    for (const { x, y } of data.evalBatches('val', LM_BATCH, length, batches)) {
      const scored = scoreTargets(model.forward(x).logits, y);
      [lossSum, count] = [lossSum + scored.lossSum, count + scored.count];
    }
    return lossSum / count / Math.LN2;
  });
}

function lmRun({ options, seed, progress }: PartContext): Row[] {
  const { length, window, rate, width, heads, steps, every, batches } = settingsOf(options).lm;
  const data = shakespeare();
  // one batch stream for every arm, seeded apart from the weights
  const stream = shakespeareBatches(seed, {
    batchSize: LM_BATCH,
    blockSize: length,
  });
  const rows: Row[] = [];
  PATTERN_ARMS.forEach((attention, armIndex) => {
    manualSeed(seed); // the same initial draws for every arm
    const model = new TransformerLM({
      vocabSize: data.vocabSize,
      blockSize: length,
      nLayer: 2,
      nHead: heads,
      nEmbd: width,
      norm: 'pre',
      attention,
      window,
      rate,
    });
    const tick = armProgress(progress, attention, armIndex, PATTERN_ARMS.length, steps);
    const seconds: number[] = [];
    let last = performance.now();
    const losses = trainModel(model, textLoss(model, stream), {
      steps,
      lr: 3e-3,
      onStep: (step, loss) => {
        const now = performance.now();
        seconds.push((now - last) / 1000);
        last = now;
        tick(step, loss);
      },
    });
    // the training loss in bits, averaged over each stretch of `every` steps
    for (let end = every; end <= steps; end += every) {
      const bits = mean(losses.slice(end - every, end)) / Math.LN2;
      rows.push(row(attention, 'train-bits', end, bits, seed));
    }
    rows.push(summaryRow(attention, 's-per-step', median(seconds), seed));
    const bits = bitsPerChar(model, data, length, batches);
    rows.push(summaryRow(attention, 'bits-per-char', bits, seed));
  });
  return rows;
}

// ---- G3: two-hop copy ----

const HOP_VALUES = 10;
const HOP_DEPTHS = [1, 2];

function hopRun({ options, seed, progress }: PartContext): Row[] {
  const { length, window, rate, width, steps, tests } = settingsOf(options).hop;
  const task: TwoHopOptions = { length, values: HOP_VALUES, fillers: 16 };
  const stream = twoHopStream({ ...task, seed: stepSeed(seed, 0x2409), batchSize: 32 });
  const heldOut = twoHopHeldOut(tests, task);
  const runs = PATTERN_ARMS.flatMap((attention) =>
    HOP_DEPTHS.map((depth) => ({ attention, depth })),
  );
  return runs.map(({ attention, depth }, index) => {
    manualSeed(seed);
    const model = new TransformerLM({
      vocabSize: twoHopVocabSize(task),
      blockSize: length,
      nLayer: depth,
      nHead: 2,
      nEmbd: width,
      norm: 'pre',
      attention,
      window,
      rate,
    });
    const lossAt = (step: number) => {
      const { x, y } = stream.at(step);
      return model.forward(x, y).loss!;
    };
    trainModel(model, lossAt, {
      steps,
      lr: 3e-3,
      onStep: armProgress(progress, `${attention} L${depth}`, index, runs.length, steps),
    });
    const { correct, count } = noGrad(() =>
      scoreTargets(model.forward(heldOut.x).logits, heldOut.y),
    );
    return row(attention, 'acc', depth, correct / count, seed);
  });
}

// ---- cost curve ----

const COST_ARMS: Record<string, Partial<TransformerConfig>> = {
  softmax: { attention: 'softmax' },
  local: { attention: 'local', window: 32 },
  linear: { attention: 'linear', featureMap: 'elu' },
  flash: { attention: 'flash', chunk: 64 },
};

function costRun({ options, seed, progress }: PartContext): Row[] {
  const { sizes, shape } = settingsOf(options).cost;
  const arms = Object.entries(COST_ARMS);
  const rows: Row[] = [];
  arms.forEach(([arm, config], armIndex) => {
    let measured: { n: number; peakMiB: number } | undefined;
    sizes.forEach((n, sizeIndex) => {
      progress(armIndex * sizes.length + sizeIndex, arms.length * sizes.length, `${arm} n ${n}`);
      if (arm === 'softmax' && quadraticPeakBytes(n, shape, measured) > SOFTMAX_CAP) return;
      // the textbook cost: softmax's n × n matrices, never the fused kernel ('auto' fuses from 512)
      const cost = () => mixerCost(costMixer(config, n, shape), n, shape);
      const { msMedian, peakMiB } = withFusedAttention(false, cost);
      measured = { n, peakMiB };
      rows.push(row(arm, 'ms', n, msMedian, seed), row(arm, 'peak-mib', n, peakMiB, seed));
    });
    for (const metric of ['ms', 'peak-mib']) {
      const points = rows
        .filter((r) => r.arm === arm && r.metric === metric)
        .map((r): [number, number] => [r.x!, r.value]);
      rows.push(summaryRow(arm, `${metric}-slope`, logLogSlope(points), seed));
    }
  });
  return rows;
}

// ---- verdicts ----

const meanOf = (rows: Row[], arm: string, metric: string, x?: number) =>
  mean(
    rows
      .filter((r) => r.arm === arm && r.metric === metric && (x === undefined || r.x === x))
      .map((r) => r.value),
  );

const signed = (v: number) => (v >= 0 ? '+' : '') + v.toFixed(1);

function lmSummary(rows: Row[]): string[] {
  const bits = (arm: string) => meanOf(rows, arm, 'bits-per-char');
  const time = (arm: string) => meanOf(rows, arm, 's-per-step');
  const dense = bits('softmax');
  return [
    'dev bits/char: ' +
      PATTERN_ARMS.map((arm) => `${arm} ${bits(arm).toFixed(3)}`).join(', ') +
      ' (paper, Enwik8 bits/byte: fixed 0.99 ≈ dense 1.00 < strided 1.13)',
    'against softmax: ' +
      PATTERN_ARMS.slice(1)
        .map((arm) => `${arm} ${signed((100 * (bits(arm) - dense)) / dense)}%`)
        .join(', ') +
      ' (notes: sparse patterns within a few % of dense)',
    's/step (median): ' +
      PATTERN_ARMS.map((arm) => `${arm} ${time(arm).toFixed(3)}`).join(', ') +
      ' (paper, time/iter: fixed 0.42×, strided 0.27× of dense, with block-sparse GPU kernels)',
  ];
}

function hopSummary(rows: Row[]): string[] {
  const acc = (arm: string, depth: number) => meanOf(rows, arm, 'acc', depth).toFixed(2);
  return [
    `accuracy with ${HOP_DEPTHS.join(' / ')} layers: ` +
      PATTERN_ARMS.map((arm) => `${arm} ${HOP_DEPTHS.map((d) => acc(arm, d)).join(' / ')}`).join(
        ', ',
      ) +
      ` (chance ${1 / HOP_VALUES})`,
    'notes: dense succeeds with 1 layer; local fails; strided, fixed, sparse need 2 layers',
  ];
}

function costSummary(rows: Row[]): string[] {
  const arms = Object.keys(COST_ARMS);
  const sizes = (arm: string) => [
    ...new Set(rows.filter((r) => r.arm === arm && r.x).map((r) => r.x!)),
  ];
  const range = (arm: string) => `${Math.min(...sizes(arm))}–${Math.max(...sizes(arm))}`;
  const slopes = (metric: string) =>
    arms
      .map((arm) => `${arm} ${meanOf(rows, arm, `${metric}-slope`).toFixed(2)} (n ${range(arm)})`)
      .join(', ');
  const largest = Math.max(...rows.map((r) => r.x ?? 0));
  const skipped = sizes('local').filter((n) => !sizes('softmax').includes(n));
  return [
    `log-log slope of time: ${slopes('ms')}`,
    `log-log slope of peak memory: ${slopes('peak-mib')}`,
    skipped.length
      ? `softmax not run at n = ${skipped.join(', ')}: its predicted peak passes the ` +
        `${SOFTMAX_CAP / 2 ** 30} GiB cap`
      : `softmax ran at every n (cap ${SOFTMAX_CAP / 2 ** 30} GiB)`,
    `at n = ${largest}: ` +
      arms
        .filter((arm) => sizes(arm).includes(largest))
        .map(
          (arm) =>
            `${arm} ${meanOf(rows, arm, 'ms', largest).toFixed(0)} ms, ` +
            `${meanOf(rows, arm, 'peak-mib', largest).toFixed(0)} MiB`,
        )
        .join('; '),
  ];
}

// ---- the parts ----

const paperEnwik8 = 'paper, Enwik8 (notes)';
const lmPart: ExperimentPart = {
  id: 'G2',
  claim: 'a char-LM at n = 256: sparse patterns train about as well as dense attention',
  figures: [
    { arm: 'softmax', metric: 'bits-per-char', value: 1.0, source: paperEnwik8 },
    { arm: 'fixed', metric: 'bits-per-char', value: 0.99, source: paperEnwik8 },
    { arm: 'strided', metric: 'bits-per-char', value: 1.13, source: paperEnwik8 },
    ...(
      [
        ['softmax', 1.31],
        ['fixed', 0.55],
        ['strided', 0.35],
      ] as const
    ).map(([arm, value]) => ({
      arm,
      metric: 's-per-step',
      value,
      text: `${value} (time/iter, paper's units)`,
      source: paperEnwik8,
    })),
  ],
  plots: [
    {
      metric: 'train-bits',
      title: 'G2: char-LM at n = 256, training loss',
      xLabel: 'step',
      yLabel: 'bits/char (training windows)',
    },
  ],
  run: lmRun,
  summary: lmSummary,
};

const succeeds = (arm: string, x: number) => ({
  arm,
  metric: 'acc',
  x,
  value: 1,
  text: '≈ 1 (succeeds)',
  source: 'notes rule',
});
const hopPart: ExperimentPart = {
  id: 'G3',
  claim: 'two-hop copy: local attention fails, factorized patterns succeed with two layers',
  figures: [
    succeeds('softmax', 1),
    { arm: 'local', metric: 'acc', value: 1 / HOP_VALUES, text: 'fails', source: 'notes rule' },
    succeeds('atrous', 2),
    succeeds('strided', 2),
    succeeds('fixed', 2),
    succeeds('sparse', 2),
  ],
  plots: [
    {
      metric: 'acc',
      title: 'G3: two-hop copy at n = 64, held-out accuracy vs layers',
      xLabel: 'layers',
      yLabel: `accuracy (chance ${1 / HOP_VALUES})`,
    },
  ],
  run: hopRun,
  summary: hopSummary,
};

const slopeFigure = (arm: string, metric: string, value: number) => ({
  arm,
  metric,
  value,
  text: `≈ ${value}`,
  source: 'notes rule',
});
const costPart: ExperimentPart = {
  id: 'cost',
  claim: 'time and memory of attention grow as n² for softmax, as n for local, linear and FLASH',
  figures: Object.keys(COST_ARMS).flatMap((arm) =>
    ['ms-slope', 'peak-mib-slope'].map((metric) =>
      slopeFigure(arm, metric, arm === 'softmax' ? 2 : 1),
    ),
  ),
  plots: [
    {
      metric: 'ms',
      title: 'cost: forward+backward time vs n (B 1, C 64, 4 heads, causal)',
      xLabel: 'sequence length n',
      yLabel: 'median ms',
      logX: true,
      logY: true,
    },
    {
      metric: 'peak-mib',
      title: 'cost: peak memory of forward+backward vs n',
      xLabel: 'sequence length n',
      yLabel: 'peak arrayBuffers MiB',
      logX: true,
      logY: true,
    },
  ],
  run: costRun,
  summary: costSummary,
};

export const sparse: Experiment = {
  name: EXPERIMENT,
  claim: 'sparse attention patterns: quality, two-hop reach, and cost against n',
  description:
    'G2: Shakespeare char-LM at n 256, d 64, 4 heads, 2 pre-norm layers, batch 8, AdamW 3e-3, ' +
    'window 15, rate/stride 16 (fixed: block 16, 4 summary cells), dev bits/char on 8×8 windows; ' +
    'G3: two-hop copy at n 64 (10 values, 16 fillers), d 32, 2 heads, 1 and 2 layers, batch 32, ' +
    'window 7, rate 8, 256 held-out sequences; cost: one forward+backward, B 1, C 64, 4 heads, ' +
    'causal, n 256…16,384, local window 32, FLASH chunk 64. Default: 120 LM steps, 200 two-hop ' +
    'steps (6 min 19 s measured on the quiet 2-core machine); --full: 1000 and 600 steps, 32 eval batches, 3 seeds ' +
    '(estimated 2–3 hours alone).',
  parts: [lmPart, hopPart, costPart],
};
