// Can attention really "focus"? Linear vs softmax (Su, kexue.fm 9889; spec §6). Parts:
//   E1  the sparsity S(a) of exp, elu+1 and relu² attention weights vs ‖q‖ (no training)
//   E2  associative recall vs number of pairs, softmax vs linear attention   (to come: append a
//       part with arms `softmax`, `linear`, metric `acc`, x = m, to `parts` below)
// Read next: experiment.ts.

import { elu, noGrad, randn, tensor, type Tensor } from '../lib/index.ts';
import type {
  ArticleFigure,
  Experiment,
  ExperimentOptions,
  ExperimentPart,
  Row,
} from './experiment.ts';
import { mean, median } from './stats.ts';

const EXPERIMENT = 'attention-focus';

// E1 ------------------------------------------------------------------------------------------
// S(a) = E|a| / sqrt(E[a²]) over the keys: 1 for uniform weights, → 1/√n for one-hot. Keys
// k_j ~ N(0, I_d), q = r·u. Arms (a_j, the unnormalised weight of key j):
//   exp        e^{q·k_j}                     softmax; S = e^{−r²/2} as n → ∞: can be arbitrarily sharp
//   elu1       φ(q)·φ(k_j), φ = elu + 1      linear attention (Katharopoulos), u a random direction
//   elu1-axis  the same with u = e_1          the direction most favourable to elu + 1
//   relu2      relu(q·k_j)²                  GAU; S = 1/√6 ≈ 0.408 for every r (β = q·μ = 0)
// For a non-negative feature map with i.i.d. features of mean μ̃ and sd σ̃ the article's exact
// limit is S = 1/sqrt(1 + q̃ᵀΣ̃q̃/(q̃ᵀμ̃)²) (spec §6.2). For φ(z) = elu(z) + 1, z ~ N(0, 1):
// μ̃ = 1/2 + 1/√(2π) + e^{1/2}Φ(−1) = 1.1605 and σ̃² = E[φ²] − μ̃² = 0.6192.

const ELU_FEATURE_MEAN = 1.1605;
const ELU_FEATURE_VARIANCE = 0.6192;

/** S for q̃ = (elu(r) + 1, 1, …, 1) in d dimensions, as n → ∞. */
function eluAxisLimit(r: number, width: number): number {
  const first = r + 1; // elu(r) + 1 for r > 0
  const sumSquares = first ** 2 + (width - 1);
  const dotMean = ELU_FEATURE_MEAN * (first + width - 1);
  return 1 / Math.sqrt(1 + (ELU_FEATURE_VARIANCE * sumSquares) / dotMean ** 2);
}

const FULL_NORMS = Array.from({ length: 16 }, (_, i) => 0.25 * (i + 1)); // 0.25 … 4
const KEY_WIDTH = 64;

const sparsityFigures: ArticleFigure[] = [
  ...FULL_NORMS.flatMap((r) => [
    { arm: 'exp', metric: 'sparsity', x: r, value: Math.exp(-(r ** 2) / 2), source: 'n → ∞' },
    { arm: 'relu2', metric: 'sparsity', x: r, value: 1 / Math.sqrt(6), source: 'n → ∞' },
    {
      arm: 'elu1-axis',
      metric: 'sparsity',
      x: r,
      value: eluAxisLimit(r, KEY_WIDTH),
      source: 'n → ∞',
    },
  ]),
  ...[
    [0.5, 0.882],
    [1, 0.587],
    [2, 0.041],
  ].map(([x, value]) => ({ arm: 'exp', metric: 'sparsity', x, value, source: 'spec MC' })),
  { arm: 'exp', metric: 'sparsity', x: 2, value: 0.15, text: '< 0.15', source: 'spec §12' },
  { arm: 'elu1', metric: 'sparsity', x: 2, value: 0.8, text: '≥ ~0.8', source: 'spec §12' },
];

function sparsitySizes(options: ExperimentOptions) {
  if (options.smoke) return { keys: 512, width: 16, trials: 3, norms: [0.5, 1, 2] };
  if (options.full) return { keys: 2 ** 20, width: KEY_WIDTH, trials: 10, norms: FULL_NORMS };
  const norms = [0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4];
  return { keys: 2 ** 18, width: KEY_WIDTH, trials: 10, norms };
}

const ARMS = ['exp', 'elu1', 'elu1-axis', 'relu2'] as const;
type Arm = (typeof ARMS)[number];
const KEYS_PER_CHUNK = 2 ** 15; // keys are drawn and weighed a chunk at a time: memory stays small

const feature = (x: Tensor) => elu(x, 1).add(1); // φ = elu + 1 > 0

/** Every arm's weights for one chunk of keys, a column per ‖q‖: (chunk, R) each. */
function chunkWeights(keys: Tensor, unit: Tensor, norms: Tensor): Record<Arm, Tensor> {
  const width = keys.shape[1];
  const axis = tensor(
    Float64Array.from({ length: width }, (_, i) => (i === 0 ? 1 : 0)),
    { shape: [width, 1] },
  ); // e_1, (d, 1)
  const scores = keys.matmul(unit).mul(norms); // q·k_j = r·(u·k_j), (c, R)
  const keyFeatures = feature(keys); // φ(k_j), (c, d)
  return {
    exp: scores.exp(),
    elu1: keyFeatures.matmul(feature(unit.mul(norms))), // φ(k_j)·φ(r·u), (c, R)
    'elu1-axis': keyFeatures.matmul(feature(axis.mul(norms))), // (c, R)
    relu2: scores.relu().square(),
  };
}

/**
 * One draw of n keys and a direction u: S of every arm at every ‖q‖. S(a) = mean|a| / √mean a²
 * needs only Σ|a| and Σa², so the keys are summed a chunk at a time.
 */
function sparsityTrial(keyCount: number, width: number, norms: number[]): Record<Arm, number[]> {
  return noGrad(() => {
    const direction = randn([width, 1], { dtype: 'float64' });
    const unit = direction.div(direction.square().sum().sqrt()); // u, (d, 1)
    const normRow = tensor(Float64Array.from(norms), { shape: [1, norms.length] }); // (1, R)
    const sums = ARMS.map(() => ({
      abs: new Float64Array(norms.length),
      squares: new Float64Array(norms.length),
    }));
    for (let done = 0; done < keyCount; done += KEYS_PER_CHUNK) {
      const size = Math.min(KEYS_PER_CHUNK, keyCount - done);
      const keys = randn([size, width], { dtype: 'float64' }); // k_j ~ N(0, I_d), (c, d)
      const weights = chunkWeights(keys, unit, normRow);
      ARMS.forEach((arm, i) => {
        const abs = weights[arm].abs().sum(0).data; // (R)
        const squares = weights[arm].square().sum(0).data; // (R)
        for (let j = 0; j < norms.length; j++) {
          sums[i].abs[j] += abs[j];
          sums[i].squares[j] += squares[j];
        }
      });
    }
    const sparsity = ({ abs, squares }: (typeof sums)[number]) =>
      norms.map((_, j) => abs[j] / keyCount / Math.sqrt(squares[j] / keyCount));
    return Object.fromEntries(ARMS.map((arm, i) => [arm, sparsity(sums[i])])) as Record<
      Arm,
      number[]
    >;
  });
}

const sparsityPart: ExperimentPart = {
  id: 'E1',
  claim:
    'softmax weights grow arbitrarily sparse with ‖q‖; elu+1 linear attention stays near uniform',
  figures: sparsityFigures,
  plots: [
    {
      metric: 'sparsity',
      title: 'E1: S(a) = E|a| / √E[a²] of attention weights, keys ~ N(0, I)',
      xLabel: '‖q‖',
      yLabel: 'S (1 = uniform, → 0 = one-hot)',
      logY: true,
    },
  ],
  run({ options, seed, progress }) {
    const { keys, width, trials, norms } = sparsitySizes(options);
    const draws = Array.from({ length: trials }, (_, trial) => {
      progress(trial, trials, `trial ${trial + 1}/${trials}, n=${keys}, d=${width}`);
      return sparsityTrial(keys, width, norms);
    });
    progress(trials, trials, 'done');
    const rows: Row[] = [];
    for (const arm of ARMS) {
      norms.forEach((r, i) => {
        const value = median(draws.map((draw) => draw[arm][i]));
        rows.push({ experiment: EXPERIMENT, arm, metric: 'sparsity', x: r, value, seed });
      });
    }
    return rows;
  },
  summary(rows) {
    const at = (arm: string, x: number) =>
      mean(rows.filter((r) => r.arm === arm && r.x === x).map((r) => r.value));
    const lowest = (arm: string) =>
      Math.min(...rows.filter((r) => r.arm === arm).map((r) => r.value));
    const lines = [
      `lowest S over ‖q‖: elu1 ${lowest('elu1').toFixed(3)}, elu1-axis ` +
        `${lowest('elu1-axis').toFixed(3)} (spec: ≥ ~0.8); relu2 ${lowest('relu2').toFixed(3)} (1/√6 = 0.408)`,
    ];
    if (rows.some((r) => r.x === 2)) {
      lines.unshift(`exp at ‖q‖ = 2: ${at('exp', 2).toFixed(3)} (spec: < 0.15; n → ∞: 0.135)`);
    }
    return lines;
  },
};

export const attentionFocus: Experiment = {
  name: EXPERIMENT,
  claim: 'softmax attention can focus on a few keys; elu+1 linear attention cannot (Su 9889)',
  description:
    'E1: S(a) for exp, elu1, elu1-axis, relu2 at 9 values of ‖q‖, 2^18 keys of width 64, 10 ' +
    'trials (31 s on 2 cores); --full: 16 values of ‖q‖, 2^20 keys, 10 trials (11.5 min, 3 seeds).',
  parts: [sparsityPart],
};
