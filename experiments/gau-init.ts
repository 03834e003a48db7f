// GAU needs no warmup (Su, kexue.fm 8990), B1: how large is a branch at init? Su's argument: a
// post-norm layer LN(x + F(x)) starts near the identity when RMS(F(x)) ≪ RMS(x), and for GAU
// (relu²(QKᵀ/√s)/n, LeCun init, γ = 1, β = 0) the diagonal of A dominates, A ≈ (sν⁴/n)·I, so
//   RMS(GAU(x)) / RMS(x) ≈ s·ν⁶/n,   ν² = E[swish(ε)²] = 0.3557,   ≈ 0.01 at s = 128, n = 512.
// Measured here on x ~ N(0, 1), (1, n, d), bidirectional, for a fresh branch per weight draw:
//   gau-xavier    Su's recipe (the model's own init): Xavier-uniform on the fused C → 2e + s matrix
//   gau-lecun     the init his estimate assumes: every matrix N(0, 1/fan_in)
//   gau-softmax   GAU-α's softmax with κ = log n / log 512, the model's Xavier init
//   ffn           the position-wise FFN (ReLU, 4d), Xavier weights as the shells give them
//   mha           softmax multi-head attention (head size 64), Xavier weights
// Rows per arm and n: rms-ratio (the median over the draws), rms-ratio-min and -max (the spread).
// Read next: gau-warmup.ts (B2: does it train deep without warmup?).

import { noGrad, randn, type Tensor } from '../lib/index.ts';
import { Linear, init } from '../nn/index.ts';
import type { Module } from '../nn/module.ts';
import { FeedForward, MultiHeadAttention } from '../models/index.ts';
import { GatedAttentionUnit } from '../models/gau.ts';
import { rowMaker } from './experiment.ts';
import type { ArticleFigure, Experiment, ExperimentPart, PartContext, Row } from './experiment.ts';
import { mean, median } from './stats.ts';

const EXPERIMENT = 'gau-init';
const SHARED = 128; // s, the article's
const SWISH_SECOND_MOMENT = 0.3557; // ν² = E[swish(ε)²], ε ~ N(0, 1)
const LOGN_BASE = 512; // GAU-α: κ = 1 at n = 512

/** The sizes of a run: the default (seconds to a minute), --full (the article's width), smoke. */
function settingsOf({ full, smoke }: PartContext['options']) {
  if (smoke) return { width: 64, lengths: [16, 64], draws: 2 };
  return full
    ? { width: 768, lengths: [64, 128, 256, 512, 1024], draws: 10 }
    : { width: 128, lengths: [64, 128, 256, 512], draws: 10 };
}

type Branch = Module & { forward(x: Tensor): Tensor };

/** Every Linear's weight Xavier-uniform, biases left as they are: what the shells' init does. */
function xavierWeights<M extends Module>(m: M): M {
  for (const [, sub] of m.namedModules()) if (sub instanceof Linear) init.xavierUniform(sub.weight);
  return m;
}

/** LeCun normal on every Linear: N(0, 1/fan_in), biases 0 (γ = 1, β = 0 stay from initGau). */
function lecunWeights<M extends Module>(m: M): M {
  for (const [, sub] of m.namedModules()) {
    if (!(sub instanceof Linear)) continue;
    init.normal(sub.weight, 1 / Math.sqrt(sub.inFeatures));
    if (sub.bias) init.zeros(sub.bias);
  }
  return m;
}

const gau = (width: number, scale: 'sqrt' | 'logn') =>
  new GatedAttentionUnit({
    nEmbd: width,
    expansion: 2,
    sharedDim: SHARED,
    scale,
    lognBase: LOGN_BASE,
  });

/** The arms: a fresh branch each, drawn from the global generator. */
const ARMS: Record<string, (width: number) => Branch> = {
  'gau-xavier': (width) => gau(width, 'sqrt'),
  'gau-lecun': (width) => lecunWeights(gau(width, 'sqrt')),
  'gau-softmax': (width) => gau(width, 'logn'),
  ffn: (width) => xavierWeights(new FeedForward(width, 4 * width, 'relu')),
  mha: (width) => xavierWeights(new MultiHeadAttention(width, Math.max(1, width / 64))),
};

const rms = (data: ArrayLike<number>) => {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += data[i] * data[i];
  return Math.sqrt(sum / data.length);
};

function run({ options, seed, progress }: PartContext): Row[] {
  const { width, lengths, draws } = settingsOf(options);
  const arms = Object.entries(ARMS);
  const ratios = new Map<string, number[]>(); // `${arm} ${n}` → one ratio per draw
  for (let draw = 0; draw < draws; draw++) {
    progress(draw, draws, `draw ${draw + 1}/${draws}, d ${width}`);
    for (const n of lengths) {
      noGrad(() => {
        const x = randn([1, n, width]); // (1, n, d)
        for (const [name, make] of arms) {
          const y = make(width).forward(x); // (1, n, d)
          const key = `${name} ${n}`;
          ratios.set(key, [...(ratios.get(key) ?? []), rms(y.data) / rms(x.data)]);
        }
      });
    }
  }
  progress(draws, draws, 'done');
  return arms.flatMap(([name]) =>
    lengths.flatMap((n) => {
      const values = ratios.get(`${name} ${n}`)!;
      return [
        row(name, 'rms-ratio', n, median(values), seed),
        row(name, 'rms-ratio-min', n, Math.min(...values), seed),
        row(name, 'rms-ratio-max', n, Math.max(...values), seed),
      ];
    }),
  );
}

const row = rowMaker(EXPERIMENT);

const FIGURE_LENGTHS = [64, 128, 256, 512];
const figures: ArticleFigure[] = [
  // the article's estimate, evaluated at our s and each n (its derivation assumes LeCun)
  ...FIGURE_LENGTHS.map((n) => ({
    arm: 'gau-lecun',
    metric: 'rms-ratio',
    x: n,
    value: (SHARED * SWISH_SECOND_MOMENT ** 3) / n,
    source: 'article, s·ν⁶/n',
  })),
  { arm: 'gau-lecun', metric: 'rms-ratio', x: 512, value: 0.01, text: '≈ 0.01', source: 'article' },
  // the design notes' own numpy check at other widths (d 768 at 512; d 64–128 at 64)
  { arm: 'gau-lecun', metric: 'rms-ratio', x: 512, value: 0.054, source: 'notes, d 768' },
  { arm: 'gau-xavier', metric: 'rms-ratio', x: 512, value: 0.0012, source: 'notes, d 768' },
  { arm: 'gau-softmax', metric: 'rms-ratio', value: 0.13, text: '≈ 0.13', source: 'notes, LeCun' },
  { arm: 'ffn', metric: 'rms-ratio', value: 0.7, text: '≈ 0.70', source: 'notes' },
  { arm: 'mha', metric: 'rms-ratio', x: 64, value: 0.24, text: '≈ 0.24', source: 'notes' },
  { arm: 'mha', metric: 'rms-ratio', x: 512, value: 0.08, text: '≈ 0.08', source: 'notes' },
];

/** Per arm, the median at the shortest and longest n, and GAU against the FFN branch. */
function summary(rows: Row[]): string[] {
  const at = (arm: string, n: number) =>
    mean(
      rows
        .filter((r) => r.arm === arm && r.metric === 'rms-ratio' && r.x === n)
        .map((r) => r.value),
    );
  const lengths = [...new Set(rows.map((r) => r.x!))].sort((a, b) => a - b);
  const [short, long] = [lengths[0], lengths[lengths.length - 1]];
  const arms = [...new Set(rows.map((r) => r.arm))];
  const fmt = (v: number) => v.toPrecision(2);
  const estimate = (SHARED * SWISH_SECOND_MOMENT ** 3) / long;
  return [
    `median RMS(branch(x))/RMS(x) at n ${short} → ${long}: ` +
      arms.map((arm) => `${arm} ${fmt(at(arm, short))} → ${fmt(at(arm, long))}`).join(', '),
    `at n ${long}: gau-lecun ${fmt(at('gau-lecun', long))} vs the article's s·ν⁶/n ` +
      `${fmt(estimate)}; gau-xavier ${fmt(at('gau-xavier', long))}; the FFN branch is ` +
      `${fmt(at('ffn', long) / at('gau-lecun', long))}× gau-lecun and ` +
      `${fmt(at('ffn', long) / at('gau-xavier', long))}× gau-xavier`,
  ];
}

const part: ExperimentPart = {
  id: 'B1',
  claim: 'at init a GAU branch is about 1/100 of its input, so post-norm GAU starts near identity',
  figures,
  plots: [
    {
      metric: 'rms-ratio',
      title: 'B1: RMS(branch(x)) / RMS(x) at init, median of 10 weight draws',
      xLabel: 'sequence length n',
      yLabel: 'RMS(branch(x)) / RMS(x)',
      logX: true,
      logY: true,
    },
  ],
  run,
  summary,
};

export const gauInit: Experiment = {
  name: EXPERIMENT,
  claim: 'a GAU branch starts tiny at init, which is why post-norm GAU needs no warmup (Su 8990)',
  description:
    'no training: x ~ N(0, 1) of shape (1, n, d), one fresh branch per weight draw (10 draws), ' +
    'bidirectional; GAU with e = 2d, s = 128; FFN 4d ReLU; MHA with head size 64. Default: ' +
    'd 128, n 64/128/256/512: 23–45 s measured on 2 shared cores (8 s of CPU); --full: d 768 ' +
    '(the article\u2019s), n 64…1024, 3 seeds: 9 min 57 s measured per seed (3.7 min of CPU).',
  parts: [part],
};
