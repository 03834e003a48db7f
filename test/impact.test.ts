// Perturbed Masking's impact (analysis/impact.ts) on tiny masked LMs: the batched copies give
// what one copy at a time gives, the adjacent form runs 2T − 1 copies, a token outside another's
// receptive field (local attention) has impact exactly 0, spans average their vectors; the other
// measures (cosine, kl, logprob, a middle layer) agree with the same copies read by hand through
// MaskedLM.forward's logits and trace; and the masked LM's masked-rows loss equals the full-head
// loss.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { manualSeed, noGrad, tensor } from '../lib/index.ts';
import { MaskedLM, type TransformerConfig } from '../models/index.ts';
import {
  adjacentImpacts,
  impactMatrix,
  spanImpacts,
  tokenImpacts,
  type Span,
} from '../analysis/impact.ts';

const V = 12,
  MASK = 11;
const config: TransformerConfig = {
  vocabSize: V,
  blockSize: 16,
  nLayer: 2,
  nHead: 2,
  nEmbd: 16,
  ffnHidden: 32,
  norm: 'pre',
};
const ids = [3, 1, 4, 1, 5, 9, 2, 6, 5];

function model(overrides: Partial<TransformerConfig> = {}): MaskedLM {
  manualSeed(7);
  return new MaskedLM({ ...config, ...overrides });
}

/** f(a, b) the slow way: each masked copy alone through the model. */
function naive(mlm: MaskedLM, a: Span, b: Span): number {
  const C = config.nEmbd;
  const stateOf = (masked: number[]) => {
    const input = Int32Array.from(ids, (id, t) => (masked.includes(t) ? MASK : id));
    const h = noGrad(() => mlm.eval().hidden(tensor(input, { shape: [1, ids.length] }))).data;
    const mean = new Float64Array(C);
    for (let t = a[0]; t < a[1]; t++)
      for (let c = 0; c < C; c++) mean[c] += h[t * C + c] / (a[1] - a[0]);
    return mean;
  };
  const span = ([s, e]: Span) => Array.from({ length: e - s }, (_, k) => s + k);
  const [alone, both] = [stateOf(span(a)), stateOf([...span(a), ...span(b)])];
  return Math.hypot(...alone.map((v, c) => v - both[c]));
}

/** One masked copy by hand: its states after each block, its final states, its log-probabilities. */
function readCopy(mlm: MaskedLM, masked: number[]) {
  const input = tensor(
    Int32Array.from(ids, (id, t) => (masked.includes(t) ? MASK : id)),
    { shape: [1, ids.length] },
  );
  const out = noGrad(() => mlm.eval().forward(input, undefined, { inspect: true }));
  const final = noGrad(() => mlm.hidden(input)).data;
  const logP = noGrad(() => out.logits.logSoftmax(-1)).data;
  const C = config.nEmbd;
  return {
    state: (layer: number, t: number) =>
      out.trace!.hidden[layer - 1].data.slice(t * C, (t + 1) * C),
    final: (t: number) => final.slice(t * C, (t + 1) * C),
    logP: (t: number) => Array.from(logP.slice(t * V, (t + 1) * V)),
  };
}

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));

test('tokenImpacts: batched copies give what one copy at a time gives', () => {
  const mlm = model();
  const pairs: [number, number][] = [
    [0, 1],
    [1, 0],
    [2, 7],
    [8, 3],
    [4, 5],
  ];
  const f = tokenImpacts(mlm, ids, pairs, { maskId: MASK, batchSize: 3 });
  assert.ok(mlm.training, 'the model was left in eval mode');
  pairs.forEach(([i, j], k) => {
    const want = naive(mlm, [i, i + 1], [j, j + 1]);
    assert.ok(want > 0, `f(${i}, ${j}) is 0`);
    assert.ok(close(f[k], want), `f(${i}, ${j}) = ${f[k]}, one at a time ${want}`);
  });
});

test('adjacentImpacts: 2T − 1 copies, f(i, i+1) and f(i+1, i) of the pairwise form', () => {
  const mlm = model();
  const { right, left, copies } = adjacentImpacts(mlm, ids, { maskId: MASK });
  assert.is(copies, 2 * ids.length - 1);
  assert.is(right.length, ids.length - 1);
  const pairs = Array.from(right, (_, i) => [
    [i, i + 1],
    [i + 1, i],
  ]).flat() as [number, number][];
  const f = tokenImpacts(mlm, ids, pairs, { maskId: MASK });
  right.forEach((r, i) => {
    assert.ok(close(r, f[2 * i]) && close(left[i], f[2 * i + 1]), `pair ${i}`);
  });
  assert.is(adjacentImpacts(mlm, [4], { maskId: MASK }).copies, 0);
});

test('impact is exactly 0 outside the receptive field: one layer of local attention, window 1', () => {
  const mlm = model({ nLayer: 1, attention: 'local', window: 1 });
  const F = impactMatrix(
    mlm,
    ids,
    ids.map((_, t) => [t, t + 1] as Span),
    { maskId: MASK },
  );
  F.forEach((row, i) =>
    row.forEach((f, j) => {
      if (i === j || Math.abs(i - j) > 1) assert.is(f, 0, `F[${i}][${j}] = ${f}`);
      else assert.ok(f > 1e-3, `F[${i}][${j}] = ${f}: a neighbour should matter`);
    }),
  );
});

test('spanImpacts: all tokens of both spans masked, span a averaged', () => {
  const mlm = model();
  const pairs: [Span, Span][] = [
    [
      [0, 2],
      [2, 5],
    ],
    [
      [5, 9],
      [1, 2],
    ],
  ];
  const f = spanImpacts(mlm, ids, pairs, { maskId: MASK });
  pairs.forEach(([a, b], k) => assert.ok(close(f[k], naive(mlm, a, b)), `pair ${k}: ${f[k]}`));
});

test('impact: errors name the function and the bad value', () => {
  const mlm = model();
  const o = { maskId: MASK };
  assert.throws(() => tokenImpacts(mlm, [], [], o), /tokenImpacts|spanImpacts: ids must hold/);
  assert.throws(() => tokenImpacts(mlm, Array(17).fill(1), [], o), /17 tokens are too many/);
  assert.throws(() => tokenImpacts(mlm, [1, 12], [[0, 1]], o), /ids\[1\] = 12/);
  assert.throws(() => tokenImpacts(mlm, ids, [[0, 0]], o), /overlap/);
  assert.throws(() => tokenImpacts(mlm, ids, [[0, 9]], o), /span \[9,10\]/);
  assert.throws(() => tokenImpacts(mlm, ids, [[0, 1]], { maskId: 12 }), /maskId/);
});

test('measures: cosine, kl, logprob and a middle layer are the hand-read copies', () => {
  const mlm = model();
  const pairs: [number, number][] = [
    [0, 1],
    [3, 2],
    [6, 8],
  ];
  const of = (measure: 'cosine' | 'kl' | 'logprob' | 'hidden', layer?: number) =>
    tokenImpacts(mlm, ids, pairs, { maskId: MASK, measure, layer });
  const [cosine, kl, logprob, middle] = [of('cosine'), of('kl'), of('logprob'), of('hidden', 1)];
  pairs.forEach(([i, j], k) => {
    const [alone, both] = [readCopy(mlm, [i]), readCopy(mlm, [i, j])];
    // cosine reads the final states (after the final norm), as hidden does
    const [a, b] = [alone.final(i), both.final(i)];
    let [ab, aa, bb] = [0, 0, 0];
    a.forEach((v, c) => ((ab += v * b[c]), (aa += v * v), (bb += b[c] * b[c])));
    const wantCosine = 1 - ab / Math.sqrt(aa * bb);
    const [p, q] = [alone.logP(i), both.logP(i)];
    const wantKl = p.reduce((sum, lp, v) => sum + Math.exp(lp) * (lp - q[v]), 0);
    const wantLogprob = p[ids[i]] - q[ids[i]];
    const [h1, h2] = [alone.state(1, i), both.state(1, i)];
    const wantMiddle = Math.hypot(...Array.from(h1, (v, c) => v - h2[c]));
    assert.ok(wantCosine > 1e-6 && wantKl > 1e-6 && wantMiddle > 1e-4, `pair ${k} is trivial`);
    assert.ok(close(cosine[k], wantCosine), `cosine ${k}: ${cosine[k]} vs ${wantCosine}`);
    assert.ok(close(kl[k], wantKl), `kl ${k}: ${kl[k]} vs ${wantKl}`);
    assert.ok(
      Math.abs(logprob[k] - wantLogprob) < 1e-4,
      `logprob ${k}: ${logprob[k]} vs ${wantLogprob}`,
    );
    assert.ok(close(middle[k], wantMiddle), `layer 1 ${k}: ${middle[k]} vs ${wantMiddle}`);
  });
  // the middle layer is not the final one: the final norm and block 2 lie between
  assert.ok(Math.abs(middle[0] - of('hidden')[0]) > 1e-3);
});

test('measures: kl and logprob are exactly 0 outside the receptive field, and checked', () => {
  const mlm = model({ nLayer: 1, attention: 'local', window: 1 });
  const o = { maskId: MASK };
  for (const measure of ['kl', 'logprob'] as const) {
    const f = tokenImpacts(
      mlm,
      ids,
      [
        [0, 3],
        [5, 2],
        [4, 5],
      ],
      { ...o, measure },
    );
    assert.is(f[0], 0);
    assert.is(f[1], 0);
    assert.ok(Math.abs(f[2]) > 1e-6, `${measure}: a neighbour should matter`);
  }
  const two = model();
  assert.throws(
    () => tokenImpacts(two, ids, [[0, 1]], { ...o, layer: 3 }),
    /layer must be .*\[1, 2\], got 3/,
  );
  assert.throws(
    () => tokenImpacts(two, ids, [[0, 1]], { ...o, measure: 'kl', layer: 1 }),
    /kl reads the head/,
  );
  const bad = { ...o, measure: 'dot' as 'kl' };
  assert.throws(() => tokenImpacts(two, ids, [[0, 1]], bad), /measure must be one of .* got dot/);
});

test('MaskedLM.maskedLoss: the head on masked rows only gives the full-head loss', () => {
  const mlm = model().eval();
  const input = tensor(
    Int32Array.from(ids, (id, t) => (t % 3 === 0 ? MASK : id)),
    {
      shape: [1, ids.length],
    },
  );
  const targets = tensor(
    Int32Array.from(ids, (id, t) => (t % 3 === 0 ? id : -100)),
    {
      shape: [1, ids.length],
    },
  );
  const full = noGrad(() => mlm.forward(input, targets).loss!.item());
  const rows = noGrad(() => mlm.maskedLoss(input, targets).item());
  assert.ok(Math.abs(full - rows) < 1e-6, `${full} vs ${rows}`);
  assert.throws(() => mlm.maskedLoss(input, tensor([[1, 2]])), /maskedLoss: targets \[1,2\]/);
});

test.run();
