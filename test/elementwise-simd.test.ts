// The f32x4 elementwise kernels (lib/backend/wasm/elementwise-kernel.ts) against the TypeScript
// kernels they stand in for, bit for bit (Object.is: −0 and NaN too): binary with b of the same
// shape, one number and a row repeated (b or, for ops that commute, a), on lengths around the
// chunk and the vector (odd tails), with ±0, ±∞, NaN and values whose float32 sums round; the
// Linear epilogue (bias + relu, relu alone), relu's gradient; column sums (a bias's gradient)
// through reduce; the layouts SIMD declines falling back to the same bits; the threaded backend
// end to end. Read next: ../lib/backend/wasm/elementwise-kernel.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { BinaryOp } from '../lib/backend/backend.ts';
import { binary } from '../lib/backend/cpu/elementwise.ts';
import { biasActivation, reluBackward } from '../lib/backend/cpu/epilogue.ts';
import { reduce } from '../lib/backend/cpu/reduce.ts';
import {
  CHUNK,
  fastBiasActivation,
  fastReduce,
  fastReluBackward,
  simdBinary,
  simdBiasActivation,
  simdColumnSums,
  simdReluBackward,
} from '../lib/backend/wasm/elementwise-kernel.ts';
import { manualSeed, rand, setBackend, tensor } from '../lib/index.ts';
import { sizeOf, type Shape } from '../lib/shape.ts';
import { assertBitwise } from './helpers/bitwise.ts';

const SPECIAL = [0, -0, Infinity, -Infinity, NaN, 1e-45, -3.4e38, 3.4e38, 1, -1];

/** n seeded float32s in [−4, 4), every 7th one a special value. */
function floats(n: number): Float32Array {
  const x = Float32Array.from(rand([n]).data, (u) => 8 * u - 4);
  for (let i = 0; i < n; i += 7) x[i] = SPECIAL[(i / 7) % SPECIAL.length];
  return x;
}

const OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum'];
const LENGTHS = [256, 257, 1023, CHUNK - 3, CHUNK, CHUNK + 5, 3 * CHUNK + 2];

test('binary, b of the same shape or one number: the TypeScript kernel’s bits', () => {
  manualSeed(1);
  for (const n of LENGTHS) {
    const a = floats(n),
      b = floats(n),
      s = floats(1);
    for (const name of OPS) {
      const same = simdBinary(name, a, [n], b, [n], [n]);
      assert.ok(same, `${name} ${n}: SIMD takes equal shapes`);
      assertBitwise(same!, binary(name, a, [n], b, [n], [n]), `${name} ${n} same`);
      const scalar = simdBinary(name, a, [n], s, [], [n]);
      assertBitwise(scalar!, binary(name, a, [n], s, [], [n]), `${name} ${n} scalar`);
      const swapped = simdBinary(name, s, [1], a, [n], [n]);
      if (name === 'sub' || name === 'div') assert.is(swapped, null, `${name}: a broadcast`);
      else assertBitwise(swapped!, binary(name, s, [1], a, [n], [n]), `${name} ${n} swapped`);
    }
  }
});

test('binary, b a row repeated (a bias, a mask): the TypeScript kernel’s bits', () => {
  manualSeed(2);
  const cases: [Shape, Shape][] = [
    [
      [16, 4, 8, 8],
      [8, 8],
    ],
    [[33, 128], [128]],
    [
      [5, 3, 512],
      [1, 1, 512],
    ],
    [[3, CHUNK], [CHUNK]],
    [
      [20, 7, 4],
      [7, 4],
    ],
  ];
  for (const [aShape, bShape] of cases) {
    const a = floats(sizeOf(aShape)),
      b = floats(sizeOf(bShape));
    for (const name of OPS) {
      const what = `${name} [${aShape}] · [${bShape}]`;
      const got = simdBinary(name, a, aShape, b, bShape, aShape);
      assert.ok(got, `${what}: SIMD takes a row`);
      assertBitwise(got!, binary(name, a, aShape, b, bShape, aShape), what);
    }
  }
});

test('binary declines what it does not do, and the fallback has the same bits', () => {
  manualSeed(3);
  const a = floats(6 * 5 * 4),
    col = floats(6 * 5);
  // b repeated along the last dim (not a row), a row of 5 floats (not a multiple of 4), too short,
  // float64, a comparison
  assert.is(simdBinary('add', a, [6, 5, 4], col, [6, 5, 1], [6, 5, 4]), null);
  assert.is(simdBinary('add', floats(5 * 64), [64, 5], floats(5), [5], [64, 5]), null);
  assert.is(simdBinary('add', floats(8), [8], floats(8), [8], [8]), null);
  assert.is(
    simdBinary('add', new Float64Array(512), [512], new Float64Array(512), [512], [512]),
    null,
  );
  assert.is(simdBinary('gt', floats(512), [512], floats(512), [512], [512]), null);
});

test('biasActivation and reluBackward: the TypeScript kernels’ bits', () => {
  manualSeed(4);
  for (const [rows, n] of [
    [1024, 128],
    [3, 512],
    [70, 4],
  ]) {
    const y = floats(rows * n),
      bias = floats(n),
      dy = floats(rows * n);
    for (const activation of ['relu', 'none'] as const) {
      for (const b of [bias, null]) {
        const what = `[${rows}, ${n}] ${activation} ${b ? 'bias' : 'no bias'}`;
        const got = simdBiasActivation(y.slice(), b, activation);
        assert.ok(got, `${what}: SIMD takes it`);
        assertBitwise(got!, biasActivation(y.slice(), b, activation), what);
      }
    }
    assertBitwise(simdReluBackward(dy, y)!, reluBackward(dy, y), `reluBackward [${rows}, ${n}]`);
    const tail = floats(rows * n + 3);
    assertBitwise(fastReluBackward(tail, tail), reluBackward(tail, tail), 'an odd length');
    const short = floats(9);
    assertBitwise(
      fastBiasActivation(short.slice(), null, 'relu'),
      biasActivation(short.slice(), null, 'relu'),
      'short',
    );
  }
});

test('column sums through reduce: the TypeScript kernel’s bits, fallbacks included', () => {
  manualSeed(5);
  const cases: [Shape, number[]][] = [
    [[1024, 128], [0]],
    [
      [16, 64, 128],
      [0, 1],
    ],
    [[3, 1000, 4], [1]], // outer 3: three runs of column sums
    [
      [5, 513, 8],
      [0, 1],
    ], // rows across chunks
    [[64, 6], [0]], // inner 6: declined
    [[7, 16], [1]], // sum over the last dim: declined
    [
      [2, 3, 4],
      [0, 2],
    ], // not a run: permuted first
  ];
  for (const [shape, dims] of cases) {
    const x = floats(sizeOf(shape));
    // sums stay finite
    for (let i = 0; i < x.length; i += 7) if (!Number.isFinite(x[i])) x[i] = 1e-3 * i;
    for (const op of ['sum', 'max'] as const) {
      const what = `${op} [${shape}] over ${dims}`;
      assertBitwise(fastReduce(op, x, shape, dims), reduce(op, x, shape, dims), what);
    }
  }
  const acc = new Float64Array(6);
  assert.is(simdColumnSums(floats(60), 0, 10, 6, acc), false, 'inner not a multiple of 4');
});

test('the threaded backend trains through them with the reference backend’s bits', () => {
  const run = (backend: 'cpu' | 'cpu-threads') => {
    setBackend(backend);
    manualSeed(6);
    const x = tensor(floats(64 * 128), { shape: [64, 128], requiresGrad: true });
    const w = tensor(floats(128), { shape: [128], requiresGrad: true });
    const y = x.add(w).relu().mul(0.5).sub(x).sum();
    y.backward();
    return [y.data[0], ...x.grad!.data, ...w.grad!.data];
  };
  const [ref, threaded] = [run('cpu'), run('cpu-threads')];
  setBackend('cpu');
  assertBitwise(threaded, ref, 'loss and gradients');
});

test.run();
