// A pool worker: sleeps on the control word GEN, wakes for each job, and takes chunks until none
// are left (see pool.ts for the protocol). It never returns; the pool's workers are unref()'d, so
// the process exits without them, and terminate() interrupts the wait. Read next: jobs.ts.
// What a chunk computes comes from ../threads.ts (chunkRunner), by the job's kernel name.

import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { chunkRunner } from '../threads.ts';
import type { Post } from './jobs.ts';
import { ACTIVE, GEN, OPEN, takeChunks } from './pool.ts';

const ctrl = workerData.ctrl as Int32Array;
let seen = 0;
let post: Post | undefined;
for (;;) {
  Atomics.wait(ctrl, GEN, seen);
  seen = Atomics.load(ctrl, GEN);
  // The job was posted before GEN moved; keep the newest message (one may be for the next job).
  for (let m; (m = receiveMessageOnPort(parentPort!));) post = m.message as Post;
  if (post?.gen !== seen) continue;
  // Join, then check the job is still open: the main thread waits for ACTIVE to reach 0 before it
  // reuses the counters, so a worker that wakes late can never take a chunk of the next job.
  Atomics.add(ctrl, ACTIVE, 1);
  try {
    if (Atomics.load(ctrl, OPEN) === seen) {
      const error = takeChunks(ctrl, post.job.chunks, chunkRunner(post.job, post.arena));
      if (error !== undefined) console.error(error); // the main thread throws after the join
    }
  } finally {
    Atomics.sub(ctrl, ACTIVE, 1); // even if this worker dies here, the main thread must not wait
    Atomics.notify(ctrl, ACTIVE);
  }
}
