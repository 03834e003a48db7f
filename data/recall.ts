// Associative recall, two layouts. `recall`: m key-value pairs as two tokens each, then a query
// key; answer its value (a model needs two steps: tie each value to its key, then look the query
// up). `recall1`: each pair is one token encoding (key, value) and the query is a key token, so
// one attention step from the query to its pair answers it (a one-layer task; in the decoder-only
// layout the query's own position answers, no SEP). Keys are distinct; values are one of 10
// symbols, so chance is 1/10 (attention-spec §14). Read next: even-pairs.ts.

import { randomInt } from '../lib/random.ts';
import { FIRST_SYMBOL } from './tokens.ts';
import { letter, Task, type TaskOptions } from './task.ts';

export const NUM_VALUES = 10; // value alphabet: chance is 1/NUM_VALUES
const DIGIT_NAMES = [...'0123456789'];

function checkPairs(name: string, { pairs, numSymbols }: Required<TaskOptions>): void {
  if (pairs > numSymbols) {
    const counts = `pairs (${pairs}) ≤ numSymbols (${numSymbols})`;
    throw new Error(`makeTask: ${name} needs distinct keys, so ${counts}`);
  }
}

/** `pairs` distinct keys in 0…numSymbols−1 (partial Fisher–Yates), and a value for each. */
function drawPairs({ pairs, numSymbols }: Required<TaskOptions>) {
  const keys = Array.from({ length: numSymbols }, (_, i) => i);
  for (let i = 0; i < pairs; i++) {
    const j = randomInt(i, numSymbols);
    [keys[i], keys[j]] = [keys[j], keys[i]];
  }
  const values = Array.from({ length: pairs }, () => randomInt(0, NUM_VALUES));
  return { keys: keys.slice(0, pairs), values, query: randomInt(0, pairs) };
}

/** recall   c 4 a 7 e 1 a → 7   (key value ..., then a query key) */
export function recallTask(options: Required<TaskOptions>): Task {
  checkPairs('recall', options);
  const { numSymbols } = options;
  const letters = Array.from({ length: numSymbols }, (_, i) => letter(i));
  const value0 = FIRST_SYMBOL + numSymbols; // keys are letters, values the digits after them
  return new Task('recall', options, [...letters, ...DIGIT_NAMES], () => {
    const { keys, values, query } = drawPairs(options);
    const input = values.flatMap((v, i) => [FIRST_SYMBOL + keys[i], value0 + v]);
    return { input: [...input, FIRST_SYMBOL + keys[query]], output: [value0 + values[query]] };
  });
}

/**
 * recall1   c4 a7 e1 a? → 7   (one token per pair, then a query token; answer a value token).
 * Token ids after the specials: numSymbols·10 pair tokens (key·10 + value), numSymbols query
 * tokens, 10 value tokens.
 */
export function recall1Task(options: Required<TaskOptions>): Task {
  checkPairs('recall1', options);
  const { numSymbols } = options;
  const keyNames = Array.from({ length: numSymbols }, (_, i) => letter(i));
  const pairNames = keyNames.flatMap((k) => DIGIT_NAMES.map((d) => `${k}${d}`));
  const queryNames = keyNames.map((k) => `${k}?`);
  const query0 = FIRST_SYMBOL + numSymbols * NUM_VALUES,
    value0 = query0 + numSymbols;
  const names = [...pairNames, ...queryNames, ...DIGIT_NAMES];
  const draw = () => {
    const { keys, values, query } = drawPairs(options);
    const input = keys.map((k, i) => FIRST_SYMBOL + k * NUM_VALUES + values[i]);
    return { input: [...input, query0 + keys[query]], output: [value0 + values[query]] };
  };
  return new Task('recall1', options, names, draw, { separator: false });
}
