// The worker pool's fork-join, with no platform in it: a synchronous fork-join over shared memory,
// so the engine's kernels stay plain synchronous functions. Where workers come from is the
// platform's: pool.ts (Node's worker_threads) and web-pool.ts (Web Workers) each make one
// ForkJoinPool. Read next: pool.ts, worker.ts (the other side), jobs.ts (what a job carries).
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

import type { Job, Post } from './jobs.ts';

export const GEN = 0,
  OPEN = 1,
  NEXT = 2,
  DONE = 3,
  ACTIVE = 4,
  FAILED = 5;

/** A started worker, as the pool sees it. */
export interface PoolWorker {
  postMessage(post: Post): void;
  terminate(): void;
}

/** What a platform gives the pool: its default thread count, and how to start one worker. */
export interface PoolPlatform {
  defaultThreads(): number;
  /** Start a worker on `ctrl`; `gen` is the job number GEN holds now. */
  start(ctrl: Int32Array, gen: number, stopped: (w: PoolWorker) => void): PoolWorker;
}

export interface ThreadStats {
  threads: number;
  workers: number; // started and not stopped
  dispatches: number; // jobs run on the pool
  workerChunks: number; // chunks the workers computed (the rest: the main thread)
}

export function checkThreads(n: number, shown: string): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`setNumThreads: need a positive integer, got ${shown}`);
  }
  return n;
}

export class ForkJoinPool {
  private threads: number | null = null; // null: not yet asked of the platform
  private ctrl: Int32Array | null = null;
  private workers: PoolWorker[] = [];
  private gen = 0;
  // made on first use: a page that is not cross-origin isolated has no SharedArrayBuffer at all
  private arena: SharedArrayBuffer | null = null;
  private dispatches = 0;
  private workerChunks = 0;

  constructor(private platform: PoolPlatform) {}

  /** Threads for big kernels, the main thread included. */
  getNumThreads(): number {
    this.threads ??= this.platform.defaultThreads();
    return this.threads;
  }

  /** Set the thread count (1: everything on the main thread). Extra workers are stopped now. */
  setNumThreads(n: number): void {
    this.threads = checkThreads(n, String(n));
    while (this.workers.length > this.threads - 1) this.workers.pop()!.terminate();
  }

  /** Counters for tests and benchmarks. */
  stats(): ThreadStats {
    const { workers, dispatches, workerChunks } = this;
    return { threads: this.getNumThreads(), workers: workers.length, dispatches, workerChunks };
  }

  /** A shared buffer of at least `bytes` for a job's operands and output, kept between jobs. */
  arenaOf(bytes: number): SharedArrayBuffer {
    const have = this.arena?.byteLength ?? 0;
    if (!this.arena || have < bytes) this.arena = new SharedArrayBuffer(Math.max(bytes, 2 * have));
    return this.arena;
  }

  /**
   * Run all chunks of `job` on the calling thread (each with `run`) and the workers; returns when
   * every chunk is done.
   */
  runJob(job: Job, jobArena: SharedArrayBuffer, run: (chunk: number) => void): void {
    const ctrl = (this.ctrl ??= new Int32Array(new SharedArrayBuffer(6 * 4)));
    while (this.workers.length < this.getNumThreads() - 1) {
      this.workers.push(this.platform.start(ctrl, this.gen, (w) => this.forget(w)));
    }
    const gen = (this.gen = (this.gen % 0x7fffffff) + 1);
    Atomics.store(ctrl, NEXT, 0);
    Atomics.store(ctrl, DONE, 0);
    Atomics.store(ctrl, FAILED, 0);
    const post: Post = { gen, job, arena: jobArena };
    for (const w of this.workers) w.postMessage(post);
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
    this.dispatches++;
    this.workerChunks += job.chunks - mine;
    if (error !== undefined) throw error;
    if (Atomics.load(ctrl, FAILED)) {
      throw new Error(`threads: a worker failed on a ${job.kernel} chunk (its error is above)`);
    }
  }

  private forget(w: PoolWorker): void {
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
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

/**
 * A worker's part in one job, once it knows the job is `post` and GEN has reached it: join, then
 * take chunks if the job is still open. The main thread waits for ACTIVE to reach 0 before it
 * reuses the counters, so a worker that wakes late can never take a chunk of the next job.
 */
export function joinJob(
  ctrl: Int32Array,
  post: Post,
  chunkRunner: (job: Job, arena: SharedArrayBuffer) => (chunk: number) => void,
): void {
  Atomics.add(ctrl, ACTIVE, 1);
  try {
    if (Atomics.load(ctrl, OPEN) === post.gen) {
      const error = takeChunks(ctrl, post.job.chunks, chunkRunner(post.job, post.arena));
      if (error !== undefined) console.error(error); // the main thread throws after the join
    }
  } finally {
    Atomics.sub(ctrl, ACTIVE, 1); // even if this worker dies here, the main thread must not wait
    Atomics.notify(ctrl, ACTIVE);
  }
}
