// The threaded backend ('cpu-threads') against the CPU reference: bitwise the same numbers for
// matmul on odd shapes, transposes and broadcast batches, every unary op, and softmax along any dim
// (float32 and float64), for 1, 2 and 3 threads; small work never reaches the pool;
// ATTNGRAD_THREADS is honoured; a process that used the pool exits by itself.
// Read next: ../lib/backend/threads.ts (the splits), ../lib/backend/threads/pool.ts.

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, MatmulArgs, UnaryOp } from '../lib/backend/backend.ts';
import { cpuBackend } from '../lib/backend/cpu.ts';
import {
  MIN_ELEMENTS,
  MIN_WORK,
  getNumThreads,
  setNumThreads,
  threadStats,
  threadedBackend,
} from '../lib/backend/threads.ts';
import { manualSeed } from '../lib/random.ts';
import { matmulLabel, matmulProblem, randomArray } from './helpers/matmul.ts';
import { assertBitwise } from './helpers/bitwise.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Run a kernel call on the threaded backend, check it went to the pool (or not), compare with CPU.
 */
function checkKernel(what: string, call: (b: Backend) => ArrayLike<number>, pooled = true): void {
  const before = threadStats().dispatches;
  const got = call(threadedBackend);
  const where = pooled ? 'on the pool' : 'on the main thread';
  assert.is(threadStats().dispatches, before + (pooled ? 1 : 0), `${what}: ${where}`);
  assertBitwise(got, call(cpuBackend), what, true);
}

const checkParity = (args: MatmulArgs) => checkKernel(matmulLabel(args), (b) => b.matmul(args));

// Must run first: nothing before it has started the pool.
test('small work stays on the main thread: no workers, no dispatches', () => {
  setNumThreads(2);
  manualSeed(1);
  // 128·256·127 multiply-adds is just under MIN_WORK = 2^22; 100 rows and 100 columns are too
  // few to cut into two chunks of at least 64; 8³ is tiny.
  for (const [M, K, N] of [
    [128, 256, 127],
    [100, 1024, 100],
    [8, 8, 8],
  ]) {
    const args = matmulProblem([], [], M, K, N, false, false, false);
    checkKernel(matmulLabel(args), (b) => b.matmul(args), false);
  }
  const x = randomArray(false, [MIN_ELEMENTS - 1]),
    big = randomArray(false, [2 * MIN_ELEMENTS]);
  checkKernel('exp under MIN_ELEMENTS', (b) => b.unary('exp', x), false);
  // 217 · 151 = 2^15 − 1
  checkKernel('softmax under MIN_ELEMENTS', (b) => b.softmax(x, [217, 151], 1, false), false);
  for (const op of ['neg', 'abs', 'sign', 'relu'] as const) {
    checkKernel(`cheap ${op}`, (b) => b.unary(op, big), false);
  }
  assert.equal(threadStats(), { threads: 2, workers: 0, dispatches: 0, workerChunks: 0 });
  // One more column reaches the threshold exactly: the pool starts (1 worker) and takes it.
  assert.is(128 * 256 * 128, MIN_WORK);
  checkParity(matmulProblem([], [], 128, 256, 128, false, false, false));
  assert.is(threadStats().workers, 1);
});

const transposes: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];
// Every shape is over MIN_WORK. The longer side of the output (rows = batch × M, or N) is cut
// into bands of at least 64: together they cut every tile, block and band edge, in both directions.
const shapes: [number[], number[], number, number, number][] = [
  [[], [], 70, 300, 260], // column bands (65 wide on 2 threads: unaligned); over one M, K, N block
  [[], [], 129, 520, 67], // row bands 64, 64, 1; K over two blocks (256) and a bit
  [[], [], 33, 900, 150], // column bands 64, 64, 22
  [[3], [3], 45, 470, 67], // plain batch: row bands cross batch entries
  [[2], [2], 20, 350, 300], // a batch cut into column bands
  [[2, 1], [3], 37, 363, 53], // [2,1] with [3] -> [2,3]
  [[], [4], 61, 250, 71], // a matrix against a batch
  [[4], [], 61, 250, 71], // a batch against a matrix
  [[2, 1, 3], [1, 2, 1], 37, 180, 53], // size-1 dims on both sides -> [2,2,3]
];

for (const threads of [2, 3]) {
  for (const float64 of [false, true]) {
    const dtype = float64 ? 'float64' : 'float32';
    test(`${threads} threads, ${dtype}: matmul bitwise the CPU kernel on odd shapes`, () => {
      setNumThreads(threads);
      manualSeed(2);
      for (const [batchA, batchB, M, K, N] of shapes) {
        for (const [tA, tB] of transposes)
          checkParity(matmulProblem(batchA, batchB, M, K, N, tA, tB, float64));
      }
    });
  }
}

// The unary ops the pool takes (neg, abs, sign and relu are too cheap to split).
const unaryOps: UnaryOp[] = ['exp', 'log', 'sqrt', 'rsqrt', 'sigmoid', 'tanh', 'erf', 'pow'];

for (const threads of [2, 3]) {
  test(`${threads} threads: every unary op and softmax (forward, backward) along every dim, bitwise the CPU kernel`, () => {
    setNumThreads(threads);
    manualSeed(4);
    for (const float64 of [false, true]) {
      const dtype = float64 ? 'float64' : 'float32';
      // Odd length; negatives give log and sqrt their NaNs, and sqrt(-0) must stay -0.
      const x = randomArray(float64, [MIN_ELEMENTS + 4097]).map((v) => 3 * v);
      x[5] = -0;
      for (const op of unaryOps) {
        checkKernel(`${dtype} ${op}`, (b) => b.unary(op, x, op === 'pow' ? 2.5 : undefined));
      }
      const ids = Int32Array.from(x, (v) => Math.round(100 * v));
      checkKernel('int32 sqrt', (b) => b.unary('sqrt', ids));
      // (rows, n, inner) cut every way: last dim, a middle dim (inner > 1), a row fully masked.
      const logits = randomArray(float64, [3, 129, 101]).map((v) => 20 * v);
      logits.fill(-Infinity, 0, 101 * 129);
      const cuts = [
        [[3, 129, 101], 1],
        [[3, 129, 101], 2],
        [[387, 101], 1],
      ] as const;
      for (const [shape, dim] of cuts) {
        // float32 along the last dim: the row kernel, which stays on the calling thread
        const pooled = float64 || dim < shape.length - 1;
        for (const log of [false, true]) {
          const what = `${dtype} ${log ? 'log' : ''}softmax ${JSON.stringify(shape)} dim ${dim}`;
          checkKernel(what, (b) => b.softmax(logits, shape, dim, log), pooled);
          const y = cpuBackend.softmax(logits, shape, dim, log);
          const backward = (b: Backend) => b.softmaxBackward(y, logits, shape, dim, log);
          checkKernel(`${what} backward`, backward, pooled);
        }
      }
      // Along dim 0 there is one row (outer = 1): nothing to split, it stays on the main thread.
      checkKernel(`${dtype} softmax dim 0`, (b) => b.softmax(logits, [387, 101], 0, false), false);
    }
  });
}

test('1, 2 and 3 threads give bitwise the same result', () => {
  manualSeed(3);
  // Row bands (406 rows), then column bands (333 columns).
  const rowBands = matmulProblem([2], [], 203, 150, 190, true, false, false);
  const colBands = matmulProblem([], [], 50, 300, 333, false, true, false);
  for (const args of [rowBands, colBands]) {
    const results = [1, 2, 3].map((n) => {
      setNumThreads(n);
      const before = threadStats().dispatches;
      const out = threadedBackend.matmul(args);
      assert.is(threadStats().dispatches, before + (n > 1 ? 1 : 0), `${n} threads: pool iff n > 1`);
      return out;
    });
    assertBitwise(results[1], results[0], `${matmulLabel(args)}: 2 threads vs 1`, true);
    assertBitwise(results[2], results[0], `${matmulLabel(args)}: 3 threads vs 1`, true);
  }
});

test('setNumThreads: stops extra workers, rejects non-positive counts', () => {
  setNumThreads(3);
  checkParity(matmulProblem([], [], 128, 256, 128, false, false, false));
  assert.is(threadStats().workers, 2);
  setNumThreads(2);
  assert.equal([getNumThreads(), threadStats().workers], [2, 1]);
  assert.throws(() => setNumThreads(0), /positive integer/);
  assert.throws(() => setNumThreads(1.5), /positive integer/);
  assert.is(getNumThreads(), 2);
});

// A child process: uses the pool until a worker has computed a chunk (so the worker is alive,
// asleep in Atomics.wait, when the script ends), then prints its stats and the time. Run with
// `--import tsx` (node, npm test) or after tsx's register() (what bin/attngrad.mjs does).
const threadsUrl = pathToFileURL(join(root, 'lib/backend/threads.ts')).href;
const childBody = `
  const { threadedBackend, threadStats } = await import(${JSON.stringify(threadsUrl)});
  const n = 192, a = new Float32Array(n * n).fill(0.5);
  const args = { a, b: a, aShape: [n, n], bShape: [n, n], outShape: [n, n], transA: false, transB: false };
  const deadline = Date.now() + 20000;
  const waiting = () => threadStats().workers > 0 && threadStats().workerChunks === 0;
  do threadedBackend.matmul(args); while (waiting() && Date.now() < deadline);
  console.log(JSON.stringify({ ...threadStats(), end: Date.now() }));
`;

function runChild(env: Record<string, string>, registerInChild: boolean) {
  const args = registerInChild
    ? [
        '--input-type=module',
        '-e',
        `import { register } from 'tsx/esm/api'; register(); ${childBody}`,
      ]
    : ['--import', 'tsx', '--input-type=module', '-e', childBody];
  const run = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    timeout: 30000,
    env: { ...process.env, ...env },
  });
  const exitedMs = Date.now();
  assert.is(
    run.signal,
    null,
    `child was killed (timeout: it did not exit by itself)\n${run.stderr}`,
  );
  assert.is(run.status, 0, run.stderr);
  const stats = JSON.parse(run.stdout.trim().split('\n').pop()!);
  return { ...stats, exitMs: exitedMs - stats.end, stderr: run.stderr };
}

for (const registerInChild of [false, true]) {
  const how = registerInChild ? "tsx's register()" : 'node --import tsx';
  test(`a process that used the pool exits by itself (${how}, ATTNGRAD_THREADS=3)`, () => {
    const child = runChild({ ATTNGRAD_THREADS: '3' }, registerInChild);
    assert.is(child.threads, 3);
    assert.is(child.workers, 2);
    assert.ok(child.workerChunks > 0, 'a worker took chunks');
    assert.ok(child.exitMs < 5000, `exited ${child.exitMs} ms after its last line`);
  });
}

test('ATTNGRAD_THREADS=1: everything on the main thread, no workers', () => {
  const child = runChild({ ATTNGRAD_THREADS: '1' }, false);
  assert.equal([child.threads, child.workers, child.dispatches], [1, 0, 0]);
});

test('ATTNGRAD_THREADS must be a positive integer', () => {
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', childBody],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 30000,
      env: { ...process.env, ATTNGRAD_THREADS: 'two' },
    },
  );
  assert.is(run.status, 1);
  assert.match(run.stderr, /ATTNGRAD_THREADS=two/);
});

test.run();
