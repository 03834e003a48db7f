// A pool worker in Node: sleeps on the control word GEN, wakes for each job, and takes chunks until
// none are left (see fork-join.ts for the protocol). It never returns; the pool's workers are
// unref()'d, so the process exits without them, and terminate() interrupts the wait. Read next:
// jobs.ts. What a chunk computes comes from ../threads.ts (chunkRunner), by the job's kernel name.

import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { chunkRunner } from '../threads.ts';
import type { Post } from './jobs.ts';
import { GEN, joinJob } from './fork-join.ts';

const ctrl = workerData.ctrl as Int32Array;
let seen = 0;
let post: Post | undefined;
for (;;) {
  Atomics.wait(ctrl, GEN, seen);
  seen = Atomics.load(ctrl, GEN);
  // The job was posted before GEN moved; keep the newest message (one may be for the next job).
  for (let m; (m = receiveMessageOnPort(parentPort!));) post = m.message as Post;
  if (post?.gen === seen) joinJob(ctrl, post, chunkRunner);
}
