// Sparse attention (lib/ops/sparse.ts, models/sparse-attention.ts): the index tables against
// hand-written rows; the three primitives by finite differences in float64; the O(T·W) path against
// the O(T·S) masked-dense reference (forward and gradients) for every pattern, causal and
// bidirectional, with padding; causal outputs never read the future; padding never leaks; the KV
// cache equals a full forward; the mixer's cached tables give the reference's outputs at every
// length; memory of local attention grows like n·w (bytes counted by a backend that wraps every
// kernel); a one-block LM trains with the Su union where a narrow band cannot.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  manualSeed,
  randn,
  registerBackend,
  setBackend,
  tensor,
  type Backend,
  type Tensor,
} from '../lib/index.ts';
import { cpuBackend } from '../lib/backend/cpu.ts';
import * as sparseCpu from '../lib/backend/cpu/sparse.ts';
import { gatherApply, gatherScores, scatterApply } from '../lib/ops/sparse.ts';
import { AdamW, type Linear } from '../nn/index.ts';
import { checkConfig } from '../models/config.ts';
import { makeTask } from '../data/index.ts';
import { makeMixer } from '../models/mixers.ts';
import {
  maskedDenseAttention,
  patternIndex,
  SparseAttention,
  sparseAttention,
  type PatternOptions,
  type SparseKind,
  type SparsePattern,
} from '../models/sparse-attention.ts';
import { gradcheck } from './helpers/gradcheck.ts';
import { TinyLM, trainTinyLM } from './helpers/train-lm.ts';

const f64 = { dtype: 'float64' } as const;
const kinds: SparseKind[] = ['local', 'atrous', 'strided', 'fixed', 'sparse'];
const maxDiff = (a: Tensor, b: Tensor) =>
  a.size !== b.size
    ? Infinity
    : Array.from(a.data).reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);
const ids = (values: number[], shape: number[]) => tensor(new Int32Array(values), { shape });
/** The rows of a (T, W) table without the −1 slots. */
const rowsOf = (idx: Tensor) =>
  Array.from({ length: idx.shape[0] }, (_, t) =>
    Array.from(idx.data.subarray(t * idx.shape[1], (t + 1) * idx.shape[1])).filter((j) => j >= 0),
  );

// ---- index tables, n = 8, written out by hand from the definitions in models/sparse-attention.ts
// ----

const handTables: [SparsePattern, number[][], number[][]][] = [
  // [pattern, bidirectional rows, causal rows]
  [
    { kind: 'local', window: 1, rate: 1 },
    [
      [0, 1],
      [0, 1, 2],
      [1, 2, 3],
      [2, 3, 4],
      [3, 4, 5],
      [4, 5, 6],
      [5, 6, 7],
      [6, 7],
    ],
    [[0], [0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7]],
  ],
  [
    { kind: 'atrous', window: 0, rate: 3 },
    [
      [0, 3, 6],
      [1, 4, 7],
      [2, 5],
      [0, 3, 6],
      [1, 4, 7],
      [2, 5],
      [0, 3, 6],
      [1, 4, 7],
    ],
    [[0], [1], [2], [0, 3], [1, 4], [2, 5], [0, 3, 6], [1, 4, 7]],
  ],
  [
    { kind: 'sparse', window: 1, rate: 3 },
    [
      [0, 1, 3, 6],
      [0, 1, 2, 4, 7],
      [1, 2, 3, 5],
      [0, 2, 3, 4, 6],
      [1, 3, 4, 5, 7],
      [2, 4, 5, 6],
      [0, 3, 5, 6, 7],
      [1, 4, 6, 7],
    ],
    [[0], [0, 1], [1, 2], [0, 2, 3], [1, 3, 4], [2, 4, 5], [0, 3, 5, 6], [1, 4, 6, 7]],
  ],
  [
    { kind: 'strided', window: 0, rate: 3 },
    [
      [0, 1, 2, 3, 6],
      [0, 1, 2, 3, 4, 7],
      [0, 1, 2, 3, 4, 5],
      [0, 1, 2, 3, 4, 5, 6],
      [1, 2, 3, 4, 5, 6, 7],
      [2, 3, 4, 5, 6, 7],
      [0, 3, 4, 5, 6, 7],
      [1, 4, 5, 6, 7],
    ],
    [
      [0],
      [0, 1],
      [0, 1, 2],
      [0, 1, 2, 3],
      [1, 2, 3, 4],
      [2, 3, 4, 5],
      [0, 3, 4, 5, 6],
      [1, 4, 5, 6, 7],
    ],
  ],
  // l = 4, c = ⌈4/4⌉ = 1: the summary cells are 3 and 7
  [
    { kind: 'fixed', window: 0, rate: 4 },
    [
      [0, 1, 2, 3, 7],
      [0, 1, 2, 3, 7],
      [0, 1, 2, 3, 7],
      [0, 1, 2, 3, 7],
      [3, 4, 5, 6, 7],
      [3, 4, 5, 6, 7],
      [3, 4, 5, 6, 7],
      [3, 4, 5, 6, 7],
    ],
    [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [3, 4], [3, 4, 5], [3, 4, 5, 6], [3, 4, 5, 6, 7]],
  ],
];

for (const [pattern, bidirectional, causal] of handTables) {
  test(`${pattern.kind}: index table on n = 8 matches the hand-written rows (causal and bidirectional)`, () => {
    for (const [rows, isCausal] of [
      [bidirectional, false],
      [causal, true],
    ] as const) {
      const idx = patternIndex(pattern, 8, 8, { causal: isCausal });
      assert.equal(rowsOf(idx), rows);
      assert.is(idx.shape[1], Math.max(...rows.map((r) => r.length)), 'W is the widest row');
    }
  });
}

test('index tables: queries after a KV cache, and padded keys emptied per batch row', () => {
  assert.equal(
    rowsOf(patternIndex({ kind: 'local', window: 1, rate: 1 }, 2, 8, { causal: true })),
    [
      [5, 6],
      [6, 7],
    ],
  );
  const keep = tensor([
    [1, 1, 1, 1],
    [0, 1, 1, 0],
  ]);
  const idx = patternIndex({ kind: 'local', window: 1, rate: 1 }, 4, 4, { keep }); // (2, 4, 3)
  assert.equal(idx.shape, [2, 4, 3]);
  assert.equal(Array.from(idx.data.subarray(12)), [-1, 1, -1, -1, 1, 2, 1, 2, -1, 2, -1, -1]);
});

// ---- primitives: finite differences in float64; empty slots, repeated keys, T ≠ S, per-batch
// tables ----

const idx = ids([0, 4, -1, 1, 1, 2, -1, -1, -1, 3, -1, 0, 4, 2, 1, 0, 0, 0], [2, 3, 3]); // (B=2, T=3, W=3), S=5
const primitiveCases: [string, () => Tensor[], (...xs: Tensor[]) => Tensor][] = [
  [
    'gatherScores',
    () => [randn([2, 2, 3, 4], f64), randn([2, 2, 5, 4], f64)],
    (q, k) => gatherScores(q, k, idx),
  ],
  [
    'gatherScores (−∞ fill) → softmax',
    () => [randn([2, 2, 3, 4], f64), randn([2, 2, 5, 4], f64)],
    (q, k) => gatherScores(q, k, idx, -Infinity).softmax(-1),
  ],
  [
    'gatherApply',
    () => [randn([2, 2, 3, 3], f64), randn([2, 2, 5, 4], f64)],
    (p, v) => gatherApply(p, v, idx),
  ],
  [
    'scatterApply',
    () => [randn([2, 2, 3, 3], f64), randn([2, 2, 3, 4], f64)],
    (p, x) => scatterApply(p, x, idx, 5),
  ],
  [
    'sparseAttention (shared table)',
    () => [randn([1, 2, 6, 3], f64), randn([1, 2, 6, 3], f64), randn([1, 2, 6, 3], f64)],
    (q, k, v) =>
      sparseAttention(
        q,
        k,
        v,
        patternIndex({ kind: 'sparse', window: 1, rate: 3 }, 6, 6, { causal: true }),
      ),
  ],
];
for (const [name, inputs, f] of primitiveCases) {
  test(`gradcheck ${name}`, () => {
    manualSeed(3);
    const { ok, worst } = gradcheck(f, inputs());
    assert.ok(ok, worst);
  });
}

test('primitives check their operands and every table entry', () => {
  const q = randn([1, 1, 3, 2]),
    k = randn([1, 1, 4, 2]);
  assert.throws(
    () => gatherScores(q, k, ids([0, 4, 1], [3, 1])),
    /idx entry 4 at 1 is outside \[−1, 4\)/,
  );
  assert.throws(() => gatherScores(q, k, tensor([[0], [1], [2]])), /idx must be int32/);
  assert.throws(
    () => gatherScores(q, randn([1, 1, 4, 3]), ids([0, 1, 2], [3, 1])),
    /same B, nh, d/,
  );
  assert.throws(
    () => gatherApply(randn([1, 1, 3, 2]), k, ids([0, 1, 2], [3, 1])),
    /do not match idx/,
  );
  const m = new SparseAttention(4, 2, { kind: 'atrous', window: 0, rate: 2 });
  assert.throws(
    () => m.forward(randn([1, 3, 4]), { memory: randn([1, 2, 4]) }),
    /SparseAttention \(atrous\): cross-attention/,
  );
  assert.throws(
    () => new SparseAttention(4, 2, { kind: 'fixed', window: 0, rate: 0 }),
    /rate must be a positive integer/,
  );
});

// ---- the O(T·W) path equals the O(T·S) masked-dense reference, forward and gradients ----

const equivalence: SparsePattern[] = [
  { kind: 'local', window: 2, rate: 1 },
  { kind: 'atrous', window: 0, rate: 3 },
  { kind: 'sparse', window: 1, rate: 4 },
  { kind: 'strided', window: 0, rate: 3 },
  { kind: 'fixed', window: 0, rate: 5 }, // c = 2; n = 11 is not a multiple of l
];
/** Output and the gradients of q, k, v under a randomly weighted sum. */
function valueAndGrads(
  f: (q: Tensor, k: Tensor, v: Tensor) => Tensor,
  xs: Tensor[],
  r: Tensor,
): Tensor[] {
  const leaves = xs.map((x) => x.detach().requiresGrad_());
  const y = f(leaves[0], leaves[1], leaves[2]);
  y.mul(r).sum().backward();
  return [y.detach(), ...leaves.map((l) => l.grad!)];
}
for (const pattern of equivalence) {
  for (const causal of [false, true]) {
    test(`${pattern.kind} (${causal ? 'causal' : 'bidirectional'}): efficient path = masked-dense reference, forward and gradients`, () => {
      manualSeed(11);
      const xs = [0, 1, 2].map(() => randn([2, 2, 11, 3], f64)); // (B, nh, n, hs)
      const r = randn([2, 2, 11, 3], f64);
      // row 1 pads its first key (so causal query 0 sees nothing there) and its last two
      for (const keep of [
        null,
        tensor([
          [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
          [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
        ]),
      ]) {
        const idx = patternIndex(pattern, 11, 11, { causal, keep });
        const fast = valueAndGrads((q, k, v) => sparseAttention(q, k, v, idx), xs, r);
        const slow = valueAndGrads(
          (q, k, v) => maskedDenseAttention(q, k, v, pattern, { causal, keep }),
          xs,
          r,
        );
        ['output', 'dq', 'dk', 'dv'].forEach((name, i) => {
          const diff = maxDiff(fast[i], slow[i]);
          assert.ok(diff < 1e-12, `${name}${keep ? ' (padded)' : ''}: max |Δ| = ${diff}`);
        });
      }
    });
  }
}

// ---- the mixer: no future, no padding, KV cache ----

const mixerPattern = (kind: SparseKind): SparsePattern => ({ kind, window: 2, rate: 3 });
const mixer = (kind: SparseKind) => {
  manualSeed(5);
  return new SparseAttention(8, 2, mixerPattern(kind)).to('float64');
};
const withRows = (x: Tensor, from: number, to: number, y: Tensor, b?: number) => {
  const out = x.clone().detach();
  const [, T, C] = x.shape;
  for (let bb = 0; bb < x.shape[0]; bb++) {
    if (b !== undefined && bb !== b) continue;
    out.data.set(y.data.subarray((bb * T + from) * C, (bb * T + to) * C), (bb * T + from) * C);
  }
  return out;
};

for (const kind of kinds) {
  test(`${kind}: causal outputs at positions ≤ t do not change when tokens after t do`, () => {
    const m = mixer(kind);
    const x = randn([2, 12, 8], f64),
      t = 5;
    const y = m.forward(x, { causal: true });
    const y2 = m.forward(withRows(x, t + 1, 12, randn([2, 12, 8], f64)), { causal: true });
    assert.is(maxDiff(y.narrow(1, 0, t + 1), y2.narrow(1, 0, t + 1)), 0);
    assert.ok(
      maxDiff(y.narrow(1, t + 1, 11 - t), y2.narrow(1, t + 1, 11 - t)) > 1e-3,
      'later outputs do change',
    );
  });

  test(`${kind}: padded tokens never reach real positions (causal and bidirectional)`, () => {
    const m = mixer(kind);
    const keep = tensor([Array(12).fill(1), [...Array(8).fill(1), 0, 0, 0, 0]]);
    const x = randn([2, 12, 8], f64);
    const x2 = withRows(x, 8, 12, randn([2, 12, 8], f64), 1);
    for (const causal of [false, true]) {
      const [y, y2] = [m.forward(x, { causal, keep }), m.forward(x2, { causal, keep })];
      assert.is(maxDiff(y.narrow(1, 0, 8), y2.narrow(1, 0, 8)), 0);
      assert.ok(y.data.every(Number.isFinite));
    }
  });

  test(`${kind}: KV-cache decoding (4 tokens, then 1 at a time) equals the full causal forward`, () => {
    const m = mixer(kind);
    const x = randn([2, 10, 8], f64);
    const full = m.forward(x, { causal: true });
    const state = m.newState();
    const parts = [m.forward(x.narrow(1, 0, 4), { causal: true, state })];
    for (let t = 4; t < 10; t++) parts.push(m.forward(x.narrow(1, t, 1), { causal: true, state }));
    const diffs = parts.map((p, i) => maxDiff(p, full.narrow(1, i === 0 ? 0 : i + 3, p.shape[1])));
    assert.ok(Math.max(...diffs) < 1e-12, `max |Δ| per step ${diffs}`);
  });
}

/** The mixer written from its weights with the O(T·S) masked-dense reference. */
function denseMixer(m: SparseAttention, x: Tensor, options: PatternOptions): Tensor {
  const [B, T, C] = x.shape;
  const heads = (layer: Linear) =>
    layer
      .forward(x)
      .reshape([B, T, m.nHead, C / m.nHead])
      .transpose(1, 2); // (B, nh, T, hs)
  const y = maskedDenseAttention(heads(m.query), heads(m.key), heads(m.value), m.pattern, options); // (B, nh, T, hs)
  return m.proj.forward(y.transpose(1, 2).reshape([B, T, C])); // (B, T, C)
}

test('SparseAttention reuses its index table per shape, keeps the last 4, and every length equals the masked-dense reference', () => {
  const m = mixer('sparse');
  const x = randn([2, 12, 8], f64);
  const keep = tensor([Array(12).fill(1), [0, ...Array(9).fill(1), 0, 0]]);
  const first = m.forward(x, { causal: true });
  assert.is(maxDiff(m.forward(x, { causal: true }), first), 0);
  assert.equal([...m.tables.keys()], ['12,12,true']);
  // 5 shapes: the first is dropped; padding is applied to the cached table, never stored in it
  for (const [T, causal] of [
    [7, true],
    [12, false],
    [9, true],
    [5, false],
    [12, true],
  ] as const) {
    const xt = x.narrow(1, 0, T);
    for (const options of [{ causal }, { causal, keep: keep.narrow(1, 0, T) }]) {
      const diff = maxDiff(m.forward(xt, options), denseMixer(m, xt, options));
      assert.ok(
        diff < 1e-12,
        `T = ${T}, ${causal ? 'causal' : 'bidirectional'}${options.keep ? ', padded' : ''}: max |Δ| = ${diff}`,
      );
    }
  }
  assert.equal([...m.tables.keys()], ['12,12,false', '9,9,true', '5,5,false', '12,12,true']);
  assert.is(maxDiff(m.forward(x, { causal: true }), first), 0);
});

test('makeMixer: one sparse mixer per attention name, reading window and rate from the config', () => {
  for (const kind of kinds) {
    const c = checkConfig('test', {
      vocabSize: 5,
      blockSize: 9,
      nLayer: 1,
      nHead: 2,
      nEmbd: 8,
      attention: kind,
      window: 3,
      rate: 2,
    });
    const m = makeMixer(c) as SparseAttention;
    assert.equal(m.pattern, { kind, window: 3, rate: 2 });
    assert.equal(m.forward(randn([2, 9, 8]), { causal: true }).shape, [2, 9, 8]);
  }
});

// ---- memory: a backend that wraps every kernel (the sparse ones included) and sums the bytes it
// returns ----

const counter = { bytes: 0, calls: new Map<string, number>() };
const countBytes = (out: unknown): number =>
  ArrayBuffer.isView(out)
    ? out.byteLength
    : Object.values(out as object).reduce(
        (s: number, v) => s + (ArrayBuffer.isView(v) ? v.byteLength : 0),
        0,
      );
const counted =
  (name: string, f: (...args: unknown[]) => unknown) =>
  (...args: unknown[]) => {
    const out = f(...args);
    counter.bytes += countBytes(out);
    counter.calls.set(name, (counter.calls.get(name) ?? 0) + 1);
    return out;
  };
const { gatherScores: gs, gatherApply: ga, scatterApply: sa } = sparseCpu;
const kernels: Record<string, unknown> = {
  ...cpuBackend,
  gatherScores: gs,
  gatherApply: ga,
  scatterApply: sa,
};
const entries = Object.entries(kernels).map(([name, f]) => [
  name,
  typeof f === 'function' ? counted(name, f as never) : 'counting',
]);
registerBackend(Object.fromEntries(entries) as Backend);

/**
 * Bytes returned by the kernels during one forward + backward of `attend` (tables and masks built
 * outside kernels not included).
 */
function measure(n: number, attend: (q: Tensor, k: Tensor, v: Tensor) => Tensor): number {
  manualSeed(1);
  const [q, k, v] = [0, 1, 2].map(() => randn([1, 2, n, 16]).requiresGrad_()); // (B=1, nh=2, n, hs=16), float32
  setBackend('counting');
  try {
    [counter.bytes, counter.calls] = [0, new Map()];
    attend(q, k, v).sum().backward();
    return counter.bytes;
  } finally {
    setBackend('cpu');
  }
}

test('memory: local attention (w = 32) allocates O(n·w) bytes — far below one n×n matrix, ×2 per doubling of n', () => {
  const local: SparsePattern = { kind: 'local', window: 32, rate: 1 };
  const bytes = [2048, 4096].map((n) => {
    const idx = patternIndex(local, n, n); // (n, 65) int32
    return measure(n, (q, k, v) => sparseAttention(q, k, v, idx)) + idx.data.byteLength;
  });
  assert.ok(
    (counter.calls.get('gatherScores') ?? 0) >= 2 && (counter.calls.get('scatterApply') ?? 0) >= 2,
    'sparse kernels were counted',
  );
  const dense = 4096 * 4096 * 4; // one float32 n×n matrix: 64 MiB
  console.log(
    `  local w=32, B 1, nh 2, hs 16, float32: ${bytes.map((b, i) => `n=${2048 * 2 ** i}: ${(b / 2 ** 20).toFixed(2)} MiB`).join(', ')} (one n×n float32 at 4096: 64 MiB)`,
  );
  assert.ok(bytes[1] < dense / 2, `${bytes[1]} bytes at n = 4096`);
  assert.ok(bytes[1] > 2 * 4096 * 65 * 4, 'at least the scores and weights were counted');
  const ratio = bytes[1] / bytes[0];
  assert.ok(ratio > 1.9 && ratio < 2.1, `doubling n multiplied the bytes by ${ratio.toFixed(3)}`);
});

test('memory: the masked-dense reference, counted the same way, grows ×4 per doubling (the counter sees n²)', () => {
  const local: SparsePattern = { kind: 'local', window: 32, rate: 1 };
  const [b1, b2] = [256, 512].map((n) =>
    measure(n, (q, k, v) => maskedDenseAttention(q, k, v, local)),
  );
  console.log(
    `  masked-dense reference, same shapes: n=256: ${(b1 / 2 ** 20).toFixed(2)} MiB, n=512: ${(b2 / 2 ** 20).toFixed(2)} MiB`,
  );
  assert.ok(b2 / b1 > 3.5, `ratio ${(b2 / b1).toFixed(3)}`);
});

// ---- training: Su's union reaches a key 5 back with a window of 1, a band of 1 cannot ----

// Copy at a fixed length L = 5: the position predicting answer token j sits exactly L after input
// token j, so one layer solves it iff the pattern links offset 5.
function train(pattern: SparsePattern): number {
  manualSeed(7);
  const L = 5;
  const task = makeTask('copy', { minLen: L, maxLen: L, numSymbols: 8, seed: 1 });
  const model = new TinyLM(
    task.vocabSize,
    2 * L + 2,
    32,
    () => new SparseAttention(32, 4, pattern),
  );
  const { first, last } = trainTinyLM(
    model,
    task,
    new AdamW(model.namedParameters(), { lr: 1e-2 }),
    150,
  );
  assert.ok(first > 2, `initial loss ${first}`);
  return last;
}

test('training: sparse (w 1, k 5) learns copy-5 (loss < 0.1); local (w 1) stays near chance (> 1.5)', () => {
  const sparse = train({ kind: 'sparse', window: 1, rate: 5 });
  const local = train({ kind: 'local', window: 1, rate: 1 });
  console.log(
    `  mean loss, last 10 of 150 AdamW steps: sparse ${sparse.toFixed(4)}, local ${local.toFixed(4)}`,
  );
  assert.ok(sparse < 0.1, `sparse: ${sparse}`);
  assert.ok(local > 1.5, `local: ${local}`);
});

test.run();
