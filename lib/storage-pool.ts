// Reused tensor storage. JavaScript frees an array only when the garbage collector finds it
// unreachable, and a training step makes tens of MiB of arrays: each fresh one is zeroed memory
// from the C library, and the growth of that external memory starts V8's full mark-and-sweep,
// whose marking runs on the second core, where the thread pool wants to run (the reference train
// step: two mark-compacts a step without the pool, one with it). What is certainly garbage comes
// back here: backward knows when an array its walk made can no longer be reached
// (backward-arrays.ts) and releases it then; allocate() (dtype.ts) hands out a released array of
// the same type and length, zeroed, before it makes a new one. The forward's activations are not
// released: the user may hold any of them. The pool keeps at most a limit of bytes (64 MiB by
// default; setStoragePoolLimit(0) turns it off); past it, it is emptied and starts again.
// Read next: backward-arrays.ts (what is released).

import type { TypedArray } from './dtype.ts';

const MiB = 1 << 20;
/** Arrays below this many bytes are not pooled: V8 makes small ones cheaply. */
export const MIN_POOLED_BYTES = 4096;

const free = new Map<string, TypedArray[]>(); // by type and length, e.g. 'Float32Array 131072'
const inPool = new WeakSet<TypedArray>(); // so an array released twice is pooled once
let pooledBytes = 0;
let limitBytes = 64 * MiB;
let recording: TypedArray[] | null = null;

const keyOf = (name: string, length: number) => `${name} ${length}`;
// a page without cross-origin isolation has no SharedArrayBuffer at all
const isShared = (a: TypedArray) =>
  typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;

/** A released array of this type and length, zeroed unless told not to, if the pool has one. */
export function reuse(
  type: { name: string; BYTES_PER_ELEMENT: number },
  length: number,
  zeroed = true,
): TypedArray | undefined {
  if (length * type.BYTES_PER_ELEMENT < MIN_POOLED_BYTES) return undefined;
  const a = free.get(keyOf(type.name, length))?.pop();
  if (!a) return undefined;
  inPool.delete(a);
  pooledBytes -= a.byteLength;
  return zeroed ? a.fill(0) : a;
}

/** Called by allocate() for each array it hands out, so a recording sees it. */
export function noteAllocated(a: TypedArray): void {
  recording?.push(a);
}

/** Run `fn`, returning what it returns and every array allocate() handed out meanwhile. */
export function recordAllocations<T>(fn: () => T): [T, TypedArray[]] {
  const outer = recording;
  const mine: TypedArray[] = [];
  recording = mine;
  try {
    return [fn(), mine];
  } finally {
    recording = outer;
    outer?.push(...mine); // an enclosing recording sees them too; inPool stops a second release
  }
}

/**
 * Give arrays back for reuse. The caller vouches that nothing will read or write them again
 * (backward's temporaries); arrays that are views into a larger buffer are not taken.
 */
export function release(arrays: Iterable<TypedArray>): void {
  for (const a of arrays) {
    const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
    if (!whole || a.byteLength < MIN_POOLED_BYTES || inPool.has(a)) continue;
    if (isShared(a)) continue;
    if (pooledBytes + a.byteLength > limitBytes) clearStoragePool();
    if (a.byteLength > limitBytes) continue;
    const key = keyOf(a.constructor.name, a.length);
    if (!free.has(key)) free.set(key, []);
    free.get(key)!.push(a);
    inPool.add(a);
    pooledBytes += a.byteLength;
  }
}

/** Drop every pooled array (the garbage collector frees them). */
export function clearStoragePool(): void {
  free.clear();
  pooledBytes = 0;
}

/** The most bytes the pool keeps (0: no pooling). */
export function setStoragePoolLimit(mib: number): void {
  if (!Number.isFinite(mib) || mib < 0) {
    throw new Error(`setStoragePoolLimit: need a number of MiB ≥ 0, got ${mib}`);
  }
  limitBytes = mib * MiB;
  if (pooledBytes > limitBytes) clearStoragePool();
}

/** What the pool holds now: arrays and bytes. */
export function storagePoolStats(): { arrays: number; bytes: number; limitBytes: number } {
  let arrays = 0;
  for (const list of free.values()) arrays += list.length;
  return { arrays, bytes: pooledBytes, limitBytes };
}
