// The fast paths of the non-matmul kernels against what they replace, bit for bit: exp.ts against
// Math.exp on every branch of fdlibm's scheme; binary's contiguous loops against ndarray-ops' general
// strided loop (every float and int dtype); stridedCopy's contiguous runs against ops.assign;
// reluBackward against mul(dy, gt(x, 0)) and biasActivation against add then relu, on odd lengths,
// both float dtypes and the special values;
// the fused Linear primitive against the unfused graph (matmul, add, relu), forward and gradients,
// on the reference and the threaded backend. Read next: ../lib/backend/cpu/exp.ts, epilogue.ts.

import ops from 'ndarray-ops';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Activation } from '../lib/backend/backend.ts';
import { cpuBackend as cpu } from '../lib/backend/cpu.ts';
import { exp } from '../lib/backend/cpu/exp.ts';
import { broadcastView, view } from '../lib/backend/cpu/views.ts';
import { allocate, type DType, type TypedArray } from '../lib/dtype.ts';
import { linear, manualSeed, rand, randn, setBackend, type Tensor } from '../lib/index.ts';
import { matmulT } from '../lib/ops/matmul.ts';
import { sizeOf, stridesOf } from '../lib/shape.ts';
import { assertBitwise } from './helpers/bitwise.ts';

/** n seeded uniform doubles in [lo, hi). */
function uniform(n: number, lo: number, hi: number): number[] {
  return Array.from(rand([n], { dtype: 'float64' }).data, (u) => lo + u * (hi - lo));
}

test('exp is Math.exp, bit for bit, on every branch', () => {
  manualSeed(7);
  const edges = [
    [0, -0, 1, -1, 2, -2, 0.5, -0.5, 1e-300, -1e-300, 2 ** -28, -(2 ** -28), 2 ** -29],
    [0.3465735902799726, 0.34657359027997264, 1.0397207708399179, -1.0397207708399179],
    [709.78, 709.782712893384, 709.79, 710, 1e10, -708.4, -745.1332191019411, -745.14, -1e10],
    [Infinity, -Infinity, NaN, Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE],
  ].flat();
  const xs = [
    ...edges,
    ...uniform(200_000, -20, 20), // the common range: |x| > 1.5 ln 2, k = round(x / ln 2)
    ...uniform(100_000, -1.1, 1.1), // k = 0 and k = ±1
    ...uniform(50_000, -1e-7, 1e-7), // near 0: 1 + x below 2^−28
    ...uniform(50_000, -760, 720), // overflow, underflow, the subnormal results below −708
    ...uniform(50_000, 700, 710), // k = 1024 near the overflow threshold
    ...uniform(50_000, -746, -700),
    ...Array.from(new Float32Array(uniform(50_000, -30, 0))), // float32 inputs, as softmax's
  ];
  assertBitwise(
    xs.map((x) => exp(x)),
    xs.map((x) => Math.exp(x)),
    'exp',
  );
});

const specials = [0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 3.5, -2.25];

/** n values of `dtype`: the special values first, then seeded normals. */
function values(n: number, dtype: DType): TypedArray {
  const out = allocate(dtype, n);
  out.set(randn([n], { dtype: 'float64' }).data);
  out.set(specials.slice(0, n));
  return out;
}

test('reluBackward is mul(dy, gt(x, 0)), bit for bit', () => {
  manualSeed(3);
  for (const dtype of ['float32', 'float64'] as const) {
    for (const n of [1, 7, 81, 1000]) {
      const x = values(n, dtype);
      const dy = values(n, dtype).reverse(); // special values meet special values
      const mask = cpu.binary('gt', x, [n], allocate(dtype, 1), [], [n]);
      const want = cpu.binary('mul', dy, [n], mask, [n], [n]);
      assertBitwise(cpu.reluBackward(dy, x), want, `${dtype} n ${n}`);
    }
  }
});

test('biasActivation is add then relu, written over its input', () => {
  manualSeed(4);
  for (const dtype of ['float32', 'float64'] as const) {
    for (const [rows, n] of [
      [1, 1],
      [3, 5],
      [4, 1],
      [2, 129],
    ]) {
      for (const activation of ['none', 'relu'] as const) {
        for (const withBias of [true, false]) {
          const y = values(rows * n, dtype);
          const bias = withBias ? values(n, dtype).reverse() : null;
          const added = bias ? cpu.binary('add', y, [rows, n], bias, [n], [rows, n]) : y;
          const want = activation === 'relu' ? cpu.unary('relu', added) : added.slice();
          const what = `${dtype} ${rows}×${n} ${activation}${withBias ? ' bias' : ''}`;
          const into = y.slice();
          const got = cpu.biasActivation(into, bias, activation);
          assert.ok(got === into, `${what}: in place`);
          assertBitwise(got, want, what);
        }
      }
    }
  }
});

test('binary fast paths (equal shapes, b one number) give the general strided loop its bits', () => {
  manualSeed(5);
  const general = { add: ops.add, sub: ops.sub, mul: ops.mul, div: ops.div };
  for (const dtype of ['float32', 'float64', 'int32'] as const) {
    for (const shape of [[1], [7], [3, 5, 9], [2, 1, 33]]) {
      const n = sizeOf(shape);
      const a = values(n, dtype),
        b = values(n, dtype).reverse();
      for (const op of ['add', 'sub', 'mul', 'div'] as const) {
        for (const [bData, bShape] of [
          [b, shape],
          [b.subarray(0, 1), []],
          [b.subarray(1, 2), shape.map(() => 1)],
        ] as const) {
          if (bData.length === 0) continue;
          const want = allocate(dtype, n);
          general[op](view(want, shape), view(a, shape), broadcastView(bData, bShape, shape));
          const got = cpu.binary(op, a, shape, bData, bShape, shape);
          assertBitwise(got, want, `${dtype} ${op} [${shape}] by [${bShape}]`);
        }
      }
    }
  }
});

test('stridedCopy fast paths (one run, runs of 16+) give ops.assign its copy', () => {
  manualSeed(6);
  const x = values(4 * 5 * 6 * 32, 'float32');
  const base = [4, 5, 6, 32],
    strides = stridesOf(base);
  const views: [string, number[], number[], number][] = [
    ['whole', base, strides, 0],
    ['0-d', [], [], 7],
    ['size-1 dims', [1, 4, 1, 5, 192], [0, 960, 5, 192, 1], 0],
    ['contiguous slice', [2, 5, 6, 32], strides, 960],
    ['head split', [4, 6, 5, 32], [960, 32, 192, 1], 0],
    ['head merge of a permuted view', [5, 4, 6, 32], [192, 960, 32, 1], 0],
    ['runs of 16 from an offset', [4, 5, 6, 16], strides, 16],
    ['runs of 15', [4, 5, 6, 15], strides, 3],
    ['last dim transposed', [4, 5, 32, 6], [960, 192, 1, 32], 0],
    ['stepped slice', [4, 5, 3, 32], [960, 192, 64, 1], 32],
    ['broadcast outer', [3, 4, 5, 6, 32], [0, ...strides], 0],
    ['broadcast inner', [4, 5, 6, 32, 2], [...strides, 0], 0],
    ['empty', [4, 0, 32], [960, 192, 1], 0],
  ];
  for (const [what, shape, viewStrides, offset] of views) {
    const want = allocate('float32', sizeOf(shape));
    if (want.length > 0) {
      const s = shape.length ? shape : [1];
      ops.assign(view(want, s), view(x, s, shape.length ? viewStrides : [1], offset));
    }
    assertBitwise(cpu.stridedCopy(x, shape, viewStrides, offset), want, what);
  }
});

/** y and the gradients of x, W (and b) for the loss Σ y ⊙ r. */
function linearRun(
  f: (x: Tensor, w: Tensor, b: Tensor | null) => Tensor,
  withBias: boolean,
): TypedArray[] {
  manualSeed(9);
  const x = randn([3, 37, 19]).requiresGrad_();
  const w = randn([70, 19]).requiresGrad_();
  const b = withBias ? randn([70]).requiresGrad_() : null;
  const y = f(x, w, b);
  y.mul(randn(y.shape)).sum().backward();
  return [y.data, x.grad!.data, w.grad!.data, ...(b ? [b.grad!.data] : [])];
}

/** The graph linear() built before the fusion: matmul by Wᵀ in place, add the bias, relu. */
function unfused(x: Tensor, w: Tensor, b: Tensor | null, activation: Activation): Tensor {
  const rows = x.reshape([-1, x.shape[x.ndim - 1]]);
  const y = matmulT([rows, w], { transA: false, transB: true });
  const biased = b ? y.add(b) : y;
  return (activation === 'relu' ? biased.relu() : biased).reshape([...x.shape.slice(0, -1), -1]);
}

test('a fused Linear gives the unfused graph its output and gradients, bit for bit', () => {
  try {
    for (const backend of ['cpu', 'cpu-threads']) {
      setBackend(backend);
      for (const activation of ['none', 'relu'] as const) {
        for (const withBias of [true, false]) {
          const got = linearRun((x, w, b) => linear(x, w, b, activation), withBias);
          const want = linearRun((x, w, b) => unfused(x, w, b, activation), withBias);
          const what = `${backend} ${activation}${withBias ? ' bias' : ''}`;
          ['y', 'dx', 'dW', 'db'].slice(0, got.length).forEach((name, i) => {
            assertBitwise(got[i], want[i], `${what} ${name}`);
          });
        }
      }
    }
  } finally {
    setBackend('cpu-threads');
  }
});

test('linear refuses an activation it does not have', () => {
  const x = randn([2, 3]),
    w = randn([4, 3]);
  assert.throws(
    () => linear(x, w, null, 'gelu' as Activation),
    /linear: activation must be 'none' or 'relu', got 'gelu'/,
  );
});

test.run();
