// End to end with lib only: a 2-layer MLP trained by hand-written gradient descent learns XOR and
// two moons to 100% training accuracy.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  crossEntropy,
  manualSeed,
  noGrad,
  rand,
  randn,
  tensor,
  zeros,
  type Tensor,
} from '../lib/index.ts';

function trainMlp(x: Tensor, y: Tensor, { hidden = 16, steps = 500, lr = 0.5 } = {}): number {
  const [, inDim] = x.shape;
  const w1 = randn([inDim, hidden])
    .mul(Math.sqrt(2 / inDim))
    .detach()
    .requiresGrad_();
  const b1 = zeros([hidden], { requiresGrad: true });
  const w2 = randn([hidden, 2])
    .mul(Math.sqrt(1 / hidden))
    .detach()
    .requiresGrad_();
  const b2 = zeros([2], { requiresGrad: true });
  const params = [w1, b1, w2, b2];
  const forward = () => x.matmul(w1).add(b1).tanh().matmul(w2).add(b2); // (N, 2)
  for (let step = 0; step < steps; step++) {
    for (const p of params) p.grad = null;
    crossEntropy(forward(), y).backward();
    // p ← p − lr·∇p, in place on the leaf's buffer
    for (const p of params) p.data.forEach((v, i) => (p.data[i] = v - lr * p.grad!.data[i]));
  }
  const predicted = noGrad(() => forward().argmax(1));
  let correct = 0;
  predicted.data.forEach((c, i) => (correct += c === y.data[i] ? 1 : 0));
  return correct / y.size;
}

test('XOR reaches 100% training accuracy', () => {
  manualSeed(0);
  const x = tensor([
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
  ]);
  const y = tensor(new Int32Array([0, 1, 1, 0]));
  assert.is(trainMlp(x, y, { hidden: 8, steps: 400, lr: 1 }), 1);
});

test('two moons (200 points, noise 0.1) reach 100% training accuracy', () => {
  manualSeed(1);
  const n = 200;
  const angle = rand([n]).mul(Math.PI);
  const noise = randn([n, 2]).mul(0.1);
  const points: number[][] = [];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const t = angle.data[i],
      upper = i % 2 === 0;
    labels[i] = upper ? 0 : 1;
    // upper moon: (cos t, sin t); lower moon: (1 − cos t, 0.5 − sin t)
    const px = upper ? Math.cos(t) : 1 - Math.cos(t),
      py = upper ? Math.sin(t) : 0.5 - Math.sin(t);
    points.push([px + noise.data[2 * i], py + noise.data[2 * i + 1]]);
  }
  assert.is(trainMlp(tensor(points), tensor(labels), { hidden: 32, steps: 1500, lr: 0.5 }), 1);
});

test.run();
