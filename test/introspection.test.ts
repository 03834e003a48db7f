// What the experiments read off a model: per block, the hidden states and the attention weights of
// every mixer that forms them (forward with { inspect: true }), unchanged results when asked; the
// masked LM (bidirectional, any mixer); and the two log-n forms (clamped at our base, or the
// article's: base 512, no clamp).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { manualSeed, noGrad, randint, randn, tensor, type Tensor } from '../lib/index.ts';
import { Adam } from '../nn/index.ts';
import { attentionNames, MaskedLM, MultiHeadAttention, TransformerLM } from '../models/index.ts';
import { VOCAB, variantConfig } from './helpers/variants.ts';

const V = VOCAB;
const configOf = variantConfig;
const same = (a: Tensor, b: Tensor) => Array.from(a.data).every((v, i) => Object.is(v, b.data[i]));

for (const attention of attentionNames) {
  test(`${attention}: inspect returns per-block hidden states and attention weights, logits unchanged`, () => {
    manualSeed(1);
    const lm = new TransformerLM(configOf(attention)).eval();
    const ids = randint(0, V, [2, 9]);
    const plain = noGrad(() => lm.forward(ids));
    const seen = noGrad(() => lm.forward(ids, undefined, { inspect: true }));
    assert.ok(same(plain.logits, seen.logits), 'inspecting changed the logits');
    assert.is(plain.trace, undefined);
    const { hidden, attention: weights } = seen.trace!;
    assert.equal(
      hidden.map((h) => h.shape),
      [
        [2, 9, 16],
        [2, 9, 16],
      ],
    );
    assert.is(weights.length, 2);
    for (const w of weights) {
      if (attention === 'flash') {
        assert.is(w, null, 'FLASH forms no T×T weights');
        continue;
      }
      assert.ok(w, 'no weights');
      const [B, heads, T, S] = w.shape;
      assert.equal([B, T, S], [2, 9, 9]);
      assert.ok(heads === 2 || (heads === 1 && attention === 'gau'), `heads ${heads}`);
      for (let row = 0; row < B * heads * T; row++) {
        const t = row % T;
        const weightsOf = Array.from(w.data.subarray(row * S, (row + 1) * S));
        assert.ok(
          weightsOf.every((x) => x >= 0),
          'a negative weight',
        );
        assert.ok(
          weightsOf.slice(t + 1).every((x) => x === 0),
          `causal row ${t} sees the future`,
        );
        const total = weightsOf.reduce((a, b) => a + b, 0);
        if (attention !== 'gau') assert.ok(Math.abs(total - 1) < 1e-4, `row sum ${total}`);
      }
    }
  });
}

test('MaskedLM: ln V at init, bidirectional (a later token moves an earlier output), padding isolated', () => {
  manualSeed(2);
  const mlm = new MaskedLM({ ...configOf('softmax'), norm: 'pre' }).eval();
  const ids = randint(0, V, [2, 8]);
  const { loss, logits } = noGrad(() => mlm.forward(ids, randint(0, V, [2, 8])));
  assert.ok(Math.abs(loss!.item() - Math.log(V)) < 0.15, `init loss ${loss!.item()}`);
  const changed = tensor(
    Int32Array.from(ids.data, (id, i) => (i === 7 ? (id + 1) % V : id)),
    {
      shape: [2, 8],
    },
  );
  const moved = noGrad(() => mlm.forward(changed).logits);
  assert.not.ok(same(logits.narrow(1, 0, 1), moved.narrow(1, 0, 1)), 'position 0 ignores 7');
  const keep = tensor([
    [1, 1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 1, 1, 0, 0],
  ]);
  const garbage = tensor(
    Int32Array.from(ids.data, (id, i) => (i >= 14 ? (id + 3) % V : id)),
    {
      shape: [2, 8],
    },
  );
  const real = (x: Tensor) =>
    noGrad(() => mlm.forward(x, undefined, { keep }).logits.narrow(1, 0, 6));
  assert.ok(same(real(ids), real(garbage)), 'padding reached a real position');
});

for (const attention of ['softmax', 'gau', 'linear', 'local'] as const) {
  test(`MaskedLM (${attention}) learns to fill masked positions of one batch`, () => {
    manualSeed(3);
    const mlm = new MaskedLM({ ...configOf(attention), norm: 'pre' });
    const ids = randint(4, V, [4, 8]);
    const targets = tensor(
      Int32Array.from(ids.data, (id, i) => (i % 3 === 0 ? id : -100)),
      {
        shape: [4, 8],
      },
    );
    const masked = tensor(
      Int32Array.from(ids.data, (id, i) => (i % 3 === 0 ? 3 : id)),
      {
        shape: [4, 8],
      },
    );
    const optimizer = new Adam(mlm.namedParameters(), { lr: 1e-2 });
    let loss = Infinity;
    for (let step = 0; step < 80; step++) {
      optimizer.zeroGrad();
      const out = mlm.forward(masked, targets);
      out.loss!.backward();
      optimizer.step();
      loss = out.loss!.item();
    }
    assert.ok(loss < 0.5, `masked loss after 80 steps ${loss}`);
  });
}

test("log n: clamped at its base (nothing changes up to it) or the article's form (base 512, no clamp)", () => {
  manualSeed(4);
  const q = randn([1, 2, 64, 4]),
    k = randn([1, 2, 64, 4]);
  const plain = new MultiHeadAttention(8, 2).logits(q, k);
  const ratio = (settings: ConstructorParameters<typeof MultiHeadAttention>[3]) =>
    new MultiHeadAttention(8, 2, 0, settings).logits(q, k).data[5] / plain.data[5];
  const article = Math.log(64) / Math.log(512); // 2/3: every query sees 64 keys
  assert.ok(Math.abs(ratio({ scale: 'logn', lognBase: 512, lognClamp: false }) - article) < 1e-5);
  assert.ok(Math.abs(ratio({ scale: 'logn', lognBase: 512 }) - 1) < 1e-6, 'clamped: κ = 1');
  assert.ok(Math.abs(ratio({ scale: 'logn', trainLen: 8 }) - 2) < 1e-5, 'log 64 / log 8 = 2');
});

test.run();
