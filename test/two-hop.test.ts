// The two-hop copy task (data/two-hop.ts): layout of a sequence, the target only at the query,
// batches a pure function of (seed, step), a fixed held-out set, and the option checks.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { twoHopHeldOut, twoHopStream, twoHopVocabSize } from '../data/two-hop.ts';
import { IGNORE_INDEX } from '../data/tokens.ts';

const task = { length: 12, values: 5, fillers: 3 };

test('a value, fillers, the query; the target is the value, at the query only', () => {
  const { x, y } = twoHopStream({ ...task, seed: 1, batchSize: 6 }).at(3);
  assert.equal(x.shape, [6, 12]);
  assert.is(twoHopVocabSize(task), 9);
  for (let b = 0; b < 6; b++) {
    const row = Array.from(x.data.subarray(b * 12, b * 12 + 12));
    const goals = Array.from(y.data.subarray(b * 12, b * 12 + 12));
    assert.ok(row[0] >= 0 && row[0] < 5, `value ${row[0]}`);
    for (const filler of row.slice(1, 11)) assert.ok(filler >= 5 && filler < 8, `${filler}`);
    assert.is(row[11], 8);
    assert.equal(goals.slice(0, 11), new Array(11).fill(IGNORE_INDEX));
    assert.is(goals[11], row[0]);
  }
});

test('the same (seed, step) gives the same batch; another step another; held-out is fixed', () => {
  const a = twoHopStream({ ...task, seed: 1, batchSize: 4 });
  const b = twoHopStream({ ...task, seed: 1, batchSize: 4 });
  assert.equal(Array.from(a.at(7).x.data), Array.from(b.at(7).x.data));
  assert.not.equal(Array.from(a.at(7).x.data), Array.from(a.at(8).x.data));
  assert.equal(
    Array.from(twoHopHeldOut(8, task).x.data),
    Array.from(twoHopHeldOut(8, task).x.data),
  );
});

test('bad options name the field and the value', () => {
  assert.throws(
    () => twoHopStream({ ...task, length: 2, seed: 0, batchSize: 1 }),
    /length .* ≥ 3, got 2/,
  );
  assert.throws(() => twoHopHeldOut(8, { ...task, values: 1 }), /values .* ≥ 2, got 1/);
  assert.throws(() => twoHopHeldOut(0, task), /count must be a positive integer, got 0/);
});

test.run();
