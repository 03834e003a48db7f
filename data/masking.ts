// BERT's masking for the masked LM (Devlin et al. 2019, §3.1): each position is chosen with
// probability `rate` (15%), at least one per row; of the chosen, 80% become MASK, 10% a random
// token, 10% stay as they are. Targets are the original ids at chosen positions, −100 elsewhere,
// so the loss counts only what the model had to recover. Every draw is on a private stream passed
// in and handed back advanced (rng.ts), never the global one. A pattern (which position gets
// what) is drawn apart from the ids it is applied to, so one fixed pattern can score several
// inputs: evaluation at other lengths applies the suffix of one pattern (length-windows.ts).
// Read next: stream.ts (maskedTextStream: the masked batch of each training step).

import { tensor, type Tensor } from '../lib/index.ts';
import { random, randomInt, type RngState } from '../lib/random.ts';
import { withStream } from './rng.ts';
import { IGNORE_INDEX } from './tokens.ts';

/** What happens at a position: nothing (not chosen), MASK, a random token, or kept unchanged. */
export const MaskAction = { none: 0, mask: 1, random: 2, keep: 3 } as const;

export interface MaskOptions {
  rate?: number; // the fraction of positions chosen (default 0.15)
  stream: RngState; // the private stream the draws come from
  maskId: number; // the MASK token
  vocabSize: number; // random replacements are uniform over [0, vocabSize) without maskId
}

/** Which position gets what, for B rows of T: action (B·T) and the random token where it is one. */
export interface MaskPattern {
  rows: number;
  length: number;
  action: Uint8Array;
  replacement: Int32Array;
}

export interface MaskedBatch {
  input: Tensor; // (B, T) ids with the chosen positions replaced
  targets: Tensor; // (B, T) the original id at chosen positions, −100 elsewhere
}

function checkOptions(fn: string, { rate = 0.15, maskId, vocabSize }: MaskOptions): void {
  if (!(rate > 0 && rate <= 1)) throw new Error(`${fn}: rate must be in (0, 1], got ${rate}`);
  if (!(Number.isInteger(vocabSize) && vocabSize >= 2)) {
    throw new Error(`${fn}: vocabSize must be an integer ≥ 2, got ${vocabSize}`);
  }
  if (!(Number.isInteger(maskId) && maskId >= 0 && maskId < vocabSize)) {
    throw new Error(`${fn}: maskId must be an integer in [0, ${vocabSize}), got ${maskId}`);
  }
}

/** A pattern for `rows` rows of `length` positions, and the stream advanced past its draws. */
export function drawMask(
  rows: number,
  length: number,
  options: MaskOptions,
): [MaskPattern, RngState] {
  checkOptions('drawMask', options);
  for (const [key, v] of [
    ['rows', rows],
    ['length', length],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1)) {
      throw new Error(`drawMask: ${key} must be a positive integer, got ${v}`);
    }
  }
  const { rate = 0.15, maskId, vocabSize } = options;
  return withStream(options.stream, () => {
    const action = new Uint8Array(rows * length);
    const replacement = new Int32Array(rows * length);
    for (let b = 0; b < rows; b++) {
      const row = b * length;
      let chosen = 0;
      for (let t = 0; t < length; t++) {
        if (random() < rate) ((action[row + t] = MaskAction.mask), chosen++);
      }
      if (chosen === 0) action[row + randomInt(0, length)] = MaskAction.mask; // at least one
      for (let t = row; t < row + length; t++) {
        if (action[t] === MaskAction.none) continue;
        const u = random();
        if (u < 0.8) continue; // stays MASK
        if (u < 0.9) {
          action[t] = MaskAction.random;
          const id = randomInt(0, vocabSize - 1); // every id but maskId, uniformly
          replacement[t] = id >= maskId ? id + 1 : id;
        } else {
          action[t] = MaskAction.keep;
        }
      }
    }
    return { rows, length, action, replacement };
  });
}

/** The last n positions of every row of a pattern (the mask of a window's suffix). */
export function maskSuffix(pattern: MaskPattern, n: number): MaskPattern {
  const { rows, length } = pattern;
  if (!(Number.isInteger(n) && n >= 1 && n <= length)) {
    throw new Error(`maskSuffix: n must be an integer in [1, ${length}], got ${n}`);
  }
  const action = new Uint8Array(rows * n),
    replacement = new Int32Array(rows * n);
  for (let b = 0; b < rows; b++) {
    const from = b * length + length - n;
    action.set(pattern.action.subarray(from, from + n), b * n);
    replacement.set(pattern.replacement.subarray(from, from + n), b * n);
  }
  return { rows, length: n, action, replacement };
}

/** Apply a pattern to ids (B, T) of the same shape: the masked input and its targets. */
export function applyMask(ids: Tensor, pattern: MaskPattern, maskId: number): MaskedBatch {
  const [B, T] = ids.shape;
  if (ids.shape.length !== 2 || B !== pattern.rows || T !== pattern.length) {
    const want = `[${pattern.rows},${pattern.length}]`;
    throw new Error(`applyMask: ids of shape [${ids.shape}] do not match the pattern's ${want}`);
  }
  const input = Int32Array.from(ids.data),
    targets = new Int32Array(B * T).fill(IGNORE_INDEX);
  for (let i = 0; i < B * T; i++) {
    const action = pattern.action[i];
    if (action === MaskAction.none) continue;
    targets[i] = input[i];
    if (action === MaskAction.mask) input[i] = maskId;
    else if (action === MaskAction.random) input[i] = pattern.replacement[i];
  }
  const shape = [B, T];
  return { input: tensor(input, { shape }), targets: tensor(targets, { shape }) };
}

/**
 * Mask ids (B, T) by BERT's rule on a private stream: the masked input, its targets (original ids
 * at chosen positions, −100 elsewhere) and the stream advanced past the draws.
 */
export function maskTokens(ids: Tensor, options: MaskOptions): MaskedBatch & { stream: RngState } {
  checkOptions('maskTokens', options);
  if (ids.shape.length !== 2 || ids.dtype !== 'int32') {
    const got = `${ids.dtype} of shape [${ids.shape}]`;
    throw new Error(`maskTokens: ids must be int32 of shape (B, T), got ${got}`);
  }
  const [pattern, stream] = drawMask(ids.shape[0], ids.shape[1], options);
  return { ...applyMask(ids, pattern, options.maskId), stream };
}
