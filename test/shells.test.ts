// Every attention variant in both shells, through the one registry: the encoder-decoder
// (bidirectional encoder, causal decoder with cross-attention) and the decoder-only LM. For each:
// loss at init ≈ ln V, source padding never reaches the memory, step-by-step generation (with
// states where the mixer keeps them, recomputation where it does not) equal to greedy decoding
// by full recomputation, and a few Adam steps that overfit one batch.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { manualSeed, noGrad, randint, tensor, type Tensor } from '../lib/index.ts';
import { Adam } from '../nn/index.ts';
import { attentionNames, Seq2SeqTransformer, TransformerLM } from '../models/index.ts';
import { VOCAB, variantConfig } from './helpers/variants.ts';

const V = VOCAB;
const configOf = variantConfig;

/** Greedy seq2seq decoding by re-running the whole decoder on the prefix each step. */
function recomputed(model: Seq2SeqTransformer, src: Tensor, maxLen: number): number[][] {
  let rows = [[1], [1]]; // bos = 1
  for (let t = 0; t < maxLen; t++) {
    const tgt = tensor(new Int32Array(rows.flat()), { shape: [2, t + 1] });
    const next = noGrad(() => model.forward(src, tgt).logits)
      .narrow(1, t, 1)
      .argmax(-1);
    rows = rows.map((row, b) => [...row, next.data[b]]);
  }
  return rows.map((row) => {
    const cut = row.indexOf(2, 1); // eos = 2
    return cut === -1 ? row.slice(1) : row.slice(1, cut);
  });
}

for (const attention of attentionNames) {
  test(`${attention}: Seq2SeqTransformer — ln V at init, padding isolated, generation = recomputation`, () => {
    manualSeed(1);
    const model = new Seq2SeqTransformer(configOf(attention)).eval();
    const src = randint(4, V, [2, 6]);
    const tgt = randint(4, V, [2, 5]);
    const { loss } = noGrad(() => model.forward(src, tgt, { tgtOut: randint(0, V, [2, 5]) }));
    assert.ok(Math.abs(loss!.item() - Math.log(V)) < 0.15, `init loss ${loss!.item()}`);

    // row 1 has 4 real tokens: garbage in its 2 padded ones must not move its real memory rows
    const keep = tensor([
      [1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 0, 0],
    ]);
    const garbage = tensor(
      Int32Array.from(src.data, (id, i) => (i >= 10 ? 4 + ((id + 3) % 7) : id)),
      {
        shape: [2, 6],
      },
    );
    const memory = (ids: Tensor) => noGrad(() => model.encode(ids, keep).memory.narrow(1, 0, 4));
    assert.equal(Array.from(memory(garbage).data), Array.from(memory(src).data));

    const out = model.generate(src, { bos: 1, eos: 2, maxLen: 7 });
    assert.equal(out, recomputed(model, src, 7));
  });

  test(`${attention}: TransformerLM — generation (window restart included) = recomputation`, () => {
    manualSeed(2);
    const lm = new TransformerLM({ ...configOf(attention), blockSize: 8 }).eval();
    const prompt = randint(0, V, [2, 3]);
    const generated = lm.generate(prompt, 8);
    let ids = prompt;
    for (let n = 0; n < 8; n++) {
      const T = ids.shape[1];
      const window = T > 8 ? ids.narrow(1, T - 8, 8) : ids;
      const next = noGrad(() => lm.forward(window).logits)
        .narrow(1, window.shape[1] - 1, 1)
        .argmax(-1);
      const rows = [0, 1].map((b) => [...ids.data.subarray(b * T, (b + 1) * T), next.data[b]]);
      ids = tensor(new Int32Array(rows.flat()), { shape: [2, T + 1] });
    }
    assert.equal(Array.from(generated.data), Array.from(ids.data));
  });

  test(`${attention}: Seq2SeqTransformer overfits one batch (loss falls below half of ln V)`, () => {
    manualSeed(3);
    const model = new Seq2SeqTransformer({ ...configOf(attention), norm: 'pre' });
    const src = randint(4, V, [4, 6]),
      tgtIn = randint(4, V, [4, 6]),
      tgtOut = randint(4, V, [4, 6]);
    const opt = new Adam(model.namedParameters(), { lr: 1e-2 });
    let loss = Infinity;
    for (let step = 0; step < 60; step++) {
      opt.zeroGrad();
      const out = model.forward(src, tgtIn, { tgtOut });
      out.loss!.backward();
      opt.step();
      loss = out.loss!.item();
    }
    assert.ok(loss < Math.log(V) / 2, `loss after 60 steps ${loss}`);
  });
}

test.run();
