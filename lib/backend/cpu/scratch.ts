// Scratch buffers of doubles kept between kernel calls, one per named slot: a fresh multi-MiB
// buffer per call costs page faults and garbage-collector pressure (keeping matmul's took the
// reference train step from 590 to 510 ms on 2 threads). Each thread (worker) has its own module
// instance, hence its own buffers. Only buffers up to KEPT doubles (8 MiB) are kept, so one huge
// call does not pin its scratch for the life of the process. A slot's contents are garbage on
// entry, and valid until the next call that asks for the same slot.

const KEPT = 1 << 20;
const slots = new Map<string, Float64Array>();

/** `length` doubles for `slot` (matmul's C and packs, softmax's row of exps). */
export function scratch(slot: string, length: number): Float64Array {
  if (length > KEPT) return new Float64Array(length);
  let buffer = slots.get(slot);
  if (!buffer || buffer.length < length) slots.set(slot, (buffer = new Float64Array(length)));
  return buffer.subarray(0, length);
}
