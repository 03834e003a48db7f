// Micro-benchmark: attngrad's packed CPU matmul kernel against tfjs-core's CPU backend, on float32
// square matmuls with the same seeded inputs. Warm-up, then the median of several timed runs.
// Prints a markdown table and writes bench/results/matmul.json. Usage: npm run bench:matmul
// Read next: ../lib/backend/cpu/matmul.ts (the kernel and its scheme).

import { createRequire } from 'node:module';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { matmul } from '../lib/backend/cpu/matmul.ts';
import { manualSeed, random } from '../lib/random.ts';

// tfjs-core's ES build imports directories, which Node's ESM loader refuses: load it with require.
const require = createRequire(import.meta.url);
const tf = require('@tensorflow/tfjs-core') as typeof import('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
tf.env().set('IS_TEST', true); // silences the "install tfjs-node" banner
await tf.setBackend('cpu');

const SIZES = [128, 512, 1024];
const TFJS = 'tfjs-cpu (@tensorflow/tfjs-backend-cpu)';

interface Row {
  size: number;
  impl: string;
  medianMs: number;
  gflops: number;
  ratioVsTfjsCpu: number;
}

/** Warm up (JIT, caches), then time `reps` runs and return the median in ms. */
function median(run: () => void, warmup: number, reps: number): number {
  for (let i = 0; i < warmup; i++) run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  const mid = times.length >> 1;
  return times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
}

function uniform(n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 2 * random() - 1;
  return x;
}

const rows: Row[] = [];
for (const n of SIZES) {
  manualSeed(42);
  const a = uniform(n * n), b = uniform(n * n);
  // Small sizes are timed more often: their runs are short, noisier, and take longer to reach
  // V8's optimised code.
  const [warmup, reps] = n <= 128 ? [100, 101] : n <= 512 ? [5, 11] : [2, 7];

  const [aShape, bShape, outShape] = [[n, n], [n, n], [n, n]];
  const args = { a, b, aShape, bShape, outShape, transA: false, transB: false };
  const ours = () => {
    matmul(args);
  };
  const ta = tf.tensor2d(a, [n, n]), tb = tf.tensor2d(b, [n, n]);
  const theirs = () => {
    const c = tf.matMul(ta, tb);
    c.dataSync(); // the CPU backend is synchronous, but read back as any user would
    c.dispose();
  };

  // Same inputs, same answer: guard against timing a broken kernel.
  const wantTensor = tf.matMul(ta, tb);
  const want = wantTensor.dataSync();
  wantTensor.dispose();
  const got = matmul(args);
  let maxErr = 0;
  for (let i = 0; i < got.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
  if (maxErr > 1e-3) throw new Error(`bench matmul ${n}: attngrad and tfjs-cpu differ (${maxErr})`);

  const flop = 2 * n ** 3;
  const tfMs = median(theirs, warmup, reps);
  const ourMs = median(ours, warmup, reps);
  ta.dispose();
  tb.dispose();
  for (const [impl, ms] of [['attngrad cpu (packed 4×4)', ourMs], [TFJS, tfMs]] as const) {
    rows.push({ size: n, impl, medianMs: ms, gflops: flop / ms / 1e6, ratioVsTfjsCpu: tfMs / ms });
  }
}

console.log('| size | impl | median ms | GFLOP/s | ratio vs tfjs-cpu |');
console.log('|---:|---|---:|---:|---:|');
for (const r of rows) {
  const cells = [`${r.size}³`, r.impl, r.medianMs.toFixed(2), r.gflops.toFixed(2)];
  console.log(`| ${cells.join(' | ')} | ${r.ratioVsTfjsCpu.toFixed(2)}× |`);
}
console.log('\nratio = tfjs-cpu median / this median (above 1: faster). float32, one thread.');

// Write atomically: a reader never sees a half-written file.
const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, 'matmul.json');
const result = {
  bench: 'matmul',
  dtype: 'float32',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  tfjsBackend: tf.getBackend(),
  rows,
};
writeFileSync(`${file}.tmp`, JSON.stringify(result, null, 2) + '\n');
renameSync(`${file}.tmp`, file);
console.log(`wrote ${file}`);
