// The autograd engine: fan-out, diamonds, dead branches, accumulation, noGrad, retainGraph,
// graph release, a 50k-deep chain, functional grad, determinism of the seeded generator, IEEE edge
// cases of the branch-free elementwise loops.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  grad,
  manualSeed,
  noGrad,
  randn,
  tensor,
  valueAndGrad,
  getRngState,
  setRngState,
} from '../lib/index.ts';

const vals = (t: { toArray(): unknown }) => t.toArray();

test('a + a gives gradient 2', () => {
  const a = tensor([1, 2, 3], { requiresGrad: true });
  a.add(a).sum().backward();
  assert.equal(vals(a.grad!), [2, 2, 2]);
});

test('diamond: y = (a·2)·(a·3) gives dy/da = 12a', () => {
  const a = tensor([1, -2], { requiresGrad: true });
  const b = a.mul(2),
    c = a.mul(3);
  b.mul(c).sum().backward();
  assert.equal(vals(a.grad!), [12, -24]);
});

test('an unused branch gets no gradient and does not break backward', () => {
  const a = tensor([1, 2], { requiresGrad: true });
  const b = tensor([5, 5], { requiresGrad: true });
  a.mul(b).exp(); // dead branch
  a.square().sum().backward();
  assert.equal(vals(a.grad!), [2, 4]);
  assert.is(b.grad, null);
});

test('.grad accumulates across two backward calls (PyTorch semantics)', () => {
  const a = tensor([3], { requiresGrad: true });
  a.square().sum().backward();
  a.square().sum().backward();
  assert.equal(vals(a.grad!), [12]);
});

test('intermediates get no .grad; leaves do', () => {
  const a = tensor([3], { requiresGrad: true });
  const h = a.mul(2);
  h.square().sum().backward();
  assert.is(h.grad, null);
  assert.equal(vals(a.grad!), [24]);
});

test('noGrad records no graph', () => {
  const a = tensor([1], { requiresGrad: true });
  const y = noGrad(() => a.mul(2));
  assert.is(y.requiresGrad, false);
  assert.is(y.gradFn, null);
  assert.throws(() => y.backward(), /does not require grad/);
});

test('the graph is freed after backward; a second backward says so; retainGraph keeps it', () => {
  const a = tensor([2], { requiresGrad: true });
  const h = a.exp();
  const y = h.mul(3).sum();
  y.backward();
  assert.equal(h.gradFn!.inputs.length, 0);
  assert.ok(h.gradFn!.released);
  assert.throws(() => y.backward(), /freed by an earlier backward/);

  const b = tensor([2], { requiresGrad: true });
  const z = b.exp().sum();
  z.backward(undefined, { retainGraph: true });
  z.backward();
  assert.ok(Math.abs(b.grad!.item() - 2 * Math.exp(2)) < 1e-4);
});

test('a 50,000-op chain backpropagates without a stack overflow', () => {
  const a = tensor([1.5], { requiresGrad: true, dtype: 'float64' });
  let y = a;
  for (let i = 0; i < 50_000; i++) y = y.add(1e-5);
  y.mul(2).sum().backward();
  assert.is(a.grad!.item(), 2);
});

test('backward with a seed gradient on a non-scalar', () => {
  const a = tensor([1, 2], { requiresGrad: true });
  a.mul(3).backward(tensor([1, 10]));
  assert.equal(vals(a.grad!), [3, 30]);
});

test('grad and valueAndGrad leave their arguments untouched', () => {
  const x = tensor([1, 2, 3]);
  const [dx] = grad((t) => t.square().sum())(x);
  assert.equal(vals(dx), [2, 4, 6]);
  assert.is(x.grad, null);
  const { value, grads } = valueAndGrad((a, b) => a.mul(b).sum())(tensor([2]), tensor([5]));
  assert.is(value.item(), 10);
  assert.equal(
    grads.map((g) => g.item()),
    [5, 2],
  );
});

test('detach cuts the graph', () => {
  const a = tensor([2], { requiresGrad: true });
  const y = a.mul(a.detach());
  y.sum().backward();
  assert.equal(vals(a.grad!), [2]);
});

test('same seed gives the same draws; the RNG state round-trips', () => {
  manualSeed(3);
  const first = randn([5]).toArray();
  manualSeed(3);
  assert.equal(randn([5]).toArray(), first);
  const state = getRngState();
  const next = randn([4]).toArray();
  setRngState(state);
  assert.equal(randn([4]).toArray(), next);
});

test('softmax is stable at ±1e4 and zero (not NaN) on fully masked rows, with zero gradients', () => {
  const x = tensor(
    [
      [1e4, -1e4, 0],
      [-Infinity, -Infinity, -Infinity],
    ],
    { requiresGrad: true },
  );
  const y = x.softmax(-1);
  assert.equal(vals(y), [
    [1, 0, 0],
    [0, 0, 0],
  ]);
  y.mul(
    tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]),
  )
    .sum()
    .backward();
  assert.ok([...x.grad!.data].every((g) => g === 0));
  const ls = tensor([[1e4, -1e4]])
    .logSoftmax(-1)
    .toArray() as number[][];
  assert.equal(ls[0][0], 0);
  assert.equal(ls[0][1], -2e4);
});

test('relu and comparisons keep IEEE edge cases (−∞, −0, NaN) in their branch-free loops', () => {
  const x = tensor([-Infinity, -1, -0, 0, 2, Infinity, NaN]);
  const r = x.relu().data;
  assert.equal([...r.subarray(0, 6)], [0, 0, 0, 0, 2, Infinity]);
  assert.ok(Number.isNaN(r[6]), 'relu(NaN) stays NaN');
  assert.equal([...x.gt(0).data], [0, 0, 0, 0, 1, 1, 0]);
  assert.equal([...x.ne(x).data], [0, 0, 0, 0, 0, 0, 1]);
});

test('reductions over no dims copy, over a run of dims read in place, over scattered dims permute', () => {
  const x = tensor([
    [
      [1, 2],
      [3, 4],
    ],
    [
      [5, 6],
      [7, 8],
    ],
  ]);
  assert.equal(x.sum([]).toArray(), x.toArray());
  assert.equal(x.sum([0, 1]).toArray(), [16, 20]);
  assert.equal(x.sum([0, 2]).toArray(), [14, 22]);
  assert.equal(x.max([1, 2]).toArray(), [4, 8]);
});

test.run();
