// The worker pool: a synchronous fork-join over shared memory, so the engine's kernels stay plain
// synchronous functions. Read next: worker.ts (the other side), jobs.ts (what a job carries).
//
// A job is cut into chunks, and every thread, the main one included, takes chunks from a shared
// counter until none are left. Who computes a chunk never changes its numbers, so the result is
// the same with any thread count; and the main thread never waits for a worker that has not
// started (a worker boots in 0.5–1 s from the sources, where it loads tsx; faster compiled): it
// just takes more chunks itself.
//
// Control words (an Int32Array over a SharedArrayBuffer, one per pool):
//   GEN     the newest job's number; workers sleep in Atomics.wait(GEN) between jobs
//   OPEN    the number of the job taking workers now, 0 once the main thread has closed it
//   NEXT    the next chunk to take (Atomics.add, so each chunk goes to exactly one thread)
//   DONE    chunks finished; the main thread sleeps on it after running out of chunks
//   ACTIVE  workers inside a job; the main thread waits for 0 before reusing NEXT and DONE
//   FAILED  set when a chunk threw (a worker prints its error; the main thread throws)
//
// main:   NEXT = DONE = 0; post the job to every worker; OPEN = GEN = g; notify GEN
//         take chunks; wait DONE = chunks; OPEN = 0; wait ACTIVE = 0
// worker: wait GEN ≠ seen; read the newest post; if it is job g: ACTIVE += 1;
//         if OPEN = g, take chunks; ACTIVE -= 1

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Job, Post } from './jobs.ts';

export const GEN = 0,
  OPEN = 1,
  NEXT = 2,
  DONE = 3,
  ACTIVE = 4,
  FAILED = 5;

let threads: number | null = null; // null: not yet read from ATTNGRAD_THREADS
let ctrl: Int32Array | null = null;
const workers: Worker[] = [];
let gen = 0;
let arena = new SharedArrayBuffer(0);
let dispatches = 0;
let workerChunks = 0;

/** Threads for big kernels, the main thread included: ATTNGRAD_THREADS, else every core. */
export function getNumThreads(): number {
  if (threads === null) {
    const env = process.env.ATTNGRAD_THREADS;
    threads =
      env === undefined || env === ''
        ? availableParallelism()
        : checkThreads(Number(env), `ATTNGRAD_THREADS=${env}`);
  }
  return threads;
}

/** Set the thread count (1: everything on the main thread). Extra workers are stopped now. */
export function setNumThreads(n: number): void {
  threads = checkThreads(n, String(n));
  while (workers.length > threads - 1) void workers.pop()!.terminate();
}

function checkThreads(n: number, shown: string): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`setNumThreads: need a positive integer, got ${shown}`);
  }
  return n;
}

export interface ThreadStats {
  threads: number;
  workers: number; // started and not stopped
  dispatches: number; // jobs run on the pool
  workerChunks: number; // chunks the workers computed (the rest: the main thread)
}

/** Counters for tests and benchmarks. */
export function threadStats(): ThreadStats {
  return { threads: getNumThreads(), workers: workers.length, dispatches, workerChunks };
}

/** A shared buffer of at least `bytes` for a job's operands and output, kept between jobs. */
export function arenaOf(bytes: number): SharedArrayBuffer {
  if (arena.byteLength < bytes) {
    arena = new SharedArrayBuffer(Math.max(bytes, 2 * arena.byteLength));
  }
  return arena;
}

/**
 * Run all chunks of `job` on the main thread (each with `run`) and the workers; returns when every
 * chunk is done.
 */
export function runJob(job: Job, jobArena: SharedArrayBuffer, run: (chunk: number) => void): void {
  ctrl ??= new Int32Array(new SharedArrayBuffer(6 * Int32Array.BYTES_PER_ELEMENT));
  while (workers.length < getNumThreads() - 1) workers.push(startWorker(ctrl));
  gen = (gen % 0x7fffffff) + 1;
  Atomics.store(ctrl, NEXT, 0);
  Atomics.store(ctrl, DONE, 0);
  Atomics.store(ctrl, FAILED, 0);
  const post: Post = { gen, job, arena: jobArena };
  for (const w of workers) w.postMessage(post);
  Atomics.store(ctrl, OPEN, gen);
  Atomics.store(ctrl, GEN, gen);
  Atomics.notify(ctrl, GEN);

  let mine = 0;
  const error = takeChunks(ctrl, job.chunks, (chunk) => {
    mine++;
    run(chunk);
  });
  for (let d; (d = Atomics.load(ctrl, DONE)) < job.chunks;) Atomics.wait(ctrl, DONE, d);
  Atomics.store(ctrl, OPEN, 0);
  for (let n; (n = Atomics.load(ctrl, ACTIVE)) > 0;) Atomics.wait(ctrl, ACTIVE, n);
  dispatches++;
  workerChunks += job.chunks - mine;
  if (error !== undefined) throw error;
  if (Atomics.load(ctrl, FAILED)) {
    throw new Error(`threads: a worker failed on a ${job.kernel} chunk (its error is above)`);
  }
}

/**
 * Take chunks until none are left, counting each in DONE even when it throws (so nobody waits
 * forever); returns the first error. Shared by the main thread and the workers.
 */
export function takeChunks(
  ctrl: Int32Array,
  chunks: number,
  run: (chunk: number) => void,
): unknown {
  let error: unknown;
  for (let c; (c = Atomics.add(ctrl, NEXT, 1)) < chunks;) {
    try {
      run(c);
    } catch (e) {
      error ??= e;
      Atomics.store(ctrl, FAILED, 1);
    }
    Atomics.add(ctrl, DONE, 1);
    Atomics.notify(ctrl, DONE);
  }
  return error;
}

// Compiled (dist/, the installed package) this module is pool.js and its worker is worker.js, plain
// JavaScript; from the sources the worker starts at worker.mjs, which registers tsx first.
const workerEntry = import.meta.url.endsWith('.ts') ? './worker.mjs' : './worker.js';

function startWorker(control: Int32Array): Worker {
  // execArgv []: worker.mjs registers tsx itself; an inherited `--import tsx` would register twice.
  const w = new Worker(new URL(workerEntry, import.meta.url), {
    workerData: { ctrl: control },
    execArgv: [],
  });
  w.unref(); // an idle pool must not keep the process alive
  w.on('error', (e) => {
    console.error(`threads: a worker stopped: ${e.message}`);
    const i = workers.indexOf(w);
    if (i >= 0) workers.splice(i, 1);
  });
  return w;
}
