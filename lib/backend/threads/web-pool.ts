// The worker pool in a browser: the fork-join of fork-join.ts over Web Workers, used in place of
// pool.ts by the browser bundle (web/build.ts swaps the module). Shared memory needs a page that
// is cross-origin isolated (COOP same-origin + COEP require-corp), and the calling thread blocks in
// Atomics.wait, which a page's main thread may not: so threads only in a worker of an isolated
// page, after usePoolWorker(url) names the bundled pool worker; one thread otherwise, and
// poolStatus() says which in one line. Read next: web-worker.ts (the other side).

import { ForkJoinPool, type PoolWorker, type ThreadStats } from './fork-join.ts';

export type { ThreadStats };

let workerUrl: string | URL | null = null;

/** Why this context runs one thread, or null when it may run more. */
function singleThreadReason(): string | null {
  const scope = globalThis as { crossOriginIsolated?: boolean; WorkerGlobalScope?: unknown };
  if (!scope.crossOriginIsolated || typeof SharedArrayBuffer === 'undefined')
    return 'the page is not cross-origin isolated, so there is no SharedArrayBuffer';
  if (scope.WorkerGlobalScope === undefined)
    return "on the page's main thread, where Atomics.wait is not allowed (run it in a worker)";
  if (workerUrl === null) return 'no pool worker named (usePoolWorker)';
  return null;
}

function start(ctrl: Int32Array, gen: number, stopped: (w: PoolWorker) => void): PoolWorker {
  const w = new Worker(workerUrl!, { type: 'module', name: 'attngrad-pool' });
  w.postMessage({ ctrl, gen });
  w.addEventListener('error', (e) => {
    console.error(`threads: a worker stopped: ${e.message}`);
    stopped(w);
  });
  return w;
}

const pool = new ForkJoinPool({
  defaultThreads: () => (singleThreadReason() ? 1 : navigator.hardwareConcurrency || 1),
  start,
});

/** Name the bundled pool worker's script; the thread count becomes every core when it may. */
export function usePoolWorker(url: string | URL): void {
  workerUrl = url;
  if (!singleThreadReason()) pool.setNumThreads(navigator.hardwareConcurrency || 1);
}

/** One line: how many threads, and why only one when so. */
export function poolStatus(): string {
  const why = singleThreadReason();
  const n = pool.getNumThreads();
  return why ? `threads: 1 (${why})` : `threads: ${n} (Web Workers over SharedArrayBuffer)`;
}

export const getNumThreads = (): number => pool.getNumThreads();
/** Set the thread count; more than one needs what poolStatus() names. */
export function setNumThreads(n: number): void {
  const why = singleThreadReason();
  if (n > 1 && why) throw new Error(`setNumThreads: ${n} threads need shared memory: ${why}`);
  pool.setNumThreads(n);
}
export const threadStats = (): ThreadStats => pool.stats();
export const arenaOf = (bytes: number): SharedArrayBuffer => pool.arenaOf(bytes);
export const runJob: ForkJoinPool['runJob'] = (job, arena, run) => pool.runJob(job, arena, run);
