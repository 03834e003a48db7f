// Fused softmax attention (lib/ops/fused-attention.ts, lib/backend/cpu/fused-attention.ts) against
// the unfused composite (matmul, + bias and mask, softmax, matmul) in float64 on odd shapes: n = 1,
// lengths across and off the 64-query blocks and 128-key tiles, a KV-cache offset (T < S),
// batches, heads, causal or not, key padding (a fully padded batch row too), windows with sinks,
// ALiBi, log-n; outputs and the gradients of q, k, v, and finite differences. Then
// MultiHeadAttention with setFusedAttention on against off for every position scheme it takes
// (KERPLE and T5 stay unfused), cpu-threads bitwise the CPU kernels, and memory: the fused forward
// + backward allocates O(n), not the n × n matrix.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  backend,
  cat,
  fusedAttention,
  manualSeed,
  noGrad,
  randn,
  tensor,
  type FusedAttentionOptions,
  type Tensor,
} from '../lib/index.ts';
import type { Backend } from '../lib/backend/backend.ts';
import { cpuBackend } from '../lib/backend/cpu.ts';
import { setNumThreads, threadedBackend, threadStats } from '../lib/backend/threads.ts';
import {
  MultiHeadAttention,
  getFusedAttention,
  setFusedAttention,
  withFusedAttention,
} from '../models/attention.ts';
import type { AttentionSettings } from '../models/score-modifiers.ts';
import { gradcheck } from './helpers/gradcheck.ts';

const f64 = { dtype: 'float64' } as const;
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length !== b.length
    ? Infinity
    : Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** The (B, nh, T, S) additive bias + mask the options describe, and log-n's (B, 1, T, 1) factor. */
function scoreTerms(B: number, nh: number, T: number, S: number, o: FusedAttentionOptions) {
  const { causal = false, keep = null, window = null, sinks = 0, slopes = null, logn = null } = o;
  const bias = new Float64Array(B * nh * T * S);
  const kappa = new Float64Array(B * T);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const i = S - T + t;
      let seen = 0;
      for (let j = 0; j < S; j++) {
        const inWindow = window === null || Math.abs(i - j) <= window || j < sinks;
        const visible = inWindow && (!causal || j <= i) && (!keep || keep.data[b * S + j] !== 0);
        if (visible) seen++;
        for (let h = 0; h < nh; h++)
          bias[((b * nh + h) * T + t) * S + j] = visible
            ? -(slopes?.[h] ?? 0) * Math.abs(i - j)
            : -Infinity;
      }
      kappa[b * T + t] = logn
        ? Math.max(logn.clamp ? 1 : 0, Math.log(seen) / Math.log(logn.base))
        : 1;
    }
  return {
    bias: tensor(bias, { shape: [B, nh, T, S], ...f64 }),
    kappa: tensor(kappa, { shape: [B, 1, T, 1], ...f64 }),
  };
}

/** softmax(κ·scale·q·kᵀ + bias + mask)·v written with the unfused ops. */
function reference(q: Tensor, k: Tensor, v: Tensor, o: FusedAttentionOptions): Tensor {
  const [B, nh, T, d] = q.shape;
  const { bias, kappa } = scoreTerms(B, nh, T, k.shape[2], o);
  const scale = o.scale ?? 1 / Math.sqrt(d);
  const scores = q.matmul(k.transpose(-2, -1)).mul(scale); // (B, nh, T, S)
  return scores.mul(kappa).add(bias).softmax(-1).matmul(v); // (B, nh, T, dv)
}

interface Case {
  name: string;
  shape: [B: number, nh: number, T: number, S: number, d: number, dv: number];
  options: (B: number, S: number) => FusedAttentionOptions;
}

/** keep (B, S): batch row b pads its last b·3 keys; with `emptyRow`, the last row pads them all. */
function padding(B: number, S: number, emptyRow = false): Tensor {
  const data = new Float64Array(B * S);
  for (let b = 0; b < B; b++)
    for (let j = 0; j < S; j++)
      data[b * S + j] = (emptyRow && b === B - 1) || j >= S - 3 * b ? 0 : 1;
  return tensor(data, { shape: [B, S], ...f64 });
}

const cases: Case[] = [
  { name: 'n = 1', shape: [1, 1, 1, 1, 1, 1], options: () => ({}) },
  { name: 'n = 1 causal', shape: [1, 1, 1, 1, 3, 2], options: () => ({ causal: true }) },
  { name: 'bidirectional, n 7', shape: [2, 3, 7, 7, 5, 3], options: () => ({}) },
  {
    name: 'causal, n 130 (tiles 64 + 64 + 2)',
    shape: [1, 2, 130, 130, 4, 3],
    options: () => ({ causal: true }),
  },
  {
    name: 'causal KV-cache offset T 5 < S 70',
    shape: [2, 2, 5, 70, 3, 4],
    options: () => ({ causal: true }),
  },
  {
    name: 'padding (a fully padded row), bidirectional',
    shape: [3, 2, 9, 9, 4, 2],
    options: (B, S) => ({ keep: padding(B, S, true) }),
  },
  {
    name: 'padding + causal, n 67',
    shape: [2, 2, 67, 67, 3, 3],
    options: (B, S) => ({ causal: true, keep: padding(B, S) }),
  },
  {
    name: 'causal window 5 + 2 sinks, n 80',
    shape: [1, 2, 80, 80, 4, 2],
    options: () => ({ causal: true, window: 5, sinks: 2 }),
  },
  {
    name: 'causal window 10 + 3 sinks, n 300 (key tiles no row of a block sees are skipped)',
    shape: [1, 2, 300, 300, 4, 3],
    options: () => ({ causal: true, window: 10, sinks: 3 }),
  },
  {
    name: 'bidirectional window 20, T 70 < S 260, padding',
    shape: [2, 1, 70, 260, 3, 2],
    options: (B, S) => ({ window: 20, keep: padding(B, S) }),
  },
  {
    name: 'bidirectional window 3, no sinks, padding',
    shape: [2, 1, 11, 11, 2, 3],
    options: (B, S) => ({ window: 3, keep: padding(B, S) }),
  },
  {
    name: 'window wider than the sinks overlap',
    shape: [1, 1, 12, 12, 2, 2],
    options: () => ({ causal: true, window: 2, sinks: 9 }),
  },
  {
    name: 'ALiBi, causal, 3 heads',
    shape: [2, 3, 13, 13, 4, 4],
    options: () => ({ causal: true, slopes: [0.5, 0.25, 0.125] }),
  },
  {
    name: 'log-n (clamped) with padding and a scale',
    shape: [2, 2, 10, 10, 3, 2],
    options: (B, S) => ({
      causal: true,
      keep: padding(B, S),
      logn: { base: 4, clamp: true },
      scale: 0.7,
    }),
  },
  {
    name: 'log-n unclamped, ALiBi, window',
    shape: [1, 2, 20, 20, 2, 2],
    options: () => ({ causal: true, logn: { base: 8, clamp: false }, slopes: [1, 0.3], window: 4 }),
  },
];

for (const c of cases) {
  test(`fused = unfused in float64, forward and gradients: ${c.name}`, () => {
    manualSeed(3);
    const [B, nh, T, S, d, dv] = c.shape;
    const q = randn([B, nh, T, d], f64).requiresGrad_();
    const k = randn([B, nh, S, d], f64).requiresGrad_();
    const v = randn([B, nh, S, dv], f64).requiresGrad_();
    const dy = randn([B, nh, T, dv], f64);
    const options = c.options(B, S);
    const grads = (f: typeof reference) => {
      [q, k, v].forEach((x) => (x.grad = null));
      const y = f(q, k, v, options);
      y.backward(dy);
      return [y, q.grad!, k.grad!, v.grad!];
    };
    const fused = grads(fusedAttention);
    const unfused = grads(reference);
    ['y', 'dq', 'dk', 'dv'].forEach((name, i) => {
      const err = maxDiff(fused[i].data, unfused[i].data);
      assert.ok(err < 1e-12, `${name}: max |fused − unfused| = ${err}`);
    });
  });
}

test('fused attention: finite differences (causal, padding, ALiBi, window)', () => {
  manualSeed(4);
  const keep = padding(2, 6);
  const options = { causal: true, keep, slopes: [0.5, 0.1], window: 3, sinks: 1 };
  const inputs = [randn([2, 2, 6, 3], f64), randn([2, 2, 6, 3], f64), randn([2, 2, 6, 2], f64)];
  const { ok, worst, ops } = gradcheck((q, k, v) => fusedAttention(q, k, v, options), inputs);
  assert.ok(ok, worst);
  assert.equal(ops, ['fusedAttention']);
});

test('fusedAttention: bad shapes and options throw naming the op and the values', () => {
  const [q, k, v] = [randn([1, 2, 3, 4]), randn([1, 2, 5, 4]), randn([1, 2, 5, 6])];
  assert.throws(
    () => fusedAttention(q, randn([1, 2, 5, 3]), v),
    /fusedAttention: expected q .* got q \[1,2,3,4\], k \[1,2,5,3\]/,
  );
  assert.throws(() => fusedAttention(q, k, randn([1, 2, 4, 6])), /fusedAttention: expected/);
  assert.throws(() => fusedAttention(q, k, v.double()), /fusedAttention/);
  assert.throws(
    () => fusedAttention(q, k, v, { keep: randn([2, 5]) }),
    /keep must be \(B, S\) = \[1,5\], got \[2,5\]/,
  );
  assert.throws(
    () => fusedAttention(q, k, v, { window: -1 }),
    /window must be an integer ≥ 0, got -1/,
  );
  assert.throws(() => fusedAttention(q, k, v, { slopes: [1] }), /one slope per head \(2\), got 1/);
  assert.throws(
    () => fusedAttention(q, k, v, { logn: { base: 1, clamp: true } }),
    /logn.base must be ≥ 2, got 1/,
  );
});

/** run(), and how often it called the active backend's fusedAttention kernel. */
function countFused<T>(run: () => T): [T, number] {
  const table = backend();
  const kernel = table.fusedAttention;
  let calls = 0;
  table.fusedAttention = (...args) => (calls++, kernel(...args));
  try {
    return [run(), calls];
  } finally {
    table.fusedAttention = kernel;
  }
}

/** MultiHeadAttention's output and input gradient, fused or not, in float64. */
function attentionRun(settings: AttentionSettings, fused: boolean, keep: Tensor | null) {
  manualSeed(6);
  const mha = new MultiHeadAttention(12, 3, 0, settings).to('float64');
  const x = randn([2, 17, 12], f64).requiresGrad_();
  const dy = randn([2, 17, 12], f64);
  return withFusedAttention(fused, () => {
    const [y, calls] = countFused(() => mha.forward(x, { causal: true, keep }));
    y.backward(dy);
    const weightGrads = mha.parameters().flatMap((p) => Array.from(p.grad?.data ?? []));
    return { y: y.data, dx: x.grad!.data, weightGrads, calls };
  });
}

const settingsCases: [string, AttentionSettings, number][] = [
  ['plain', {}, 1e-12],
  ['RoPE', { position: 'rope' }, 1e-12],
  ['window 4 + 1 sink (always)', { window: 4, sinks: 1, windowed: true }, 1e-12],
  // the unfused path rounds ALiBi's bias and the log-n factor to float32; the kernel does not
  ['ALiBi', { position: 'alibi' }, 1e-5],
  ['log-n', { scale: 'logn', lognBase: 4 }, 1e-5],
];

for (const [name, settings, tol] of settingsCases) {
  test(`MultiHeadAttention with setFusedAttention(true) = unfused: ${name}`, () => {
    const keep = padding(2, 17);
    const [on, off] = [true, false].map((fused) => attentionRun(settings, fused, keep));
    assert.equal([on.calls, off.calls], [1, 0], 'the fused kernel ran with the switch on only');
    assert.ok(maxDiff(on.y, off.y) < tol, `y ${maxDiff(on.y, off.y)}`);
    assert.ok(maxDiff(on.dx, off.dx) < tol, `dx ${maxDiff(on.dx, off.dx)}`);
    assert.ok(maxDiff(on.weightGrads, off.weightGrads) < tol, 'weight gradients');
  });
}

test('with the KV cache (3 tokens, then 1, 2, 1): fused steps = the unfused full forward', () => {
  const cached: AttentionSettings[] = [
    { position: 'rope', window: 2, sinks: 1 },
    { position: 'alibi' },
  ];
  for (const settings of cached) {
    manualSeed(7);
    const mha = new MultiHeadAttention(8, 2, 0, settings).to('float64');
    const x = randn([2, 7, 8], f64);
    const o = { causal: true, inferenceWindow: true };
    const full = noGrad(() => mha.forward(x, o));
    const state = mha.newState();
    withFusedAttention(true, () => {
      const [steps, calls] = countFused(() =>
        [
          [0, 3],
          [3, 1],
          [4, 2],
          [6, 1],
        ].map(([at, n]) => noGrad(() => mha.forward(x.narrow(1, at, n), { ...o, state }))),
      );
      assert.is(calls, 4, 'every step on the fused kernel');
      const err = maxDiff(cat(steps, 1).data, full.data);
      assert.ok(err < 1e-5, `${JSON.stringify(settings)}: ${err}`); // ALiBi: float32 bias unfused
    });
  }
});

test("'auto' (the default) fuses from 512 × 512 scores a group; a bad mode is refused", () => {
  assert.is(getFusedAttention(), 'auto');
  manualSeed(8);
  const mha = new MultiHeadAttention(8, 2);
  const calls = (T: number, S: number) => {
    const x = randn([1, T, 8]);
    const memory = randn([1, S, 8]);
    return countFused(() => noGrad(() => mha.forward(x, { memory })))[1];
  };
  assert.is(calls(64, 64), 0, '64 × 64: unfused');
  assert.is(calls(511, 512), 0, '511 × 512: unfused');
  assert.is(calls(512, 512), 1, '512 × 512: fused');
  assert.is(calls(8, 2 ** 15), 1, '8 × 32768: fused');
  assert.is(
    withFusedAttention(false, () => calls(512, 512)),
    0,
    'false: never',
  );
  assert.is(
    withFusedAttention(true, () => calls(2, 3)),
    1,
    'true: always',
  );
  assert.is(getFusedAttention(), 'auto', 'withFusedAttention restores the mode');
  assert.throws(
    () => setFusedAttention('on' as unknown as boolean),
    /setFusedAttention: expected true, false or 'auto', got on/,
  );
});

test('KERPLE and T5 biases stay on the unfused path (the same bits with the switch on)', () => {
  for (const position of ['kerple', 't5'] as const) {
    const [on, off] = [true, false].map((fused) => attentionRun({ position }, fused, null));
    assert.is(on.calls, 0, `${position}: the fused kernel ran`);
    assert.equal(Array.from(on.y), Array.from(off.y), position);
    assert.equal(Array.from(on.dx), Array.from(off.dx), position);
  }
});

test('cpu-threads (SIMD tiles; split over groups on 2 threads) is bitwise the CPU kernels', () => {
  manualSeed(9);
  const [B, nh, T, S, d, dv] = [2, 3, 130, 200, 28, 5]; // 6 groups, ≥ 2^22 score multiply-adds
  const keep = padding(B, S);
  const dims = { batch: B, heads: nh, T, S, d, dv };
  for (const dtype of ['float32', 'float64'] as const) {
    const [q, k, v, dy] = [
      [T, d],
      [S, d],
      [S, dv],
      [T, dv],
    ].map(([n, w]) => randn([B, nh, n, w], { dtype }).data);
    const mask = {
      scale: 0.3,
      causal: true,
      window: 40,
      sinks: 2,
      keep: keep.data,
      slopes: [0.5, 0.2, 0.1],
      logn: { base: 16, floor: 1 },
    };
    const run = (b: Backend) => {
      const { y, lse } = b.fusedAttention(q, k, v, dims, mask);
      const g = b.fusedAttentionBackward(dy, q, k, v, y, lse, dims, mask);
      return [y, lse, g.dq, g.dk, g.dv];
    };
    const want = run(cpuBackend);
    for (const threads of [1, 2]) {
      setNumThreads(threads);
      const before = threadStats().dispatches;
      const got = run(threadedBackend);
      const pooled = threads > 1 ? 2 : 0; // forward and backward
      assert.is(threadStats().dispatches, before + pooled, `${threads} thread(s): pool jobs`);
      ['y', 'lse', 'dq', 'dk', 'dv'].forEach((name, i) => {
        assert.is(got[i].constructor, want[i].constructor, `${dtype} ${name} dtype`);
        assert.ok(
          got[i].every((x, j) => Object.is(x, want[i][j])),
          `${dtype}, ${threads} thread(s): ${name} differs from the CPU kernel`,
        );
      });
    }
  }
});

// gc() from V8 without a command-line flag; array buffers freed by the collector itself
setFlagsFromString('--expose-gc');
setFlagsFromString('--no-concurrent-array-buffer-sweeping');
const gc = runInNewContext('gc') as () => void;

/** ArrayBuffer bytes of one causal fused forward + backward, B 1, h 1, d = dv = 16, float32. */
function fusedBytes(n: number): number {
  manualSeed(8);
  const [q, k, v] = [0, 1, 2].map(() => randn([1, 1, n, 16]).requiresGrad_());
  const dy = randn([1, 1, n, 16]);
  gc();
  const before = process.memoryUsage().arrayBuffers;
  fusedAttention(q, k, v, { causal: true }).backward(dy);
  const used = process.memoryUsage().arrayBuffers - before;
  assert.ok(q.grad && k.grad && v.grad, 'no gradient'); // live until measured
  return used;
}

test('memory grows linearly: fused causal fwd + bwd at n = 2048 holds no n × n matrix', () => {
  const runs = [0, 1].map(() => [fusedBytes(1024), fusedBytes(2048)]);
  const [small, large] = [0, 1].map((i) => Math.max(...runs.map((r) => r[i])));
  const square = 2048 * 2048 * 4; // one n × n float32 matrix: 16 MiB
  assert.ok(large < square / 8, `n = 2048 allocated ${large} bytes`); // measured: 1.4 MiB
  assert.ok(large >= 7 * 2048 * 16 * 4, 'fewer bytes than y and the gradients: broken measurement');
  assert.ok(large / small > 1.8 && large / small < 2.2, `× ${(large / small).toFixed(2)} for 2n`);
});

test.run();
