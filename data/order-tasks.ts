// Two sequence-classification toys for "Attention is All You Need" (Su's notes, kexue.fm 4765):
// without positions, self-attention followed by average pooling is a function of the bag of
// tokens alone, so it can answer a question about which tokens occur but not one about their order.
//   before    c a d b e → yes   does `a` come before `b`? (exactly one a and one b in each input)
//   contains  c d a e c → yes   does `a` occur? (half the inputs hold one a)
// Fillers are the symbols after a and b. Both labels are equally likely (chance 1/2), and an input
// of `before` and its answer flipped differ only by swapping a and b: the same bag of tokens.
// Train and held-out inputs are split by the hash of task.ts. Read next: stream.ts.

import { tensor, type Tensor } from '../lib/index.ts';
import { random, randomInt } from '../lib/random.ts';
import type { BatchStream } from './stream.ts';
import { isHeldOut, letter, type TaskSplit } from './task.ts';
import { seedStream, stepSeed, withStream } from './rng.ts';
import { FIRST_SYMBOL, SPECIAL_NAMES, type Example } from './tokens.ts';

export const orderTaskNames = ['before', 'contains'] as const;
export type OrderTaskName = (typeof orderTaskNames)[number];

export interface OrderTaskOptions {
  length: number; // every input has this many tokens
  numSymbols: number; // a, b and numSymbols − 2 fillers
}

/** Inputs (B, n) and the class of each (B,): 0 no, 1 yes; int32. */
export interface ClassBatch {
  tokens: Tensor;
  labels: Tensor;
}

const HELD_OUT_SEED = 0x5eed;
const MAX_REDRAWS = 10_000;

export class OrderTask {
  readonly vocabSize: number;
  readonly tokenNames: string[];
  readonly no: number; // the answer tokens, after the symbols
  readonly yes: number;

  constructor(
    readonly name: OrderTaskName,
    readonly options: OrderTaskOptions,
  ) {
    const { length, numSymbols } = options;
    if (!orderTaskNames.includes(name)) {
      throw new Error(`OrderTask: unknown task '${name}' (${orderTaskNames.join(', ')})`);
    }
    if (!(Number.isInteger(length) && length >= 2)) {
      throw new Error(`OrderTask: length must be an integer ≥ 2, got ${length}`);
    }
    if (!(Number.isInteger(numSymbols) && numSymbols >= 3)) {
      throw new Error(
        `OrderTask: numSymbols must be an integer ≥ 3 (a, b, a filler), got ${numSymbols}`,
      );
    }
    const symbols = Array.from({ length: numSymbols }, (_, i) => letter(i));
    this.tokenNames = [...SPECIAL_NAMES, ...symbols, 'no', 'yes'];
    this.vocabSize = this.tokenNames.length;
    [this.no, this.yes] = [FIRST_SYMBOL + numSymbols, FIRST_SYMBOL + numSymbols + 1];
  }

  /** One example from the current generator: never a held-out input for 'train', always for 'test'. */
  sample(split: TaskSplit): Example {
    for (let i = 0; i < MAX_REDRAWS; i++) {
      const example = this.draw();
      if (isHeldOut(example.input) === (split === 'test')) return example;
    }
    throw new Error(`OrderTask: no ${split} input in ${MAX_REDRAWS} draws (raise length)`);
  }

  /** n held-out examples, the same on every call. */
  heldOut(n: number): Example[] {
    const draws = () => Array.from({ length: n }, () => this.sample('test'));
    return withStream(seedStream(HELD_OUT_SEED), draws)[0];
  }

  /** Examples → ClassBatch. */
  batch(examples: Example[]): ClassBatch {
    const { length } = this.options;
    if (examples.length === 0 || examples.some((e) => e.input.length !== length)) {
      throw new Error(`OrderTask.batch: expected a non-empty list of inputs of length ${length}`);
    }
    const tokens = tensor(new Int32Array(examples.flatMap((e) => e.input)), {
      shape: [examples.length, length],
    });
    const classes = examples.map((e) => (e.output[0] === this.yes ? 1 : 0));
    return { tokens, labels: tensor(new Int32Array(classes), { shape: [examples.length] }) };
  }

  private draw(): Example {
    const { length, numSymbols } = this.options;
    const [a, b] = [FIRST_SYMBOL, FIRST_SYMBOL + 1];
    const input = Array.from({ length }, () => FIRST_SYMBOL + randomInt(2, numSymbols));
    const answer = random() < 0.5; // the label first, so both are equally likely
    const first = randomInt(0, length);
    if (this.name === 'contains') {
      if (answer) input[first] = a;
    } else {
      const second = (first + 1 + randomInt(0, length - 1)) % length; // another position
      const [early, late] = first < second ? [first, second] : [second, first];
      [input[early], input[late]] = answer ? [a, b] : [b, a];
    }
    return { input, output: [answer ? this.yes : this.no] };
  }
}

/** batchSize training examples per step, drawn on the step's own stream (stream.ts). */
export function classStream(
  task: OrderTask,
  { seed, batchSize }: { seed: number; batchSize: number },
): BatchStream<ClassBatch> {
  return {
    seed,
    at(step) {
      if (!Number.isInteger(step)) {
        throw new Error(`BatchStream.at: step must be an integer, got ${step}`);
      }
      const draws = () => Array.from({ length: batchSize }, () => task.sample('train'));
      return task.batch(withStream(seedStream(stepSeed(seed, step)), draws)[0]);
    },
  };
}
