// A pool worker in a browser (a module Web Worker; web-pool.ts starts it). A Web Worker cannot read
// a message while it blocks, so unlike Node's worker.ts it sleeps in the event loop and wakes on
// each job's message, then waits for the main thread to open the job: the job is posted before GEN
// moves (fork-join.ts), and GEN holds the previous job's number, the last one seen here, until then.

import { chunkRunner } from '../threads.ts';
import type { Post } from './jobs.ts';
import { GEN, joinJob } from './fork-join.ts';

let ctrl: Int32Array | null = null;
let seen = 0;
addEventListener('message', (event: MessageEvent<Post | { ctrl: Int32Array; gen: number }>) => {
  const data = event.data;
  if ('ctrl' in data) {
    ({ ctrl, gen: seen } = data);
    return;
  }
  for (let g; (g = Atomics.load(ctrl!, GEN)) === seen;) Atomics.wait(ctrl!, GEN, g);
  seen = data.gen;
  joinJob(ctrl!, data, chunkRunner);
});
