// The independent oracle: every op that tfjs-core also has, forward and gradient, against the
// tfjs CPU backend in float32. Each case runs f on the same seeded inputs in both libraries,
// compares y, then compares the gradients of the randomly weighted loss sum(f(x) ⊙ r) with respect
// to every float input (attngrad: backward() and .grad; tfjs: tf.grads). Inputs avoid kinks:
// positive where log/sqrt/pow need it, away from 0 for abs/relu/div, continuous normals so max/min
// have no ties.
// Read next: gradcheck.test.ts (float64 central differences of the same ops).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type * as TF from '@tensorflow/tfjs-core';
import {
  cat,
  chunk,
  clamp,
  crossEntropy,
  elu,
  gelu,
  layerNorm,
  logsumexp,
  logSoftmax,
  manualSeed,
  matmul,
  rand,
  randint,
  randn,
  rmsNorm,
  silu,
  slice,
  softmax,
  split,
  stack,
  tensor,
  where,
  type Tensor,
} from '../lib/index.ts';
import { tf } from './helpers/tf-cpu.ts';

type T = TF.Tensor;
interface Case {
  name: string;
  inputs: () => Tensor[]; // float inputs are differentiated; int32 ones (ids, targets) are constants
  a: (...xs: Tensor[]) => Tensor; // attngrad
  t: (...xs: T[]) => T; // the same function in tfjs
}

const N = (...shape: number[]) => randn(shape);
const P = (...shape: number[]) => rand(shape).add(0.5); // positive, for log/sqrt/rsqrt/pow
const Z = (...shape: number[]) =>
  randn(shape)
    .sign()
    .mul(P(...shape)); // |x| ≥ 0.5: no kink at 0
const ids = (values: number[], shape = [values.length]) =>
  tensor(new Int32Array(values), { shape });
const toTf = (x: Tensor): T =>
  tf.tensor(Array.from(x.data), [...x.shape], x.dtype === 'int32' ? 'int32' : 'float32');

const c = (name: string, inputs: () => Tensor[], a: Case['a'], t: Case['t']): Case => ({
  name,
  inputs,
  a,
  t,
});
const unary = (name: string, a: (x: Tensor) => Tensor, t: (x: T) => T, make = N) =>
  c(name, () => [make(3, 4)], a, t);
// every binary op on four shape pairs: equal, [3,1]×[1,4], [4]×[2,3,4], scalar×tensor
const binaryShapes = [
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
const binary = (
  name: string,
  a: (x: Tensor, y: Tensor) => Tensor,
  t: (x: T, y: T) => T,
  makeB = N,
) =>
  binaryShapes.map(([sa, sb]) =>
    c(`${name} [${sa}]×[${sb}]`, () => [N(...sa), makeB(...sb)], a, t),
  );

// Working around tfjs 4.22 (its limits, not attngrad's): Maximum/Minimum gradients do not undo
// broadcasting, so broadcast first (BroadcastTo has a gradient)
const bcast = (x: T, y: T): [T, T] => {
  const shape = tf.broadcast_util.assertAndGetBroadcastShape(x.shape, y.shape);
  return [tf.broadcastTo(x, shape), tf.broadcastTo(y, shape)];
};
// comparisons have no gradient and tf.grads still walks into them: build masks off the tape
const detach = (x: T) => tf.tensor(x.dataSync(), x.shape);
// softmax/logSoftmax work on the last axis only, and Cumsum's gradient is wrong off the last axis:
// move the axis last and back
const alongAxis = (f: (x: T) => T, perm: number[]) => (x: T) =>
  tf.transpose(f(tf.transpose(x, perm)), perm);
// torch.gather on a 2-D x as tf.gather on the flat x (the batchDims gradient calls x.split, a
// chained op tfjs-core does not register): flat index = row·C + i (dim 1) or i·C + column (dim 0)
const tfGather2d = (dim: number) => (x: T, i: T) => {
  const [R, C] = i.shape as number[],
    width = tf.scalar(x.shape[1] as number, 'int32');
  const rows = tf.mul(tf.reshape(tf.range(0, R, 1, 'int32'), [R, 1]), width);
  const cols = tf.range(0, C, 1, 'int32');
  return tf.gather(
    tf.reshape(x, [-1]),
    dim === 1 ? tf.add(rows, i) : tf.add(tf.mul(i, width), cols),
  );
};
// batched matmul does not broadcast batch dims: broadcast by hand
const tfMatmul = (batch: number[]) => (a: T, b: T) =>
  tf.matMul(
    tf.broadcastTo(a, [...batch, ...a.shape.slice(-2)]),
    tf.broadcastTo(b, [...batch, ...b.shape.slice(-2)]),
  );

// composites that tfjs does not have
const tfLayerNorm = (x: T, w: T, b: T, eps = 1e-5) => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), w), b);
};
// −Σ_rows Σ_c q_c log p_c / #valid rows, with q = (1 − ε)·onehot + ε/C; ignored rows (id −100) have
// q = 0
const tfCrossEntropy = (z: T, y: T, eps = 0) => {
  const C = z.shape[z.rank - 1] as number;
  const valid = tf.cast(tf.notEqual(y, -100), 'float32');
  const q = tf.add(tf.mul(tf.oneHot(y, C), 1 - eps), tf.mul(tf.expandDims(valid, -1), eps / C));
  return tf.div(tf.neg(tf.sum(tf.mul(q, tf.logSoftmax(z)))), tf.sum(valid));
};
const tfGelu = (x: T) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.div(x, Math.SQRT2)), 1));
const tfGeluTanh = (x: T) =>
  tf.mul(
    tf.mul(x, 0.5),
    tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1),
  );
const tfRmsNorm = (x: T, w: T) =>
  tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), w);
const ce = (z: Tensor, y: Tensor) => crossEntropy(z, y);
const tfCe = (z: T, y: T) => tfCrossEntropy(z, y);

const cases: Case[] = [
  ...binary('add', (x, y) => x.add(y), tf.add),
  ...binary('sub', (x, y) => x.sub(y), tf.sub),
  ...binary('mul', (x, y) => x.mul(y), tf.mul),
  ...binary('div', (x, y) => x.div(y), tf.div, Z),
  ...binary(
    'maximum',
    (x, y) => x.maximum(y),
    (x, y) => tf.maximum(...bcast(x, y)),
  ),
  ...binary(
    'minimum',
    (x, y) => x.minimum(y),
    (x, y) => tf.minimum(...bcast(x, y)),
  ),
  unary(
    'numbers',
    (x) => x.add(2.5).mul(-3).sub(1).div(4),
    (x) => tf.div(tf.sub(tf.mul(tf.add(x, 2.5), -3), 1), 4),
  ),
  unary('neg', (x) => x.neg(), tf.neg),
  unary('exp', (x) => x.exp(), tf.exp),
  unary('log', (x) => x.log(), tf.log, P),
  unary('sqrt', (x) => x.sqrt(), tf.sqrt, P),
  unary('rsqrt', (x) => x.rsqrt(), tf.rsqrt, P),
  unary('abs', (x) => x.abs(), tf.abs, Z),
  unary('square', (x) => x.square(), tf.square),
  unary('relu', (x) => x.relu(), tf.relu, Z),
  unary('sigmoid', (x) => x.sigmoid(), tf.sigmoid),
  unary('tanh', (x) => x.tanh(), tf.tanh),
  unary('erf', (x) => x.erf(), tf.erf),
  unary('elu', (x) => elu(x, 1), tf.elu, Z),
  unary('gelu', (x) => gelu(x, 'none'), tfGelu),
  unary('gelu tanh', (x) => x.gelu('tanh'), tfGeluTanh),
  unary(
    'silu',
    (x) => silu(x),
    (x) => tf.mul(x, tf.sigmoid(x)),
  ),
  unary(
    'pow 3',
    (x) => x.pow(3),
    (x) => tf.pow(x, 3),
  ),
  unary(
    'pow 2',
    (x) => x.pow(2),
    (x) => tf.pow(x, 2),
  ),
  unary(
    'pow 0.5',
    (x) => x.pow(0.5),
    (x) => tf.pow(x, 0.5),
    P,
  ),
  unary(
    'pow −1.5',
    (x) => x.pow(-1.5),
    (x) => tf.pow(x, -1.5),
    P,
  ),
  unary(
    'clamp',
    (x) => clamp(x, -0.5, 0.7),
    (x) => tf.clipByValue(x, -0.5, 0.7),
  ),
  unary(
    'clamp min',
    (x) => x.clamp(0.2),
    (x) => tf.maximum(x, 0.2),
  ),
  c(
    'where [3,4]×[4]',
    () => [N(3, 4), N(4)],
    (x, y) => where(x.gt(0), x, y),
    (x, y) => tf.where(tf.greater(detach(x), 0), x, y),
  ),
  unary(
    'where number',
    (x) => where(x.lt(0.3), x.exp(), 2),
    (x) => tf.where(tf.less(detach(x), 0.3), tf.exp(x), tf.scalar(2)),
  ),
  unary(
    'maskedFill',
    (x) => x.maskedFill(x.gt(0.5), -1),
    (x) => tf.where(tf.greater(detach(x), 0.5), tf.scalar(-1), x),
  ),
  // reductions
  c(
    'sum all',
    () => [N(2, 3, 4)],
    (x) => x.sum(),
    (x) => tf.sum(x),
  ),
  c(
    'sum dim 1',
    () => [N(2, 3, 4)],
    (x) => x.sum(1),
    (x) => tf.sum(x, 1),
  ),
  c(
    'sum [0,2] keepdim',
    () => [N(2, 3, 4)],
    (x) => x.sum([0, 2], true),
    (x) => tf.sum(x, [0, 2], true),
  ),
  c(
    'mean all',
    () => [N(2, 3, 4)],
    (x) => x.mean(),
    (x) => tf.mean(x),
  ),
  c(
    'mean −1 keepdim',
    () => [N(2, 3, 4)],
    (x) => x.mean(-1, true),
    (x) => tf.mean(x, -1, true),
  ),
  c(
    'mean [0,1]',
    () => [N(2, 3, 4)],
    (x) => x.mean([0, 1]),
    (x) => tf.mean(x, [0, 1]),
  ),
  c(
    'max all',
    () => [N(2, 3, 4)],
    (x) => x.max(),
    (x) => tf.max(x),
  ),
  c(
    'max dim 1',
    () => [N(2, 3, 4)],
    (x) => x.max(1),
    (x) => tf.max(x, 1),
  ),
  c(
    'max −1 keepdim',
    () => [N(2, 3, 4)],
    (x) => x.max(-1, true),
    (x) => tf.max(x, -1, true),
  ),
  c(
    'max [0,2]',
    () => [N(2, 3, 4)],
    (x) => x.max([0, 2]),
    (x) => tf.max(x, [0, 2]),
  ),
  c(
    'min dim 0',
    () => [N(2, 3, 4)],
    (x) => x.min(0),
    (x) => tf.min(x, 0),
  ),
  c(
    'min [1,2] keepdim',
    () => [N(2, 3, 4)],
    (x) => x.min([1, 2], true),
    (x) => tf.min(x, [1, 2], true),
  ),
  c(
    'var unbiased −1',
    () => [N(3, 5)],
    (x) => x.var(-1),
    (x) => tf.mul(tf.moments(x, -1).variance, 5 / 4),
  ),
  c(
    'var biased 0 keepdim',
    () => [N(3, 5)],
    (x) => x.var(0, true, 0),
    (x) => tf.moments(x, 0, true).variance,
  ),
  c(
    'logsumexp −1',
    () => [N(2, 3, 4)],
    (x) => logsumexp(x, -1, false),
    (x) => tf.logSumExp(x, -1),
  ),
  c(
    'logsumexp 1 keepdim',
    () => [N(2, 3, 4)],
    (x) => x.logsumexp(1, true),
    (x) => tf.logSumExp(x, 1, true),
  ),
  c(
    'cumsum 0',
    () => [N(4, 3)],
    (x) => x.cumsum(0),
    alongAxis((x) => tf.cumsum(x, 1), [1, 0]),
  ),
  c(
    'cumsum −1',
    () => [N(2, 3, 5)],
    (x) => x.cumsum(-1),
    (x) => tf.cumsum(x, 2),
  ),
  // linear algebra and normalisation
  c(
    'matmul [3,4]×[4,5]',
    () => [N(3, 4), N(4, 5)],
    (a, b) => matmul(a, b),
    (a, b) => tf.matMul(a, b),
  ),
  c(
    'matmul [2,3,4]×[2,4,5]',
    () => [N(2, 3, 4), N(2, 4, 5)],
    (a, b) => matmul(a, b),
    (a, b) => tf.matMul(a, b),
  ),
  c(
    'matmul [2,3,4]×[2,5,4]ᵀ (transB)',
    () => [N(2, 3, 4), N(2, 5, 4)],
    (a, b) => matmul(a, b, { transB: true }),
    (a, b) => tf.matMul(a, b, false, true),
  ),
  c(
    'matmul [2,4,3]ᵀ×[2,4,5] (transA)',
    () => [N(2, 4, 3), N(2, 4, 5)],
    (a, b) => matmul(a, b, { transA: true }),
    (a, b) => tf.matMul(a, b, true, false),
  ),
  c(
    'matmul [2,1,3,4]×[5,4,6]',
    () => [N(2, 1, 3, 4), N(5, 4, 6)],
    (a, b) => matmul(a, b),
    tfMatmul([2, 5]),
  ),
  c(
    'matmul [2,3,4]×[4,5]',
    () => [N(2, 3, 4), N(4, 5)],
    (a, b) => matmul(a, b),
    tfMatmul([2]),
  ),
  c(
    'matmul [4]×[4,5]',
    () => [N(4), N(4, 5)],
    (a, b) => matmul(a, b),
    (a, b) => tf.squeeze(tf.matMul(tf.expandDims(a, 0), b), [0]),
  ),
  c(
    'matmul .T',
    () => [N(3, 4), N(5, 4)],
    (a, b) => a.matmul(b.T),
    (a, b) => tf.matMul(a, b, false, true),
  ),
  c(
    'softmax −1',
    () => [N(2, 3, 5)],
    (x) => softmax(x, -1),
    (x) => tf.softmax(x),
  ),
  c(
    'softmax 1',
    () => [N(2, 5, 3)],
    (x) => x.softmax(1),
    alongAxis(tf.softmax, [0, 2, 1]),
  ),
  c(
    'logSoftmax −1',
    () => [N(2, 3, 5)],
    (x) => logSoftmax(x, -1),
    (x) => tf.logSoftmax(x),
  ),
  c(
    'logSoftmax 1',
    () => [N(2, 5, 3)],
    (x) => x.logSoftmax(1),
    alongAxis(tf.logSoftmax, [0, 2, 1]),
  ),
  c(
    'layerNorm',
    () => [N(2, 3, 8), N(8), N(8)],
    (x, w, b) => layerNorm(x, w, b, 1e-5),
    (x, w, b) => tfLayerNorm(x, w, b),
  ),
  c(
    'layerNorm no affine',
    () => [N(4, 6)],
    (x) => layerNorm(x),
    (x) => tfLayerNorm(x, tf.scalar(1), tf.scalar(0)),
  ),
  c(
    'rmsNorm',
    () => [N(2, 3, 8), N(8)],
    (x, w) => rmsNorm(x, w, 1e-6),
    tfRmsNorm,
  ),
  c(
    'linear',
    () => [N(2, 3, 4), N(5, 4), N(5)],
    (x, w, b) => x.matmul(w.T).add(b),
    (x, w, b) => tf.add(tf.matMul(x, tf.broadcastTo(tf.transpose(w), [2, 4, 5])), b),
  ),
  c('crossEntropy', () => [N(6, 5), ids([0, 4, 2, 2, 1, 3])], ce, tfCe),
  c('crossEntropy 3-D', () => [N(2, 3, 5), randint(0, 5, [2, 3])], ce, tfCe),
  c('crossEntropy ignoreIndex', () => [N(5, 4), ids([1, -100, 3, -100, 0])], ce, tfCe),
  c(
    'crossEntropy labelSmoothing',
    () => [N(6, 5), ids([0, 4, 2, 2, 1, 3])],
    (z, y) => crossEntropy(z, y, { labelSmoothing: 0.1 }),
    (z, y) => tfCrossEntropy(z, y, 0.1),
  ),
  // shape and movement
  c(
    'reshape',
    () => [N(2, 3, 4)],
    (x) => x.reshape([4, -1]).mul(x.reshape([4, 6])),
    (x) => tf.square(tf.reshape(x, [4, 6])),
  ),
  c(
    'transpose 0 2',
    () => [N(2, 3, 4)],
    (x) => x.transpose(0, 2),
    (x) => tf.transpose(x, [2, 1, 0]),
  ),
  c(
    'permute [2,0,1]',
    () => [N(2, 3, 4)],
    (x) => x.permute([2, 0, 1]),
    (x) => tf.transpose(x, [2, 0, 1]),
  ),
  c(
    'permute 4-D',
    () => [N(2, 3, 4, 5)],
    (x) => x.permute([0, 2, 3, 1]),
    (x) => tf.transpose(x, [0, 2, 3, 1]),
  ),
  c(
    'squeeze unsqueeze',
    () => [N(3, 1, 4)],
    (x) => x.squeeze(1).unsqueeze(0),
    (x) => tf.expandDims(tf.squeeze(x, [1]), 0),
  ),
  c(
    'expand',
    () => [N(3, 1)],
    (x) => x.expand([2, 3, 4]),
    (x) => tf.broadcastTo(x, [2, 3, 4]),
  ),
  c(
    'tril',
    () => [N(2, 4, 5)],
    (x) => x.tril(),
    (x) => tf.linalg.bandPart(x, -1, 0),
  ),
  c(
    'triu −1',
    () => [N(3, 4, 5)],
    (x) => x.triu(-1),
    (x) => tf.linalg.bandPart(x, 1, -1),
  ), // 2-D: tfjs grad fails
  c(
    'slice dim 1',
    () => [N(3, 6, 2)],
    (x) => slice(x, 1, 1, 4),
    (x) => tf.slice(x, [0, 1, 0], [3, 3, 2]),
  ),
  c(
    'slice negative',
    () => [N(3, 6)],
    (x) => x.slice(-1, -4, -1),
    (x) => tf.slice(x, [0, 2], [3, 3]),
  ),
  c(
    'slice step 2',
    () => [N(5, 3)],
    (x) => x.slice(0, 0, 5, 2),
    (x) => tf.gather(x, [0, 2, 4], 0),
  ),
  c(
    'narrow',
    () => [N(4, 5)],
    (x) => x.narrow(0, 1, 2),
    (x) => tf.slice(x, [1, 0], [2, 5]),
  ),
  c(
    'cat dim 1',
    () => [N(2, 3), N(2, 1), N(2, 4)],
    (a, b, d) => cat([a, b, d], 1),
    (a, b, d) => tf.concat([a, b, d], 1),
  ),
  c(
    'cat dim 0 reused',
    () => [N(2, 3), N(1, 3)],
    (a, b) => cat([a, b, a], 0),
    (a, b) => tf.concat([a, b, a], 0),
  ),
  c(
    'stack dim 1',
    () => [N(2, 3), N(2, 3)],
    (a, b) => stack([a, b], 1),
    (a, b) => tf.stack([a, b], 1),
  ),
  // pieces put back in another order with different ops, so a misplaced piece shows
  unary(
    'split sizes',
    (x) => {
      const [p, q, r] = split(x.reshape([2, 6]), [1, 3, 2], 1);
      return cat([r, p.exp(), q.mul(2)], 1);
    },
    (x) => {
      const [p, q, r] = tf.split(tf.reshape(x, [2, 6]), [1, 3, 2], 1);
      return tf.concat([r, tf.exp(p), tf.mul(q, 2)], 1);
    },
  ),
  c(
    'chunk',
    () => [N(7, 2)],
    (x) => {
      const [p, q, r] = chunk(x, 3, 0);
      return cat([r, p.sigmoid(), q.neg()], 0);
    },
    (x) => {
      const [p, q, r] = tf.split(x, [3, 3, 1], 0);
      return tf.concat([r, tf.sigmoid(p), tf.neg(q)], 0);
    },
  ),
  // indexing, with repeated ids so gradients accumulate
  c(
    'gather dim 1',
    () => [N(3, 5), ids([0, 4, 4, 1, 2, 2, 3, 0, 1, 1, 1, 4], [3, 4])],
    (x, i) => x.gather(1, i),
    tfGather2d(1),
  ),
  c(
    'gather dim 0',
    () => [N(4, 3), ids([3, 0, 1, 1, 2, 2], [2, 3])],
    (x, i) => x.gather(0, i),
    tfGather2d(0),
  ),
  c(
    'indexSelect dim 0',
    () => [N(5, 3), ids([4, 0, 4, 2])],
    (x, i) => x.indexSelect(0, i),
    (x, i) => tf.gather(x, i, 0),
  ),
  c(
    'indexSelect dim 1',
    () => [N(2, 5, 3), ids([1, 1, 3])],
    (x, i) => x.indexSelect(1, i),
    (x, i) => tf.gather(x, i, 1),
  ),
];

const tol = 1e-4; // float32: |got − want| ≤ tol·(1 + |want|)
function compare(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  assert.is(got.length, want.length, `${what}: ${got.length} elements, tfjs has ${want.length}`);
  for (let i = 0; i < got.length; i++) {
    const ok = Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i]));
    assert.ok(ok, `${what} differs from tfjs at ${i}: ${got[i]} vs ${want[i]}`);
  }
}

cases.forEach(({ name, inputs, a, t }, k) =>
  test(name, () => {
    manualSeed(k + 1);
    const leaf = (x: Tensor) =>
      x.dtype === 'int32' ? x : tensor(x.data, { shape: [...x.shape], requiresGrad: true });
    const xs = inputs().map(leaf);
    const y = a(...xs);
    const r = randn([...y.shape]);
    y.mul(r).sum().backward();
    tf.tidy(() => {
      const txs = xs.map(toTf);
      const floats = xs.flatMap((x, i) => (x.requiresGrad ? [i] : []));
      assert.ok(floats.length > 0, `${name}: no float input to differentiate`);
      // tfjs differentiates the float inputs only; the int32 ones stay fixed inside the closure
      const withFloats = (fs: T[]) =>
        txs.map((tx, i) => (floats.includes(i) ? fs[floats.indexOf(i)] : tx));
      const ty = t(...txs);
      assert.equal([...y.shape], ty.shape, `${name}: shape`);
      compare(`${name}: forward`, y.data, ty.dataSync());
      const loss = (...fs: T[]) => tf.sum(tf.mul(t(...withFloats(fs)), toTf(r)));
      const grads = tf.grads(loss)(floats.map((i) => txs[i]));
      floats.forEach((i, j) =>
        compare(`${name}: grad of input ${i}`, xs[i].grad?.data ?? [], grads[j].dataSync()),
      );
    });
  }),
);

test.run();
