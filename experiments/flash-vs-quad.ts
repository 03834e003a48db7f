// FLASH against FLASH-Quad and a Transformer at equal parameters ("Transformer Quality in Linear
// Time", Hua et al. 2022; Su, kexue.fm 8934), B3: a causal char-LM on the shipped Shakespeare at
// n = 512, the same init seed and batches for every arm:
//   gau          FLASH-Quad: L GAU layers (e = 2d, s = d), quadratic relu²/n attention over all 512
//   flash        the same stack with mixed-chunk attention (chunks of 32: quadratic inside, linear
//                across), 4s more parameters per layer for its Q_lin, K_lin scale/offsets
//   transformer  L/2 softmax blocks, the FFN width counted so the parameters match gau's
// Metrics (x = n): loss (nats/char on fixed validation windows of 512 after training), s-per-step
// (the median wall time of a training step: forward, backward, update), parameters; train-loss
// (x = step) the curves. The article: FLASH-Quad's quality at least matches the Transformer's;
// FLASH about matches FLASH-Quad and is faster, the more so the longer n. Read next:
// gau-warmup.ts (matchedTransformer), training.ts.

import { manualSeed, noGrad } from '../lib/index.ts';
import { TransformerLM, type TransformerConfig } from '../models/index.ts';
import { rowMaker } from './experiment.ts';
import type { ArticleFigure, Experiment, ExperimentPart, PartContext, Row } from './experiment.ts';
import { matchedTransformer } from './gau-warmup.ts';
import { mean, median } from './stats.ts';
import { armProgress, textLoss, trainModel, shakespeare, shakespeareBatches } from './training.ts';

const EXPERIMENT = 'flash-vs-quad';

/** The sizes of a run: the default (≤ 10 min on 2 cores), --full, or the seconds-long smoke test. */
function settingsOf({ full, smoke }: PartContext['options']) {
  if (smoke)
    return { length: 64, chunk: 16, width: 8, depth: 2, batch: 1, steps: 3, evalBatches: 1 };
  const common = { length: 512, chunk: 32, depth: 4 };
  return full
    ? { ...common, width: 64, batch: 4, steps: 600, evalBatches: 8 }
    : { ...common, width: 32, batch: 2, steps: 120, evalBatches: 4 };
}

/** The three arms' configs: GAU and FLASH stacks of `depth` layers, the matched Transformer. */
function armsOf(settings: ReturnType<typeof settingsOf>, vocabSize: number) {
  const gau: TransformerConfig = {
    vocabSize,
    blockSize: settings.length,
    nLayer: settings.depth,
    nHead: 4,
    nEmbd: settings.width,
    norm: 'pre',
    attention: 'gau',
    sharedDim: settings.width,
  };
  return {
    gau,
    flash: { ...gau, attention: 'flash' as const, chunk: settings.chunk },
    transformer: matchedTransformer(gau),
  };
}

function run({ options, seed, progress }: PartContext): Row[] {
  const data = shakespeare();
  const settings = settingsOf(options);
  const batches = shakespeareBatches(seed, {
    batchSize: settings.batch,
    blockSize: settings.length,
  });
  const arms = Object.entries(armsOf(settings, data.vocabSize));
  const rows: Row[] = [];
  arms.forEach(([name, config], armIndex) => {
    manualSeed(seed); // the same initial draws for every arm
    const model = new TransformerLM(config);
    const tick = armProgress(progress, name, armIndex, arms.length, settings.steps);
    const stepSeconds: number[] = [];
    let last = performance.now();
    const losses = trainModel(model, textLoss(model, batches), {
      steps: settings.steps,
      lr: 3e-3,
      warmup: Math.round(settings.steps / 6),
      onStep: (step, loss) => {
        const now = performance.now();
        stepSeconds.push((now - last) / 1000);
        last = now;
        tick(step, loss);
      },
    });
    const windows = data.evalBatches('val', settings.batch, settings.length, settings.evalBatches);
    const held = noGrad(() => [...windows].map(({ x, y }) => model.forward(x, y).loss!.item()));
    const n = settings.length;
    rows.push(row(name, 'loss', n, mean(held), seed));
    rows.push(row(name, 's-per-step', n, median(stepSeconds), seed));
    rows.push(row(name, 'parameters', n, model.numParameters(), seed));
    const every = Math.max(1, Math.round(settings.steps / 20)); // about 20 points per curve
    for (let end = every; end <= losses.length; end += every)
      rows.push(row(name, 'train-loss', end, mean(losses.slice(end - every, end)), seed));
  });
  return rows;
}

const row = rowMaker(EXPERIMENT);

const figures: ArticleFigure[] = [
  { arm: 'gau', metric: 'loss', value: 0, text: '≤ transformer', source: 'article' },
  { arm: 'flash', metric: 'loss', value: 0, text: '≈ gau', source: 'article' },
  { arm: 'flash', metric: 's-per-step', value: 0, text: '< gau', source: 'article' },
];

function summary(rows: Row[]): string[] {
  const at = (arm: string, metric: string) =>
    mean(rows.filter((r) => r.arm === arm && r.metric === metric).map((r) => r.value));
  const gap = (arm: string) => at(arm, 'loss') - at('transformer', 'loss');
  const signed = (v: number) => (v >= 0 ? '+' : '') + v.toFixed(3);
  const seconds = (arm: string) => at(arm, 's-per-step');
  const speed = (arm: string, than = 'transformer') => (seconds(than) / seconds(arm)).toFixed(2);
  return [
    `loss minus transformer's: gau ${signed(gap('gau'))}, flash ${signed(gap('flash'))} nats/char`,
    `speed (transformer's s/step ÷ the arm's): gau ${speed('gau')}×, flash ${speed('flash')}×; ` +
      `flash is ${speed('flash', 'gau')}× as fast as gau`,
  ];
}

const part: ExperimentPart = {
  id: 'B3',
  claim: 'at equal parameters FLASH-Quad matches a Transformer and FLASH matches it, faster',
  figures,
  plots: [
    {
      metric: 'train-loss',
      title: 'B3: training loss at n = 512, equal parameters',
      xLabel: 'step',
      yLabel: 'training loss (nats/char)',
    },
  ],
  run,
  summary,
};

export const flashVsQuad: Experiment = {
  name: EXPERIMENT,
  claim: 'FLASH ≈ FLASH-Quad ≥ Transformer in quality at equal parameters, FLASH faster (8934)',
  description:
    'causal char-LM on the shipped Shakespeare at n = 512, batch 2, d 32, 4 GAU/FLASH layers ' +
    '(chunks of 32) vs 2 Transformer blocks with the FFN width matched by counting, pre-norm, ' +
    'AdamW 3e-3 with 20 warmup steps, 120 steps, loss on 8 validation windows of 512: 1 min ' +
    '30 s measured on the quiet 2-core machine. --full: d 64, batch 4, 600 steps, 32 ' +
    'windows, 3 seeds: about 2.5 h (estimated from the default, not run).',
  parts: [part],
};
