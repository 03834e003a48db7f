// Data for training Transformers: seeded toy tasks (copy, reverse, sort, addition, associative
// recall) with a held-out split fixed by a hash of the input, batching for the seq2seq and the
// decoder-only model, and a character-level text dataset. Read next: transformer.ts, which eats
// these batches (Seq2SeqTransformer.forward(src, tgtIn, {srcPad, tgtPad, tgtOut}), TransformerLM).
//
// Token ids: PAD 0, BOS 1, EOS 2, SEP 3, then the task's symbols from FIRST_SYMBOL = 4.
// Randomness: a task owns a private stream of the project's generator (lib/random.ts). Each call
// saves the global state, swaps the task's state in, draws, and restores the global state, so
// sampling a task never moves the global stream (weight init, dropout, CharDataset.batch).

import { existsSync, readFileSync } from 'node:fs';
import { tensor, type Tensor } from '../lib/index.ts';
import { getRngState, manualSeed, randomInt, setRngState, type RngState } from '../lib/random.ts';

export const PAD = 0, BOS = 1, EOS = 2, SEP = 3, FIRST_SYMBOL = 4;
export const IGNORE_INDEX = -100; // crossEntropy skips targets equal to this

export interface Example {
  input: number[];
  output: number[];
}
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

const TASKS: TaskName[] = ['copy', 'reverse', 'sort', 'addition', 'recall'];
const DEFAULTS: Required<TaskOptions> = { minLen: 1, maxLen: 8, numSymbols: 10, digits: 3, pairs: 4, seed: 0 };
const HELD_OUT_SEED = 0x5eed; // heldOut(n) draws from this stream whatever the training seed
const MAX_REDRAWS = 10_000;
const SPECIAL_NAMES = ['PAD', 'BOS', 'EOS', 'SEP'];
const DIGIT_NAMES = [...'0123456789'];
const letter = (i: number) => (i < 26 ? String.fromCharCode(97 + i) : i < 52 ? String.fromCharCode(39 + i) : `s${i}`);

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

function seedStream(seed: number): RngState {
  const outer = getRngState();
  manualSeed(seed);
  const stream = getRngState();
  setRngState(outer);
  return stream;
}

/** Run `draws` on a private stream; returns its result and the advanced stream. */
function withStream<T>(stream: RngState, draws: () => T): [T, RngState] {
  const outer = getRngState();
  setRngState(stream);
  try {
    const result = draws();
    return [result, getRngState()];
  } finally {
    setRngState(outer);
  }
}

export class Task {
  readonly vocabSize: number;
  readonly tokenNames: string[];
  private stream: RngState;

  constructor(readonly name: TaskName, readonly options: Required<TaskOptions>, symbolNames: string[], private draw: () => Example) {
    this.tokenNames = [...SPECIAL_NAMES, ...symbolNames];
    this.vocabSize = this.tokenNames.length;
    this.stream = seedStream(options.seed);
  }

  /** One example from the task's own stream; 'train' (the default) never returns a held-out input. */
  sample(split: TaskSplit = 'train'): Example {
    if (split !== 'train' && split !== 'test') throw new Error(`sample: split must be 'train' or 'test', got '${split}'`);
    const [example, stream] = withStream(this.stream, () => this.drawFrom(split));
    this.stream = stream;
    return example;
  }

  /** n held-out examples, the same on every call and for every training seed (duplicates possible). */
  heldOut(n: number): Example[] {
    if (!(Number.isInteger(n) && n >= 0)) throw new Error(`heldOut: n must be an integer ≥ 0, got ${n}`);
    return withStream(seedStream(HELD_OUT_SEED), () => Array.from({ length: n }, () => this.drawFrom('test')))[0];
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

/** Digit tokens of n, least significant digit first (so the carry flows the way the model writes). */
const digitsOf = (n: number, zero: number) => [...String(n)].reverse().map((c) => zero + Number(c));

/**
 * A toy task. Inputs and answers, in token names:
 *   copy     a c b → a c b        reverse  a c b → b c a        sort  c a b → a b c
 *   addition 217 + 45, least significant digit first: 7 1 2 + 5 4 → 2 6 2   (= 262)
 *   recall   c 4 a 7 e 1 a → 7    (pairs key value ..., then a query key; keys are distinct)
 */
export function makeTask(name: TaskName, options: TaskOptions = {}): Task {
  if (!TASKS.includes(name)) throw new Error(`makeTask: unknown task '${name}' (${TASKS.join(', ')})`);
  const o: Required<TaskOptions> = { ...DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (!(key in DEFAULTS)) throw new Error(`makeTask: unknown option '${key}' (${Object.keys(DEFAULTS).join(', ')})`);
    if (value !== undefined) o[key as keyof TaskOptions] = value;
  }
  const int = (key: keyof TaskOptions, lo: number, hi = Infinity) => {
    const v = o[key];
    if (!(Number.isInteger(v) && v >= lo && v <= hi)) {
      throw new Error(`makeTask: ${key} must be an integer ${hi === Infinity ? `≥ ${lo}` : `in [${lo}, ${hi}]`}, got ${v}`);
    }
  };
  int('minLen', 1), int('maxLen', 1), int('numSymbols', 1), int('digits', 1, 15), int('pairs', 1);
  if (o.minLen > o.maxLen) throw new Error(`makeTask: minLen (${o.minLen}) must not exceed maxLen (${o.maxLen})`);
  if (!Number.isFinite(o.seed)) throw new Error(`makeTask: seed must be a finite number, got ${o.seed}`);

  const letters = Array.from({ length: o.numSymbols }, (_, i) => letter(i));
  const sequence = () => Array.from({ length: randomInt(o.minLen, o.maxLen + 1) }, () => FIRST_SYMBOL + randomInt(0, o.numSymbols));
  switch (name) {
    case 'copy':
      return new Task(name, o, letters, () => {
        const x = sequence();
        return { input: x, output: [...x] };
      });
    case 'reverse':
      return new Task(name, o, letters, () => {
        const x = sequence();
        return { input: x, output: [...x].reverse() };
      });
    case 'sort':
      return new Task(name, o, letters, () => {
        const x = sequence();
        return { input: x, output: [...x].sort((a, b) => a - b) };
      });
    case 'addition': {
      const zero = FIRST_SYMBOL, plus = FIRST_SYMBOL + 10;
      // Draw the length first, then the value: short and long operands come equally often.
      const operand = () => {
        const len = randomInt(1, o.digits + 1);
        return len === 1 ? randomInt(0, 10) : randomInt(10 ** (len - 1), 10 ** len);
      };
      return new Task(name, o, [...DIGIT_NAMES, '+'], () => {
        const [a, b] = [operand(), operand()];
        return { input: [...digitsOf(a, zero), plus, ...digitsOf(b, zero)], output: digitsOf(a + b, zero) };
      });
    }
    case 'recall': {
      if (o.pairs > o.numSymbols) {
        throw new Error(`makeTask: recall needs distinct keys, so pairs (${o.pairs}) ≤ numSymbols (${o.numSymbols})`);
      }
      const value0 = FIRST_SYMBOL + o.numSymbols; // keys are letters, values the digits after them
      return new Task(name, o, [...letters, ...DIGIT_NAMES], () => {
        const keys = Array.from({ length: o.numSymbols }, (_, i) => FIRST_SYMBOL + i);
        for (let i = 0; i < o.pairs; i++) {
          const j = randomInt(i, o.numSymbols); // partial Fisher–Yates: the first `pairs` keys are distinct
          [keys[i], keys[j]] = [keys[j], keys[i]];
        }
        const values = Array.from({ length: o.pairs }, () => value0 + randomInt(0, 10));
        const q = randomInt(0, o.pairs);
        return { input: [...values.flatMap((v, i) => [keys[i], v]), keys[q]], output: [values[q]] };
      });
    }
  }
}

// ---- Batching: right-padded int32 ids, float32 masks (1 = real token, 0 = padding) ----

export interface Seq2SeqBatch {
  src: Tensor; // (B, S) input
  tgtIn: Tensor; // (B, T) BOS + output, what the decoder reads
  tgtOut: Tensor; // (B, T) output + EOS, what it must predict; -100 on padding
  srcPad: Tensor; // (B, S)
  tgtPad: Tensor; // (B, T)
}
export interface LMBatch {
  tokens: Tensor; // (B, L) input SEP output EOS
  targets: Tensor; // (B, L) the next token where it belongs to the answer (output, EOS), else -100
  pad: Tensor; // (B, L)
}

function padded(rows: number[][], fill: number): Tensor {
  const L = Math.max(...rows.map((r) => r.length));
  const data = new Int32Array(rows.length * L).fill(fill);
  rows.forEach((r, b) => data.set(r, b * L));
  return tensor(data, { shape: [rows.length, L] });
}

function realMask(rows: number[][]): Tensor {
  const L = Math.max(...rows.map((r) => r.length));
  const data = new Float32Array(rows.length * L);
  rows.forEach((r, b) => data.fill(1, b * L, b * L + r.length));
  return tensor(data, { shape: [rows.length, L] });
}

function checkExamples(fn: string, examples: Example[]): void {
  if (!Array.isArray(examples) || examples.length === 0) {
    throw new Error(`${fn}: expected a non-empty array of examples, got ${examples?.length ?? examples}`);
  }
  examples.forEach((e, i) => {
    if (!Array.isArray(e?.input) || !Array.isArray(e?.output)) throw new Error(`${fn}: example ${i} needs input and output arrays`);
    if (e.input.length === 0) throw new Error(`${fn}: example ${i} has an empty input`);
  });
}

export function seq2seqBatch(examples: Example[]): Seq2SeqBatch {
  checkExamples('seq2seqBatch', examples);
  const src = examples.map((e) => e.input);
  const tgtIn = examples.map((e) => [BOS, ...e.output]);
  const tgtOut = examples.map((e) => [...e.output, EOS]);
  return {
    src: padded(src, PAD),
    tgtIn: padded(tgtIn, PAD),
    tgtOut: padded(tgtOut, IGNORE_INDEX),
    srcPad: realMask(src),
    tgtPad: realMask(tgtIn),
  };
}

export function lmBatch(examples: Example[]): LMBatch {
  checkExamples('lmBatch', examples);
  const rows = examples.map((e) => [...e.input, SEP, ...e.output, EOS]);
  // Position t predicts token t + 1; the answer starts after SEP (index input.length), so SEP's
  // position is the first scored one. The final EOS has no next token.
  const targets = rows.map((r, b) => [...r.slice(1).map((tok, t) => (t >= examples[b].input.length ? tok : IGNORE_INDEX)), IGNORE_INDEX]);
  return { tokens: padded(rows, PAD), targets: padded(targets, IGNORE_INDEX), pad: realMask(rows) };
}

// ---- Character-level text ----

export type TextSplit = 'train' | 'val';

/** A text as character ids: vocab = its sorted unique characters, train = first part, val = the rest. */
export class CharDataset {
  readonly chars: string[]; // id → character
  readonly train: Int32Array;
  readonly val: Int32Array;
  private readonly ids: Map<string, number>;

  static fromFile(path: string, options: { valFraction?: number } = {}): CharDataset {
    if (!existsSync(path)) throw new Error(`CharDataset.fromFile: no file at '${path}'`);
    return CharDataset.fromText(readFileSync(path, 'utf8'), options);
  }

  static fromText(text: string, { valFraction = 0.1 }: { valFraction?: number } = {}): CharDataset {
    if (typeof text !== 'string' || text.length === 0) {
      throw new Error(`CharDataset.fromText: expected a non-empty string, got ${JSON.stringify(text)}`);
    }
    if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`CharDataset.fromText: valFraction must be in [0, 1), got ${valFraction}`);
    return new CharDataset(text, valFraction);
  }

  private constructor(text: string, valFraction: number) {
    const chars = Array.from(text); // code points, so a character outside the BMP is one id
    this.chars = [...new Set(chars)].sort();
    this.ids = new Map(this.chars.map((c, i) => [c, i]));
    const data = Int32Array.from(chars, (c) => this.ids.get(c)!);
    const nTrain = Math.floor(data.length * (1 - valFraction));
    this.train = data.subarray(0, nTrain);
    this.val = data.subarray(nTrain);
  }

  get vocabSize(): number {
    return this.chars.length;
  }

  encode(text: string): number[] {
    return Array.from(text, (c) => {
      const id = this.ids.get(c);
      if (id === undefined) {
        const code = c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        throw new Error(`CharDataset.encode: character ${JSON.stringify(c)} (U+${code}) is not in the vocabulary`);
      }
      return id;
    });
  }

  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (id) => {
      if (!(Number.isInteger(id) && id >= 0 && id < this.chars.length)) {
        throw new Error(`CharDataset.decode: id ${id} is out of range for a vocabulary of ${this.chars.length}`);
      }
      return this.chars[id];
    }).join('');
  }

  /** batchSize random windows (global seeded generator): x (B, T), y (B, T) = x shifted by one. */
  batch(split: TextSplit, batchSize: number, blockSize: number): { x: Tensor; y: Tensor } {
    const data = this.splitFor('batch', split, batchSize, blockSize);
    const x = new Int32Array(batchSize * blockSize), y = new Int32Array(batchSize * blockSize);
    for (let b = 0; b < batchSize; b++) {
      const start = randomInt(0, data.length - blockSize); // y's last index, start + blockSize, stays in range
      x.set(data.subarray(start, start + blockSize), b * blockSize);
      y.set(data.subarray(start + 1, start + blockSize + 1), b * blockSize);
    }
    return { x: tensor(x, { shape: [batchSize, blockSize] }), y: tensor(y, { shape: [batchSize, blockSize] }) };
  }

  /**
   * The split cut into consecutive non-overlapping windows, batchSize per batch (the last batch may be
   * smaller): averaging the loss over every target gives the exact loss on floor((n−1)/T)·T characters.
   */
  evalBatches(split: TextSplit, batchSize: number, blockSize: number, maxBatches = Infinity): Generator<{ x: Tensor; y: Tensor }> {
    const data = this.splitFor('evalBatches', split, batchSize, blockSize);
    if (!(maxBatches >= 1 && (Number.isInteger(maxBatches) || maxBatches === Infinity))) {
      throw new Error(`evalBatches: maxBatches must be a positive integer or Infinity, got ${maxBatches}`);
    }
    const windows = Math.floor((data.length - 1) / blockSize);
    return (function* () {
      for (let first = 0, n = 0; first < windows && n < maxBatches; first += batchSize, n++) {
        const B = Math.min(batchSize, windows - first);
        const [a, b] = [first * blockSize, (first + B) * blockSize]; // consecutive windows are one slice
        yield { x: tensor(data.slice(a, b), { shape: [B, blockSize] }), y: tensor(data.slice(a + 1, b + 1), { shape: [B, blockSize] }) };
      }
    })();
  }

  /** Entropy in nats of the train split's character frequencies: the loss of the best unigram model. */
  unigramEntropy(): number {
    const counts = new Float64Array(this.vocabSize);
    for (const id of this.train) counts[id]++;
    let h = 0;
    for (const c of counts) if (c > 0) h -= (c / this.train.length) * Math.log(c / this.train.length);
    return h;
  }

  private splitFor(fn: string, split: TextSplit, batchSize: number, blockSize: number): Int32Array {
    if (split !== 'train' && split !== 'val') throw new Error(`${fn}: split must be 'train' or 'val', got '${split}'`);
    for (const [key, v] of [['batchSize', batchSize], ['blockSize', blockSize]] as const) {
      if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${fn}: ${key} must be a positive integer, got ${v}`);
    }
    const data = this[split];
    if (data.length < blockSize + 1) {
      const need = `too few for blockSize ${blockSize} (needs ${blockSize + 1})`;
      throw new Error(`${fn}: the ${split} split has ${data.length} characters, ${need}`);
    }
    return data;
  }
}
