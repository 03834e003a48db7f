// The worker pool in Node: the fork-join of fork-join.ts over worker_threads, one thread a core
// unless ATTNGRAD_THREADS says otherwise. The browser's is web-pool.ts. Read next: fork-join.ts
// (the protocol), worker.ts (the other side), jobs.ts (what a job carries).

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ForkJoinPool, checkThreads, type PoolWorker, type ThreadStats } from './fork-join.ts';

export type { ThreadStats };

// Compiled (dist/, the installed package) this module is pool.js and its worker is worker.js, plain
// JavaScript; from the sources the worker starts at worker.mjs, which registers tsx first.
const workerEntry = import.meta.url.endsWith('.ts') ? './worker.mjs' : './worker.js';

function startWorker(ctrl: Int32Array, _gen: number, stopped: (w: PoolWorker) => void) {
  // execArgv []: worker.mjs registers tsx itself; an inherited `--import tsx` would register twice.
  const w = new Worker(new URL(workerEntry, import.meta.url), {
    workerData: { ctrl },
    execArgv: [],
  });
  w.unref(); // an idle pool must not keep the process alive
  w.on('error', (e) => {
    console.error(`threads: a worker stopped: ${e.message}`);
    stopped(w);
  });
  return w;
}

/** ATTNGRAD_THREADS, else every core. */
function defaultThreads(): number {
  const env = process.env.ATTNGRAD_THREADS;
  return env === undefined || env === ''
    ? availableParallelism()
    : checkThreads(Number(env), `ATTNGRAD_THREADS=${env}`);
}

const pool = new ForkJoinPool({ defaultThreads, start: startWorker });

/** Threads for big kernels, the main thread included: ATTNGRAD_THREADS, else every core. */
export const getNumThreads = (): number => pool.getNumThreads();
/** Set the thread count (1: everything on the main thread). Extra workers are stopped now. */
export const setNumThreads = (n: number): void => pool.setNumThreads(n);
/** Counters for tests and benchmarks. */
export const threadStats = (): ThreadStats => pool.stats();
export const arenaOf = (bytes: number): SharedArrayBuffer => pool.arenaOf(bytes);
export const runJob: ForkJoinPool['runJob'] = (job, arena, run) => pool.runJob(job, arena, run);
