// Every registered experiment in its seconds-long smoke setting (tiny sizes, 2 seeds) into a temp
// folder: its rows are whole (fields, types, finite values, the arms and metrics the issue fixes),
// results.json holds them, the table and an SVG per plot appear, the same seed gives the same rows,
// and the smoke numbers already point the article's way. Then `attngrad exp` end to end.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { experiments, findExperiment, runExperiment, type Row } from '../experiments/index.ts';
import { matchedTransformer } from '../experiments/gau-warmup.ts';
import { TransformerLM, type TransformerConfig } from '../models/index.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The arm and metric names the issue fixes, so results compare across runs. */
const expected: Record<string, { arms: string[]; metrics: string[] }> = {
  'softmax-noise-entropy': {
    arms: [
      ...['a1-b0.5', 'a1-b1', 'a1-b2', 'a2-b1'], // D1
      ...['plain', 'logn', 'logn-test'], // D2
      ...['c1', 'c4', 'c16', 'cos-t1', 'cos-t0.1'], // D3
    ],
    metrics: ['rel-error', 'log-log-slope', 'entropy', 'loss', 'attn-ce', 'entropy-init'],
  },
  'logn-mlm': { arms: ['plain', 'logn'], metrics: ['acc', 'loss'] },
  'length-extrapolation': {
    arms: ['nope', 'rope', 'rope-window', 'alibi', 'hwfa'],
    metrics: ['loss', 'acc', 'loss-repeated', 'acc-repeated'],
  },
  'even-pairs': { arms: ['nope', 'rope', 'rope-window', 'alibi', 'hwfa'], metrics: ['acc'] },
  'attention-focus': {
    arms: ['exp', 'elu1', 'relu2', 'softmax', 'linear'],
    metrics: ['sparsity', 'acc', 'acc-hs64'],
  },
  synthesizer: {
    arms: [
      ...['softmax', 'synth-dense', 'synth-random', 'synth-fixed'],
      ...['synth-factorized-dense', 'synth-factorized-random', 'synth-mix'],
    ],
    metrics: ['permutation-acc', 'recall-acc', 'bits-per-char', 'params'],
  },
  'transformer-positions': {
    arms: ['before-sinusoidal', 'before-none', 'contains-sinusoidal', 'contains-none'],
    metrics: ['acc', 'acc-curve'],
  },
  'gau-init': {
    arms: ['gau-xavier', 'gau-lecun', 'gau-softmax', 'ffn', 'mha'],
    metrics: ['rms-ratio', 'rms-ratio-min', 'rms-ratio-max'],
  },
  'gau-warmup': {
    arms: [4, 12, 24].flatMap((L) => [
      `gau-L${L}`,
      `transformer-L${L}`,
      `transformer-warmup-L${L}`,
    ]),
    metrics: ['final-loss', 'diverged', 'max-lr', 'loss-L4', 'loss-L12', 'loss-L24'],
  },
  'flash-vs-quad': {
    arms: ['gau', 'flash', 'transformer'],
    metrics: ['loss', 's-per-step', 'parameters', 'train-loss'],
  },
  sparse: {
    arms: ['softmax', 'local', 'atrous', 'strided', 'fixed', 'sparse', 'linear', 'flash'],
    metrics: [
      ...['train-bits', 'bits-per-char', 's-per-step'], // G2
      'acc', // G3
      ...['ms', 'peak-mib', 'ms-slope', 'peak-mib-slope'], // cost
    ],
  },
};

const smoke = (name: string, seed = 0) => {
  const out = mkdtempSync(join(tmpdir(), `attngrad-exp-${name}-`));
  const options = { full: false, smoke: true, seed, seeds: 2, out };
  return { out, ...runExperiment(findExperiment(name)!, options, null) };
};

const results = new Map(experiments.map((e) => [e.name, smoke(e.name)]));

for (const experiment of experiments) {
  const { rows, report, out } = results.get(experiment.name)!;

  test(`${experiment.name}: rows are whole, results.json holds them`, () => {
    assert.ok(rows.length > 0, 'no rows');
    for (const row of rows) {
      const keys = Object.keys(row).filter((k) => k !== 'x');
      assert.equal(keys.sort(), ['arm', 'experiment', 'metric', 'seed', 'value']);
      assert.is(row.experiment, experiment.name);
      assert.type(row.arm, 'string');
      assert.type(row.metric, 'string');
      assert.ok(Number.isFinite(row.value), `value of ${JSON.stringify(row)}`);
      assert.ok(row.x === undefined || Number.isFinite(row.x), `x of ${JSON.stringify(row)}`);
      assert.ok(row.seed === 0 || row.seed === 1, `seed of ${JSON.stringify(row)}`);
    }
    const saved = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Row[];
    assert.equal(saved, rows);
  });

  test(`${experiment.name}: the issue's arms and metrics, the plotted metrics, every figure's arm`, () => {
    const arms = new Set(rows.map((r) => r.arm));
    const metrics = new Set(rows.map((r) => r.metric));
    const wanted = expected[experiment.name];
    assert.ok(wanted, `add ${experiment.name}'s arms and metrics to this test`);
    for (const arm of wanted.arms) assert.ok(arms.has(arm), `arm ${arm} missing`);
    for (const metric of wanted.metrics) assert.ok(metrics.has(metric), `metric ${metric} missing`);
    for (const part of experiment.parts) {
      for (const plot of part.plots) assert.ok(metrics.has(plot.metric), `${plot.metric} plotted`);
      for (const figure of part.figures)
        assert.ok(arms.has(figure.arm), `figure for unknown arm ${figure.arm}`);
    }
  });

  test(`${experiment.name}: the table (a section per part) and an SVG per plot`, () => {
    assert.ok(report.includes('| arm | metric | x | ours (mean ± sd, 2 seeds) | article |'));
    for (const part of experiment.parts) {
      assert.ok(report.includes(`### ${part.id}: `), `section ${part.id}`);
      for (const plot of part.plots) {
        const svg = readFileSync(join(out, `${plot.metric}.svg`), 'utf8');
        assert.ok(svg.startsWith('<svg') && svg.includes('<polyline points="'), plot.metric);
      }
    }
    assert.is(readFileSync(join(out, 'table.md'), 'utf8'), report);
  });
}

test('the same seed gives the same rows; another seed other rows', () => {
  const again = smoke('attention-focus');
  assert.equal(again.rows, results.get('attention-focus')!.rows);
  const other = smoke('attention-focus', 5);
  assert.not.equal(
    other.rows.map((r) => r.value),
    again.rows.map((r) => r.value),
  );
});

const value = (name: string, arm: string, metric: string, x?: number) => {
  const rows = results.get(name)!.rows.filter((r) => r.arm === arm && r.metric === metric);
  const picked = rows.filter((r) => x === undefined || r.x === x);
  return picked.reduce((sum, r) => sum + r.value, 0) / picked.length;
};

test('E1 smoke: exp matches e^(−r²/2) at ‖q‖ = 0.5, relu² ≈ 1/√6, elu+1 stays near 1', () => {
  assert.ok(Math.abs(value('attention-focus', 'exp', 'sparsity', 0.5) - 0.8825) < 0.03);
  assert.ok(
    value('attention-focus', 'exp', 'sparsity', 2) < value('attention-focus', 'exp', 'sparsity', 1),
  );
  assert.ok(Math.abs(value('attention-focus', 'relu2', 'sparsity') - 1 / Math.sqrt(6)) < 0.05);
  assert.ok(value('attention-focus', 'elu1', 'sparsity') > 0.9);
});

test('E2 smoke: an accuracy per arm, head size and m, a share of the held-out examples', () => {
  const recall = results.get('attention-focus')!.rows.filter((r) => r.metric.startsWith('acc'));
  const cells = recall.map((r) => `${r.arm} ${r.metric} ${r.x} ${r.seed}`);
  const wanted = ['softmax acc', 'linear acc', 'linear acc-hs64'].flatMap((run) =>
    [4, 8].flatMap((m) => [0, 1].map((seed) => `${run} ${m} ${seed}`)),
  );
  assert.equal(cells.sort(), wanted.sort());
  for (const { value } of recall)
    assert.ok(value >= 0 && value <= 1 && Number.isInteger(value * 16));
});

test('D1 smoke: the noise error falls from n = 16 to 256 (mild noise)', () => {
  for (const arm of ['a1-b0.5', 'a1-b1']) {
    const at = (n: number) => value('softmax-noise-entropy', arm, 'rel-error', n);
    assert.ok(at(256) < 0.8 * at(16), `${arm}: ${at(16)} → ${at(256)}`);
  }
});

test('D2 smoke: test-time log n (clamped at 64) leaves the entropy at n ≤ 64 as plain has it', () => {
  for (const n of [16, 32, 64]) {
    const plain = value('softmax-noise-entropy', 'plain', 'entropy', n);
    assert.ok(plain > 0 && plain < Math.log(n) + 1e-9, `plain at ${n}: ${plain}`);
    assert.is(value('softmax-noise-entropy', 'logn-test', 'entropy', n), plain);
  }
});

test('D3 smoke: a larger logit scale at init, a lower attention entropy (c16 near one-hot)', () => {
  const init = (arm: string) => value('softmax-noise-entropy', arm, 'entropy-init');
  assert.ok(init('c1') > 3.5 && init('c1') < Math.log(64), `c1 ${init('c1')}`);
  assert.ok(init('c4') < init('c1') && init('c16') < init('c4'));
  assert.ok(init('c16') < 0.2, `c16 ${init('c16')}`);
  assert.ok(init('cos-t1') > 4, `cos-t1 ${init('cos-t1')}`); // cos/τ ∈ [−1, 1]: near uniform
});

test('B1 smoke: GAU with Xavier ≪ GAU with LeCun ≪ … the FFN; LeCun GAU shrinks with n (s/n)', () => {
  const at = (arm: string, n: number) => value('gau-init', arm, 'rms-ratio', n);
  for (const n of [16, 64]) {
    assert.ok(at('gau-xavier', n) < 0.1 * at('gau-lecun', n), `n ${n}: ${at('gau-xavier', n)}`);
    assert.ok(at('gau-xavier', n) < 0.02 * at('ffn', n), `n ${n}: ${at('gau-xavier', n)}`);
    assert.ok(value('gau-init', 'gau-xavier', 'rms-ratio-min', n) <= at('gau-xavier', n));
  }
  assert.ok(at('gau-lecun', 64) < 0.5 * at('gau-lecun', 16), `${at('gau-lecun', 64)}`);
});

test('sparse smoke: memory grows as n² for softmax, as n for the rest; G2 near log V; G3 per depth', () => {
  const slope = (arm: string) => value('sparse', arm, 'peak-mib-slope');
  assert.ok(slope('softmax') > 1.5, `softmax ${slope('softmax')}`);
  for (const arm of ['local', 'linear', 'flash'])
    assert.ok(Math.abs(slope(arm) - 1) < 0.2, `${arm} ${slope(arm)}`);
  const bits = value('sparse', 'fixed', 'bits-per-char'); // 2 steps from init: about log2(65)
  assert.ok(bits > 5 && bits < 6.5, `fixed ${bits}`);
  const depths = results
    .get('sparse')!
    .rows.filter((r) => r.metric === 'acc')
    .map((r) => r.x);
  assert.equal([...new Set(depths)], [1, 2]);
});

test('B2 smoke: diverged is 0 or 1, max-lr one of the rates tried or 0; parameters matched', () => {
  for (const r of results.get('gau-warmup')!.rows) {
    if (r.metric === 'diverged') assert.ok(r.value === 0 || r.value === 1, JSON.stringify(r));
    if (r.metric === 'max-lr') assert.ok([0, 3e-3, 1e-2].includes(r.value), JSON.stringify(r));
  }
  const gau = { vocabSize: 65, blockSize: 32, nLayer: 12, nHead: 4, nEmbd: 32 };
  const config = { ...gau, norm: 'post', attention: 'gau', sharedDim: 32 } as const;
  const matched = matchedTransformer(config);
  const count = (c: TransformerConfig) => new TransformerLM(c).numParameters();
  assert.is(matched.nLayer, 6);
  assert.ok(Math.abs(count(matched) / count(config) - 1) < 0.01, `${count(matched)}`);
  assert.throws(() => matchedTransformer({ ...config, nLayer: 3 }), /even number of layers/);
});

test('B3 smoke: the three arms within 5% of one another in parameters; a time per step', () => {
  const at = (arm: string, metric: string) => value('flash-vs-quad', arm, metric, 64);
  for (const arm of ['flash', 'transformer']) {
    const ratio = at(arm, 'parameters') / at('gau', 'parameters');
    assert.ok(Math.abs(ratio - 1) < 0.05, `${arm}: ${ratio}`);
    assert.ok(at(arm, 's-per-step') > 0);
  }
});

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [join(repo, 'bin/attngrad.mjs'), 'exp', ...args], {
    encoding: 'utf8',
  });

test('attngrad exp --list names every experiment; <name> --smoke prints the table', () => {
  const list = cli('--list');
  assert.is(list.status, 0);
  for (const e of experiments) assert.ok(list.stdout.includes(e.name), e.name);
  const out = mkdtempSync(join(tmpdir(), 'attngrad-exp-cli-'));
  const run = cli('attention-focus', '--smoke', '--out', out);
  assert.is(run.status, 0, run.stderr);
  assert.ok(run.stdout.includes('| arm | metric | x | ours | article |'));
  assert.ok(run.stdout.includes(join(out, 'results.json')));
});

test('attngrad exp: a bad flag or name is one line and exit code 2', () => {
  for (const args of [
    ['attention-focus', '--bogus'],
    ['nope'],
    [],
    ['attention-focus', '--seeds', '0'],
  ]) {
    const run = cli(...args);
    assert.is(run.status, 2, args.join(' '));
    assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  }
});

test.run();
