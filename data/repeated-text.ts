// "Repeated text" (Su, kexue.fm 9431/9948): windows whose second half repeats their first, so a
// model that can copy from far back predicts the second half almost perfectly, and one that sees
// only a short window cannot. A window is made periodic from its end: its last ⌈n/2⌉ characters
// stay, and everything before them repeats them, so the last characters (the scored targets of an
// evaluation at several lengths, length-windows.ts) are the same as in the plain window whenever
// they fit in the half. Training can repeat a fraction of its windows (textStream's
// repeatFraction: attention-spec §14, tiny models do not learn to copy from far back otherwise).
// Read next: length-windows.ts.

import { tensor } from '../lib/index.ts';
import type { TextBatch } from './char-text.ts';

/**
 * seq made periodic with period `period`, anchored at its end: out[j] = seq[L−1 − ((L−1−j) mod
 * period)], L = seq.length. The last `period` ids are seq's; each id before repeats the one
 * `period` later.
 */
export function repeatTail(seq: ArrayLike<number>, period: number): Int32Array {
  const L = seq.length;
  if (!(Number.isInteger(period) && period >= 1)) {
    throw new Error(`repeatTail: period must be a positive integer, got ${period}`);
  }
  return Int32Array.from({ length: L }, (_, j) => seq[L - 1 - ((L - 1 - j) % period)]);
}

/** The period that makes a window of n positions repeat its first half: ⌈n/2⌉. */
export const halfPeriod = (n: number) => Math.ceil(n / 2);

/**
 * A text batch with the rows where repeat[b] is true made into repeated windows: the row's n + 1
 * characters (x and y's last) made periodic with period ⌈n/2⌉, then split again into x and y, so
 * y is still x shifted by one and x's second half repeats its first.
 */
export function repeatRows({ x, y }: TextBatch, repeat: readonly boolean[]): TextBatch {
  const [B, T] = x.shape;
  if (repeat.length !== B) {
    throw new Error(`repeatRows: ${repeat.length} flags for a batch of ${B} rows`);
  }
  const xs = Int32Array.from(x.data),
    ys = Int32Array.from(y.data);
  for (let b = 0; b < B; b++) {
    if (!repeat[b]) continue;
    const seq = new Int32Array(T + 1);
    seq.set(xs.subarray(b * T, (b + 1) * T));
    seq[T] = ys[(b + 1) * T - 1];
    const periodic = repeatTail(seq, halfPeriod(T));
    xs.set(periodic.subarray(0, T), b * T);
    ys.set(periodic.subarray(1), b * T);
  }
  return { x: tensor(xs, { shape: [B, T] }), y: tensor(ys, { shape: [B, T] }) };
}
