// Can attention really "focus"? Linear vs softmax (Su, kexue.fm 9889). Parts:
//   E1  the sparsity S(a) of exp, elu+1 and relu² attention weights vs ‖q‖ (no training)
//   E2  associative recall accuracy vs the number of pairs m, softmax vs linear attention, at
//       head sizes 16 (metric acc) and 64 (acc-hs64; --full adds 32) (training, one layer)
// Read next: experiment.ts, then training.ts.

import { elu, manualSeed, noGrad, randn, tensor, type Tensor } from '../lib/index.ts';
import {
  lmBatch,
  makeTask,
  NUM_VALUES,
  stepSeed,
  taskStream,
  type Example,
  type Task,
} from '../data/index.ts';
import { TransformerLM } from '../models/index.ts';
import type {
  ArticleFigure,
  Experiment,
  ExperimentOptions,
  ExperimentPart,
  PartContext,
  Row,
} from './experiment.ts';
import { mean, median } from './stats.ts';
import { trainModel } from './training.ts';

const EXPERIMENT = 'attention-focus';

// E1 ------------------------------------------------------------------------------------------
// S(a) = E|a| / sqrt(E[a²]) over the keys: 1 for uniform weights, → 1/√n for one-hot. Keys
// k_j ~ N(0, I_d), q = r·u. Arms (a_j, the unnormalised weight of key j):
//   exp        e^{q·k_j}                     softmax; S = e^{−r²/2} as n → ∞: can be arbitrarily sharp
//   elu1       φ(q)·φ(k_j), φ = elu + 1      linear attention (Katharopoulos), u a random direction
//   elu1-axis  the same with u = e_1          the direction most favourable to elu + 1
//   relu2      relu(q·k_j)²                  GAU; S = 1/√6 ≈ 0.408 for every r (β = q·μ = 0)
// For a non-negative feature map with i.i.d. features of mean μ̃ and sd σ̃ the article's exact
// limit is S = 1/sqrt(1 + q̃ᵀΣ̃q̃/(q̃ᵀμ̃)²) (the post's §2). For φ(z) = elu(z) + 1, z ~ N(0, 1):
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
  ].map(([x, value]) => ({ arm: 'exp', metric: 'sparsity', x, value, source: 'notes MC' })),
  { arm: 'exp', metric: 'sparsity', x: 2, value: 0.15, text: '< 0.15', source: 'notes rule' },
  { arm: 'elu1', metric: 'sparsity', x: 2, value: 0.8, text: '≥ ~0.8', source: 'notes rule' },
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
        `${lowest('elu1-axis').toFixed(3)} (notes' rule: ≥ ~0.8); relu2 ${lowest('relu2').toFixed(3)} (1/√6 = 0.408)`,
    ];
    if (rows.some((r) => r.x === 2)) {
      lines.unshift(
        `exp at ‖q‖ = 2: ${at('exp', 2).toFixed(3)} (notes' rule: < 0.15; n → ∞: 0.135)`,
      );
    }
    return lines;
  },
};

// E2 ------------------------------------------------------------------------------------------
// Associative recall in the one-token layout (data/recall.ts, recall1): m pairs, each one token
// (key, value), then a query key; the query's own position answers one of 10 values (chance
// 1/10). One attention step from the query to its pair answers it, so one layer
// suffices and the task isolates the article's question: can a query pick one key out of m?
// Softmax can put weight ≈ 1 on the matching key. Linear attention reads φ(q)ᵀ Σ_j φ(k_j) v_jᵀ,
// m outer products summed into an hs × hs state per head, with φ = elu + 1 > 0 (E1: it cannot
// focus), so it should blur as m grows. The article's remedy is a larger head size; §6.2/§14
// doubt it (the i.i.d. sparsity floor does not move with d). Head sizes at a fixed width C = 64,
// nh = C / hs, so every model has the same parameters. One model per arm and head size is
// trained on all m at once (step s draws its batch from m = PAIRS[s mod 4], a stream seeded
// apart from the weights, the same for every arm), then scored on held-out inputs at each m:
// every m is in distribution, and the small m teach the lookup early (alone, m = 32 sat on its
// plateau for 400 steps in a pilot). No positions: the pairs are a set and the query is last.

const RECALL_PAIRS = [4, 8, 16, 32];
const RECALL_WIDTH = 64;
const RECALL_HEAD_SIZE = 16; // the default head size: metric `acc`; others `acc-hs<size>`
const RECALL_ARMS = ['softmax', 'linear'] as const;

function recallSettings({ full, smoke }: ExperimentOptions) {
  const both = (hs: number) => RECALL_ARMS.map((arm) => ({ arm, hs }));
  if (smoke) {
    const runs = [...both(16), { arm: 'linear' as const, hs: 64 }];
    return { steps: 3, batchSize: 8, pairs: [4, 8], examples: 16, runs };
  }
  if (full) {
    const runs = [...both(16), ...both(32), ...both(64)];
    return { steps: 2000, batchSize: 32, pairs: RECALL_PAIRS, examples: 1000, runs };
  }
  const runs = [...both(16), { arm: 'linear' as const, hs: 64 }];
  return { steps: 800, batchSize: 32, pairs: RECALL_PAIRS, examples: 500, runs };
}

const recallMetric = (hs: number) => (hs === RECALL_HEAD_SIZE ? 'acc' : `acc-hs${hs}`);

/** recall1 with m pairs; keys drawn from as many symbols as the largest m, so one vocabulary. */
const recallTask = (m: number, pairs: number[]) =>
  makeTask('recall1', { pairs: m, numSymbols: Math.max(...pairs), seed: 0 });

/** The share of examples whose likeliest value (of the 10) at the query is the answer. */
function recallAccuracy(model: TransformerLM, task: Task, examples: Example[]): number {
  return noGrad(() => {
    const { tokens } = lmBatch(examples, { separator: false });
    const logits = model.forward(tokens).logits; // (B, L, V)
    const [B, L, V] = logits.shape;
    const value0 = task.vocabSize - NUM_VALUES; // the values are the vocabulary's last 10 tokens
    let correct = 0;
    examples.forEach((example, b) => {
      const at = (b * L + example.input.length - 1) * V + value0; // the query's position
      let best = 0;
      for (let v = 1; v < NUM_VALUES; v++)
        if (logits.data[at + v] > logits.data[at + best]) best = v;
      if (value0 + best === example.output[0]) correct++;
    });
    return correct / B;
  });
}

function recallRun({ options, seed, progress }: PartContext): Row[] {
  const { steps, batchSize, pairs, examples, runs } = recallSettings(options);
  const tasks = pairs.map((m) => recallTask(m, pairs));
  const streams = tasks.map((task) =>
    taskStream(task, { seed: stepSeed(seed, 0x5eed), batchSize }),
  );
  const batchAt = (step: number) =>
    lmBatch(streams[step % pairs.length].at(step), { separator: false });
  const tests = tasks.map((task) => task.heldOut(examples));
  const rows: Row[] = [];
  runs.forEach(({ arm, hs }, runIndex) => {
    manualSeed(seed); // every run starts from the same generator state
    const model = new TransformerLM({
      vocabSize: tasks[0].vocabSize,
      blockSize: Math.max(...pairs) + 3, // pairs, query, answer, EOS
      nLayer: 1,
      nHead: RECALL_WIDTH / hs,
      nEmbd: RECALL_WIDTH,
      norm: 'pre',
      position: 'none',
      attention: arm,
      featureMap: 'elu',
    });
    const lossAt = (step: number) => {
      const { tokens, targets } = batchAt(step);
      return model.forward(tokens, targets).loss!;
    };
    const [done, total] = [runIndex * steps, runs.length * steps];
    trainModel(model, lossAt, {
      steps,
      lr: 3e-3,
      onStep: (step, loss) =>
        progress(done + step, total, `${arm} hs ${hs} loss ${loss.toFixed(3)}`),
    });
    tasks.forEach((task, i) => {
      const value = recallAccuracy(model, task, tests[i]);
      rows.push({
        experiment: EXPERIMENT,
        arm,
        metric: recallMetric(hs),
        x: pairs[i],
        value,
        seed,
      });
    });
  });
  return rows;
}

function recallSummary(rows: Row[]): string[] {
  const at = (arm: string, metric: string, x: number) =>
    mean(rows.filter((r) => r.arm === arm && r.metric === metric && r.x === x).map((r) => r.value));
  const has = (arm: string, metric: string) =>
    rows.some((r) => r.arm === arm && r.metric === metric);
  const xs = [...new Set(rows.map((r) => r.x!))].sort((a, b) => a - b);
  const [first, last] = [xs[0], xs[xs.length - 1]];
  const metrics = [...new Set(rows.map((r) => r.metric))];
  const lines = metrics.map((metric) => {
    const span = (arm: string) =>
      `${arm} ${at(arm, metric, first).toFixed(3)} → ${at(arm, metric, last).toFixed(3)}`;
    const arms = RECALL_ARMS.filter((arm) => has(arm, metric));
    return `${metric}, accuracy at m = ${first} → ${last}: ${arms.map(span).join(', ')}`;
  });
  const gap = at('softmax', 'acc', last) - at('linear', 'acc', last);
  const bySize = metrics
    .filter((metric) => has('linear', metric))
    .map((metric) => `${metric} ${at('linear', metric, last).toFixed(3)}`);
  lines.push(
    `softmax − linear at m = ${last}, head size ${RECALL_HEAD_SIZE}: ${gap.toFixed(3)}; ` +
      `linear at m = ${last} by head size: ${bySize.join(', ')}`,
    `chance ${1 / NUM_VALUES}; article: softmax ≈ 100% at every m, linear falls with m, ` +
      'a larger head size helps (our notes doubted it)',
  );
  return lines;
}

const RECALL_METRICS = ['acc', 'acc-hs32', 'acc-hs64'];

const recallFigures: ArticleFigure[] = [
  ...RECALL_METRICS.flatMap((metric) => [
    { arm: 'softmax', metric, value: 1, text: '≈ 100%', source: 'article' },
    // a direction, not a number: printed in the table, never plotted (no x)
    { arm: 'linear', metric, value: Number.NaN, text: 'falls with m', source: 'article' },
  ]),
  ...RECALL_ARMS.flatMap((arm) =>
    RECALL_METRICS.flatMap((metric) =>
      RECALL_PAIRS.map((x) => ({ arm, metric, x, value: 1 / NUM_VALUES, source: 'chance' })),
    ),
  ),
];

const recallPart: ExperimentPart = {
  id: 'E2',
  claim: 'softmax attention recalls 1 of m pairs at every m; linear attention falls as m grows',
  figures: recallFigures,
  plots: [RECALL_HEAD_SIZE, 64].map((hs) => ({
    metric: recallMetric(hs),
    title: `E2: recall accuracy vs pairs m, head size ${hs} (1 layer, d ${RECALL_WIDTH})`,
    xLabel: 'pairs m',
    yLabel: 'accuracy (chance 0.1)',
    logX: true,
  })),
  run: recallRun,
  summary: recallSummary,
};

export const attentionFocus: Experiment = {
  name: EXPERIMENT,
  claim: 'softmax attention can focus on a few keys; elu+1 linear attention cannot (Su 9889)',
  description:
    'E1: S(a) for exp, elu1, elu1-axis, relu2 at 9 values of ‖q‖, 2^18 keys of width 64, 10 ' +
    'trials (31 s on 2 cores); --full: 16 values of ‖q‖, 2^20 keys, 10 trials (11.5 min, 3' +
    ' seeds). E2: recall1 with m = 4/8/16/32 pairs (keys from 32 symbols, 10 values), a 1-layer' +
    ' pre-norm LM of width 64 trained on all m at once (batch 32, AdamW 3e-3), accuracy on' +
    ' held-out inputs at each m. Default: softmax and linear at head size 16, linear at 64, 800' +
    ' steps, 500 inputs per m (E1 + E2: 6.4 min on 2 busy cores); --full: both arms at head' +
    ' sizes 16/32/64, 2000 steps, 1000 inputs per m, 3 seeds (E2: 17.6 min a seed on 2 busy' +
    ' cores, about 55 min).',
  parts: [sparsityPart, recallPart],
};
