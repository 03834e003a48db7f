// The storage pool (lib/storage-pool.ts): backward hands its temporaries back, allocate() reuses
// them zeroed, and nothing a user can still reach — outputs, seeds, leaves' .grad, earlier
// results — is ever handed out again. A small Transformer trains to the same bits with the pool
// on and off.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allocate, copyOf } from '../lib/dtype.ts';
import { manualSeed, randn, softmax, tensor, type Tensor } from '../lib/index.ts';
import {
  MIN_POOLED_BYTES,
  clearStoragePool,
  release,
  setStoragePoolLimit,
  storagePoolStats,
} from '../lib/storage-pool.ts';
import { Adam } from '../nn/index.ts';
import { TransformerLM } from '../models/transformer.ts';
import { assertBitwise } from './helpers/bitwise.ts';

const BIG = 4096; // floats: above MIN_POOLED_BYTES
const fresh = () => {
  clearStoragePool();
  setStoragePoolLimit(64);
};

test('backward hands its temporaries to the pool; the leaves keep their .grad', () => {
  fresh();
  manualSeed(1);
  const x = randn([8, BIG / 8], { requiresGrad: true });
  const w = randn([BIG / 8, BIG / 8], { requiresGrad: true });
  const y = x.matmul(w).relu().sum();
  assert.is(storagePoolStats().arrays, 0);
  y.backward();
  assert.ok(storagePoolStats().arrays > 0, 'the gradients of matmul and relu were released');
  const pooled = storagePoolStats().bytes;
  const again = allocate('float32', BIG);
  assert.ok(
    again.every((v) => v === 0),
    'a reused array is zeroed',
  );
  assert.ok(storagePoolStats().bytes < pooled, 'allocate took it from the pool');
  assert.ok(x.grad!.data !== again && w.grad!.data !== again);
});

test("a chain's backward reuses its gradients as it goes: a few arrays, not one per op", () => {
  fresh();
  manualSeed(5);
  const x = randn([BIG], { requiresGrad: true });
  let y = x;
  for (let i = 0; i < 20; i++) y = y.mul(1.01).tanh(); // 40 ops, each gradient an array of BIG
  y.sum().backward();
  const { arrays } = storagePoolStats();
  assert.ok(arrays > 0 && arrays <= 6, `${arrays} arrays pooled after a 40-op chain`);
});

test('what a user holds survives later steps: outputs, seeds, .grad of earlier steps', () => {
  fresh();
  manualSeed(2);
  const x = randn([64, 128], { requiresGrad: true });
  const dy = randn([64, 128]);
  const y1 = softmax(x, -1);
  y1.backward(dy);
  const held = [y1, x.grad!, dy].map((t) => [t, Float32Array.from(t.data)] as const);
  for (let step = 0; step < 3; step++) {
    x.grad = null;
    softmax(x.mul(step + 2), -1).backward(dy);
  }
  for (const [t, copy] of held) assertBitwise(t.data, copy, 'a held tensor changed');
});

test('two leaves handed the same gradient (a + b) get arrays of their own', () => {
  fresh();
  manualSeed(6);
  const a = randn([BIG], { requiresGrad: true }),
    b = randn([BIG], { requiresGrad: true });
  for (let k = 0; k < 2; k++) a.add(b).mul(3).sum().backward();
  assert.ok(a.grad!.data !== b.grad!.data);
  assert.ok([...a.grad!.data, ...b.grad!.data].every((v) => v === 6));
});

test('accumulating .grad over two backward calls matches the pool off', () => {
  const run = (limit: number) => {
    fresh();
    setStoragePoolLimit(limit);
    manualSeed(3);
    const x = randn([32, 256], { requiresGrad: true });
    for (let k = 0; k < 2; k++)
      x.mul(k + 1)
        .tanh()
        .square()
        .sum()
        .backward();
    return x.grad!.data;
  };
  assertBitwise(run(64), run(0), 'grad with and without the pool');
});

test('a Transformer trains to the same bits with the pool on and off', () => {
  const train = (limit: number) => {
    fresh();
    setStoragePoolLimit(limit);
    manualSeed(4);
    const config = { vocabSize: 16, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 } as const;
    const model = new TransformerLM({ ...config, ffnHidden: 64, dropout: 0 });
    const optimizer = new Adam(model.namedParameters(), { lr: 1e-2 });
    const ids = (offset: number) =>
      tensor(
        Array.from({ length: 4 * 16 }, (_, i) => (i * 7 + offset) % 16),
        { shape: [4, 16], dtype: 'int32' },
      );
    const losses: number[] = [];
    for (let step = 0; step < 4; step++) {
      const { loss } = model.forward(ids(step), ids(step + 1));
      optimizer.zeroGrad();
      (loss as Tensor).backward();
      optimizer.step();
      losses.push((loss as Tensor).item());
    }
    return { losses, pooled: storagePoolStats().arrays };
  };
  const on = train(64),
    off = train(0);
  assert.equal(on.losses, off.losses);
  assert.ok(on.pooled > 0 && off.pooled === 0);
});

test('copyOf: a pooled array, not zeroed first, holds exactly the copied range', () => {
  fresh();
  const junk = new Float32Array(BIG).fill(7);
  release([junk]);
  const src = Float32Array.from({ length: BIG + 10 }, (_, i) => i);
  const copy = copyOf(src, 10, BIG + 10);
  assert.ok(copy === junk, 'the released array was reused');
  assertBitwise(copy, src.subarray(10), 'copyOf');
  assert.ok(copyOf(src) !== src && copyOf(src).length === BIG + 10);
});

test('release takes each whole array once, skips views, small arrays, and keeps to the limit', () => {
  fresh();
  const a = new Float32Array(BIG);
  release([a, a]);
  assert.is(storagePoolStats().arrays, 1, 'released twice, pooled once');
  release([new Float32Array(2 * BIG).subarray(0, BIG)]);
  release([new Float32Array(MIN_POOLED_BYTES / 8)]);
  assert.is(storagePoolStats().arrays, 1, 'views and small arrays stay out');
  const first = allocate('float32', BIG),
    second = allocate('float32', BIG);
  assert.ok(first === a && second !== a, 'one pooled array is handed out once');
  setStoragePoolLimit(1); // 1 MiB: 64 arrays of 16 KiB
  release(Array.from({ length: 100 }, () => new Float32Array(BIG)));
  assert.ok(storagePoolStats().bytes <= 1 << 20);
  setStoragePoolLimit(0);
  assert.is(storagePoolStats().arrays, 0, 'limit 0 empties the pool');
  release([new Float32Array(BIG)]);
  assert.is(storagePoolStats().arrays, 0, 'and keeps nothing');
  assert.throws(
    () => setStoragePoolLimit(-1),
    /setStoragePoolLimit: need a number of MiB ≥ 0, got -1/,
  );
  setStoragePoolLimit(64);
});

test.run();
