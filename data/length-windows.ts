// Fixed evaluation windows for testing a char model at several lengths (Su, kexue.fm 9948): the
// scored targets are the same characters at every length — the last `targets` (64) characters
// before each window's end — and only the context before them grows. The window ends are drawn
// from the validation split on a fixed seed, so every model and every run is scored on the same
// targets. For the masked LM one mask pattern (masking.ts) is drawn over the longest window and
// each length applies its suffix: the same masked positions, and the same 15% density of masks in
// the context as in training; only masked positions among the last `targets` are scored. With
// `repeated`, every window's second half repeats its first (repeated-text.ts), built from the end
// so that the targets stay the same once they fit in the half. Read next: ../cli/lengths.ts (the
// table `attngrad eval --lengths` prints).

import { tensor, type Tensor } from '../lib/index.ts';
import { randomInt } from '../lib/random.ts';
import type { CharDataset } from './char-text.ts';
import { applyMask, drawMask, maskSuffix } from './masking.ts';
import { halfPeriod, repeatTail } from './repeated-text.ts';
import { seedStream, withStream } from './rng.ts';
import { IGNORE_INDEX } from './tokens.ts';

export const LENGTH_WINDOWS_SEED = 0x1e57; // the windows (and MLM masks) every model is scored on

export interface LengthWindowsOptions {
  lengths: number[]; // window lengths n to evaluate at
  windows: number; // how many windows (rows) per length
  targets?: number; // scored positions at the end of each window (default 64)
  repeated?: boolean; // every window's second half repeats its first
  masked?: boolean; // masked LM: masked input, targets at masked positions (default: causal LM)
  rate?: number; // masked LM: the masking rate (default 0.15)
  batchSize?: number; // rows per batch (default: all windows in one)
  seed?: number; // default LENGTH_WINDOWS_SEED
}

export interface LengthBatch {
  input: Tensor; // (B, n) ids the model reads
  targets: Tensor; // (B, n) what it must predict at the scored positions, −100 elsewhere
}

export interface LengthWindows {
  length: number;
  batches: LengthBatch[];
}

function check(data: CharDataset, options: LengthWindowsOptions): void {
  const { lengths, windows, targets = 64, batchSize = 1, rate = 0.15 } = options;
  const positive = (key: string, v: number) => {
    if (!(Number.isInteger(v) && v >= 1)) {
      throw new Error(`lengthWindows: ${key} must be a positive integer, got ${v}`);
    }
  };
  (positive('windows', windows), positive('targets', targets), positive('batchSize', batchSize));
  if (!Array.isArray(lengths) || lengths.length === 0) {
    throw new Error(`lengthWindows: lengths must be a non-empty array, got ${lengths}`);
  }
  for (const n of lengths) {
    if (!(Number.isInteger(n) && n >= targets)) {
      const why = `(the last ${targets} positions are scored)`;
      throw new Error(
        `lengthWindows: each length must be an integer ≥ ${targets} ${why}, got ${n}`,
      );
    }
  }
  if (!(rate > 0 && rate <= 1))
    throw new Error(`lengthWindows: rate must be in (0, 1], got ${rate}`);
  const longest = Math.max(...lengths);
  if (data.val.length < longest + 1) {
    const need = `too few for length ${longest} (needs ${longest + 1})`;
    throw new Error(`lengthWindows: the val split has ${data.val.length} characters, ${need}`);
  }
}

/** Per length, the windows ending at the same fixed points, as batches of (input, targets). */
export function lengthWindows(data: CharDataset, options: LengthWindowsOptions): LengthWindows[] {
  check(data, options);
  const { lengths, windows: W, targets: K = 64, repeated = false, masked = false } = options;
  const { batchSize = W, seed = LENGTH_WINDOWS_SEED, rate = 0.15 } = options;
  const longest = Math.max(...lengths);
  const text = data.val;
  // window ends e: a causal window reads text[e−n−1, e−1) and predicts text[e−n, e)
  const [ends, stream] = withStream(seedStream(seed), () =>
    Array.from({ length: W }, () => randomInt(longest + 1, text.length + 1)),
  );
  const { maskId, maskedVocabSize: vocabSize } = data;
  const pattern = masked ? drawMask(W, longest, { rate, stream, maskId, vocabSize })[0] : null;

  return lengths.map((n) => {
    const inputs = new Int32Array(W * n),
      goals = new Int32Array(W * n);
    ends.forEach((e, b) => {
      // the n + 1 characters before e (causal: x and y) or the n before it (masked: the input)
      let seq: ArrayLike<number> = masked ? text.subarray(e - n, e) : text.subarray(e - n - 1, e);
      if (repeated) seq = repeatTail(seq, halfPeriod(n));
      inputs.set(Array.from(seq).slice(0, n), b * n);
      goals.set(Array.from(seq).slice(masked ? 0 : 1), b * n);
    });
    let input = tensor(inputs, { shape: [W, n] });
    if (pattern) {
      const applied = applyMask(input, maskSuffix(pattern, n), maskId);
      input = applied.input;
      goals.set(applied.targets.data as Int32Array);
    }
    for (let b = 0; b < W; b++) goals.fill(IGNORE_INDEX, b * n, (b + 1) * n - K); // score the last K
    const batches: LengthBatch[] = [];
    for (let first = 0; first < W; first += batchSize) {
      const rows = Math.min(batchSize, W - first);
      const [from, to] = [first * n, (first + rows) * n];
      const shape = [rows, n];
      batches.push({
        input: tensor(input.data.slice(from, to) as Int32Array, { shape }),
        targets: tensor(goals.slice(from, to), { shape }),
      });
    }
    return { length: n, batches };
  });
}
