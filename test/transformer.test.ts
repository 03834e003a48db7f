// The Transformer: multi-head attention against the same computation written in tfjs-core, float64
// gradchecks of the attention and block, masks that never leak, KV-cache generation equal to full
// recomputation, loss at init ≈ ln V, and a small LM overfitting one batch.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { manualSeed, noGrad, randint, randn, tensor, type Tensor } from '../lib/index.ts';
import {
  causalMask,
  MultiHeadAttention,
  Seq2SeqTransformer,
  TransformerLM,
  type TransformerConfig,
} from '../models/index.ts';
import { gradcheck } from './helpers/gradcheck.ts';
import { tf } from './helpers/tf-cpu.ts';
import type * as TF from '@tensorflow/tfjs-core';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) =>
  a.length === b.length &&
  Array.from(a).every((v, i) => Math.abs(v - b[i]) <= tol * (1 + Math.abs(b[i])));

test('MultiHeadAttention forward and gradients agree with tfjs-core', () => {
  manualSeed(0);
  const [B, T, C, nh] = [2, 5, 8, 2];
  const hs = C / nh;
  const attn = new MultiHeadAttention(C, nh);
  const x = randn([B, T, C], { requiresGrad: true });
  const mask = causalMask(T);
  const y = attn.forward(x, { causal: true });
  const r = randn([B, T, C]);
  y.mul(r).sum().backward();

  const W = (t: Tensor) => tf.tensor(Array.from(t.data), [...t.shape]);
  const [wq, bq, wk, bk, wv, bv, wo, bo] = [attn.query, attn.key, attn.value, attn.proj].flatMap(
    (l) => [W(l.weight), W(l.bias!)],
  );
  const lin = (h: TF.Tensor, w: TF.Tensor, b: TF.Tensor) =>
    tf.reshape(tf.add(tf.matMul(tf.reshape(h, [B * T, C]), w, false, true), b), [B, T, C]);
  const heads = (h: TF.Tensor) => tf.transpose(tf.reshape(h, [B, T, nh, hs]), [0, 2, 1, 3]);
  const reference = (xt: TF.Tensor, wqt: TF.Tensor) => {
    const q = heads(lin(xt, wqt, bq)),
      k = heads(lin(xt, wk, bk)),
      v = heads(lin(xt, wv, bv));
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hs)), W(mask));
    const out = tf.reshape(tf.transpose(tf.matMul(tf.softmax(scores), v), [0, 2, 1, 3]), [B, T, C]);
    return lin(out, wo, bo);
  };
  const yRef = reference(W(x), wq);
  assert.ok(close(y.data, yRef.dataSync(), 1e-4), 'forward differs from tfjs');
  const [gx, gwq] = tf.grads((xt: TF.Tensor, wqt: TF.Tensor) =>
    tf.sum(tf.mul(reference(xt, wqt), W(r))),
  )([W(x), wq]);
  assert.ok(close(x.grad!.data, gx.dataSync(), 1e-4), 'dL/dx differs from tfjs');
  assert.ok(close(attn.query.weight.grad!.data, gwq.dataSync(), 1e-4), 'dL/dWq differs from tfjs');
});

test('MultiHeadAttention gradchecks in float64 (self and cross, masked)', () => {
  manualSeed(1);
  const attn = new MultiHeadAttention(6, 3).to('float64');
  const self = gradcheck(
    (x) => attn.forward(x, { causal: true }),
    [randn([2, 4, 6], { dtype: 'float64' })],
  );
  assert.ok(self.ok, self.worst);
  const cross = gradcheck(
    (x, m) => attn.forward(x, { memory: m }),
    [randn([2, 3, 6], { dtype: 'float64' }), randn([2, 5, 6], { dtype: 'float64' })],
  );
  assert.ok(cross.ok, cross.worst);
  const weight = gradcheck(
    (w) => {
      attn.query.weight = w;
      return attn.forward(randnFixed(), { causal: true });
    },
    [randn([6, 6], { dtype: 'float64' })],
  );
  assert.ok(weight.ok, weight.worst);
});
const fixedInput = randn([1, 4, 6], { dtype: 'float64' });
const randnFixed = () => fixedInput;

const small: TransformerConfig = { vocabSize: 11, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16 };

for (const norm of ['pre', 'post'] as const) {
  test(`TransformerLM (${norm}-norm) block gradchecks in float64`, () => {
    manualSeed(2);
    const lm = new TransformerLM({ ...small, nLayer: 1, nEmbd: 8, norm, vocabSize: 5 }).to(
      'float64',
    );
    const res = gradcheck(
      (x) => lm.blocks.at(0).forward(x),
      [randn([2, 3, 8], { dtype: 'float64' })],
    );
    assert.ok(res.ok, res.worst);
  });
}

test('causal LM: perturbing token t+1 leaves the logits at positions ≤ t unchanged', () => {
  manualSeed(3);
  const lm = new TransformerLM(small).eval();
  const ids = randint(0, 11, [1, 8]);
  const before = noGrad(() => lm.forward(ids).logits);
  const changed = tensor(new Int32Array(ids.data), { shape: [1, 8] });
  changed.data[5] = (changed.data[5] + 1) % 11;
  const after = noGrad(() => lm.forward(changed).logits);
  const V = 11;
  assert.equal(
    Array.from(after.data.subarray(0, 5 * V)),
    Array.from(before.data.subarray(0, 5 * V)),
  );
  assert.not.equal(Array.from(after.data.subarray(5 * V)), Array.from(before.data.subarray(5 * V)));
});

test('seq2seq: source padding never leaks into the output', () => {
  manualSeed(4);
  const model = new Seq2SeqTransformer(small).eval();
  const src = tensor(new Int32Array([5, 6, 7, 0, 0]), { shape: [1, 5] });
  const pad = tensor([[1, 1, 1, 0, 0]]);
  const tgt = tensor(new Int32Array([1, 8, 9]), { shape: [1, 3] });
  const a = noGrad(() => model.forward(src, tgt, { srcPad: pad }).logits);
  const src2 = tensor(new Int32Array([5, 6, 7, 9, 3]), { shape: [1, 5] });
  const b = noGrad(() => model.forward(src2, tgt, { srcPad: pad }).logits);
  assert.ok(close(a.data, b.data, 1e-6));
});

test('KV-cache generation equals greedy decoding by full recomputation', () => {
  manualSeed(5);
  const lm = new TransformerLM({ ...small, blockSize: 8 }).eval();
  const prompt = randint(0, 11, [2, 3]);
  const cached = lm.generate(prompt, 9); // passes blockSize: exercises the window restart
  let ids = prompt;
  for (let n = 0; n < 9; n++) {
    const window = ids.shape[1] > 8 ? ids.narrow(1, ids.shape[1] - 8, 8) : ids;
    const logits = noGrad(() => lm.forward(window).logits);
    const next = logits.narrow(1, window.shape[1] - 1, 1).argmax(-1); // (2, 1)
    ids = tensor(
      new Int32Array([
        ...ids.data.subarray(0, ids.shape[1]),
        next.data[0],
        ...ids.data.subarray(ids.shape[1]),
        next.data[1],
      ]),
      { shape: [2, ids.shape[1] + 1] },
    );
  }
  assert.equal(Array.from(cached.data), Array.from(ids.data));
});

test('seq2seq KV-cache decoding equals full recomputation', () => {
  manualSeed(6);
  const model = new Seq2SeqTransformer(small).eval();
  const src = randint(4, 11, [2, 6]);
  const out = model.generate(src, { bos: 1, eos: 2, maxLen: 7 });
  let tgt = [[1], [1]];
  for (let t = 0; t < 7; t++) {
    const logits = noGrad(
      () => model.forward(src, tensor(new Int32Array(tgt.flat()), { shape: [2, t + 1] })).logits,
    );
    const next = logits.narrow(1, t, 1).argmax(-1);
    tgt = tgt.map((row, b) => [...row, next.data[b]]);
  }
  tgt.forEach((row, b) => {
    const untilEos = row.slice(1);
    const cut = untilEos.indexOf(2);
    assert.equal(out[b], cut === -1 ? untilEos : untilEos.slice(0, cut));
  });
});

test('loss at init ≈ ln V', () => {
  manualSeed(7);
  const V = 64;
  const lm = new TransformerLM({ ...small, vocabSize: V });
  const { loss } = lm.forward(randint(0, V, [4, 16]), randint(0, V, [4, 16]));
  assert.ok(
    Math.abs(loss!.item() - Math.log(V)) < 0.05,
    `init loss ${loss!.item()} vs ln V ${Math.log(V)}`,
  );
});

test('a small TransformerLM overfits one batch (loss < 0.05)', () => {
  manualSeed(8);
  const lm = new TransformerLM({ ...small, norm: 'pre' });
  const x = randint(0, 11, [4, 12]),
    y = randint(0, 11, [4, 12]);
  for (let b = 0; b < 4; b++) x.data[b * 12] = b; // distinct first tokens: every prefix is unique, so the loss can reach 0
  const params = lm.parameters();
  const m = params.map((p) => new Float64Array(p.size)),
    v = params.map((p) => new Float64Array(p.size));
  let loss = Infinity;
  for (let step = 1; step <= 250; step++) {
    lm.zeroGrad();
    const out = lm.forward(x, y);
    out.loss!.backward();
    loss = out.loss!.item();
    // a bare Adam step (nn/optim.ts is the real one): lr 1e-2, β = (0.9, 0.999)
    params.forEach((p, k) =>
      p.data.forEach((w, i) => {
        const g = p.grad!.data[i];
        m[k][i] = 0.9 * m[k][i] + 0.1 * g;
        v[k][i] = 0.999 * v[k][i] + 0.001 * g * g;
        p.data[i] =
          w -
          (1e-2 * (m[k][i] / (1 - 0.9 ** step))) /
            (Math.sqrt(v[k][i] / (1 - 0.999 ** step)) + 1e-8);
      }),
    );
  }
  assert.ok(loss < 0.05, `final loss ${loss}`);
});

test('bad configs throw errors naming the field', () => {
  assert.throws(
    () => new TransformerLM({ ...small, nEmbd: 10, nHead: 4 }),
    /nEmbd 10 is not divisible by nHead 4/,
  );
  assert.throws(
    () => new TransformerLM({ ...small, norm: 'mid' as 'pre' }),
    /norm must be one of pre, post, got 'mid'/,
  );
  assert.throws(
    () => new TransformerLM({ ...small, nLayer: 0 }),
    /nLayer must be a positive integer, got 0/,
  );
  assert.throws(
    () => new TransformerLM(small).forward(randint(0, 11, [1, 17])),
    /exceeds blockSize 16/,
  );
});

test.run();
