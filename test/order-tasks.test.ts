// data/order-tasks.ts and F1's pooled classifier: every answer is right (read back from the token
// names), both labels come about equally often, train and held-out inputs never meet, the batch
// of a step is a pure function of (seed, step), and without positions the classifier gives a
// `before` input and its a/b swap (the other answer) the same logits: it cannot be better than
// chance, which is what F1 measures.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { manualSeed, tensor } from '../lib/index.ts';
import { classStream, isHeldOut, OrderTask, type Example } from '../data/index.ts';
import { MaskedLM } from '../models/index.ts';
import { classLogits } from '../experiments/transformer-positions.ts';

const options = { length: 12, numSymbols: 6 };
const names = (task: OrderTask, e: Example) => e.input.map((t) => task.tokenNames[t]);

test('before: one a and one b, answer yes exactly when a comes first; about half are yes', () => {
  const task = new OrderTask('before', options);
  manualSeed(1);
  const examples = Array.from({ length: 400 }, () => task.sample('train'));
  let yes = 0;
  for (const e of examples) {
    const words = names(task, e);
    assert.is(words.length, 12);
    assert.is(words.filter((w) => w === 'a').length, 1, words.join(' '));
    assert.is(words.filter((w) => w === 'b').length, 1, words.join(' '));
    const answer = task.tokenNames[e.output[0]];
    assert.is(answer, words.indexOf('a') < words.indexOf('b') ? 'yes' : 'no');
    if (answer === 'yes') yes++;
  }
  assert.ok(yes > 160 && yes < 240, `${yes} of 400 yes`);
});

test('contains: answer yes exactly when a occurs; b never does; about half are yes', () => {
  const task = new OrderTask('contains', options);
  manualSeed(2);
  let yes = 0;
  for (let i = 0; i < 400; i++) {
    const e = task.sample('train');
    const words = names(task, e);
    assert.ok(!words.includes('b'));
    const answer = task.tokenNames[e.output[0]];
    assert.is(answer, words.includes('a') ? 'yes' : 'no');
    if (answer === 'yes') yes++;
  }
  assert.ok(yes > 160 && yes < 240, `${yes} of 400 yes`);
});

test('held-out inputs are never training inputs; heldOut and the step batches repeat', () => {
  const task = new OrderTask('before', options);
  const held = task.heldOut(50);
  assert.ok(held.every((e) => isHeldOut(e.input)));
  assert.equal(task.heldOut(50), held);
  const stream = classStream(task, { seed: 3, batchSize: 8 });
  const { tokens, labels } = stream.at(5);
  assert.equal(tokens.shape, [8, 12]);
  assert.equal(labels.shape, [8]);
  assert.equal(Array.from(stream.at(5).tokens.data), Array.from(tokens.data));
  assert.not.equal(Array.from(stream.at(6).tokens.data), Array.from(tokens.data));
  const rows = Array.from({ length: 8 }, (_, b) =>
    Array.from(tokens.data.slice(12 * b, 12 * b + 12)),
  );
  assert.ok(rows.every((row) => !isHeldOut(row)));
  assert.ok(Array.from(labels.data).every((l) => l === 0 || l === 1));
});

test('bad options are one error naming the field', () => {
  assert.throws(() => new OrderTask('before', { length: 1, numSymbols: 6 }), /length must be/);
  assert.throws(() => new OrderTask('contains', { length: 8, numSymbols: 2 }), /numSymbols/);
  const task = new OrderTask('before', options);
  assert.throws(() => task.batch([{ input: [4, 5], output: [task.yes] }]), /length 12/);
});

test('without positions the pooled classifier cannot tell a before b from b before a', () => {
  const task = new OrderTask('before', options);
  const config = { vocabSize: task.vocabSize, blockSize: 12, nLayer: 2, nHead: 2, nEmbd: 16 };
  const [a, b] = [4, 5];
  const input = [6, a, 7, 8, 9, b, 6, 7, 8, 9, 6, 7];
  const swapped = input.map((t) => (t === a ? b : t === b ? a : t));
  const ids = tensor(new Int32Array([...input, ...swapped]), { shape: [2, 12] });
  for (const position of ['none', 'sinusoidal'] as const) {
    manualSeed(0);
    const model = new MaskedLM({ ...config, position });
    const logits = classLogits(model, task, ids).data; // (2, 2)
    const gap = Math.max(Math.abs(logits[0] - logits[2]), Math.abs(logits[1] - logits[3]));
    if (position === 'none') assert.ok(gap < 1e-5, `no positions: ${gap}`);
    else assert.ok(gap > 1e-4, `sinusoidal: ${gap}`);
  }
});

test.run();
