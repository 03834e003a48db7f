// Seeded toy tasks for sequence models: copy, reverse, sort, addition and associative recall,
// with a held-out split fixed by a hash of the input. A task owns a private generator stream
// (rng.ts), so sampling it never moves the global stream (weight init, dropout).
// Read next: batches.ts (examples → tensors), stream.ts (the batch of each training step).

import { randomInt } from '../lib/random.ts';
import { FIRST_SYMBOL, SPECIAL_NAMES, type Example } from './tokens.ts';
import { seedStream, withStream } from './rng.ts';
import type { RngState } from '../lib/random.ts';

export type TaskName = 'copy' | 'reverse' | 'sort' | 'addition' | 'recall';
export type TaskSplit = 'train' | 'test';
export interface TaskOptions {
  minLen?: number; // copy, reverse, sort: input length in [minLen, maxLen]
  maxLen?: number;
  numSymbols?: number; // copy, reverse, sort: alphabet size; recall: number of possible keys
  digits?: number; // addition: each operand has 1..digits digits
  pairs?: number; // recall: key-value pairs before the query
  seed?: number;
}

export const taskNames: TaskName[] = ['copy', 'reverse', 'sort', 'addition', 'recall'];
const DEFAULTS: Required<TaskOptions> = {
  minLen: 1,
  maxLen: 8,
  numSymbols: 10,
  digits: 3,
  pairs: 4,
  seed: 0,
};
const HELD_OUT_SEED = 0x5eed; // heldOut(n) draws from this stream whatever the training seed
const MAX_REDRAWS = 10_000;
const DIGIT_NAMES = [...'0123456789'];
const letter = (i: number) =>
  i < 26 ? String.fromCharCode(97 + i) : i < 52 ? String.fromCharCode(39 + i) : `s${i}`;

/** FNV-1a (32-bit) over the little-endian bytes of each token. */
export function fnv1a(tokens: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const t of tokens) {
    for (let k = 0; k < 4; k++) h = Math.imul(h ^ ((t >>> (8 * k)) & 0xff), 0x01000193) >>> 0;
  }
  return h;
}

/** The split is a function of the input alone, so train and test can never share an input. */
export const isHeldOut = (input: readonly number[]) => fnv1a(input) % 10 === 0;

export class Task {
  readonly vocabSize: number;
  readonly tokenNames: string[];
  private stream: RngState;

  constructor(
    readonly name: TaskName,
    readonly options: Required<TaskOptions>,
    symbolNames: string[],
    private draw: () => Example,
  ) {
    this.tokenNames = [...SPECIAL_NAMES, ...symbolNames];
    this.vocabSize = this.tokenNames.length;
    this.stream = seedStream(options.seed);
  }

  /** One example from the task's own stream; 'train' (the default) is never a held-out input. */
  sample(split: TaskSplit = 'train'): Example {
    if (split !== 'train' && split !== 'test') {
      throw new Error(`sample: split must be 'train' or 'test', got '${split}'`);
    }
    const [example, stream] = withStream(this.stream, () => this.drawFrom(split));
    this.stream = stream;
    return example;
  }

  /** n held-out examples, the same on every call and for every seed (duplicates possible). */
  heldOut(n: number): Example[] {
    if (!(Number.isInteger(n) && n >= 0)) {
      throw new Error(`heldOut: n must be an integer ≥ 0, got ${n}`);
    }
    const draws = () => Array.from({ length: n }, () => this.drawFrom('test'));
    return withStream(seedStream(HELD_OUT_SEED), draws)[0];
  }

  private drawFrom(split: TaskSplit): Example {
    for (let i = 0; i < MAX_REDRAWS; i++) {
      const example = this.draw();
      if (isHeldOut(example.input) === (split === 'test')) return example;
    }
    throw new Error(
      `sample: no ${split} example of task '${this.name}' in ${MAX_REDRAWS} draws; ` +
        'its inputs are too few to split (raise maxLen or numSymbols)',
    );
  }
}

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
  const int = (key: keyof TaskOptions, lo: number, hi = Infinity) => {
    const v = options[key];
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) {
      const range = hi === Infinity ? `≥ ${lo}` : `in [${lo}, ${hi}]`;
      throw new Error(`makeTask: ${key} must be an integer ${range}, got ${v}`);
    }
  };
  (int('minLen', 1), int('maxLen', 1), int('numSymbols', 1), int('digits', 1, 15), int('pairs', 1));
  if (options.minLen > options.maxLen) {
    throw new Error(
      `makeTask: minLen (${options.minLen}) must not exceed maxLen (${options.maxLen})`,
    );
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
 *   recall   c 4 a 7 e 1 a → 7    (pairs key value ..., then a query key; keys are distinct)
 */
export function makeTask(name: TaskName, requested: TaskOptions = {}): Task {
  if (!taskNames.includes(name)) {
    throw new Error(`makeTask: unknown task '${name}' (${taskNames.join(', ')})`);
  }
  const options = resolveOptions(requested);
  const { minLen, maxLen, numSymbols, digits, pairs } = options;
  const letters = Array.from({ length: numSymbols }, (_, i) => letter(i));
  const symbol = () => FIRST_SYMBOL + randomInt(0, numSymbols);
  const sequence = () => Array.from({ length: randomInt(minLen, maxLen + 1) }, symbol);
  const mapped = (answer: (x: number[]) => number[]) =>
    new Task(name, options, letters, () => {
      const x = sequence();
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
    case 'recall': {
      if (pairs > numSymbols) {
        const counts = `pairs (${pairs}) ≤ numSymbols (${numSymbols})`;
        throw new Error(`makeTask: recall needs distinct keys, so ${counts}`);
      }
      const value0 = FIRST_SYMBOL + numSymbols; // keys are letters, values the digits after them
      return new Task(name, options, [...letters, ...DIGIT_NAMES], () => {
        const keys = Array.from({ length: numSymbols }, (_, i) => FIRST_SYMBOL + i);
        for (let i = 0; i < pairs; i++) {
          // partial Fisher–Yates: the first `pairs` keys are distinct
          const j = randomInt(i, numSymbols);
          [keys[i], keys[j]] = [keys[j], keys[i]];
        }
        const values = Array.from({ length: pairs }, () => value0 + randomInt(0, 10));
        const q = randomInt(0, pairs);
        const input = [...values.flatMap((v, i) => [keys[i], v]), keys[q]];
        return { input, output: [values[q]] };
      });
    }
  }
}
