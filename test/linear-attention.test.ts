// Linear attention (lib/ops/linear-attention.ts, models/linear-attention.ts) against a quadratic
// reference written here: A = φ(Q)φ(K)ᵀ masked multiplicatively (causal, padding), o = A V / (A·1 +
// eps), in float64, forward and gradients; finite-difference gradchecks of the causal primitive;
// causal never reads the future, padding never leaks, a KV cache (the RNN form) equals the full
// forward, float32 long sequences stay accurate, causal memory grows linearly in n, and a one-block
// LM learns.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cat, manualSeed, noGrad, ones, rand, randn, tensor, type Tensor } from '../lib/index.ts';
import { causalLinearAttention, linearAttention } from '../lib/index.ts';
import { setStoragePoolLimit, storagePoolStats } from '../lib/index.ts';
import { AdamW, type Linear } from '../nn/index.ts';
import { checkConfig } from '../models/config.ts';
import { makeTask } from '../data/index.ts';
import { featureMaps, LinearAttention, type FeatureMap } from '../models/linear-attention.ts';
import { makeMixer } from '../models/mixers.ts';
import type { MixerOptions } from '../models/mixer.ts';
import { gradcheck } from './helpers/gradcheck.ts';
import { assertPaddingIsolated } from './helpers/mixer-checks.ts';
import { TinyLM, trainTinyLM } from './helpers/train-lm.ts';

const f64 = { dtype: 'float64' } as const;
const EPS = 1e-6;
const maps: FeatureMap[] = ['elu', 'relu'];
const positive = (shape: number[]) => rand(shape, f64).add(0.1); // φ(·) > 0, away from kinks
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length !== b.length
    ? Infinity
    : Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/**
 * The quadratic form: (..., n, n) weights φ(q)ᵀφ(k) times a 1/0 mask, each row divided by its sum +
 * eps.
 */
function quadratic(phiQ: Tensor, phiK: Tensor, v: Tensor, mask: Tensor | null, eps = EPS): Tensor {
  const s = phiQ.matmul(phiK.transpose(-2, -1)); // (..., n, n)
  const a = mask ? s.mul(mask) : s;
  return a.matmul(v).div(a.sum(-1, true).add(eps)); // (..., n, dv)
}

/** (B, 1, T, T) 1/0: key j visible to query i (j ≤ i if causal, keep_j = 1). */
function visible(T: number, causal: boolean, keep?: Tensor | null, B = 1): Tensor {
  const tri = causal ? ones([T, T], f64).tril() : ones([T, T], f64); // (T, T)
  return keep ? tri.mul(keep.to('float64').reshape([B, 1, 1, T])) : tri.reshape([1, 1, T, T]);
}

/** The mixer written from its weights with the quadratic form. */
function reference(
  m: LinearAttention,
  x: Tensor,
  { causal = false, keep }: MixerOptions = {},
): Tensor {
  const [B, T, C] = x.shape;
  const hs = C / m.nHead;
  const lin = (layer: Linear) =>
    x.matmul(layer.weight.T).add(layer.bias!).reshape([B, T, m.nHead, hs]).permute([0, 2, 1, 3]); // (B, nh, T, hs)
  const phi = featureMaps[m.featureMap];
  const y = quadratic(
    phi(lin(m.query)),
    phi(lin(m.key)),
    lin(m.value),
    visible(T, causal, keep, B),
  ); // (B, nh, T, hs)
  return y.permute([0, 2, 1, 3]).reshape([B, T, C]).matmul(m.proj.weight.T).add(m.proj.bias!); // (B, T, C)
}

/** ∂ sum(f() ⊙ r) for each tensor in `wrt`. */
function grads(wrt: Tensor[], f: () => Tensor, r: Tensor): number[][] {
  for (const t of wrt) t.grad = null;
  f().mul(r).sum().backward();
  return wrt.map((t) => Array.from(t.grad?.data ?? []));
}

const make = (featureMap: FeatureMap, nHead = 2) =>
  makeMixer(
    checkConfig('test', {
      vocabSize: 8,
      blockSize: 8,
      nLayer: 1,
      nHead,
      nEmbd: 6,
      featureMap,
      attention: 'linear',
    }),
  ) as LinearAttention;

test('causalLinearAttention: gradcheck in float64 (eps 1e-6 and 0.5, d ≠ dv, padded keys, 3-D)', () => {
  manualSeed(1);
  for (const eps of [EPS, 0.5]) {
    const k = positive([2, 2, 5, 3]);
    k.data.fill(0, 3, 9); // keys 1 and 2 of the first head are padding (φ(k) = 0)
    const check = gradcheck(
      (q, kk, v) => causalLinearAttention(q, kk, v, eps),
      [positive([2, 2, 5, 3]), k, randn([2, 2, 5, 4], f64)],
    );
    assert.ok(check.ok, `eps ${eps}: ${check.worst}`);
  }
  const check = gradcheck(
    (q, k, v) => causalLinearAttention(q, k, v),
    [positive([3, 6, 2]), positive([3, 6, 2]), randn([3, 6, 5], f64)],
  );
  assert.ok(check.ok, check.worst);
});

for (const causal of [true, false]) {
  test(`linearAttention (${causal ? 'causal' : 'bidirectional'}, padded keys): forward and gradients equal the quadratic reference`, () => {
    manualSeed(2);
    const keep = tensor(
      [
        [1, 1, 0, 1, 1, 0],
        [0, 0, 1, 1, 1, 1],
      ],
      f64,
    );
    const zeroed = keep.reshape([2, 1, 6, 1]); // padding zeroes φ(k) and v
    const [q, k, v] = [
      positive([2, 3, 6, 4]),
      positive([2, 3, 6, 4]),
      randn([2, 3, 6, 5], f64),
    ].map((t) => t.requiresGrad_());
    const ours = () => linearAttention(q, k.mul(zeroed), v.mul(zeroed), { causal });
    const theirs = () => quadratic(q, k, v, visible(6, causal, keep, 2));
    assert.ok(maxDiff(ours().data, theirs().data) < 1e-12, 'forward differs');
    const r = randn([2, 3, 6, 5], f64);
    const [a, b] = [grads([q, k, v], ours, r), grads([q, k, v], theirs, r)];
    a.forEach((g, i) =>
      assert.ok(maxDiff(g, b[i]) < 1e-9, `gradient ${i} differs by ${maxDiff(g, b[i])}`),
    );
    if (causal) {
      const row = ours().data.subarray(6 * 5 * 3, 6 * 5 * 3 + 10); // batch 1, head 0, queries 0 and 1: no visible key
      assert.equal(Array.from(row), new Array(10).fill(0), 'a row with no visible key is not 0');
      assert.ok(
        a.every((g) => g.every(Number.isFinite)),
        'a gradient is not finite',
      );
    } else {
      const check = gradcheck(
        (qq, kk, vv) => linearAttention(qq, kk, vv),
        [positive([2, 5, 3]), positive([2, 5, 3]), randn([2, 5, 2], f64)],
      );
      assert.ok(check.ok, check.worst);
    }
  });
}

const keep = tensor([
  [1, 1, 1, 1, 1],
  [0, 1, 1, 0, 1],
]); // row 1: key 0 padded, so its causal query 0 sees nothing
for (const featureMap of maps) {
  for (const [label, options] of [
    ['causal + padding', { causal: true, keep }],
    ['bidirectional + padding', { keep }],
    ['bidirectional', {}],
  ] as const) {
    test(`LinearAttention ${featureMap} (${label}): forward and gradients equal the quadratic reference (float64)`, () => {
      manualSeed(3);
      const m = make(featureMap).to('float64');
      const x = randn([2, 5, 6], f64).requiresGrad_();
      assert.ok(
        maxDiff(m.forward(x, options).data, reference(m, x, options).data) < 1e-12,
        'forward differs',
      );
      const r = randn([2, 5, 6], f64);
      const wrt = [x, ...m.parameters()];
      const [a, b] = [
        grads(wrt, () => m.forward(x, options), r),
        grads(wrt, () => reference(m, x, options), r),
      ];
      a.forEach((g, i) =>
        assert.ok(maxDiff(g, b[i]) < 1e-9, `gradient ${i} differs by ${maxDiff(g, b[i])}`),
      );
      if ('causal' in options)
        assert.equal(
          Array.from(m.forward(x, options).data.subarray(30, 36)),
          Array.from(m.proj.bias!.data),
        );
    });
  }

  test(`LinearAttention ${featureMap}: causal outputs at positions ≤ t ignore every later token`, () => {
    manualSeed(4);
    const m = make(featureMap).to('float64');
    const x = randn([2, 6, 6], f64);
    const before = noGrad(() => m.forward(x, { causal: true }));
    for (let t = 0; t < 5; t++) {
      const changed = tensor(new Float64Array(x.data), { shape: [2, 6, 6] });
      for (let b = 0; b < 2; b++)
        for (let i = (b * 6 + t + 1) * 6; i < (b + 1) * 36; i++) changed.data[i] += 2;
      const after = noGrad(() => m.forward(changed, { causal: true }));
      for (let b = 0; b < 2; b++) {
        const rows = (y: Tensor, end: number) =>
          Array.from(y.data.subarray(b * 36, b * 36 + end * 6));
        assert.equal(rows(after, t + 1), rows(before, t + 1), `position ≤ ${t} changed`);
        assert.not.equal(rows(after, 6), rows(before, 6), 'the future changed nothing at all');
      }
    }
  });

  test(`LinearAttention ${featureMap}: padded tokens never reach real positions (causal and bidirectional)`, () => {
    manualSeed(5);
    const m = make(featureMap).to('float64');
    assertPaddingIsolated(
      m,
      randn([2, 5, 6], f64),
      tensor([
        [1, 0, 1, 1, 0],
        [1, 1, 1, 1, 0],
      ]),
    );
  });

  test(`LinearAttention ${featureMap}: a KV cache of running sums equals the full forward`, () => {
    manualSeed(6);
    const m = make(featureMap).to('float64');
    const x = randn([2, 6, 6], f64);
    const pieces = [
      [0, 2],
      [2, 1],
      [3, 3],
    ];
    for (const o of [
      { causal: true },
      {
        causal: true,
        keep: tensor([
          [1, 1, 0, 1, 1, 1],
          [0, 1, 1, 1, 0, 1],
        ]),
      },
    ]) {
      const full = noGrad(() => m.forward(x, o));
      const state = m.newState();
      const out = pieces.map(([s, n]) =>
        noGrad(() =>
          m.forward(x.narrow(1, s, n), { ...o, keep: o.keep?.narrow(1, 0, s + n), state }),
        ),
      );
      assert.ok(maxDiff(cat(out, 1).data, full.data) < 1e-12, 'cached decoding differs');
      assert.equal(state.kv!.shape, [2, 2, 3, 3], 'the cache is not the (hs × hs) state');
    }
    // bidirectional: the last piece sees every key, as in the full forward
    const state = m.newState();
    noGrad(() => m.forward(x.narrow(1, 0, 4), { state }));
    const last = noGrad(() => m.forward(x.narrow(1, 4, 2), { state }));
    assert.ok(maxDiff(last.data, noGrad(() => m.forward(x)).narrow(1, 4, 2).data) < 1e-12);
  });
}

test('errors name the op and the bad value', () => {
  const q = rand([1, 4, 3]);
  assert.throws(
    () => causalLinearAttention(q, rand([1, 4, 2]), rand([1, 4, 3])),
    /causalLinearAttention: expected φ\(q\), φ\(k\).*\[1,4,2\]/,
  );
  assert.throws(() => linearAttention(q, q, rand([1, 5, 3])), /linearAttention: expected/);
  assert.throws(() => causalLinearAttention(q, q, rand([1, 4, 3], f64)), /dtype mismatch/);
  assert.throws(
    () => causalLinearAttention(q, q, q, -1),
    /eps must be a finite number ≥ 0, got -1/,
  );
  assert.throws(() => new LinearAttention(6, 4), /nEmbd 6 is not divisible by nHead 4/);
  assert.throws(
    () => new LinearAttention(6, 2, 'exp' as FeatureMap),
    /featureMap must be elu or relu, got 'exp'/,
  );
  assert.throws(
    () => make('elu').forward(rand([1, 2, 6]), { memory: rand([1, 3, 6]) }),
    /LinearAttention: cross-attention/,
  );
});

// Values ≈ 100: running sums reach ~2e5, where float32 running sums would drift by ~1e-6 relative
// (measured: 1.2e-6); in doubles the only error left is the output's own float32 rounding.
test('float32 at n = 4096: prefix sums in doubles keep the causal output within 2e-7 of float64', () => {
  manualSeed(7);
  const [q, k, v] = [
    rand([1, 2, 4096, 16]),
    rand([1, 2, 4096, 16]),
    randn([1, 2, 4096, 16]).add(100),
  ];
  const y32 = causalLinearAttention(q, k, v);
  const y64 = causalLinearAttention(q.double(), k.double(), v.double());
  assert.is(y32.dtype, 'float32');
  const scale = Array.from(y64.data).reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const relative = maxDiff(y32.data, y64.data) / scale;
  assert.ok(relative < 2e-7, `max relative diff ${relative}`);
});

// gc() from V8 without a command-line flag, and array buffers freed by the collector itself (not by
// a background sweeper that could return memory in the middle of a measurement)
setFlagsFromString('--expose-gc');
setFlagsFromString('--no-concurrent-array-buffer-sweeping');
const gc = runInNewContext('gc') as () => void;

/**
 * ArrayBuffer bytes a causal forward + backward allocates (all still live), B = 1, h = 1, d = dv =
 * 16, float32.
 */
function causalBytes(n: number): number {
  manualSeed(8);
  const [q, k] = [
    rand([1, 1, n, 16]).add(0.1).requiresGrad_(),
    rand([1, 1, n, 16]).add(0.1).requiresGrad_(),
  ];
  const [v, dy] = [randn([1, 1, n, 16]).requiresGrad_(), randn([1, 1, n, 16])];
  gc();
  const before = process.memoryUsage().arrayBuffers;
  causalLinearAttention(q, k, v).backward(dy); // y, then dq, dk, dv (the leaves' .grad), D (n doubles)
  const used = process.memoryUsage().arrayBuffers - before;
  assert.ok(q.grad && k.grad && v.grad, 'no gradient'); // the gradients stay live until measured
  return used;
}

test('memory grows linearly: causal forward + backward at n = 4096 stores no prefix state and no n×n matrix', () => {
  const { limitBytes } = storagePoolStats();
  setStoragePoolLimit(0); // every array fresh, so each one is counted
  const runs = [0, 1, 2].map(() => [causalBytes(2048), causalBytes(4096)]);
  setStoragePoolLimit(limitBytes / 2 ** 20);
  const [small, large] = [0, 1].map((i) => Math.max(...runs.map((r) => r[i]))); // a collection mid-run only lowers a count
  console.log(`  causal fwd+bwd bytes: n=2048 ${small}, n=4096 ${large}`);
  const square = 4096 * 4096 * 4; // one n×n float32 matrix: 64 MiB
  const prefixStates = 4096 * 16 * 16 * 4; // every S_i (n, d, dv) in float32: 4 MiB
  assert.ok(large < prefixStates && large < square / 32, `n = 4096 allocated ${large} bytes`);
  assert.ok(
    large >= 4 * 4096 * 16 * 4,
    'fewer bytes than y and the three gradients: the measurement is broken',
  );
  assert.ok(
    large / small > 1.8 && large / small < 2.2,
    `doubling n multiplied the bytes by ${(large / small).toFixed(2)}`,
  );
});

// Sorting L symbols: each answer token depends on the counts of the input symbols, a sum over
// positions — what linear attention's running sums hold. Chance is ≈ ln 6 = 1.79 per answer token.
const L = 6;
for (const featureMap of maps) {
  test(`a one-block causal LM with ${featureMap} linear attention learns to sort ${L} symbols (120 AdamW steps)`, () => {
    manualSeed(9);
    const task = makeTask('sort', { minLen: L, maxLen: L, numSymbols: 6, seed: 1 });
    const c = checkConfig('TinyLM', {
      vocabSize: task.vocabSize,
      blockSize: 2 * L + 2,
      nLayer: 1,
      nHead: 4,
      nEmbd: 32,
      attention: 'linear',
      featureMap,
    });
    const model = new TinyLM(c.vocabSize, c.blockSize, c.nEmbd, () => makeMixer(c));
    const { first, last } = trainTinyLM(
      model,
      task,
      new AdamW(model.namedParameters(), { lr: 1e-2 }),
      120,
    );
    console.log(
      `  ${featureMap}: loss ${first.toFixed(3)} → ${last.toFixed(4)} (mean of the last 10 steps)`,
    );
    assert.ok(first > 2, `initial loss ${first}`);
    assert.ok(last < 0.3, `${featureMap}: mean loss of the last 10 steps ${last.toFixed(4)} ≥ 0.3`);
  });
}

test.run();
