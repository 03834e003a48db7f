// data/: every toy task answers correctly (checked by decoding token names, not by the
// generator's own code), seeds reproduce, train and held-out never share an input, batches put
// BOS/EOS/PAD/-100 where stated, CharDataset windows are aligned and reproducible, and the batch
// of training step s is a pure function of (data seed, s) that never moves the global stream.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed, type Tensor } from '../lib/index.ts';
import { random } from '../lib/random.ts';
import {
  BOS,
  CharDataset,
  EOS,
  FIRST_SYMBOL,
  PAD,
  SEP,
  corpora,
  corpusPath,
  fnv1a,
  isHeldOut,
  lmBatch,
  makeTask,
  seq2seqBatch,
  stepSeed,
  taskStream,
  textStream,
  type Example,
  type TaskName,
} from '../data/index.ts';

const rows = (t: Tensor) =>
  Array.from({ length: t.shape[0] }, (_, b) =>
    Array.from(t.data.subarray(b * t.shape[1], (b + 1) * t.shape[1])),
  );
const draw = (name: TaskName, n: number, options = {}) => {
  const task = makeTask(name, options);
  return { task, examples: Array.from({ length: n }, () => task.sample()) };
};

test('token conventions', () => {
  assert.equal([PAD, BOS, EOS, SEP, FIRST_SYMBOL], [0, 1, 2, 3, 4]);
  const task = makeTask('copy', { numSymbols: 5 });
  assert.is(task.vocabSize, 9);
  assert.equal(task.tokenNames, ['PAD', 'BOS', 'EOS', 'SEP', 'a', 'b', 'c', 'd', 'e']);
  assert.equal(makeTask('addition').tokenNames.slice(4), [...'0123456789+']);
  assert.is(makeTask('recall', { numSymbols: 6 }).vocabSize, 4 + 6 + 10);
});

test('copy, reverse and sort answer correctly within the stated lengths and alphabet', () => {
  const opts = { minLen: 3, maxLen: 7, numSymbols: 6, seed: 1 };
  for (const name of ['copy', 'reverse', 'sort'] as const) {
    const { task, examples } = draw(name, 300, opts);
    const lengths = new Set<number>();
    for (const { input, output } of examples) {
      lengths.add(input.length);
      assert.ok(
        input.every((t) => t >= FIRST_SYMBOL && t < task.vocabSize),
        `${name}: token out of range`,
      );
      const expected =
        name === 'copy'
          ? input
          : name === 'reverse'
            ? [...input].reverse()
            : [...input].sort((a, b) => a - b);
      assert.equal(output, expected, `${name} of ${input}`);
    }
    assert.equal([...lengths].sort(), [3, 4, 5, 6, 7], `${name}: lengths`);
  }
});

test('addition adds (least significant digit first)', () => {
  const { task, examples } = draw('addition', 500, { digits: 4, seed: 2 });
  const number = (ids: number[]) =>
    Number(
      ids
        .map((t) => task.tokenNames[t])
        .reverse()
        .join(''),
    );
  const sizes = new Set<number>();
  for (const { input, output } of examples) {
    const names = input.map((t) => task.tokenNames[t]);
    assert.is(names.filter((n) => n === '+').length, 1);
    const plus = names.indexOf('+');
    const [a, b] = [number(input.slice(0, plus)), number(input.slice(plus + 1))];
    assert.ok(plus >= 1 && plus <= 4 && input.length - plus - 1 <= 4, 'operands have 1..4 digits');
    assert.is(number(output), a + b, `${a} + ${b}`);
    assert.is(output.length, String(a + b).length, 'no leading zeros');
    sizes.add(plus);
  }
  assert.is(sizes.size, 4, 'every operand length occurs');
});

test('recall answers the value stored under the query key', () => {
  const { task, examples } = draw('recall', 300, { pairs: 5, numSymbols: 7, seed: 3 });
  for (const { input, output } of examples) {
    assert.is(input.length, 2 * 5 + 1);
    const keys = input.filter((_, i) => i % 2 === 0 && i < 10);
    const values = input.filter((_, i) => i % 2 === 1);
    assert.is(new Set(keys).size, 5, 'keys are distinct');
    assert.ok(
      keys.every((k) => /^[a-g]$/.test(task.tokenNames[k])),
      'keys are letters',
    );
    assert.ok(
      values.every((v) => /^[0-9]$/.test(task.tokenNames[v])),
      'values are digits',
    );
    const query = input[10];
    assert.ok(keys.includes(query), 'the query is one of the keys');
    assert.equal(output, [values[keys.indexOf(query)]]);
  }
});

test('same seed, same examples; another seed, other examples; the global stream is untouched', () => {
  for (const name of ['copy', 'reverse', 'sort', 'addition', 'recall'] as const) {
    const a = draw(name, 50, { seed: 7 }).examples;
    const b = draw(name, 50, { seed: 7 }).examples;
    const c = draw(name, 50, { seed: 8 }).examples;
    assert.equal(a, b, `${name}: same seed`);
    assert.not.equal(a, c, `${name}: different seed`);
  }
  manualSeed(123);
  const expected = [random(), random(), random()];
  manualSeed(123);
  const task = makeTask('sort', { seed: 5 });
  const got = [random()];
  task.sample();
  task.heldOut(3);
  got.push(random());
  task.sample('test');
  got.push(random());
  assert.equal(got, expected);
});

test('train and held-out examples never share an input; heldOut is fixed', () => {
  for (const name of ['copy', 'addition', 'recall'] as const) {
    const task = makeTask(name, { seed: 11 });
    const train = Array.from({ length: 3000 }, () => task.sample('train'));
    const test = task.heldOut(300);
    const key = (e: Example) => e.input.join(',');
    const trainInputs = new Set(train.map(key));
    assert.ok(
      test.every((e) => !trainInputs.has(key(e))),
      `${name}: a held-out input appeared in training`,
    );
    assert.ok(
      test.every((e) => fnv1a(e.input) % 10 === 0) && train.every((e) => !isHeldOut(e.input)),
    );
    assert.ok(new Set(test.map(key)).size > 200, `${name}: held-out set is varied`);
    assert.equal(
      makeTask(name, { seed: 99 }).heldOut(300),
      test,
      `${name}: heldOut does not depend on the seed`,
    );
    assert.ok(isHeldOut(task.sample('test').input), `${name}: sample('test') is held out`);
  }
  assert.is(fnv1a([]), 0x811c9dc5);
  assert.ok(fnv1a([1, 2]) !== fnv1a([2, 1]), 'order matters');
});

test('a task too small to split says so instead of looping', () => {
  const task = makeTask('copy', { minLen: 1, maxLen: 1, numSymbols: 1 });
  const tries = (['train', 'test'] as const).map((s) => {
    try {
      task.sample(s);
      return 'ok';
    } catch (e) {
      return (e as Error).message;
    }
  });
  assert.ok(tries.includes('ok'));
  assert.ok(
    tries.some((m) => /^sample: no (train|test) example of task 'copy' in 10000 draws/.test(m)),
    tries.join(' | '),
  );
});

test('seq2seqBatch: shapes, BOS/EOS, PAD, -100 and masks', () => {
  const examples = [
    { input: [4, 5, 6], output: [7] },
    { input: [8], output: [9, 10, 11] },
  ];
  const { src, tgtIn, tgtOut, srcPad, tgtPad } = seq2seqBatch(examples);
  assert.equal(
    [src.shape, tgtIn.shape, tgtOut.shape, srcPad.shape, tgtPad.shape],
    [
      [2, 3],
      [2, 4],
      [2, 4],
      [2, 3],
      [2, 4],
    ],
  );
  assert.equal(
    [src.dtype, tgtIn.dtype, tgtOut.dtype, srcPad.dtype, tgtPad.dtype],
    ['int32', 'int32', 'int32', 'float32', 'float32'],
  );
  assert.equal(rows(src), [
    [4, 5, 6],
    [8, PAD, PAD],
  ]);
  assert.equal(rows(srcPad), [
    [1, 1, 1],
    [1, 0, 0],
  ]);
  assert.equal(rows(tgtIn), [
    [BOS, 7, PAD, PAD],
    [BOS, 9, 10, 11],
  ]);
  assert.equal(rows(tgtOut), [
    [7, EOS, -100, -100],
    [9, 10, 11, EOS],
  ]);
  assert.equal(rows(tgtPad), [
    [1, 1, 0, 0],
    [1, 1, 1, 1],
  ]);
  const batch2 = seq2seqBatch(examples); // keep (1 = real token) is the name; *Pad its alias
  assert.is(batch2.srcKeep, batch2.srcPad);
  assert.is(batch2.tgtKeep, batch2.tgtPad);
  const task = makeTask('reverse', { seed: 4 });
  const batch = seq2seqBatch(Array.from({ length: 16 }, () => task.sample()));
  assert.is(batch.src.shape[0], 16);
});

test('lmBatch: input SEP output EOS, targets only on the answer', () => {
  const examples = [
    { input: [4, 5], output: [6, 7] },
    { input: [8], output: [9] },
  ];
  const { tokens, targets, pad } = lmBatch(examples);
  assert.equal(
    [tokens.shape, targets.shape, pad.shape],
    [
      [2, 6],
      [2, 6],
      [2, 6],
    ],
  );
  assert.equal([tokens.dtype, targets.dtype, pad.dtype], ['int32', 'int32', 'float32']);
  assert.equal(rows(tokens), [
    [4, 5, SEP, 6, 7, EOS],
    [8, SEP, 9, EOS, PAD, PAD],
  ]);
  assert.equal(rows(targets), [
    [-100, -100, 6, 7, EOS, -100],
    [-100, 9, EOS, -100, -100, -100],
  ]);
  assert.equal(rows(pad), [
    [1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 0, 0],
  ]);
  const batch = lmBatch(examples);
  assert.is(batch.keep, batch.pad);
});

test('bad options and inputs throw errors that name the function and the value', () => {
  const cases: [() => unknown, RegExp][] = [
    [
      () => makeTask('copyy' as TaskName),
      /^makeTask: unknown task 'copyy' \(copy, reverse, sort, addition, recall, recall1, even-pairs\)$/,
    ],
    [
      () => makeTask('copy', { minLen: 5, maxLen: 3 }),
      /^makeTask: minLen \(5\) must not exceed maxLen \(3\)$/,
    ],
    [() => makeTask('copy', { minLen: 0 }), /^makeTask: minLen must be an integer ≥ 1, got 0$/],
    [
      () => makeTask('sort', { numSymbols: 2.5 }),
      /^makeTask: numSymbols must be an integer ≥ 1, got 2.5$/,
    ],
    [
      () => makeTask('addition', { digits: 16 }),
      /^makeTask: digits must be an integer in \[1, 15\], got 16$/,
    ],
    [
      () => makeTask('recall', { pairs: 9, numSymbols: 8 }),
      /^makeTask: recall needs distinct keys, so pairs \(9\) ≤ numSymbols \(8\)$/,
    ],
    [() => makeTask('copy', { seed: NaN }), /^makeTask: seed must be a finite number, got NaN$/],
    [
      () => makeTask('copy', { maxlen: 3 } as object),
      /^makeTask: unknown option 'maxlen' \(minLen, maxLen, testMinLen, testMaxLen, numSymbols, digits, pairs, seed\)$/,
    ],
    [
      () => makeTask('copy').sample('val' as 'test'),
      /^sample: split must be 'train' or 'test', got 'val'$/,
    ],
    [() => makeTask('copy').heldOut(-1), /^heldOut: n must be an integer ≥ 0, got -1$/],
    [() => seq2seqBatch([]), /^seq2seqBatch: expected a non-empty array of examples, got 0$/],
    [() => lmBatch([{ input: [], output: [4] }]), /^lmBatch: example 0 has an empty input$/],
  ];
  for (const [fn, re] of cases) assert.throws(fn, re);
});

const text = 'hello world, hello attention! ';

test('CharDataset: vocab, encode/decode round trip, split', () => {
  const ds = CharDataset.fromText(text.repeat(10));
  assert.equal(ds.chars, [...new Set(text)].sort());
  assert.is(ds.vocabSize, 14);
  const s = 'hello, attention world!';
  assert.is(ds.decode(ds.encode(s)), s);
  assert.equal(ds.encode('deh'), [
    ds.chars.indexOf('d'),
    ds.chars.indexOf('e'),
    ds.chars.indexOf('h'),
  ]);
  assert.is(ds.train.length, 270);
  assert.is(ds.val.length, 30);
  assert.is(ds.decode(ds.train) + ds.decode(ds.val), text.repeat(10));
  assert.is(
    CharDataset.fromText('abcdefghij', { valFraction: 0.3 }).decode(
      CharDataset.fromText('abcdefghij', { valFraction: 0.3 }).val,
    ),
    'hij',
  );
  assert.throws(
    () => ds.encode('hello?'),
    /^CharDataset.encode: character "\?" \(U\+003F\) is not in the vocabulary$/,
  );
  assert.throws(
    () => ds.decode([0, 15]),
    /^CharDataset.decode: id 15 is out of range for 14 characters and MASK \(id 14\)$/,
  );
});

test('CharDataset.batch: aligned windows from the split, reproducible under manualSeed', () => {
  const ds = CharDataset.fromText(text.repeat(10));
  const train = ds.decode(ds.train);
  manualSeed(5);
  const { x, y } = ds.batch('train', 8, 12);
  assert.equal([x.shape, y.shape, x.dtype, y.dtype], [[8, 12], [8, 12], 'int32', 'int32']);
  const [xs, ys] = [rows(x), rows(y)];
  for (let b = 0; b < 8; b++) {
    assert.equal(xs[b].slice(1), ys[b].slice(0, -1), 'y is x shifted by one');
    assert.ok(
      train.includes(ds.decode(xs[b]) + ds.decode(ys[b]).slice(-1)),
      'x + last of y is a window of train',
    );
  }
  manualSeed(5);
  assert.equal(rows(ds.batch('train', 8, 12).x), xs);
  const v = ds.batch('val', 3, 29); // the val split holds 30 characters: every window starts at 0
  assert.is(ds.decode(rows(v.x)[0]) + ds.decode(rows(v.y)[0]).slice(-1), ds.decode(ds.val));
  assert.throws(
    () => ds.batch('val', 2, 30),
    /^batch: the val split has 30 characters, too few for blockSize 30 \(needs 31\)$/,
  );
  assert.throws(
    () => ds.batch('test' as 'val', 2, 4),
    /^batch: split must be 'train' or 'val', got 'test'$/,
  );
  assert.throws(
    () => ds.batch('train', 0, 4),
    /^batch: batchSize must be a positive integer, got 0$/,
  );
});

test('CharDataset.evalBatches: consecutive non-overlapping windows, exact count', () => {
  const ds = CharDataset.fromText(text.repeat(10)); // train: 270 characters
  const batches = [...ds.evalBatches('train', 4, 10)];
  // floor(269 / 10) = 26 windows → batches of 4, 4, 4, 4, 4, 4, 2
  assert.equal(
    batches.map((b) => b.x.shape[0]),
    [4, 4, 4, 4, 4, 4, 2],
  );
  const xs = batches.flatMap((b) => rows(b.x)).flat();
  const ys = batches.flatMap((b) => rows(b.y)).flat();
  assert.equal(xs, Array.from(ds.train.subarray(0, 260)));
  assert.equal(ys, Array.from(ds.train.subarray(1, 261)));
  assert.is([...ds.evalBatches('train', 4, 10, 2)].length, 2);
  assert.throws(
    () => ds.evalBatches('train', 4, 10, 0),
    /^evalBatches: maxBatches must be a positive integer or Infinity, got 0$/,
  );
});

test('CharDataset.unigramEntropy is the entropy of the train characters, in nats', () => {
  assert.ok(
    Math.abs(CharDataset.fromText('abab', { valFraction: 0 }).unigramEntropy() - Math.log(2)) <
      1e-12,
  );
  assert.ok(
    Math.abs(
      CharDataset.fromText('abcdabcdx', { valFraction: 0 }).unigramEntropy() -
        (-(8 / 9) * Math.log(2 / 9) - (1 / 9) * Math.log(1 / 9)),
    ) < 1e-12,
  );
  assert.is(CharDataset.fromText('aaaa', { valFraction: 0.25 }).unigramEntropy(), 0);
});

test('CharDataset.fromFile reads a file and names a missing path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-data-'));
  const file = join(dir, 'tiny.txt');
  writeFileSync(file, text.repeat(4));
  assert.is(CharDataset.fromFile(file, { valFraction: 0.5 }).val.length, 60);
  const missing = join(dir, 'nope.txt');
  assert.throws(
    () => CharDataset.fromFile(missing),
    (e: Error) => e.message === `CharDataset.fromFile: no file at '${missing}'`,
  );
  assert.throws(
    () => CharDataset.fromText('abc', { valFraction: 1 }),
    /^CharDataset.fromText: valFraction must be in \[0, 1\), got 1$/,
  );
  assert.throws(
    () => CharDataset.fromText(''),
    /^CharDataset.fromText: expected a non-empty string/,
  );
});

const shakespeare = corpora.shakespeare; // data/tinyshakespeare.txt, shipped with the repo
(existsSync(shakespeare) ? test : test.skip)('tinyshakespeare, the shipped corpus', () => {
  assert.is(corpusPath('shakespeare'), shakespeare);
  assert.is(corpusPath('some/file.txt'), 'some/file.txt');
  const ds = CharDataset.fromFile(shakespeare);
  assert.is(ds.vocabSize, 65);
  assert.is(ds.train.length + ds.val.length, 1115394);
  const h = ds.unigramEntropy();
  assert.ok(h > 2.5 && h < Math.log(65), `unigram entropy ${h}`);
  manualSeed(0);
  const { x, y } = ds.batch('train', 4, 64);
  assert.equal(
    rows(x).map((r) => r.slice(1)),
    rows(y).map((r) => r.slice(0, -1)),
  );
  assert.is(ds.decode(ds.encode('To be, or not to be')), 'To be, or not to be');
});

/** Run `read` after disturbing the global stream; also report whether `read` moved it. */
function afterNoise<T>(noiseSeed: number, read: () => T): { value: T; moved: boolean } {
  manualSeed(noiseSeed);
  random();
  const before = random();
  manualSeed(noiseSeed);
  random();
  const value = read();
  return { value, moved: random() !== before };
}

test('taskStream: the batch of step s is a pure function of (seed, s), drawn apart', () => {
  const task = makeTask('sort', { maxLen: 6, seed: 1 });
  const stream = taskStream(task, { seed: 3, batchSize: 5 });
  const a = afterNoise(10, () => stream.at(7));
  const b = afterNoise(20, () => [stream.at(2), stream.at(7)][1]);
  assert.equal(a.value, b.value, 'other draws before it do not change step 7');
  assert.ok(!a.moved && !b.moved, 'the global stream is untouched');
  assert.is(a.value.length, 5);
  assert.not.equal(stream.at(8), a.value, 'another step, another batch');
  assert.not.equal(taskStream(task, { seed: 4, batchSize: 5 }).at(7), a.value, 'another seed');
  assert.ok(
    a.value.every((e) => !isHeldOut(e.input)),
    'training batches hold no held-out input',
  );
  // the layout checkpoints rely on: step s samples the task reseeded with stepSeed(seed, s)
  const reseeded = makeTask('sort', { maxLen: 6, seed: stepSeed(3, 7) });
  assert.equal(
    a.value,
    Array.from({ length: 5 }, () => reseeded.sample('train')),
  );
  assert.is(stepSeed(3, 7), 3 * 1_000_003 + 7);
  assert.throws(() => stream.at(1.5), /^BatchStream.at: step must be an integer, got 1.5$/);
});

test('textStream: the windows of step s are a pure function of (seed, s), drawn apart', () => {
  const ds = CharDataset.fromText(text.repeat(10));
  const stream = textStream(ds, { seed: 5, batchSize: 6, blockSize: 8 });
  const a = afterNoise(1, () => stream.at(3));
  const b = afterNoise(2, () => [stream.at(9), stream.at(3)][1]);
  assert.equal([rows(a.value.x), rows(a.value.y)], [rows(b.value.x), rows(b.value.y)]);
  assert.ok(!a.moved && !b.moved, 'the global stream is untouched');
  assert.equal(
    [a.value.x.shape, a.value.y.shape],
    [
      [6, 8],
      [6, 8],
    ],
  );
  assert.equal(
    rows(a.value.x).map((r) => r.slice(1)),
    rows(a.value.y).map((r) => r.slice(0, -1)),
  );
  assert.not.equal(rows(stream.at(4).x), rows(a.value.x), 'another step, other windows');
  const other = textStream(ds, { seed: 6, batchSize: 6, blockSize: 8 });
  assert.not.equal(rows(other.at(3).x), rows(a.value.x), 'another seed, other windows');
});

test('recall --pairs: 2m + 1 tokens, values from 10 symbols (chance 1/10), m up to numSymbols', () => {
  const { task, examples } = draw('recall', 2000, { pairs: 32, numSymbols: 32, seed: 2 });
  const counts = new Array(10).fill(0);
  for (const { input, output } of examples) {
    assert.is(input.length, 65);
    const keys = input.filter((_, i) => i % 2 === 0 && i < 64);
    assert.is(new Set(keys).size, 32, 'keys are distinct');
    const values = input.filter((_, i) => i % 2 === 1);
    assert.equal(output, [values[keys.indexOf(input[64])]]);
    counts[Number(task.tokenNames[output[0]])]++;
  }
  // each answer value about 1/10 of the time (2000 draws: σ ≈ 13 around 200)
  assert.ok(
    counts.every((c) => c > 150 && c < 250),
    `answer counts ${counts}`,
  );
  assert.is(task.vocabSize, 4 + 32 + 10);
});

test('recall1: one token per (key, value) pair, a query token, the value as answer; no SEP', () => {
  const { task, examples } = draw('recall1', 500, { pairs: 6, numSymbols: 8, seed: 5 });
  assert.is(task.vocabSize, 4 + 8 * 10 + 8 + 10);
  assert.is(task.separator, false);
  assert.equal(task.tokenNames.slice(4, 7), ['a0', 'a1', 'a2']);
  assert.equal(task.tokenNames.slice(84, 86), ['a?', 'b?']);
  assert.equal(task.tokenNames.slice(92), [...'0123456789']);
  for (const { input, output } of examples) {
    assert.is(input.length, 7);
    // decoded by name: pairs "<key><digit>", then "<key>?"
    const pairs = input.slice(0, 6).map((t) => task.tokenNames[t]);
    assert.ok(
      pairs.every((p) => /^[a-h][0-9]$/.test(p)),
      pairs.join(' '),
    );
    assert.is(new Set(pairs.map((p) => p[0])).size, 6, 'keys are distinct');
    const query = task.tokenNames[input[6]];
    assert.match(query, /^[a-h]\?$/);
    const stored = pairs.find((p) => p[0] === query[0]);
    assert.ok(stored, 'the query is one of the keys');
    assert.equal(
      output.map((t) => task.tokenNames[t]),
      [stored![1]],
    );
  }
  // decoder-only layout without SEP: the query's own position predicts the answer
  const { tokens, targets } = lmBatch([{ input: [4, 5, 6], output: [7] }], { separator: false });
  assert.equal(rows(tokens), [[4, 5, 6, 7, EOS]]);
  assert.equal(rows(targets), [[-100, -100, 7, EOS, -100]]);
});

test('even-pairs: label = (first symbol = last), balanced, train and test lengths as given', () => {
  const options = { minLen: 2, maxLen: 32, testMinLen: 64, testMaxLen: 256, numSymbols: 2 };
  const { task, examples } = draw('even-pairs', 2000, { ...options, seed: 1 });
  assert.equal(task.tokenNames.slice(4), ['a', 'b', '=', '≠']);
  let equal = 0;
  const lengths = new Set<number>();
  for (const { input, output } of examples) {
    lengths.add(input.length);
    assert.ok(input.every((t) => t === 4 || t === 5));
    const same = input[0] === input[input.length - 1];
    assert.equal(output, [same ? 6 : 7]);
    equal += same ? 1 : 0;
  }
  assert.ok(equal > 900 && equal < 1100, `${equal} of 2000 labelled '='`);
  assert.is(Math.min(...lengths), 2);
  assert.is(Math.max(...lengths), 32);
  const test = task.heldOut(300);
  const testLengths = test.map((e) => e.input.length);
  assert.ok(Math.min(...testLengths) >= 64 && Math.max(...testLengths) <= 256);
  assert.ok(Math.max(...testLengths) > 200, 'long test inputs');
  assert.ok(test.every((e) => isHeldOut(e.input)));
  // a larger alphabet stays balanced (the label is drawn first)
  const wide = draw('even-pairs', 2000, { minLen: 2, maxLen: 8, numSymbols: 10, seed: 2 });
  const wideEqual = wide.examples.filter((e) => e.output[0] === 4 + 10).length;
  assert.ok(wideEqual > 900 && wideEqual < 1100, `${wideEqual} of 2000 labelled '='`);
  assert.throws(
    () => makeTask('even-pairs'),
    /^makeTask: even-pairs needs sequences of length ≥ 2, got minLen 1, testMinLen 1$/,
  );
  assert.throws(
    () => makeTask('even-pairs', { minLen: 2, numSymbols: 1 }),
    /^makeTask: even-pairs needs numSymbols ≥ 2, got 1$/,
  );
  assert.throws(
    () => makeTask('copy', { testMinLen: 9, testMaxLen: 4 }),
    /^makeTask: testMinLen \(9\) must not exceed testMaxLen \(4\)$/,
  );
});

test('the new tasks: seeded, and train and held-out never share an input', () => {
  const cases: [TaskName, object][] = [
    ['recall1', { pairs: 4, numSymbols: 10 }],
    ['even-pairs', { minLen: 2, maxLen: 12 }],
  ];
  for (const [name, options] of cases) {
    const a = draw(name, 50, { ...options, seed: 7 }).examples;
    assert.equal(a, draw(name, 50, { ...options, seed: 7 }).examples, `${name}: same seed`);
    assert.not.equal(a, draw(name, 50, { ...options, seed: 8 }).examples, `${name}: other seed`);
    const task = makeTask(name, { ...options, seed: 11 });
    const train = new Set(Array.from({ length: 3000 }, () => task.sample('train').input.join(',')));
    const test = task.heldOut(300);
    assert.ok(
      test.every((e) => !train.has(e.input.join(','))),
      `${name}: shared input`,
    );
    assert.ok(new Set(test.map((e) => e.input.join(','))).size > 200, `${name}: varied`);
  }
  // test lengths default to the training lengths: the held-out split of copy is as before
  assert.equal(
    makeTask('copy', { minLen: 3, maxLen: 5 }).heldOut(20),
    makeTask('copy', { minLen: 3, maxLen: 5, testMinLen: 3, testMaxLen: 5 }).heldOut(20),
  );
});

test.run();
