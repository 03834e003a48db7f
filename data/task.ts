// What every toy task shares: its options, the Task class (a private generator stream, a train
// split and a held-out split fixed by a hash of the input) and the token names of symbols. The
// tasks themselves are one file a family: toy-tasks.ts (copy, reverse, sort, addition, and
// makeTask, the registry by name), recall.ts, even-pairs.ts. Read next: toy-tasks.ts.

import { randomInt, type RngState } from '../lib/random.ts';
import { SPECIAL_NAMES, type Example } from './tokens.ts';
import { seedStream, withStream } from './rng.ts';

export type TaskName =
  'copy' | 'reverse' | 'sort' | 'addition' | 'recall' | 'recall1' | 'even-pairs';
export type TaskSplit = 'train' | 'test';
export interface TaskOptions {
  minLen?: number; // copy, reverse, sort, even-pairs: training input length in [minLen, maxLen]
  maxLen?: number;
  testMinLen?: number; // the held-out split's lengths [default: minLen, maxLen]; length
  testMaxLen?: number; // generalisation: train ≤ 32, test ≤ 256
  numSymbols?: number; // copy, reverse, sort, even-pairs: alphabet size; recall: number of keys
  digits?: number; // addition: each operand has 1..digits digits
  pairs?: number; // recall, recall1: key-value pairs before the query
  seed?: number;
}

const HELD_OUT_SEED = 0x5eed; // heldOut(n) draws from this stream whatever the training seed
const MAX_REDRAWS = 10_000;

/** The name of symbol i: a…z, A…Z, then s52, s53, … */
export const letter = (i: number) =>
  i < 26 ? String.fromCharCode(97 + i) : i < 52 ? String.fromCharCode(39 + i) : `s${i}`;

/** A length drawn uniformly from the split's range (the same draw for both when they agree). */
export const lengthFor = (split: TaskSplit, options: Required<TaskOptions>) =>
  split === 'train'
    ? randomInt(options.minLen, options.maxLen + 1)
    : randomInt(options.testMinLen, options.testMaxLen + 1);

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
  /**
   * Decoder-only layout: `input SEP output` (true), or `input output` for a task whose last input
   * token is the query, so that the query's own position answers (recall1, a one-layer task).
   */
  readonly separator: boolean;
  private stream: RngState;

  constructor(
    readonly name: TaskName,
    readonly options: Required<TaskOptions>,
    symbolNames: string[],
    private draw: (split: TaskSplit) => Example,
    { separator = true }: { separator?: boolean } = {},
  ) {
    this.tokenNames = [...SPECIAL_NAMES, ...symbolNames];
    this.vocabSize = this.tokenNames.length;
    this.separator = separator;
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
      const example = this.draw(split);
      if (isHeldOut(example.input) === (split === 'test')) return example;
    }
    throw new Error(
      `sample: no ${split} example of task '${this.name}' in ${MAX_REDRAWS} draws; ` +
        'its inputs are too few to split (raise maxLen or numSymbols)',
    );
  }
}
