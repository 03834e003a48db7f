// Softmax attention's robustness and information content (Su, kexue.fm 9593; spec §5). Parts:
//   D1  relative output error under i.i.d. score noise vs n (Monte Carlo, no training)
//   D2  attention entropy vs n of a trained model, with and without log n   (to come)
//   D3  logit scale c and cosine temperature τ: loss curves, the CE floor   (to come)
// A new part is an ExperimentPart appended to `parts` below. Read next: experiment.ts.

import { noGrad, randn } from '../lib/index.ts';
import type {
  ArticleFigure,
  Experiment,
  ExperimentOptions,
  ExperimentPart,
  Row,
} from './experiment.ts';
import { logLogSlope, mean, median } from './stats.ts';

const EXPERIMENT = 'softmax-noise-entropy';

// D1 ------------------------------------------------------------------------------------------
// o = Σ softmax(s)_i v_i and õ = Σ softmax(s + ε)_i v_i with v_i ~ N(0, I_16), s_i = a·v_i[0],
// ε_i ~ N(0, b²) independent of (s, v). Both are ratios of sample means, so the E[e^ε] factors
// cancel and ‖õ − o‖/‖o‖ falls like n^−1/2 once n is large (the law of large numbers). s must
// depend on v: with v independent of s, o ≈ 0 and the relative error means nothing (spec §5.1).

const VALUE_WIDTH = 16;
const NOISE_SETTINGS = [
  { a: 1, b: 0.5 },
  { a: 1, b: 1 },
  { a: 1, b: 2 },
  { a: 2, b: 1 },
];
const armName = ({ a, b }: { a: number; b: number }) => `a${a}-b${b}`;

/** The spec's own Monte Carlo of the article's claim [C]: median error at n = 16 … 16384. */
const SPEC_LENGTHS = [16, 64, 256, 1024, 4096, 16384];
const SPEC_MEDIANS: Record<string, number[]> = {
  'a1-b0.5': [0.34, 0.28, 0.18, 0.1, 0.054, 0.027],
  'a1-b1': [0.66, 0.59, 0.39, 0.23, 0.13, 0.064],
  'a1-b2': [1.2, 1.2, 0.93, 0.61, 0.41, 0.26],
  'a2-b1': [0.43, 0.46, 0.34, 0.25, 0.16, 0.093],
};

const noiseFigures: ArticleFigure[] = NOISE_SETTINGS.flatMap((setting) => {
  const arm = armName(setting);
  const medians = SPEC_MEDIANS[arm].map((value, i) => ({
    arm,
    metric: 'rel-error',
    x: SPEC_LENGTHS[i],
    value,
    source: 'spec MC',
  }));
  const slope = { arm, metric: 'log-log-slope', value: -0.5, source: 'article: ∝ n^−1/2' };
  return [...medians, slope];
});

/** n = 16, 32, … (powers of two); the slope is fitted over n ≥ slopeFrom. */
function noiseSizes(options: ExperimentOptions) {
  const powers = (from: number, to: number) =>
    Array.from({ length: Math.log2(to / from) + 1 }, (_, i) => from * 2 ** i);
  if (options.smoke) return { lengths: [16, 64, 256], trials: 15, slopeFrom: 16 };
  if (options.full) return { lengths: powers(16, 16384), trials: 1000, slopeFrom: 1024 };
  return { lengths: powers(16, 4096), trials: 300, slopeFrom: 1024 };
}

/** One draw of ‖õ − o‖/‖o‖ at length n. */
function relativeError(n: number, a: number, b: number): number {
  return noGrad(() => {
    const values = randn([n, VALUE_WIDTH], { dtype: 'float64' }); // v_i, (n, 16)
    const scores = values.narrow(1, 0, 1).transpose(0, 1).mul(a); // s_i = a·v_i[0], (1, n)
    const noise = randn([1, n], { dtype: 'float64' }).mul(b); // ε_i ~ N(0, b²), (1, n)
    const clean = scores.softmax(-1).matmul(values); // o, (1, 16)
    const noisy = scores.add(noise).softmax(-1).matmul(values); // õ, (1, 16)
    const norm = (t: typeof clean) => t.square().sum().sqrt().item();
    return norm(noisy.sub(clean)) / norm(clean);
  });
}

const noiseRobustness: ExperimentPart = {
  id: 'D1',
  claim: 'under i.i.d. score noise the relative output error of softmax attention falls ∝ n^−1/2',
  figures: noiseFigures,
  plots: [
    {
      metric: 'rel-error',
      title: 'D1: median ‖õ − o‖/‖o‖ under score noise ε ~ N(0, b²), s = a·v[0]',
      xLabel: 'n (keys)',
      yLabel: 'relative error (median over trials)',
      logX: true,
      logY: true,
    },
  ],
  run({ options, seed, progress }) {
    const { lengths, trials, slopeFrom } = noiseSizes(options);
    const rows: Row[] = [];
    const total = NOISE_SETTINGS.length * lengths.length;
    NOISE_SETTINGS.forEach((setting, settingIndex) => {
      const arm = armName(setting);
      const medians: [number, number][] = [];
      lengths.forEach((n, lengthIndex) => {
        progress(settingIndex * lengths.length + lengthIndex, total, `${arm} n=${n}`);
        const errors = Array.from({ length: trials }, () => relativeError(n, setting.a, setting.b));
        const value = median(errors);
        medians.push([n, value]);
        rows.push({ experiment: EXPERIMENT, arm, metric: 'rel-error', x: n, value, seed });
      });
      const tail = medians.filter(([n]) => n >= slopeFrom);
      const value = logLogSlope(tail);
      rows.push({ experiment: EXPERIMENT, arm, metric: 'log-log-slope', value, seed });
    });
    progress(total, total, 'done');
    return rows;
  },
  summary(rows) {
    const slopes = NOISE_SETTINGS.map(armName).map((arm) => {
      const values = rows.filter((r) => r.arm === arm && r.metric === 'log-log-slope');
      return { arm, slope: mean(values.map((r) => r.value)) };
    });
    const close = slopes.filter(({ slope }) => Math.abs(slope + 0.5) <= 0.1).length;
    const listed = slopes.map(({ arm, slope }) => `${arm} ${slope.toFixed(3)}`).join(', ');
    return [
      `fitted log-log slope of the median error over the largest n: ${listed} (article: −0.5)`,
      `${close} of ${slopes.length} arms within ±0.1 of −0.5`,
    ];
  },
};

export const softmaxNoiseEntropy: Experiment = {
  name: EXPERIMENT,
  claim: 'softmax attention is robust to score noise when many keys are attended (Su 9593)',
  description:
    'D1: 4 noise settings (a, b) × n = 16…4096, 300 trials each; --full: n = 16…16384, ' +
    '1000 trials.',
  parts: [noiseRobustness],
};
