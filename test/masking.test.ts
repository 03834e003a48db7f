// data/ for the masked LM and the length experiments: BERT's masking (15% chosen, 80/10/10, at
// least one a row, targets only where chosen, seeded on its own stream), the MASK token of the
// char vocabulary, repeated-text windows (second half = first half; a fraction of training
// windows, the rest unchanged), and the fixed evaluation windows at several lengths (the same
// targets at every length, for the causal LM and the masked LM, plain and repeated).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { manualSeed, tensor, type Tensor } from '../lib/index.ts';
import { random } from '../lib/random.ts';
import {
  CharDataset,
  MASK_SYMBOL,
  MaskAction,
  applyMask,
  drawMask,
  lengthWindows,
  maskTokens,
  maskedTextStream,
  repeatTail,
  seedStream,
  textStream,
} from '../data/index.ts';

const rows = (t: Tensor) =>
  Array.from({ length: t.shape[0] }, (_, b) =>
    Array.from(t.data.subarray(b * t.shape[1], (b + 1) * t.shape[1])),
  );
const V = 21,
  MASK = 20;
const ids = (B: number, T: number) =>
  tensor(
    Int32Array.from({ length: B * T }, (_, i) => (i * 7) % MASK),
    { shape: [B, T] },
  );

test('drawMask: 15% chosen, of them 80% MASK, 10% random, 10% kept (200 × 100 positions)', () => {
  const [pattern] = drawMask(200, 100, { stream: seedStream(1), maskId: MASK, vocabSize: V });
  const count = (a: number) => pattern.action.filter((x) => x === a).length;
  const chosen = 20_000 - count(MaskAction.none);
  // σ of the chosen fraction ≈ 0.0025; of each share of the chosen ≈ 0.007
  assert.ok(Math.abs(chosen / 20_000 - 0.15) < 0.01, `chosen ${chosen / 20_000}`);
  const share = (a: number) => count(a) / chosen;
  assert.ok(Math.abs(share(MaskAction.mask) - 0.8) < 0.025, `MASK ${share(MaskAction.mask)}`);
  assert.ok(Math.abs(share(MaskAction.random) - 0.1) < 0.025, `random ${share(MaskAction.random)}`);
  assert.ok(Math.abs(share(MaskAction.keep) - 0.1) < 0.025, `kept ${share(MaskAction.keep)}`);
  // random replacements: every id but MASK, roughly uniformly
  const replaced = pattern.replacement.filter((_, i) => pattern.action[i] === MaskAction.random);
  assert.ok(replaced.every((id) => id >= 0 && id < V && id !== MASK));
  assert.is(new Set(replaced).size, V - 1);
});

test('maskTokens: targets = original ids at chosen positions, −100 elsewhere; inputs replaced', () => {
  const original = ids(50, 40);
  const { input, targets } = maskTokens(original, {
    stream: seedStream(2),
    maskId: MASK,
    vocabSize: V,
  });
  assert.equal([input.shape, targets.shape, input.dtype], [[50, 40], [50, 40], 'int32']);
  let masked = 0,
    unchanged = 0,
    chosen = 0;
  for (let i = 0; i < 2000; i++) {
    const [x, y, t] = [original.data[i], input.data[i], targets.data[i]];
    if (t === -100) {
      assert.is(y, x, 'a position not chosen is left alone');
      continue;
    }
    chosen++;
    assert.is(t, x, 'the target is the original id');
    if (y === MASK) masked++;
    if (y === x) unchanged++;
  }
  assert.ok(masked / chosen > 0.7 && masked / chosen < 0.9, `${masked} of ${chosen} masked`);
  // kept (10%) plus random draws that hit the original (10% · 1/20)
  assert.ok(unchanged / chosen > 0.05 && unchanged / chosen < 0.17, `${unchanged} unchanged`);
});

test('maskTokens: at least one position a row, seeded on its own stream, global stream untouched', () => {
  const options = { rate: 0.001, maskId: MASK, vocabSize: V };
  const sparse = maskTokens(ids(64, 10), { ...options, stream: seedStream(3) });
  for (const row of rows(sparse.targets)) {
    assert.ok(row.filter((t) => t !== -100).length >= 1, 'every row has a target');
  }
  manualSeed(9);
  const expected = random();
  manualSeed(9);
  const a = maskTokens(ids(8, 30), { maskId: MASK, vocabSize: V, stream: seedStream(4) });
  assert.is(random(), expected, 'the global stream did not move');
  const b = maskTokens(ids(8, 30), { maskId: MASK, vocabSize: V, stream: seedStream(4) });
  assert.equal(rows(a.input), rows(b.input), 'same stream, same masks');
  const c = maskTokens(ids(8, 30), { maskId: MASK, vocabSize: V, stream: a.stream });
  assert.not.equal(rows(c.targets), rows(a.targets), 'the advanced stream draws new masks');
  assert.throws(
    () => maskTokens(ids(2, 2), { rate: 0, maskId: MASK, vocabSize: V, stream: seedStream(0) }),
    /^maskTokens: rate must be in \(0, 1\], got 0$/,
  );
  assert.throws(
    () => maskTokens(ids(2, 2), { maskId: 21, vocabSize: V, stream: seedStream(0) }),
    /^maskTokens: maskId must be an integer in \[0, 21\), got 21$/,
  );
  const [pattern] = drawMask(2, 3, { maskId: MASK, vocabSize: V, stream: seedStream(0) });
  assert.throws(
    () => applyMask(ids(2, 4), pattern, MASK),
    /^applyMask: ids of shape \[2,4\] do not match the pattern's \[2,3\]$/,
  );
});

const corpus = 'the quick brown fox jumps over the lazy dog. '.repeat(40);

test('CharDataset: MASK is one id past the characters and decodes as a visible symbol', () => {
  const ds = CharDataset.fromText(corpus);
  assert.is(ds.maskId, ds.vocabSize);
  assert.is(ds.maskedVocabSize, ds.vocabSize + 1);
  assert.is(ds.decode([...ds.encode('fox'), ds.maskId]), `fox${MASK_SYMBOL}`);
});

test('maskedTextStream: the windows of textStream, masked; a pure function of (seed, step)', () => {
  const ds = CharDataset.fromText(corpus);
  const options = { seed: 5, batchSize: 16, blockSize: 24 };
  const masked = maskedTextStream(ds, options);
  const plain = textStream(ds, options).at(3).x;
  const a = masked.at(3);
  assert.equal(rows(masked.at(3).input), rows(a.input), 'reproducible');
  assert.not.equal(rows(masked.at(4).targets), rows(a.targets), 'another step, other masks');
  const [x, y, t] = [plain.data, a.input.data, a.targets.data];
  for (let i = 0; i < x.length; i++) {
    if (t[i] === -100) assert.is(y[i], x[i]);
    else assert.is(t[i], x[i], 'targets are the plain window');
  }
  const chosen = t.filter((v) => v !== -100).length / t.length;
  assert.ok(chosen > 0.08 && chosen < 0.25, `chosen ${chosen}`);
});

test('repeated text: second half = first half; a fraction of training windows, others unchanged', () => {
  assert.equal(Array.from(repeatTail([1, 2, 3, 4, 5, 6, 7], 3)), [7, 5, 6, 7, 5, 6, 7]);
  const ds = CharDataset.fromText(corpus + 'abcdefghijklmnopqrstuvwxyz'.repeat(40));
  const options = { seed: 2, batchSize: 400, blockSize: 16 };
  const plain = textStream(ds, options).at(1);
  const all = textStream(ds, { ...options, repeatFraction: 1 }).at(1);
  for (const [x, y] of rows(all.x).map((r, b) => [r, rows(all.y)[b]])) {
    assert.equal(x.slice(8), x.slice(0, 8), 'second half repeats the first');
    assert.equal(x.slice(1), y.slice(0, -1), 'y is still x shifted by one');
  }
  // the plain window's last 9 characters (x's last 8 and y's last) are kept
  assert.equal(
    rows(all.y).map((r) => r.slice(-8)),
    rows(plain.y).map((r) => r.slice(-8)),
  );
  const some = textStream(ds, { ...options, repeatFraction: 0.25 }).at(1);
  let repeated = 0;
  rows(some.x).forEach((x, b) => {
    if (x.join() === rows(all.x)[b].join()) repeated++;
    else assert.equal(x, rows(plain.x)[b], 'a window not repeated is the plain one');
  });
  assert.ok(repeated > 70 && repeated < 130, `${repeated} of 400 repeated`);
  assert.throws(
    () => textStream(ds, { ...options, repeatFraction: 2 }),
    /^textStream: repeatFraction must be in \[0, 1\], got 2$/,
  );
});

test('lengthWindows: the same targets at every length, from the val split, fixed', () => {
  const ds = CharDataset.fromText(corpus.repeat(3) + 'xyz '.repeat(500), { valFraction: 0.5 });
  const val = ds.decode(ds.val);
  const lengths = [64, 96, 128];
  const windows = lengthWindows(ds, { lengths, windows: 5, batchSize: 2 });
  assert.equal(
    windows.map((w) => [w.length, w.batches.map((b) => b.input.shape)]),
    lengths.map((n) => [
      n,
      [
        [2, n],
        [2, n],
        [1, n],
      ],
    ]),
  );
  const all = (n: number, key: 'input' | 'targets') =>
    windows[lengths.indexOf(n)].batches.flatMap((b) => rows(b[key]));
  for (const n of lengths) {
    all(n, 'targets').forEach((t, b) => {
      const x = all(n, 'input')[b];
      assert.ok(
        t.slice(0, n - 64).every((v) => v === -100),
        'only the last 64 are scored',
      );
      assert.equal(t.slice(n - 64), all(64, 'targets')[b], 'the same targets at every length');
      assert.equal(
        x.slice(1),
        t.slice(0, -1).map((v, i) => (i >= n - 64 ? v : x[i + 1])),
      );
      assert.ok(val.includes(ds.decode(x)), 'a window of the val split');
    });
  }
  assert.equal(
    lengthWindows(ds, { lengths, windows: 5 })[2].batches.flatMap((b) => rows(b.input)),
    all(128, 'input'),
    'fixed windows',
  );
  // repeated: second half = first half, and from 128 on the targets are the plain ones
  const repeated = lengthWindows(ds, { lengths: [64, 128], windows: 5, repeated: true });
  for (const x of rows(repeated[1].batches[0].input)) assert.equal(x.slice(64), x.slice(0, 64));
  assert.equal(rows(repeated[1].batches[0].targets), all(128, 'targets'));
  assert.throws(
    () => lengthWindows(ds, { lengths: [32], windows: 2 }),
    /^lengthWindows: each length must be an integer ≥ 64 \(the last 64 positions are scored\), got 32$/,
  );
});

test('lengthWindows, masked LM: the same masked targets at every length, masks in the context', () => {
  const ds = CharDataset.fromText(corpus.repeat(4), { valFraction: 0.5 });
  const windows = lengthWindows(ds, { lengths: [64, 256], windows: 8, masked: true });
  const [short, long] = windows.map((w) => w.batches[0]);
  assert.equal(
    rows(long.targets).map((t) => t.slice(-64)),
    rows(short.targets),
    'the same scored positions and targets',
  );
  assert.equal(
    rows(long.input).map((x) => x.slice(-64)),
    rows(short.input),
    'the same masked input near the targets',
  );
  const contextMasks = rows(long.input).flatMap((x) =>
    x.slice(0, 192).filter((v) => v === ds.maskId),
  );
  const rate = contextMasks.length / (8 * 192);
  assert.ok(rate > 0.08 && rate < 0.16, `context MASK rate ${rate} (≈ 0.15 · 0.8)`);
  const scored = rows(short.targets)
    .flat()
    .filter((t) => t !== -100).length;
  assert.ok(scored > 40 && scored < 120, `${scored} scored positions of 512`);
});

test.run();
