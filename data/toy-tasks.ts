// Seeded toy tasks for sequence models: copy, reverse, sort and addition here, associative recall
// (recall.ts) and even pairs (even-pairs.ts) in their own files, and makeTask, which builds any of
// them by name. Every task has a held-out split fixed by a hash of the input and owns a private
// generator stream (task.ts), so sampling it never moves the global stream (weight init, dropout).
// Read next: task.ts, recall.ts, batches.ts (examples → tensors), stream.ts (the batch of each
// training step).

import { randomInt } from '../lib/random.ts';
import { FIRST_SYMBOL } from './tokens.ts';
import { evenPairsTask } from './even-pairs.ts';
import { recall1Task, recallTask } from './recall.ts';
import { lengthFor, letter, Task, type TaskName, type TaskOptions } from './task.ts';

export { fnv1a, isHeldOut, Task } from './task.ts';
export type { TaskName, TaskOptions, TaskSplit } from './task.ts';

export const taskNames: TaskName[] = [
  'copy',
  'reverse',
  'sort',
  'addition',
  'recall',
  'recall1',
  'even-pairs',
];
const DEFAULTS: Required<TaskOptions> = {
  minLen: 1,
  maxLen: 8,
  testMinLen: 1, // unless given: minLen
  testMaxLen: 8, // unless given: maxLen
  numSymbols: 10,
  digits: 3,
  pairs: 4,
  seed: 0,
};
const DIGIT_NAMES = [...'0123456789'];

/** Digit tokens of n, least significant first (the carry flows the way the model writes). */
const digitsOf = (n: number, zero: number) => [...String(n)].reverse().map((c) => zero + Number(c));

/** The options with defaults filled in, each checked. */
function resolveOptions(requested: TaskOptions): Required<TaskOptions> {
  const options: Required<TaskOptions> = { ...DEFAULTS };
  const known = Object.keys(DEFAULTS).join(', ');
  for (const [key, value] of Object.entries(requested)) {
    if (!(key in DEFAULTS)) throw new Error(`makeTask: unknown option '${key}' (${known})`);
    if (value !== undefined) options[key as keyof TaskOptions] = value;
  }
  options.testMinLen = requested.testMinLen ?? options.minLen;
  options.testMaxLen = requested.testMaxLen ?? options.maxLen;
  const int = (key: keyof TaskOptions, lo: number, hi = Infinity) => {
    const v = options[key];
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) {
      const range = hi === Infinity ? `≥ ${lo}` : `in [${lo}, ${hi}]`;
      throw new Error(`makeTask: ${key} must be an integer ${range}, got ${v}`);
    }
  };
  for (const key of ['minLen', 'maxLen', 'testMinLen', 'testMaxLen', 'numSymbols'] as const) {
    int(key, 1);
  }
  (int('digits', 1, 15), int('pairs', 1));
  for (const [lo, hi] of [
    ['minLen', 'maxLen'],
    ['testMinLen', 'testMaxLen'],
  ] as const) {
    if (options[lo] > options[hi]) {
      throw new Error(`makeTask: ${lo} (${options[lo]}) must not exceed ${hi} (${options[hi]})`);
    }
  }
  if (!Number.isFinite(options.seed)) {
    throw new Error(`makeTask: seed must be a finite number, got ${options.seed}`);
  }
  return options;
}

/**
 * A toy task. Inputs and answers, in token names:
 *   copy     a c b → a c b        reverse  a c b → b c a        sort  c a b → a b c
 *   addition 217 + 45, least significant digit first: 7 1 2 + 5 4 → 2 6 2   (= 262)
 *   recall   c 4 a 7 e 1 a → 7    recall1  c4 a7 e1 a? → 7     (recall.ts)
 *   even-pairs  a b b a → =       a b b b → ≠                  (even-pairs.ts)
 */
export function makeTask(name: TaskName, requested: TaskOptions = {}): Task {
  if (!taskNames.includes(name)) {
    throw new Error(`makeTask: unknown task '${name}' (${taskNames.join(', ')})`);
  }
  const options = resolveOptions(requested);
  const { numSymbols, digits } = options;
  const letters = Array.from({ length: numSymbols }, (_, i) => letter(i));
  const symbol = () => FIRST_SYMBOL + randomInt(0, numSymbols);
  const mapped = (answer: (x: number[]) => number[]) =>
    new Task(name, options, letters, (split) => {
      const x = Array.from({ length: lengthFor(split, options) }, symbol);
      return { input: x, output: answer(x) };
    });
  switch (name) {
    case 'copy':
      return mapped((x) => [...x]);
    case 'reverse':
      return mapped((x) => [...x].reverse());
    case 'sort':
      return mapped((x) => [...x].sort((a, b) => a - b));
    case 'addition': {
      const zero = FIRST_SYMBOL,
        plus = FIRST_SYMBOL + 10;
      // Draw the length first, then the value: short and long operands come equally often.
      const operand = () => {
        const len = randomInt(1, digits + 1);
        return len === 1 ? randomInt(0, 10) : randomInt(10 ** (len - 1), 10 ** len);
      };
      return new Task(name, options, [...DIGIT_NAMES, '+'], () => {
        const [a, b] = [operand(), operand()];
        const input = [...digitsOf(a, zero), plus, ...digitsOf(b, zero)];
        return { input, output: digitsOf(a + b, zero) };
      });
    }
    case 'recall':
      return recallTask(options);
    case 'recall1':
      return recall1Task(options);
    case 'even-pairs':
      return evenPairsTask(options);
  }
}
