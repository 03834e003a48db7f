// Character-level text: a corpus as character ids (vocabulary = its sorted unique characters,
// the last part held out for validation), random training windows and exact validation batches,
// and the corpora shipped in this folder by name. The masked LM's MASK token is one id past the
// characters (maskId = vocabSize), so a causal LM's vocabulary and checkpoints are unchanged.
// Read next: stream.ts (the window of each training step), masking.ts (MASK and the 80/10/10
// rule), README.md (where the corpora come from).

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor, type Tensor } from '../lib/index.ts';
import { randomInt } from '../lib/random.ts';

export type TextSplit = 'train' | 'val';
export interface TextBatch {
  x: Tensor; // (B, T) character ids
  y: Tensor; // (B, T) x shifted by one: the next character at each position
}

/**
 * A file shipped in data/: beside this module in the sources; from the compiled dist/data/ (the
 * installed package) two folders up, in the package's data/.
 */
function shipped(file: string): string {
  const beside = fileURLToPath(new URL(`./${file}`, import.meta.url));
  return existsSync(beside)
    ? beside
    : fileURLToPath(new URL(`../../data/${file}`, import.meta.url));
}

/** Corpora shipped in data/, by the name `--data` accepts. */
export const corpora: Record<string, string> = {
  shakespeare: shipped('tinyshakespeare.txt'),
};

/** A corpus name (`shakespeare`) to its file; anything else is a path and comes back as it is. */
export const corpusPath = (nameOrPath: string): string => corpora[nameOrPath] ?? nameOrPath;

/** How decode shows the MASK token. */
export const MASK_SYMBOL = '█';

/** A text as character ids: vocab = its sorted unique characters; train first, val the rest. */
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
      const got = JSON.stringify(text);
      throw new Error(`CharDataset.fromText: expected a non-empty string, got ${got}`);
    }
    if (!(valFraction >= 0 && valFraction < 1)) {
      throw new Error(`CharDataset.fromText: valFraction must be in [0, 1), got ${valFraction}`);
    }
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

  /** The characters: a causal LM's vocabulary. */
  get vocabSize(): number {
    return this.chars.length;
  }

  /** The MASK token's id, one past the characters. */
  get maskId(): number {
    return this.chars.length;
  }

  /** The masked LM's vocabulary: the characters and MASK. */
  get maskedVocabSize(): number {
    return this.chars.length + 1;
  }

  encode(text: string): number[] {
    return Array.from(text, (c) => {
      const id = this.ids.get(c);
      if (id === undefined) {
        const code = c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        const which = `character ${JSON.stringify(c)} (U+${code})`;
        throw new Error(`CharDataset.encode: ${which} is not in the vocabulary`);
      }
      return id;
    });
  }

  /** Ids → text; the MASK id shows as MASK_SYMBOL. */
  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (id) => {
      if (id === this.maskId) return MASK_SYMBOL;
      if (!(Number.isInteger(id) && id >= 0 && id < this.chars.length)) {
        const vocab = `${this.chars.length} characters and MASK (id ${this.maskId})`;
        throw new Error(`CharDataset.decode: id ${id} is out of range for ${vocab}`);
      }
      return this.chars[id];
    }).join('');
  }

  /**
   * batchSize random windows drawn from the current generator (training wraps this call in a
   * private stream per step: stream.ts): x (B, T), y (B, T) = x shifted by one.
   */
  batch(split: TextSplit, batchSize: number, blockSize: number): TextBatch {
    const data = this.splitFor('batch', split, batchSize, blockSize);
    const x = new Int32Array(batchSize * blockSize),
      y = new Int32Array(batchSize * blockSize);
    for (let b = 0; b < batchSize; b++) {
      // y's last index, start + blockSize, stays in range
      const start = randomInt(0, data.length - blockSize);
      x.set(data.subarray(start, start + blockSize), b * blockSize);
      y.set(data.subarray(start + 1, start + blockSize + 1), b * blockSize);
    }
    const shape = [batchSize, blockSize];
    return { x: tensor(x, { shape }), y: tensor(y, { shape }) };
  }

  /**
   * The split cut into consecutive non-overlapping windows, batchSize per batch (the last batch
   * may be smaller): averaging the loss over every target gives the exact loss on
   * floor((n−1)/T)·T characters.
   */
  evalBatches(
    split: TextSplit,
    batchSize: number,
    blockSize: number,
    maxBatches = Infinity,
  ): Generator<TextBatch> {
    const data = this.splitFor('evalBatches', split, batchSize, blockSize);
    if (!(maxBatches >= 1 && (Number.isInteger(maxBatches) || maxBatches === Infinity))) {
      const got = `got ${maxBatches}`;
      throw new Error(`evalBatches: maxBatches must be a positive integer or Infinity, ${got}`);
    }
    const windows = Math.floor((data.length - 1) / blockSize);
    return (function* () {
      for (let first = 0, n = 0; first < windows && n < maxBatches; first += batchSize, n++) {
        const B = Math.min(batchSize, windows - first);
        const [a, b] = [first * blockSize, (first + B) * blockSize]; // consecutive: one slice
        const shape = [B, blockSize];
        const x = tensor(data.slice(a, b), { shape });
        yield { x, y: tensor(data.slice(a + 1, b + 1), { shape }) };
      }
    })();
  }

  /** Entropy in nats of the train split's character frequencies: the best unigram model's loss. */
  unigramEntropy(): number {
    const counts = new Float64Array(this.vocabSize);
    for (const id of this.train) counts[id]++;
    const n = this.train.length;
    let h = 0;
    for (const count of counts) if (count > 0) h -= (count / n) * Math.log(count / n);
    return h;
  }

  private splitFor(fn: string, split: TextSplit, batchSize: number, blockSize: number): Int32Array {
    if (split !== 'train' && split !== 'val') {
      throw new Error(`${fn}: split must be 'train' or 'val', got '${split}'`);
    }
    for (const [key, v] of [
      ['batchSize', batchSize],
      ['blockSize', blockSize],
    ] as const) {
      if (!(Number.isInteger(v) && v >= 1)) {
        throw new Error(`${fn}: ${key} must be a positive integer, got ${v}`);
      }
    }
    const data = this[split];
    if (data.length < blockSize + 1) {
      const need = `too few for blockSize ${blockSize} (needs ${blockSize + 1})`;
      throw new Error(`${fn}: the ${split} split has ${data.length} characters, ${need}`);
    }
    return data;
  }
}
