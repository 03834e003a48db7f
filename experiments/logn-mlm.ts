// Log-n scaling in a masked LM (Su, kexue.fm 8823): a char MLM with RoPE
// (as RoFormer) trained on windows of 64 characters, scored at 64 … 512 (1024 in --full) on the
// same masked characters (the masked positions among the last 64 of fixed validation windows, one
// mask pattern over the longest window, its suffix at each length). Two arms, everything else
// equal (same init seed, same batches, same targets):
//   plain   scores q·k/√hs
//   logn    scores × κ, κ = log n / log 512 (n = keys each query sees; bidirectional: n = the
//           window length), not clamped: the article's form, trained with it (κ = 0.67 at 64)
// The article (RoFormer-small, train 64): log n loses nothing at 64 and leads at every longer
// length, most at 256 (+11 points). Read next: length-eval.ts, training.ts.

import { manualSeed } from '../lib/index.ts';
import { maskedTextStream, stepSeed } from '../data/index.ts';
import { MaskedLM, type TransformerConfig } from '../models/index.ts';
import { rowMaker } from './experiment.ts';
import type { ArticleFigure, Experiment, ExperimentPart, PartContext, Row } from './experiment.ts';
import { evaluateLengths } from './length-eval.ts';
import { mean } from './stats.ts';
import { armProgress, trainModel, shakespeare } from './training.ts';

const EXPERIMENT = 'logn-mlm';
const TRAIN_LENGTH = 64;

const ARMS: Record<string, Partial<TransformerConfig>> = {
  plain: {},
  logn: { scale: 'logn', lognBase: 512, lognClamp: false },
};

/** The article's MLM accuracy (%) at 64 … 1024, RoFormer-small trained at 64 (post 8823). */
const ARTICLE_LENGTHS = [64, 128, 256, 512, 1024];
const ARTICLE_ACCURACY: Record<string, number[]> = {
  plain: [43.27, 36.53, 23.02, 15.12, 11.54],
  logn: [43.11, 41.17, 34.04, 20.15, 13.58],
};

const figures: ArticleFigure[] = Object.entries(ARTICLE_ACCURACY).flatMap(([arm, values]) =>
  values.map((percent, i) => ({
    arm,
    metric: 'acc',
    x: ARTICLE_LENGTHS[i],
    value: percent / 100,
    source: 'article',
  })),
);

/** The sizes of a run: the default (≤ 10 min on 2 cores), --full, or the seconds-long smoke test. */
function settingsOf({ full, smoke }: PartContext['options']) {
  if (smoke) return { steps: 2, width: 16, heads: 2, lengths: [64, 128], windows: 2 };
  return full
    ? { steps: 2000, width: 64, heads: 4, lengths: ARTICLE_LENGTHS, windows: 128 }
    : { steps: 600, width: 64, heads: 4, lengths: [64, 128, 256, 512], windows: 96 };
}

function run({ options, seed, progress }: PartContext): Row[] {
  const data = shakespeare();
  const settings = settingsOf(options);
  const arms = Object.entries(ARMS);
  // the batches and their masks: one stream for both arms, seeded apart from the weights
  const batches = maskedTextStream(data, {
    seed: stepSeed(seed, 0x5eed),
    batchSize: 16,
    blockSize: TRAIN_LENGTH,
  });
  const rows: Row[] = [];
  arms.forEach(([name, config], armIndex) => {
    manualSeed(seed); // the same initial draws for both arms
    const model = new MaskedLM({
      vocabSize: data.maskedVocabSize,
      blockSize: Math.max(...settings.lengths), // RoPE has no table; the longest test length
      trainLen: TRAIN_LENGTH,
      nLayer: 2,
      nHead: settings.heads,
      nEmbd: settings.width,
      norm: 'pre',
      position: 'rope',
      ...config,
    });
    const lossAt = (step: number) => {
      const { input, targets } = batches.at(step);
      return model.forward(input, targets).loss!;
    };
    trainModel(model, lossAt, {
      steps: settings.steps,
      lr: 3e-3,
      warmup: Math.min(100, settings.steps),
      onStep: armProgress(progress, name, armIndex, arms.length, settings.steps),
    });
    const scores = evaluateLengths(model, data, {
      lengths: settings.lengths,
      windows: settings.windows,
    });
    for (const { length, loss, accuracy } of scores) {
      rows.push(row(name, 'acc', length, accuracy, seed));
      rows.push(row(name, 'loss', length, loss, seed));
    }
  });
  return rows;
}

const row = rowMaker(EXPERIMENT);

/** The article's direction read off the rows (means over seeds): log n's lead at each length. */
function summary(rows: Row[]): string[] {
  const at = (arm: string, x: number) =>
    mean(rows.filter((r) => r.arm === arm && r.metric === 'acc' && r.x === x).map((r) => r.value));
  const lengths = [...new Set(rows.filter((r) => r.metric === 'acc').map((r) => r.x!))];
  const points = (v: number) => (v >= 0 ? '+' : '') + (100 * v).toFixed(1);
  const lead = lengths.map((n) => `${n} ${points(at('logn', n) - at('plain', n))}`);
  const article = ARTICLE_LENGTHS.filter((n) => lengths.includes(n)).map((n) => {
    const i = ARTICLE_LENGTHS.indexOf(n);
    return `${n} ${points((ARTICLE_ACCURACY.logn[i] - ARTICLE_ACCURACY.plain[i]) / 100)}`;
  });
  const drop = (arm: string) => points(at(arm, Math.max(...lengths)) - at(arm, TRAIN_LENGTH));
  return [
    `logn minus plain, accuracy points by test length: ${lead.join(', ')} ` +
      `(article: ${article.join(', ')})`,
    `accuracy at ${Math.max(...lengths)} minus at ${TRAIN_LENGTH}: plain ${drop('plain')}, ` +
      `logn ${drop('logn')} points`,
  ];
}

const part: ExperimentPart = {
  id: 'C1',
  claim: 'a char MLM trained at 64 with log-n scaling keeps more accuracy at longer inputs',
  figures,
  plots: [
    {
      metric: 'acc',
      title: 'C1: MLM accuracy on masked characters vs test length (trained at 64)',
      xLabel: 'test length n',
      yLabel: 'accuracy on masked positions',
      logX: true,
    },
    {
      metric: 'loss',
      title: 'C1: MLM loss on masked characters vs test length (trained at 64)',
      xLabel: 'test length n',
      yLabel: 'loss (nats/char)',
      logX: true,
    },
  ],
  run,
  summary,
};

export const lognMlm: Experiment = {
  name: EXPERIMENT,
  claim: 'log-n attention scaling helps a masked LM at lengths past training (Su 8823)',
  description:
    'char MLM on the shipped Shakespeare (15% masked, 80/10/10), RoPE, d 64, 4 heads, 2 pre-norm ' +
    'layers, trained at 64 (batch 16, AdamW 3e-3, 100 warmup steps), accuracy on the masked ' +
    'characters among the last 64 of fixed validation windows at 64/128/256/512. Default: ' +
    '2 arms × 600 steps, 96 windows: 5 min 52 s measured on 2 shared cores; --full: 2000 ' +
    'steps, 128 windows, 64…1024, 3 seeds: about 1.5 h (estimated from the per-step times, ' +
    'not run).',
  parts: [part],
};
