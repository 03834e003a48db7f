// GAU and FLASH (models/gau.ts, models/flash.ts): forward and gradients in float64 against the same
// attention written here with full T×T weight matrices and block masks, causality and padding
// checked bit for bit, the relu²/n normaliser on a causal row, the magnitude at init (Su's
// no-warmup argument), and small post-norm + Xavier stacks learning a toy task with no warmup.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  arange,
  crossEntropy,
  layerNorm,
  manualSeed,
  noGrad,
  ones,
  randn,
  tensor,
  where,
  type Tensor,
} from '../lib/index.ts';
import { AdamW, Embedding, Linear, Module, init } from '../nn/index.ts';
import { checkConfig, type TransformerConfig } from '../models/config.ts';
import { lmBatch, makeTask } from '../data/index.ts';
import { Block } from '../models/block.ts';
import { FlashUnit } from '../models/flash.ts';
import { gauAttention, GatedAttentionUnit } from '../models/gau.ts';
import { gradcheck } from './helpers/gradcheck.ts';
import { trainSteps } from './helpers/train-lm.ts';

const config = (o: Partial<TransformerConfig> = {}) =>
  checkConfig('gau.test', {
    vocabSize: 10,
    blockSize: 16,
    nLayer: 1,
    nHead: 1,
    nEmbd: 6,
    sharedDim: 4,
    ...o,
  });
/** A block of the registry's 'gau' or 'flash' entry: the unit, its residual and norm, no FFN. */
const makeBlock = (kind: 'gau' | 'flash', c: Required<TransformerConfig>) =>
  new Block({ ...c, attention: kind }, 0);
const unitOf = (block: Block) => block.selfAttn as GatedAttentionUnit;
const maxDiff = (a: Tensor, b: Tensor) =>
  Math.max(...Array.from(a.data, (v, i) => Math.abs(v - b.data[i])));
const rows = (t: Tensor, b: number, from: number, to: number) => {
  const [, T, C] = t.shape;
  return Array.from(t.data.subarray((b * T + from) * C, (b * T + to) * C));
};

interface RefOptions {
  causal: boolean;
  keep: number[][] | null; // (B, T)
  softmax: boolean;
  chunk: number; // GAU: ≥ T, one chunk
  logBase: number;
}

/**
 * The mixed attention with T×T matrices. Quadratic part: keys in the query's chunk (≤ t if causal),
 * relu²(QKᵀ/√s)/n_quad or softmax(κ·QKᵀ/√s). Linear part (FlashUnit only): Q_lin K_linᵀ/n_lin over
 * every key, or over the keys of earlier chunks if causal. Padding is dropped from both.
 */
function reference(unit: GatedAttentionUnit, x: Tensor, o: RefOptions): Tensor {
  const [B, T] = x.shape;
  const { e, s } = unit;
  const chunkOf = (t: number) => Math.floor(t / o.chunk);
  const masks = (visible: (t: number, j: number) => boolean) => {
    const m = new Float64Array(B * T * T),
      n = new Float64Array(B * T);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++)
        for (let j = 0; j < T; j++) {
          if (!visible(t, j) || (o.keep && !o.keep[b][j])) continue;
          m[(b * T + t) * T + j] = 1;
          n[b * T + t]++;
        }
    return {
      m: tensor(m, { shape: [B, T, T] }),
      n: tensor(
        n.map((c) => Math.max(c, 1)),
        { shape: [B, T, 1] },
      ),
    };
  };
  const quad = masks((t, j) => chunkOf(t) === chunkOf(j) && (!o.causal || j <= t));
  const lin = masks((t, j) => !o.causal || chunkOf(j) < chunkOf(t));

  const h = x.matmul(unit.hidden.weight.transpose(0, 1)).add(unit.hidden.bias!); // (B, T, 2e + s)
  const act = h.mul(h.sigmoid()); // swish
  const [u, v, z] = [act.narrow(2, 0, e), act.narrow(2, e, e), act.narrow(2, 2 * e, s)];
  const scaled = (so: { gamma: Tensor; beta: Tensor }) => z.mul(so.gamma).add(so.beta); // (B, T, s)
  const scores = scaled(unit.q).matmul(scaled(unit.k).transpose(1, 2)).div(Math.sqrt(s)); // (B, T, T)
  let a: Tensor;
  if (o.softmax) {
    const kappa = quad.n.log().div(Math.log(o.logBase)); // (B, T, 1)
    a = where(quad.m, scores.mul(kappa), -Infinity).softmax(-1); // (B, T, T)
  } else {
    a = scores.relu().pow(2).mul(quad.m).div(quad.n); // (B, T, T)
  }
  if (unit instanceof FlashUnit)
    a = a.add(scaled(unit.qLin).matmul(scaled(unit.kLin).transpose(1, 2)).mul(lin.m).div(lin.n));
  const y = u.mul(a.matmul(v)); // (B, T, e)
  return y.matmul(unit.out.weight.transpose(0, 1)).add(unit.out.bias!); // (B, T, C)
}

const referenceBlock = (block: Block, x: Tensor, o: RefOptions) => {
  const { norm, pre } = block.sub1;
  const ln = (t: Tensor) => layerNorm(t, norm.weight, norm.bias, 1e-5);
  return pre
    ? x.add(reference(unitOf(block), ln(x), o))
    : ln(x.add(reference(unitOf(block), x, o)));
};

const grads = (m: Module, x: Tensor, f: () => Tensor, r: Tensor) => {
  m.zeroGrad();
  x.grad = null;
  f().mul(r).sum().backward();
  return [x.grad!, ...m.parameters().map((p) => p.grad!)];
};

const variants = [
  { causal: false, padded: false, softmax: false, norm: 'post' },
  { causal: true, padded: true, softmax: false, norm: 'pre' },
  { causal: false, padded: true, softmax: true, norm: 'pre' },
  { causal: true, padded: false, softmax: true, norm: 'post' },
] as const;

for (const kind of ['gau', 'flash'] as const) {
  for (const v of variants) {
    const name = `${v.causal ? 'causal' : 'bidirectional'}${v.padded ? ', padded' : ''}, ${v.softmax ? 'softmax log-n' : 'relu²/n'}, ${v.norm}-norm`;
    test(`${kind} block (${name}) matches the T×T reference, forward and gradients, float64`, () => {
      manualSeed(1);
      const [B, T, chunk, trainLen] = [2, 7, 3, 5];
      const c = config({ norm: v.norm, scale: v.softmax ? 'logn' : 'sqrt', chunk, trainLen });
      const block = makeBlock(kind, c).to('float64');
      for (const p of block.parameters()) init.normal(p, 0.5, 0.3); // away from γ = 1, β = 0 and zero biases
      const keepRows = v.padded
        ? [
            [1, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 0, 0, 0],
          ]
        : null;
      const keep = keepRows && tensor(keepRows, { dtype: 'float64' });
      const x = randn([B, T, c.nEmbd], { dtype: 'float64', requiresGrad: true });
      const refChunk = kind === 'gau' ? T : chunk;
      const o = {
        causal: v.causal,
        keep: keepRows,
        softmax: v.softmax,
        chunk: refChunk,
        logBase: kind === 'gau' ? trainLen : Math.min(chunk, trainLen),
      };
      const y = block.forward(x, { causal: v.causal, keep });
      const yRef = referenceBlock(block, x, o);
      assert.ok(maxDiff(y, yRef) < 1e-12, `forward differs by ${maxDiff(y, yRef)}`);

      const r = randn([B, T, c.nEmbd], { dtype: 'float64' });
      const got = grads(block, x, () => block.forward(x, { causal: v.causal, keep }), r);
      const want = grads(block, x, () => referenceBlock(block, x, o), r);
      got.forEach((g, i) =>
        assert.ok(maxDiff(g, want[i]) < 1e-10, `gradient ${i} differs by ${maxDiff(g, want[i])}`),
      );

      block.zeroGrad();
      const check = gradcheck((xx) => block.forward(xx, { causal: v.causal, keep }), [x.detach()]);
      assert.ok(check.ok, check.worst);
      const unit = unitOf(block);
      const params = [
        unit.q.gamma,
        unit.k.beta,
        unit.hidden.weight,
        ...(unit instanceof FlashUnit ? [unit.qLin.gamma, unit.kLin.beta] : []),
      ];
      const x0 = x.detach();
      block.zeroGrad();
      const checkP = gradcheck(() => block.forward(x0, { causal: v.causal, keep }), params);
      assert.ok(checkP.ok, checkP.worst);
    });
  }
}

for (const kind of ['gau', 'flash'] as const) {
  for (const softmax of [false, true]) {
    test(`${kind} (${softmax ? 'softmax' : 'relu²'}): changing token t + 1 leaves every output ≤ t bit for bit`, () => {
      manualSeed(2);
      const c = config({ nEmbd: 8, chunk: 4, scale: softmax ? 'logn' : 'sqrt' });
      const block = makeBlock(kind, c).eval();
      const T = 10;
      const x = randn([1, T, 8]);
      const before = noGrad(() => block.forward(x, { causal: true }));
      for (let t = 0; t < T - 1; t++) {
        const changed = tensor(new Float32Array(x.data), { shape: [1, T, 8] });
        for (let i = 0; i < 8; i++) changed.data[(t + 1) * 8 + i] += 1;
        const after = noGrad(() => block.forward(changed, { causal: true }));
        assert.equal(rows(after, 0, 0, t + 1), rows(before, 0, 0, t + 1), `an output ≤ ${t} moved`);
        assert.not.equal(rows(after, 0, t + 1, t + 2), rows(before, 0, t + 1, t + 2));
      }
    });
  }
}

for (const kind of ['gau', 'flash'] as const) {
  test(`${kind}: padded tokens never reach a real position (causal and bidirectional, relu² and softmax)`, () => {
    manualSeed(3);
    const [T, C] = [9, 8];
    const keep = tensor([
      [1, 1, 1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 0, 0, 0, 0],
    ]);
    const x = randn([2, T, C]);
    const garbage = tensor(new Float32Array(x.data), { shape: [2, T, C] });
    for (let i = (T + 5) * C; i < 2 * T * C; i++) garbage.data[i] = 100 * Math.sin(i);
    for (const scale of ['sqrt', 'logn'] as const) {
      const c = config({ nEmbd: C, chunk: 4, scale });
      const block = makeBlock(kind, c).eval();
      for (const causal of [false, true]) {
        const a = noGrad(() => block.forward(x, { causal, keep }));
        const b = noGrad(() => block.forward(garbage, { causal, keep }));
        assert.equal(rows(b, 0, 0, T), rows(a, 0, 0, T), `${scale}, causal ${causal}: row 0 moved`);
        assert.equal(
          rows(b, 1, 0, 5),
          rows(a, 1, 0, 5),
          `${scale}, causal ${causal}: a real position moved`,
        );
      }
    }
  });
}

test('relu²/n divides causal row t by its visible keys: t + 1, minus padding', () => {
  manualSeed(4);
  const [L, s] = [5, 4];
  const q = ones([1, L, s], { dtype: 'float64' }); // every score is s/√s = 2, so every weight relu²(2)/n = 4/n
  const v = randn([1, L, 3], { dtype: 'float64' });
  const mean = (keys: number[]) =>
    [0, 1, 2].map((d) => keys.reduce((acc, j) => acc + v.data[j * 3 + d], 0) / keys.length);
  const causal = gauAttention(q, q, v, { causal: true });
  for (let t = 0; t < L; t++) {
    const want = mean(Array.from({ length: t + 1 }, (_, j) => j)).map((m) => 4 * m);
    want.forEach((w, d) =>
      assert.ok(
        Math.abs(causal.data[t * 3 + d] - w) < 1e-12,
        `row ${t}: ${causal.data[t * 3 + d]} vs ${w}`,
      ),
    );
  }
  const padded = gauAttention(q, q, v, {
    causal: true,
    keep: tensor([[1, 0, 1, 1, 1]], { dtype: 'float64' }),
  });
  const row3 = mean([0, 2, 3]).map((m) => 4 * m); // n = 3 for row 3: keys 0, 2, 3
  row3.forEach((w, d) =>
    assert.ok(
      Math.abs(padded.data[3 * 3 + d] - w) < 1e-12,
      `padded row 3: ${padded.data[3 * 3 + d]} vs ${w}`,
    ),
  );
});

test('init probe: ‖GAU(x)‖/‖x‖ is small at init (d 64, e 128, s 32, n 64)', () => {
  manualSeed(5);
  const c = config({ nEmbd: 64, sharedDim: 32, blockSize: 64 });
  const block = makeBlock('gau', c);
  const x = randn([4, 64, 64]);
  const norm = (t: Tensor) => Math.sqrt(Array.from(t.data).reduce((acc, v) => acc + v * v, 0));
  const ratio = () => noGrad(() => norm(unitOf(block).forward(x)) / norm(x));
  const xavier = ratio(); // Su's recipe: Xavier on the fused (C → 2e + s) matrix, γ = 1, β = 0
  for (const p of block.parameters()) if (p.ndim >= 2) init.normal(p, 1 / Math.sqrt(p.shape[1]));
  const lecun = ratio(); // the init of Su's estimate (≈ 0.01) and the spec's check (≈ 0.05–0.07)
  console.log(
    `  init probe ‖GAU(x)‖/‖x‖: Xavier ${xavier.toFixed(4)}, LeCun normal ${lecun.toFixed(4)}`,
  );
  assert.ok(xavier < 0.01, `Xavier: ${xavier}`);
  assert.ok(lecun > 0.02 && lecun < 0.1, `LeCun: ${lecun}`);
});

/** Embedding + learned positions → k GAU (or FLASH) blocks → head: a FLASH-Quad-style LM. */
class GauStack extends Module {
  tokens: Embedding;
  positions: Embedding;
  blocks: Block[];
  head: Linear;
  constructor(c: Required<TransformerConfig>, kind: 'gau' | 'flash') {
    super();
    this.tokens = new Embedding(c.vocabSize, c.nEmbd);
    this.positions = new Embedding(c.blockSize, c.nEmbd);
    this.blocks = Array.from({ length: c.nLayer }, () => makeBlock(kind, c));
    this.head = new Linear(c.nEmbd, c.vocabSize);
    init.normal(this.head.weight, 0.02);
    init.zeros(this.head.bias!);
  }
  forward(ids: Tensor, keep: Tensor): Tensor {
    const [, T] = ids.shape;
    let x = this.tokens
      .forward(ids)
      .add(this.positions.forward(arange(0, T, 1, { dtype: 'int32' }))); // (B, T, C)
    for (const block of this.blocks) x = block.forward(x, { causal: true, keep });
    return this.head.forward(x); // (B, T, V)
  }
}

for (const [kind, bound] of [
  ['gau', 0.35],
  ['flash', 0.35],
] as const) {
  test(`${kind}: 4 post-norm Xavier blocks learn 'sort' with constant lr, no warmup (held-out loss < ${bound})`, () => {
    manualSeed(6);
    const task = makeTask('sort', { minLen: 2, maxLen: 5, numSymbols: 6, seed: 6 });
    const c = config({
      vocabSize: task.vocabSize,
      nEmbd: 16,
      sharedDim: 8,
      nLayer: 4,
      chunk: 4,
      norm: 'post',
    });
    const model = new GauStack(c, kind);
    const opt = new AdamW(model.namedParameters(), { lr: 5e-3, weightDecay: 0 });
    const lossOn = (batch: ReturnType<typeof lmBatch>) =>
      crossEntropy(model.forward(batch.tokens, batch.pad), batch.targets);
    const heldOut = lmBatch(task.heldOut(64));
    const first = noGrad(() => lossOn(heldOut).item());
    trainSteps(task, opt, 250, lossOn);
    const last = noGrad(() => lossOn(heldOut).item());
    console.log(`  ${kind}: held-out loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
    assert.ok(
      Math.abs(first - Math.log(task.vocabSize)) < 0.1,
      `loss at init ${first} vs ln V ${Math.log(task.vocabSize)}`,
    );
    assert.ok(last < bound, `held-out loss ${last}`);
  });
}

test.run();
