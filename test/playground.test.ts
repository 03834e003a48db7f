// The playground's session (web/session.ts, the code its worker runs) with every mixer of
// --attention: it trains, its loss stays finite and starts near ln V, and the page gets a map per
// layer × head whose rows are distributions, or null for a mixer that forms no weights.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attentionNames } from '../models/config.ts';
import { defaultSettings, Session } from '../web/session.ts';

const NO_WEIGHTS = new Set(['flash']); // FLASH forms no n × n weights (viz says so too)
const ROWS_NEED_NOT_SUM = new Set(['gau']); // GAU's squared-ReLU weights are not a distribution
const ONE_HEAD = new Set(['gau']); // GAU is single-headed by design

for (const attention of attentionNames) {
  test(`playground session: ${attention} trains 3 steps and shows its attention`, () => {
    const settings = { ...defaultSettings, attention, width: 16, batch: 4 };
    const session = new Session(settings);
    const losses = [1, 2, 3].map(() => session.trainStep());
    for (const loss of losses) assert.ok(Number.isFinite(loss), `${attention}: loss ${loss}`);
    const V = session.data.vocabSize;
    assert.ok(Math.abs(losses[0] - Math.log(V)) < 0.5, `${attention}: first loss ≈ ln ${V}`);
    const { tokens, maps, greedy } = session.inspect('a b c');
    assert.ok(tokens.length >= 4, `${attention}: the prompt is shown`);
    assert.type(greedy, 'string');
    if (NO_WEIGHTS.has(attention)) return assert.is(maps, null);
    assert.ok(maps !== null, `${attention}: maps drawn`);
    const heads = ONE_HEAD.has(attention) ? 1 : settings.heads;
    assert.is(maps!.length, settings.layers * heads);
    const T = tokens.length;
    for (const { values } of maps!) {
      assert.is(values.length, T * T);
      if (ROWS_NEED_NOT_SUM.has(attention)) continue;
      for (let i = 0; i < T; i++) {
        const sum = values.subarray(i * T, (i + 1) * T).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-4, `${attention}: row ${i} sums to ${sum}`);
      }
    }
  });
}

test.run();
