// Gradient checks of every op in float64 (central differences), with broadcast shapes for every
// binary op, and a coverage test that fails when a primitive with a gradient runs in no case
// here: coverage is measured from the primitives each case's graph holds (helpers/gradcheck.ts),
// so a rule that only runs inside another op's backward (with grad off) does not count.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  cat,
  causalLinearAttention,
  clamp,
  crossEntropy,
  gatherApply,
  gatherScores,
  scatterApply,
  dropout,
  elu,
  fusedAttention,
  gather,
  indexSelect,
  layerNorm,
  linear,
  logSoftmax,
  manualSeed,
  matmul,
  primitives,
  rand,
  randn,
  rmsNorm,
  softmax,
  stack,
  tensor,
  where,
  type Tensor,
  indexAdd,
  scatterAdd,
  sliceScatter,
} from '../lib/index.ts';
import { gradcheck } from './helpers/gradcheck.ts';

const f64 = { dtype: 'float64' } as const;
const normal = (shape: number[]) => randn(shape, f64);
const positive = (shape: number[]) => rand(shape, f64).add(0.5);
// values kept away from 0 so relu, abs and sign have no kink within eps
const awayFromZero = (shape: number[]) => normal(shape).sign().mul(positive(shape));
const ids = (values: number[], shape = [values.length]) =>
  tensor(new Int32Array(values), { shape });

interface Case {
  name: string;
  inputs: () => Tensor[];
  f: (...xs: Tensor[]) => Tensor;
  tol?: { eps?: number; atol?: number; rtol?: number };
}

const unary = (name: string, f: (x: Tensor) => Tensor, make = normal): Case => ({
  name,
  inputs: () => [make([3, 4])],
  f,
});
const binaryShapes: [number[], number[]][] = [
  [
    [3, 4],
    [3, 4],
  ],
  [
    [3, 1],
    [1, 4],
  ],
  [[4], [2, 3, 4]],
  [[], [2, 3]],
];
const binary = (name: string, f: (a: Tensor, b: Tensor) => Tensor, make = normal): Case[] =>
  binaryShapes.map(([sa, sb]) => ({
    name: `${name} [${sa}]×[${sb}]`,
    inputs: () => [make(sa), make(sb)],
    f,
  }));

const cases: Case[] = [
  unary('neg', (x) => x.neg()),
  unary('exp', (x) => x.exp()),
  unary('log', (x) => x.log(), positive),
  unary('sqrt', (x) => x.sqrt(), positive),
  unary('rsqrt', (x) => x.rsqrt(), positive),
  unary('abs', (x) => x.abs(), awayFromZero),
  unary('relu', (x) => x.relu(), awayFromZero),
  unary('sigmoid', (x) => x.sigmoid()),
  unary('tanh', (x) => x.tanh()),
  unary('erf', (x) => x.erf()),
  unary('pow', (x) => x.pow(2.5), positive),
  { name: 'pow negative exponent', inputs: () => [positive([5])], f: (x) => x.pow(-1.5) },
  unary('square', (x) => x.square()),
  unary('gelu', (x) => x.gelu()),
  unary('gelu tanh', (x) => x.gelu('tanh')),
  unary('silu', (x) => x.silu()),
  unary('elu', (x) => elu(x, 1.3), awayFromZero),
  unary('clamp', (x) => clamp(x, -0.5, 0.7), awayFromZero),
  ...binary('add', (a, b) => a.add(b)),
  ...binary('sub', (a, b) => a.sub(b)),
  ...binary('mul', (a, b) => a.mul(b)),
  ...binary('div', (a, b) => a.div(b), positive),
  ...binary('maximum', (a, b) => a.maximum(b)),
  ...binary('minimum', (a, b) => a.minimum(b)),
  {
    name: 'where broadcast',
    inputs: () => [normal([3, 1]), normal([1, 4])],
    f: (a, b) => where(a.gt(0), a, b),
  },
  { name: 'maskedFill', inputs: () => [normal([3, 4])], f: (x) => x.maskedFill(x.gt(0.3), -2) },
  { name: 'sum all', inputs: () => [normal([2, 3, 4])], f: (x) => x.sum() },
  { name: 'sum dims keepdim', inputs: () => [normal([2, 3, 4])], f: (x) => x.sum([0, -1], true) },
  { name: 'mean dim', inputs: () => [normal([2, 3, 4])], f: (x) => x.mean(1) },
  { name: 'var dim', inputs: () => [normal([2, 5])], f: (x) => x.var(1) },
  { name: 'max dim', inputs: () => [normal([3, 5])], f: (x) => x.max(1) },
  { name: 'min all', inputs: () => [normal([3, 5])], f: (x) => x.min() },
  { name: 'logsumexp', inputs: () => [normal([3, 5])], f: (x) => x.logsumexp(-1) },
  { name: 'matmul 2-D', inputs: () => [normal([3, 4]), normal([4, 5])], f: (a, b) => a.matmul(b) },
  {
    name: 'matmul batch broadcast',
    inputs: () => [normal([2, 1, 3, 4]), normal([3, 4, 2])],
    f: (a, b) => a.matmul(b),
  },
  {
    name: 'matmul matrix × batch',
    inputs: () => [normal([3, 4]), normal([2, 4, 5])],
    f: (a, b) => matmul(a, b),
  },
  {
    name: 'matmul vector',
    inputs: () => [normal([4]), normal([2, 4, 3])],
    f: (a, b) => matmul(a, b),
  },
  {
    name: 'matmul by transpose',
    inputs: () => [normal([2, 3, 4]), normal([2, 5, 4])],
    f: (a, b) => a.matmul(b.transpose(1, 2)),
  },
  {
    name: 'linear (fused bias)',
    inputs: () => [normal([2, 3, 4]), normal([5, 4]), normal([5])],
    f: (x, w, b) => linear(x, w, b),
  },
  {
    name: 'linear relu, no bias',
    inputs: () => [normal([3, 4]), normal([5, 4])],
    f: (x, w) => linear(x, w, null, 'relu'),
  },
  {
    name: 'linear relu (fused bias and relu)',
    inputs: () => [normal([7, 4]), normal([3, 4]), normal([3])],
    f: (x, w, b) => linear(x, w, b, 'relu'),
  },
  { name: 'softmax last', inputs: () => [normal([3, 5])], f: (x) => softmax(x, -1) },
  { name: 'softmax middle', inputs: () => [normal([2, 4, 3])], f: (x) => x.softmax(1) },
  { name: 'logSoftmax', inputs: () => [normal([2, 4, 3])], f: (x) => logSoftmax(x, 1) },
  {
    name: 'layerNorm affine',
    inputs: () => [normal([2, 3, 6]), normal([6]), normal([6])],
    f: (x, w, b) => layerNorm(x, w, b),
  },
  { name: 'layerNorm plain', inputs: () => [normal([4, 5])], f: (x) => layerNorm(x) },
  { name: 'rmsNorm', inputs: () => [normal([3, 6]), normal([6])], f: (x, w) => rmsNorm(x, w) },
  {
    name: 'reshape',
    inputs: () => [normal([2, 6]), normal([3, 4])],
    f: (x, w) => x.reshape([3, -1]).mul(w),
  },
  { name: 'permute', inputs: () => [normal([2, 3, 4])], f: (x) => x.permute([2, 0, 1]) },
  { name: 'expand', inputs: () => [normal([3, 1])], f: (x) => x.expand([2, 3, 4]) },
  { name: 'clone', inputs: () => [normal([3])], f: (x) => x.clone() },
  { name: 'slice step', inputs: () => [normal([4, 7])], f: (x) => x.slice(1, 1, -1, 2) },
  {
    name: 'narrow split chunk',
    inputs: () => [normal([6, 2])],
    f: (x) => cat([x.narrow(0, 1, 2), ...x.split([1, 5]).reverse(), ...x.chunk(4)], 0),
  },
  { name: 'slice then scale', inputs: () => [normal([4, 5])], f: (x) => x.slice(0, 1, 3).mul(2) },
  {
    name: 'sliceScatter',
    inputs: () => [normal([4, 5]), normal([2, 5])],
    f: (x, src) => x.sliceScatter(src, 0, 1, 3),
  },
  {
    name: 'sliceScatter step',
    inputs: () => [normal([4, 7]), normal([4, 3])],
    f: (x, src) => sliceScatter(x, src, 1, 1, -1, 2),
  },
  { name: 'cat', inputs: () => [normal([2, 3]), normal([2, 1])], f: (a, b) => cat([a, b, a], 1) },
  {
    name: 'stack unsqueeze squeeze',
    inputs: () => [normal([3]), normal([3])],
    f: (a, b) => stack([a, b.unsqueeze(0).squeeze()], 1),
  },
  { name: 'cumsum', inputs: () => [normal([3, 4])], f: (x) => x.cumsum(0) },
  {
    name: 'tril triu',
    inputs: () => [normal([2, 3, 3])],
    f: (x) => x.tril(-1).add(x.triu(1).mul(3)),
  },
  {
    name: 'gather',
    inputs: () => [normal([3, 4])],
    f: (x) => x.gather(1, ids([0, 3, 3, 1, 2, 2], [3, 2])),
  },
  {
    name: 'gather repeated rows',
    inputs: () => [normal([3, 4])],
    f: (x) => x.gather(0, ids([2, 2, 0, 1], [1, 4])).square(),
  },
  {
    name: 'indexSelect',
    inputs: () => [normal([5, 3])],
    f: (x) => indexSelect(x, 0, ids([4, 0, 4, 2])),
  },
  {
    name: 'indexSelect repeated columns',
    inputs: () => [normal([5, 3])],
    f: (x) => x.indexSelect(1, ids([1, 1, 0])).square(),
  },
  {
    name: 'scatterAdd (src larger than index)',
    inputs: () => [normal([3, 4]), normal([3, 5])],
    f: (x, src) => x.scatterAdd(0, ids([2, 0, 1, 2, 2, 2, 0, 1], [2, 4]), src),
  },
  {
    name: 'scatterAdd dim 1',
    inputs: () => [normal([2, 3]), normal([2, 4])],
    f: (x, src) => scatterAdd(x, -1, ids([0, 2, 2, 1, 1, 1, 0, 0], [2, 4]), src),
  },
  {
    name: 'indexAdd',
    inputs: () => [normal([5, 3]), normal([4, 3])],
    f: (x, source) => x.indexAdd(0, ids([4, 0, 4, 2]), source),
  },
  {
    name: 'indexAdd dim 1',
    inputs: () => [normal([2, 5]), normal([2, 3])],
    f: (x, source) => indexAdd(x, 1, ids([1, 1, 0]), source),
  },
  {
    name: 'gather 3-D',
    inputs: () => [normal([2, 3, 4])],
    f: (x) => gather(x, 2, ids([0, 3, 1, 1, 2, 0], [2, 3, 1])),
  },
  // float32 rounding makes the function a staircase at 1e-7: a wider step and tolerance
  ...((
    idx = ids([0, 4, -1, 1, 1, 2, -1, -1, -1, 3, -1, 0, 4, 2, 1, 0, 0, 0], [2, 3, 3]),
  ): Case[] => [
    {
      name: 'gatherScores',
      inputs: () => [normal([2, 2, 3, 4]), normal([2, 2, 5, 4])],
      f: (q, k) => gatherScores(q, k, idx),
    },
    {
      name: 'gatherApply',
      inputs: () => [normal([2, 2, 3, 3]), normal([2, 2, 5, 4])],
      f: (p, v) => gatherApply(p, v, idx),
    },
    {
      name: 'scatterApply',
      inputs: () => [normal([2, 2, 3, 3]), normal([2, 2, 3, 4])],
      f: (p, x) => scatterApply(p, x, idx, 5),
    },
  ])(),
  {
    name: 'causalLinearAttention',
    inputs: () => [positive([2, 5, 3]), positive([2, 5, 3]), normal([2, 5, 4])],
    f: (q, k, v) => causalLinearAttention(q, k, v),
  },
  {
    name: 'fusedAttention causal, ALiBi',
    inputs: () => [normal([1, 2, 5, 3]), normal([1, 2, 5, 3]), normal([1, 2, 5, 4])],
    f: (q, k, v) => fusedAttention(q, k, v, { causal: true, slopes: [0.5, 0.25] }),
  },
  {
    name: 'cast',
    inputs: () => [normal([3])],
    f: (x) => x.to('float32').to('float64').mul(x),
    tol: { eps: 1e-3, rtol: 1e-3, atol: 1e-4 },
  },
  {
    name: 'crossEntropy smoothing ignore',
    inputs: () => [normal([4, 5])],
    f: (z) => crossEntropy(z, ids([1, -100, 4, 0]), { labelSmoothing: 0.1 }),
  },
  {
    name: 'crossEntropy (B,T,V)',
    inputs: () => [normal([2, 3, 4])],
    f: (z) => crossEntropy(z, ids([0, 1, 2, 3, 3, 0], [2, 3])),
  },
  {
    name: 'dropout (same seed each call)',
    inputs: () => [normal([4, 4])],
    f: (x) => {
      manualSeed(7);
      return dropout(x, 0.3, true);
    },
  },
];

test('scatterAdd, indexAdd and sliceScatter compute what torch does', () => {
  const x = tensor([
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  const rows = (t: Tensor) =>
    [...Array(t.shape[0]).keys()].map((i) => Array.from(t.data.subarray(i * 2, i * 2 + 2)));
  // torch: x.scatter_add(0, [[2,0],[2,2]], [[10,20],[30,40]])
  assert.equal(
    rows(
      x.scatterAdd(
        0,
        ids([2, 0, 2, 2], [2, 2]),
        tensor([
          [10, 20],
          [30, 40],
        ]),
      ),
    ),
    [
      [1, 22],
      [3, 4],
      [45, 46],
    ],
  );
  // torch: x.index_add(0, [2,0,2], [[1,1],[2,2],[3,3]])
  assert.equal(
    rows(
      x.indexAdd(
        0,
        ids([2, 0, 2]),
        tensor([
          [1, 1],
          [2, 2],
          [3, 3],
        ]),
      ),
    ),
    [
      [3, 4],
      [3, 4],
      [9, 10],
    ],
  );
  // torch.slice_scatter(x, src, 0, 0, 3, 2) and (x, zeros(3, 1), 1, -1)
  assert.equal(
    rows(
      x.sliceScatter(
        tensor([
          [7, 8],
          [9, 10],
        ]),
        0,
        0,
        3,
        2,
      ),
    ),
    [
      [7, 8],
      [3, 4],
      [9, 10],
    ],
  );
  assert.equal(rows(sliceScatter(x, tensor([[0], [0], [0]]), 1, -1)), [
    [1, 0],
    [3, 0],
    [5, 0],
  ]);
  assert.equal(
    rows(x),
    [
      [1, 2],
      [3, 4],
      [5, 6],
    ],
    'out of place: x is unchanged',
  );
});

const ran = new Set<string>(); // primitives whose backward rule some case ran
for (const c of cases) {
  test(`gradcheck ${c.name}`, () => {
    manualSeed(42);
    const { ok, worst, ops } = gradcheck(c.f, c.inputs(), c.tol);
    ops.forEach((op) => ran.add(op));
    assert.ok(ok, worst);
  });
}

test('every primitive with a gradient runs in a gradcheck case', () => {
  const withGradient = [...primitives]
    .filter(([, def]) => def.backward !== null)
    .map(([name]) => name);
  const missing = withGradient.filter((name) => !ran.has(name));
  assert.equal(missing, [], `no gradcheck case runs the backward of: ${missing.join(', ')}`);
});

test.run();
