// Adam's update in WebAssembly SIMD (nn/adam-simd.ts) against the JavaScript loop it replaces
// (adamUpdate in nn/optim.ts): the same parameters and moments bit for bit, for lengths with odd
// tails and across staging chunks, with Adam's L2 term and AdamW's shrink, and through the
// optimizers' step().

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { manualSeed, randn } from '../lib/index.ts';
import { simdAdamUpdate, type AdamConstants } from '../nn/adam-simd.ts';
import { adamUpdate } from '../nn/optim.ts';
import { Adam, AdamW } from '../nn/index.ts';
import { assertBitwise } from './helpers/bitwise.ts';

const constants = (t: number, l2: number, shrink: number): AdamConstants => ({
  l2,
  b1: 0.9,
  b2: 0.999,
  shrink,
  stepSize: 1e-3 / (1 - 0.9 ** t),
  bc2Sqrt: Math.sqrt(1 - 0.999 ** t),
  eps: 1e-8,
});

test('the SIMD update is the loop, bit for bit: odd lengths, chunk edges, L2 and shrink', () => {
  manualSeed(31);
  for (const n of [1, 2, 3, 7, 2047, 2048, 2049, 5000])
    for (const [l2, shrink] of [
      [0, 1],
      [0.01, 1],
      [0, 1 - 1e-5],
    ]) {
      const p = randn([n]).data as Float32Array,
        g = randn([n]).data as Float32Array;
      const m = Float64Array.from(randn([n]).data, (x) => x * 0.1),
        v = Float64Array.from(randn([n]).data, (x) => x * x * 0.01);
      const [p2, m2, v2] = [p.slice(), m.slice(), v.slice()];
      const k = constants(3, l2, shrink);
      assert.ok(simdAdamUpdate(p, g, m, v, k), 'WebAssembly SIMD is there');
      adamUpdate(p2, g, m2, v2, k);
      const what = `n ${n}, l2 ${l2}, shrink ${shrink}`;
      assertBitwise(p, p2, `${what}: p`);
      assertBitwise(m, m2, `${what}: m`);
      assertBitwise(v, v2, `${what}: v`);
    }
});

test("Adam and AdamW steps on float32 parameters: the loop's bits", () => {
  const lr = 1e-2,
    wd = 0.01;
  for (const [Opt, l2, shrink] of [
    [Adam, wd, 1],
    [AdamW, 0, 1 - lr * wd],
  ] as const) {
    manualSeed(32);
    const w = randn([50, 100], { requiresGrad: true });
    const ref = w.data.slice();
    const [m, v] = [new Float64Array(w.size), new Float64Array(w.size)];
    const opt = new Opt([['w', w]], { lr, weightDecay: wd });
    for (let t = 1; t <= 3; t++) {
      w.grad = randn(w.shape);
      opt.step();
      adamUpdate(ref, w.grad.data, m, v, {
        ...constants(t, l2, shrink),
        stepSize: lr / (1 - 0.9 ** t),
      });
    }
    assertBitwise(w.data, ref, `${Opt.name}`);
  }
});

test.run();
