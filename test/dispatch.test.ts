// One way through the code: every kernel an op runs is looked up in the active backend's table.
// A spy backend (the CPU kernels, counted) receives the sparse and linear-attention kernel calls
// of forward and backward, so an op that imported a kernel directly would fail here; lib/ops/
// imports no backend's kernels; 'cpu-threads' and 'gpu' are built by overriding the backend below
// them, so the gpu backend's other kernels are the threaded ones, and a call the GPU declines
// runs threaded. Read next: ../lib/backend/backend.ts (the table), ../lib/backend/override.ts.

import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  causalLinearAttention,
  gatherApply,
  gatherScores,
  manualSeed,
  rand,
  randn,
  registerBackend,
  scatterApply,
  setBackend,
  tensor,
  type Backend,
  type KernelName,
} from '../lib/index.ts';
import { cpuBackend } from '../lib/backend/cpu.ts';
import { initGpuBackend } from '../lib/backend/gpu.ts';
import { overrideBackend } from '../lib/backend/override.ts';
import { setNumThreads, threadStats, threadedBackend } from '../lib/backend/threads.ts';
import type { Tensor } from '../lib/tensor.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kernelNames = Object.keys(cpuBackend).filter((k) => k !== 'name') as KernelName[];

/** The CPU backend under `name`, every kernel counting its calls in `calls`. */
function spyBackend(name: string, calls: Map<string, number>): Backend {
  const table: Record<string, unknown> = { name };
  for (const kernel of kernelNames) {
    const run = cpuBackend[kernel] as (...args: unknown[]) => unknown;
    table[kernel] = (...args: unknown[]) => {
      calls.set(kernel, (calls.get(kernel) ?? 0) + 1);
      return run(...args);
    };
  }
  return table as unknown as Backend;
}

/** Forward and backward of the sparse and causal linear-attention ops; the gradients' data. */
function attentionStep(): number[][] {
  manualSeed(5);
  const [B, nh, T, d] = [2, 2, 6, 4];
  const [q, k, v] = [0, 1, 2].map(() => randn([B, nh, T, d]).requiresGrad_());
  const idx = tensor([0, -1, 1, 0, 2, 1, 3, 2, 4, 3, 5, 4], { shape: [T, 2], dtype: 'int32' });
  const p = gatherScores(q, k, idx).softmax(-1); // (B, nh, T, W)
  const mixed = gatherApply(p, v, idx).add(scatterApply(p, q, idx, T)); // (B, nh, T, d)
  const [phiQ, phiK] = [rand([B, nh, T, d]).requiresGrad_(), rand([B, nh, T, d]).requiresGrad_()];
  const linear = causalLinearAttention(phiQ, phiK, mixed); // (B, nh, T, d)
  linear
    .mul(randn([B, nh, T, d]))
    .sum()
    .backward();
  return [q, k, v, phiQ, phiK].map((t: Tensor) => Array.from(t.grad!.data));
}

test('every op kernel goes through the active backend: a spy backend sees them all', () => {
  setBackend('cpu');
  const reference = attentionStep();
  const calls = new Map<string, number>();
  registerBackend(spyBackend('spy', calls));
  setBackend('spy');
  try {
    assert.equal(attentionStep(), reference, 'the spy (CPU kernels) gives the CPU gradients');
  } finally {
    setBackend('cpu');
  }
  const wanted = [
    'gatherScores',
    'gatherApply',
    'scatterApply',
    'causalLinearAttention',
    'causalLinearAttentionBackward',
    'softmax',
    'softmaxBackward',
  ];
  for (const kernel of wanted) assert.ok(calls.get(kernel), `the spy never saw ${kernel}`);
  // gatherScores (forward), then in backward gatherScores, gatherApply and scatterApply once each
  // for each of the three sparse primitives: every sparse kernel runs at least twice
  for (const kernel of wanted.slice(0, 3)) assert.ok(calls.get(kernel)! >= 2, kernel);
});

test('lib/ops imports no backend kernels, only backend.ts (the table)', () => {
  const dir = join(root, 'lib/ops');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(join(dir, file), 'utf8');
    for (const [, path] of source.matchAll(/from '(\.\.\/backend\/[^']+)'/g)) {
      assert.is(path, '../backend/backend.ts', `lib/ops/${file} imports ${path}`);
    }
  }
});

test('every backend implements every kernel; cpu-threads overrides only what it splits or runs in SIMD', () => {
  for (const kernel of kernelNames) {
    assert.type(threadedBackend[kernel], 'function', kernel);
    const own = [
      'matmul',
      'unary',
      'softmax',
      'softmaxBackward',
      'norm',
      'normBackward',
      'fusedAttention',
      'fusedAttentionBackward',
      'binary',
      'biasActivation',
      'reluBackward',
      'reduce',
    ].includes(kernel);
    assert.is(threadedBackend[kernel] === cpuBackend[kernel], !own, `cpu-threads ${kernel}`);
  }
});

test('overrideBackend: accepts picks the override, else the kernel below (and says so)', () => {
  const declined: string[] = [];
  const marked = new Float32Array([7]);
  const be = overrideBackend(
    'marked',
    cpuBackend,
    {
      unary: { accepts: (op) => op === 'exp', run: () => marked },
    },
    (kernel) => declined.push(kernel),
  );
  const x = new Float32Array([0, 1]);
  assert.is(be.unary('exp', x), marked);
  assert.equal(be.unary('neg', x), cpuBackend.unary('neg', x));
  assert.equal(declined, ['unary']);
  assert.is(be.name, 'marked');
  assert.is(be.matmul, cpuBackend.matmul);
});

const gpuJsInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('gpu.js');
    return true;
  } catch {
    return false;
  }
})();

if (gpuJsInstalled) {
  test("gpu: the kernels it does not take are cpu-threads', and what it declines runs threaded", async () => {
    const { backend: gpu } = await initGpuBackend({ mode: 'cpu' });
    assert.ok(gpu);
    for (const kernel of kernelNames) {
      const own = ['matmul', 'softmax', 'softmaxBackward'].includes(kernel);
      assert.is(gpu[kernel] === threadedBackend[kernel], !own, `gpu ${kernel}`);
    }
    // float64 is never the GPU's: a matmul big enough to split goes to the pool
    setNumThreads(2);
    const n = 192; // 192³ multiply-adds: over MIN_WORK
    const a = new Float64Array(n * n).fill(0.5);
    const args = {
      a,
      b: a,
      aShape: [n, n],
      bShape: [n, n],
      outShape: [n, n],
      transA: false,
      transB: false,
    };
    const before = threadStats().dispatches;
    assert.equal(gpu.matmul(args), cpuBackend.matmul(args));
    assert.is(threadStats().dispatches, before + 1, 'the declined matmul ran on the pool');
  });
}

test.run();
