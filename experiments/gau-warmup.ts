// GAU needs no warmup (Su, kexue.fm 8990), B2: the post's headline — post-norm + Xavier GAU
// stacks train at every depth with a constant learning rate and no warmup, where post-norm
// Transformers need warmup as depth grows. A causal char-LM on the shipped Shakespeare, post-norm
// LN(x + F(x)) everywhere, Xavier (the shells' init), AdamW at one constant rate, no gradient
// clipping (Su's recipe), the same init seed and the same batches for every arm. Per depth L:
//   gau-L<L>                 L GAU layers (e = 2d, s = d)
//   transformer-L<L>         L/2 blocks (attention + FFN: L post-normed sublayers, as many as GAU's),
//                            the FFN width counted so the parameters match gau-L<L>
//   transformer-warmup-L<L>  the same with a linear warmup over the first third of the steps
// Metrics: final-loss (the mean training loss over the last 10 steps; every batch is new) and
// diverged (1 when final-loss is not finite or above the unigram entropy of the text: the model
// learnt nothing a character count does not know); loss-L<L>, the curves (about 15 points, each
// the mean loss of the steps since the one before: 10 steps by default). --full adds depth 48 and
// max-lr: the largest rate of a small grid at which the arm does not diverge (0 when none).
// Read next: flash-vs-quad.ts (B3), training.ts.

import { manualSeed } from '../lib/index.ts';
import type { BatchStream, TextBatch } from '../data/index.ts';
import { TransformerLM, type TransformerConfig } from '../models/index.ts';
import { rowMaker } from './experiment.ts';
import type { Experiment, ExperimentPart, PartContext, PlotSpec, Row } from './experiment.ts';
import { mean } from './stats.ts';
import { armProgress, textLoss, trainModel, shakespeare, shakespeareBatches } from './training.ts';

const EXPERIMENT = 'gau-warmup';
const PLOTTED_DEPTHS = [4, 12, 24]; // the default sweep; its curves are the plots
const LAST = 10; // final-loss: the mean over the last 10 steps

/** The sizes of a run: the default (≤ 10 min on 2 cores), --full, or the seconds-long smoke test. */
function settingsOf({ full, smoke }: PartContext['options']) {
  const common = { depths: PLOTTED_DEPTHS, lr: 3e-3, grid: [] as number[] };
  if (smoke) return { ...common, steps: 6, width: 4, length: 4, batch: 1, grid: [1e-2] };
  const sizes = { width: 32, length: 32, batch: 16 };
  return full
    ? {
        ...common,
        ...sizes,
        steps: 300,
        depths: [...PLOTTED_DEPTHS, 48],
        grid: [1e-3, 3e-3, 1e-2, 3e-2],
      }
    : { ...common, ...sizes, steps: 150 };
}
type Settings = ReturnType<typeof settingsOf>;

/**
 * The post-norm Transformer matched to a GAU stack of L layers: L/2 blocks (L residual sublayers,
 * as many as the GAU stack's) with the FFN width F counted so the parameters are equal.
 */
export function matchedTransformer(gau: TransformerConfig): TransformerConfig {
  if (gau.attention !== 'gau' || gau.nLayer % 2 !== 0)
    throw new Error(
      `matchedTransformer: expected a 'gau' stack of an even number of layers, got ` +
        `'${gau.attention}' with ${gau.nLayer}`,
    );
  const blocks = { ...gau, attention: 'softmax' as const, nLayer: gau.nLayer / 2 };
  const count = (ffnHidden: number) => new TransformerLM({ ...blocks, ffnHidden }).numParameters();
  // parameters are affine in F: solve count(F) = count(gau) for F
  const [one, perUnit] = [count(1), count(2) - count(1)];
  const target = new TransformerLM(gau).numParameters();
  return { ...blocks, ffnHidden: Math.max(1, 1 + Math.round((target - one) / perUnit)) };
}

/** The GAU stack of one depth: L layers, e = 2d, s = d. */
const gauConfig = (depth: number, settings: Settings, vocabSize: number): TransformerConfig => ({
  vocabSize,
  blockSize: settings.length,
  nLayer: depth,
  nHead: 4,
  nEmbd: settings.width,
  norm: 'post',
  attention: 'gau',
  sharedDim: settings.width,
});

interface Trained {
  finalLoss: number;
  diverged: boolean;
  curve: [number, number][]; // (step, mean loss of the steps since the last point)
}

function train(
  config: TransformerConfig,
  batches: BatchStream<TextBatch>,
  run: { seed: number; steps: number; lr: number; warmup: number; ceiling: number },
  onStep: (step: number, loss: number) => void,
): Trained {
  manualSeed(run.seed); // the same initial draws for every arm
  const model = new TransformerLM(config);
  const losses = trainModel(model, textLoss(model, batches), {
    steps: run.steps,
    lr: run.lr,
    warmup: run.warmup,
    clip: 0,
    onStep,
  });
  const finalLoss = mean(losses.slice(-LAST));
  const every = Math.max(1, Math.round(run.steps / 15)); // about 15 points per curve
  const curve: [number, number][] = [];
  for (let end = every; end <= losses.length; end += every)
    curve.push([end, mean(losses.slice(end - every, end))]);
  return { finalLoss, diverged: !(finalLoss <= run.ceiling), curve };
}

function run({ options, seed, progress }: PartContext): Row[] {
  const data = shakespeare();
  const settings = settingsOf(options);
  const batches = shakespeareBatches(seed, {
    batchSize: settings.batch,
    blockSize: settings.length,
  });
  const ceiling = data.unigramEntropy();
  const rates = [...new Set([settings.lr, ...settings.grid])];
  const arms = settings.depths.flatMap((depth) => {
    const gau = gauConfig(depth, settings, data.vocabSize);
    const transformer = matchedTransformer(gau);
    return [
      { name: `gau-L${depth}`, depth, config: gau, warmup: 0 },
      { name: `transformer-L${depth}`, depth, config: transformer, warmup: 0 },
      { name: `transformer-warmup-L${depth}`, depth, config: transformer, warmup: 1 / 3 },
    ];
  });
  const runs = arms.length * rates.length;
  const rows: Row[] = [];
  arms.forEach((arm, armIndex) => {
    const trainable: number[] = [];
    rates.forEach((lr, rateIndex) => {
      const warmup = Math.round(arm.warmup * settings.steps);
      const label = `${arm.name} lr ${lr}`;
      const onStep = armProgress(
        progress,
        label,
        armIndex * rates.length + rateIndex,
        runs,
        settings.steps,
      );
      const trained = train(
        arm.config,
        batches,
        { seed, steps: settings.steps, lr, warmup, ceiling },
        onStep,
      );
      if (!trained.diverged) trainable.push(lr);
      if (lr !== settings.lr) return;
      if (Number.isFinite(trained.finalLoss))
        rows.push(row(arm.name, 'final-loss', arm.depth, trained.finalLoss, seed));
      rows.push(row(arm.name, 'diverged', arm.depth, trained.diverged ? 1 : 0, seed));
      for (const [step, loss] of trained.curve.filter(([, loss]) => Number.isFinite(loss)))
        rows.push(row(arm.name, `loss-L${arm.depth}`, step, loss, seed));
    });
    if (settings.grid.length > 0)
      rows.push(row(arm.name, 'max-lr', arm.depth, Math.max(0, ...trainable), seed));
  });
  return rows;
}

const row = rowMaker(EXPERIMENT);

/** Per depth: which arms diverged at the fixed rate, and their final losses. */
function summary(rows: Row[]): string[] {
  const at = (arm: string, metric: string) => {
    const values = rows.filter((r) => r.arm === arm && r.metric === metric).map((r) => r.value);
    return values.length ? mean(values) : NaN;
  };
  const depths = [...new Set(rows.map((r) => Number(r.arm.split('-L').pop())))];
  const kinds = ['gau', 'transformer', 'transformer-warmup'];
  return depths.map((depth) => {
    const cells = kinds.map((kind) => {
      const arm = `${kind}-L${depth}`;
      const maxLr = rows.some((r) => r.metric === 'max-lr') ? `, max lr ${at(arm, 'max-lr')}` : '';
      return `${kind} ${at(arm, 'final-loss').toFixed(3)} (diverged ${at(arm, 'diverged')}${maxLr})`;
    });
    return `depth ${depth}: ${cells.join(', ')}`;
  });
}

const curvePlot = (depth: number): PlotSpec => ({
  metric: `loss-L${depth}`,
  title: `B2: training loss at depth ${depth}, post-norm, constant rate, no warmup unless named`,
  xLabel: 'step',
  yLabel: 'training loss (nats/char, 10-step means)',
});

const part: ExperimentPart = {
  id: 'B2',
  claim: 'post-norm GAU trains at every depth without warmup; post-norm Transformers need warmup',
  figures: PLOTTED_DEPTHS.map((depth) => ({
    arm: `gau-L${depth}`,
    metric: 'diverged',
    value: 0,
    text: 'trains (0)',
    source: 'article',
  })),
  plots: PLOTTED_DEPTHS.map(curvePlot),
  run,
  summary,
};

export const gauWarmup: Experiment = {
  name: EXPERIMENT,
  claim: 'post-norm GAU needs no warmup at depth; a post-norm Transformer does (Su 8990)',
  description:
    'causal char-LM on the shipped Shakespeare, d 32, windows of 32, batch 16, post-norm, ' +
    'Xavier, AdamW at a constant 3e-3 with no clipping, 150 steps; depths 4/12/24 (GAU layers; ' +
    'Transformers with half as many blocks, parameters matched by counting); the warmup arm ' +
    'warms up over the first 50 steps: 2 min 44 s measured on the quiet 2-core machine. --full: 300 steps, depths up to 48, max-lr over ' +
    '1e-3, 3e-3, 1e-2, 3e-2, 3 seeds: about 3 h (estimated from the default, not run).',
  parts: [part],
};
