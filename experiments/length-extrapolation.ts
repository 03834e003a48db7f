// Length extrapolation (Su, kexue.fm 9431, 9603, 9948): a causal char-LM trained on
// windows of 64 characters, scored at 64 … 512 on the same target characters (the last 64 of
// fixed validation windows, only the context before them growing), on normal text and on
// "repeated" windows whose second half repeats the first (a model that reads far back can copy).
// Arms, one position scheme each, everything else equal (same init seed, same batches):
//   nope              no positions at all
//   rope              RoPE on every layer, full attention
//   rope-window       the same model, tested with Su's "super baseline": a Λ-mask keeping the
//                     keys within 63 of the query and the first 4 (sinks)
//   alibi             ALiBi's linear distance penalty
//   hwfa              a window layer with RoPE, then a full layer with log n and no positions
//   (--full adds) sinusoidal, kerple, rope-logn and rope-window-logn (the article's log n:
//                     κ = log n / log 512, no clamp, trained with it)
// Articles' direction: full RoPE degrades past ~1.2× the training length; window and ALiBi stay
// about flat; HWFA flat and best on repeated text. Read next: length-eval.ts, training.ts.

import { manualSeed } from '../lib/index.ts';
import { TransformerLM, type TransformerConfig } from '../models/index.ts';
import {
  rowMaker,
  type Experiment,
  type ExperimentPart,
  type PartContext,
  type Row,
} from './experiment.ts';
import { evaluateLengths } from './length-eval.ts';
import { mean } from './stats.ts';
import { armProgress, textLoss, trainModel, shakespeare, shakespeareBatches } from './training.ts';

const EXPERIMENT = 'length-extrapolation';
const TRAIN_LENGTH = 64;

export interface PositionArm {
  config: Partial<TransformerConfig>;
  inferenceWindow?: boolean; // tested with the Λ-mask
  full?: boolean; // only in --full
}

/** The arms for 2-layer models trained at `trainLength` (C2 and C3 share them). */
export function positionArms(trainLength: number): Record<string, PositionArm> {
  const articleLogn = { scale: 'logn', lognBase: 512, lognClamp: false } as const;
  const testWindow = { window: trainLength - 1, sinks: 4 }; // every trained distance, 4 sinks
  // 2 layers: the window layer's receptive field, window + 1, stays ≤ ¾ of it (Su's rule)
  const hwfaWindow = Math.floor(0.75 * trainLength) - 1;
  return {
    nope: { config: { position: 'none' } },
    rope: { config: { position: 'rope' } },
    'rope-window': { config: { position: 'rope', ...testWindow }, inferenceWindow: true },
    alibi: { config: { position: 'alibi' } },
    hwfa: { config: { attention: 'hwfa', window: hwfaWindow, trainLen: trainLength } },
    sinusoidal: { config: { position: 'sinusoidal' }, full: true },
    kerple: { config: { position: 'kerple' }, full: true },
    'rope-logn': { config: { position: 'rope', ...articleLogn }, full: true },
    'rope-window-logn': {
      config: { position: 'rope', ...articleLogn, ...testWindow },
      inferenceWindow: true,
      full: true,
    },
  };
}

/** The sizes of a run: the default (~5 min on 2 cores), --full, or the seconds-long smoke test. */
function settingsOf({ full, smoke }: PartContext['options']) {
  if (smoke) return { steps: 2, width: 16, heads: 2, lengths: [64, 128], windows: 2 };
  const lengths = [64, 128, 256, 512];
  return full
    ? { steps: 1500, width: 64, heads: 4, lengths, windows: 32 }
    : { steps: 400, width: 64, heads: 4, lengths, windows: 16 };
}

function run({ options, seed, progress }: PartContext): Row[] {
  const data = shakespeare();
  const settings = settingsOf(options);
  const arms = Object.entries(positionArms(TRAIN_LENGTH)).filter(
    ([, arm]) => options.full || !arm.full,
  );
  // the batches: one stream for every arm, seeded apart from the weights
  const batches = shakespeareBatches(seed, {
    batchSize: 16,
    blockSize: TRAIN_LENGTH,
    repeatFraction: 0.25, // some windows repeat, so copying from far back can be learned
  });
  const rows: Row[] = [];
  arms.forEach(([name, arm], armIndex) => {
    manualSeed(seed); // the same initial draws for every arm
    const model = new TransformerLM({
      vocabSize: data.vocabSize,
      blockSize: Math.max(...settings.lengths), // absolute tables reach the longest test
      trainLen: TRAIN_LENGTH,
      nLayer: 2,
      nHead: settings.heads,
      nEmbd: settings.width,
      norm: 'pre',
      ...arm.config,
    });
    trainModel(model, textLoss(model, batches), {
      steps: settings.steps,
      lr: 3e-3,
      onStep: armProgress(progress, name, armIndex, arms.length, settings.steps),
    });
    for (const repeated of [false, true]) {
      const scores = evaluateLengths(model, data, {
        lengths: settings.lengths,
        windows: settings.windows,
        repeated,
        inferenceWindow: arm.inferenceWindow,
      });
      const suffix = repeated ? '-repeated' : '';
      for (const { length, loss, accuracy } of scores) {
        rows.push(row(name, `loss${suffix}`, length, loss, seed));
        rows.push(row(name, `acc${suffix}`, length, accuracy, seed));
      }
    }
  });
  return rows;
}

const row = rowMaker(EXPERIMENT);

/** The directions the articles predict, read off the rows (means over seeds). */
function summary(rows: Row[]): string[] {
  const at = (arm: string, metric: string, x: number) =>
    mean(rows.filter((r) => r.arm === arm && r.metric === metric && r.x === x).map((r) => r.value));
  const longest = Math.max(...rows.map((r) => r.x ?? 0));
  const rise = (arm: string) => at(arm, 'loss', longest) - at(arm, 'loss', TRAIN_LENGTH);
  const fmt = (v: number) => (v >= 0 ? '+' : '') + v.toFixed(3);
  const arms = [...new Set(rows.map((r) => r.arm))];
  const bestRepeated = arms.reduce((best, arm) =>
    at(arm, 'acc-repeated', longest) > at(best, 'acc-repeated', longest) ? arm : best,
  );
  return [
    `loss at ${longest} minus loss at ${TRAIN_LENGTH}: ` +
      arms.map((arm) => `${arm} ${fmt(rise(arm))}`).join(', ') +
      ' (articles: rope rises, rope-window and alibi about flat)',
    `at ${longest}: rope-window ${at('rope-window', 'loss', longest).toFixed(3)} vs rope ` +
      `${at('rope', 'loss', longest).toFixed(3)} (articles: the window below full RoPE)`,
    `best accuracy on repeated windows at ${longest}: ${bestRepeated} ` +
      `${at(bestRepeated, 'acc-repeated', longest).toFixed(3)} (articles: HWFA)`,
  ];
}

const part: ExperimentPart = {
  id: 'C2',
  claim: 'trained at 64: full RoPE degrades at longer inputs; windows, ALiBi and HWFA do not',
  figures: [],
  plots: [
    {
      metric: 'loss',
      title: 'C2: loss on the last 64 characters vs test length (trained at 64)',
      xLabel: 'test length n',
      yLabel: 'loss (nats/char)',
      logX: true,
    },
    {
      metric: 'acc-repeated',
      title: 'C2: accuracy on repeated windows vs test length',
      xLabel: 'test length n',
      yLabel: 'top-1 accuracy',
      logX: true,
    },
  ],
  run,
  summary,
};

export const lengthExtrapolation: Experiment = {
  name: EXPERIMENT,
  claim: 'which position schemes keep working past the training length',
  description:
    'causal char-LM on the shipped Shakespeare, d 64, 4 heads, 2 pre-norm layers, trained at 64 ' +
    '(batch 16, AdamW 3e-3, a quarter of the windows repeated), scored at 64/128/256/512 on the ' +
    'last 64 characters of fixed validation windows. Default: 5 arms × 400 steps, 16 windows ' +
    '(9 min 17 s measured on the 2-core machine while other jobs shared it); --full: 9 arms × ' +
    '1500 steps, 32 windows, 3 seeds (estimated 90–120 min).',
  parts: [part],
};
