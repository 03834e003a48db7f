// The GPU.js backend against the CPU reference, in every gpu.js mode this machine has: webasm and
// cpu always, webgpu through Dawn on whatever adapter exists (llvmpipe here), headless-gl when the
// gl package is built and a display exists. Parity of each kernel while shapes change between
// calls, the per-shape cache (counters), the size threshold, and three AdamW steps of a
// TransformerLM. gpu.js is optional: without it the file checks the one-line refusal and skips the
// rest.

import { test } from 'uvu';
import type { Backend } from '../lib/index.ts';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { manualSeed, randint, randn, registerBackend, setBackend } from '../lib/index.ts';
import type { MatmulArgs } from '../lib/backend/backend.ts';
import { cpuBackend } from '../lib/backend/cpu.ts';
import { initGpuBackend } from '../lib/backend/gpu.ts';
import {
  cpuSoftmaxBackward,
  gpuCounters,
  type GpuCounters,
  type GpuMode,
} from '../lib/backend/gpu/table.ts';
import { TransformerLM } from '../models/transformer.ts';
import { AdamW } from '../nn/optim.ts';

const installed = (() => {
  try {
    createRequire(import.meta.url).resolve('gpu.js');
    return true;
  } catch {
    return false;
  }
})();

const delta = (before: GpuCounters): GpuCounters => {
  const now = gpuCounters();
  return Object.fromEntries(
    Object.entries(now).map(([k, v]) => [k, v - before[k as keyof GpuCounters]]),
  ) as unknown as GpuCounters;
};
const sizeOf = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);
const data = (shape: readonly number[]) => randn(shape as number[]).data as Float32Array;
const abs = (x: Float32Array) => x.map(Math.abs);

/** Every element within `tol(i)`, and the same ±∞ / NaN where the reference has them. */
function close(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: (i: number) => number,
  what: string,
): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const ok = Number.isFinite(want[i])
      ? Math.abs(got[i] - want[i]) <= tol(i)
      : Object.is(got[i], want[i]);
    if (!ok)
      assert.unreachable(
        `${what}: element ${i} is ${got[i]}, want ${want[i]} (tolerance ${tol(i)})`,
      );
  }
}

/**
 * op(A)·op(B) against the CPU kernel, within the float32 bound for a K-term sum:
 * |error| ≤ K·2⁻²³·Σ|a||b| (the CPU sums in doubles and rounds once).
 */
function checkMatmul(
  be: Backend,
  aShape: number[],
  bShape: number[],
  transA: boolean,
  transB: boolean,
  outShape: number[],
) {
  const a = data(aShape),
    b = data(bShape);
  const args: MatmulArgs = { a, b, aShape, bShape, transA, transB, outShape };
  const K = transA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  const bound = cpuBackend.matmul({ ...args, a: abs(a), b: abs(b) });
  const what = `matmul ${JSON.stringify(aShape)}${transA ? 'ᵀ' : ''}·${JSON.stringify(bShape)}${transB ? 'ᵀ' : ''}`;
  close(be.matmul(args), cpuBackend.matmul(args), (i) => K * 2 ** -23 * bound[i] + 1e-7, what);
}

/** softmax / log-softmax and their backward, with masked (−∞) entries and one fully masked row. */
function checkSoftmax(be: Backend, shape: number[], dim: number) {
  const x = data(shape);
  for (let i = 0; i < x.length; i += 3) x[i] = -Infinity; // masked entries
  const stride = sizeOf(shape.slice(dim + 1));
  for (let i = 0; i < shape[dim]; i++) x[i * stride] = -Infinity; // the first row along dim: all masked
  for (const log of [false, true]) {
    const what = `${log ? 'logSoftmax' : 'softmax'} ${JSON.stringify(shape)} dim ${dim}`;
    const y = cpuBackend.softmax(x, shape, dim, log);
    close(be.softmax(x, shape, dim, log), y, (i) => 1e-6 * (1 + Math.abs(y[i])), what);
    const dy = data(shape);
    const dx = cpuSoftmaxBackward(y, dy, shape, dim, log);
    close(
      be.softmaxBackward(y, dy, shape, dim, log),
      dx,
      (i) => 1e-5 * (1 + Math.abs(dx[i])),
      `${what} backward`,
    );
  }
}

// Shapes in the order they are run: odd sizes, both transposes, broadcast batches, then a shape
// seen before (the cached kernel must still be right after others ran).
const matmulCases: [number[], number[], boolean, boolean, number[]][] = [
  [[7, 5], [5, 3], false, false, [7, 3]],
  [[33, 17], [9, 17], false, true, [33, 9]],
  [[17, 33], [17, 9], true, false, [33, 9]],
  [[2, 3, 6, 13], [2, 3, 11, 6], true, true, [2, 3, 13, 11]],
  [[4, 1, 5, 7], [3, 7, 2], false, false, [4, 3, 5, 2]], // batch broadcast both ways
  [[2, 19, 31], [31, 1], false, false, [2, 19, 1]], // a shared B, a single column
  [[7, 5], [5, 3], false, false, [7, 3]],
];
const softmaxCases: [number[], number][] = [
  [[3, 11], 1],
  [[2, 5, 7], 1],
  [[4, 6, 9], 2],
  [[3, 11], 0],
  [[3, 11], 1],
];

const matmulArgs = (m: number, k: number, n: number): MatmulArgs => ({
  a: data([m, k]),
  b: data([k, n]),
  aShape: [m, k],
  bShape: [k, n],
  transA: false,
  transB: false,
  outShape: [m, n],
});

/** Three AdamW steps of a tiny TransformerLM on `backend`, from a fixed seed: the losses. */
function trainLosses(backend: string): number[] {
  setBackend(backend);
  try {
    manualSeed(3);
    const lm = new TransformerLM({
      vocabSize: 13,
      blockSize: 8,
      nLayer: 1,
      nHead: 2,
      nEmbd: 16,
      norm: 'pre',
    });
    const optimizer = new AdamW(lm.namedParameters(), { lr: 1e-2 });
    const x = randint(0, 13, [3, 8]),
      y = randint(0, 13, [3, 8]);
    const losses: number[] = [];
    for (let step = 0; step < 3; step++) {
      optimizer.zeroGrad();
      const { loss } = lm.forward(x, y);
      loss!.backward();
      optimizer.step();
      losses.push(loss!.item());
    }
    return losses;
  } finally {
    setBackend('cpu');
  }
}

if (!installed) {
  test.skip('GPU.js kernels: parity with the CPU kernels (gpu.js is not installed)', () => {});
  test('without gpu.js, initGpuBackend refuses in one line and keeps the CPU kernels', async () => {
    const init = await initGpuBackend({ mode: 'webasm' });
    assert.is(init.backend, null);
    assert.match(init.reason, /gpu\.js is not installed.*keeping the TS kernels/);
    assert.not.match(init.reason, /\n/);
  });
} else {
  const cpuTraining = trainLosses('cpu');
  const modes: GpuMode[] = ['webasm', 'cpu', 'webgpu', 'headlessgl'];
  for (const mode of modes) {
    const init = await initGpuBackend({ mode, minMatmulFlops: 0, minSoftmaxSize: 0 });
    const be = init.backend;
    if (!be) {
      // a counted skip, never a silent pass: the mode's parity checks could not run here
      test.skip(`${mode}: parity with the CPU kernels (unavailable here: ${init.reason})`, () => {});
      continue;
    }
    assert.is(init.mode, mode);

    test(`${mode}: matmul matches the CPU kernel while shapes change (transposes, broadcast batches)`, () => {
      for (const c of matmulCases) checkMatmul(be, ...c);
    });

    test(`${mode}: softmax, log-softmax and their backward match the CPU kernels (masked rows too)`, () => {
      for (const [shape, dim] of softmaxCases) checkSoftmax(be, shape, dim);
    });

    test(`${mode}: the kernel cache compiles once per shape`, () => {
      const [p, q] = [matmulArgs(9, 10, 11), matmulArgs(12, 10, 11)];
      let before = gpuCounters();
      for (const args of [p, q, p, q, p]) be.matmul(args);
      assert.equal(
        {
          compiles: delta(before).compiles,
          runs: delta(before).runs,
          downloads: delta(before).downloads,
        },
        { compiles: 2, runs: 5, downloads: 5 },
      );
      assert.is(delta(before).uploads, 5 * 4); // a, b and the two batch-offset vectors
      before = gpuCounters();
      const x = data([6, 10]);
      for (let i = 0; i < 3; i++) be.softmax(x, [6, 10], 1, false);
      be.softmax(x, [6, 10], 1, true); // shares the row pass, compiles its own second pass
      assert.equal(
        { compiles: delta(before).compiles, runs: delta(before).runs },
        { compiles: 3, runs: 8 },
      );
    });

    test(`${mode}: three AdamW steps of a TransformerLM give the CPU backend's losses`, () => {
      registerBackend(be);
      const before = gpuCounters();
      const losses = trainLosses('gpu');
      assert.ok(delta(before).runs > 50, `the GPU ran only ${delta(before).runs} kernels`);
      close(
        losses,
        cpuTraining,
        (i) => 1e-4 * cpuTraining[i],
        `${mode} losses ${losses} vs cpu ${cpuTraining}`,
      );
      assert.ok(losses[2] < losses[0], `losses ${losses} do not fall`);
    });
  }

  test('below the size threshold (or in float64) the CPU kernel runs', async () => {
    const { backend: be } = await initGpuBackend({
      mode: 'webasm',
      minMatmulFlops: 2 * 8 * 8 * 8,
      minSoftmaxSize: 64,
    });
    assert.ok(be);
    const small = matmulArgs(8, 8, 7),
      large = matmulArgs(8, 8, 8);
    const f64 = { ...large, a: Float64Array.from(large.a), b: Float64Array.from(large.b) };
    const x = data([7, 9]),
      y = cpuBackend.softmax(x, [7, 9], 1, false);
    let before = gpuCounters();
    assert.equal(be.matmul(small), cpuBackend.matmul(small)); // the CPU kernel itself: bit for bit
    assert.equal(be.matmul(f64), cpuBackend.matmul(f64));
    assert.equal(be.softmax(x, [7, 9], 1, false), y);
    assert.equal(
      be.softmaxBackward(y, x, [7, 9], 1, false),
      cpuSoftmaxBackward(y, x, [7, 9], 1, false),
    );
    assert.equal(
      { runs: delta(before).runs, cpuFallbacks: delta(before).cpuFallbacks },
      { runs: 0, cpuFallbacks: 4 },
    );
    before = gpuCounters();
    be.matmul(large);
    be.softmax(data([8, 8]), [8, 8], 1, false);
    assert.equal(
      { runs: delta(before).runs, cpuFallbacks: delta(before).cpuFallbacks },
      { runs: 3, cpuFallbacks: 0 },
    );
  });

  test('ATTNGRAD_GPU_MODE picks the mode; a bad value is an error naming the choices', async () => {
    process.env.ATTNGRAD_GPU_MODE = 'cpu';
    try {
      assert.is((await initGpuBackend()).mode, 'cpu');
      process.env.ATTNGRAD_GPU_MODE = 'cuda';
      try {
        await initGpuBackend();
        assert.unreachable('no error');
      } catch (e) {
        assert.match(
          (e as Error).message,
          "ATTNGRAD_GPU_MODE must be one of webgpu, headlessgl, webasm, cpu, got 'cuda'",
        );
      }
    } finally {
      delete process.env.ATTNGRAD_GPU_MODE;
    }
  });

  test('with no mode forced, a software adapter is refused in one line (a real GPU is taken)', async () => {
    const init = await initGpuBackend();
    assert.not.match(init.reason, /\n/);
    if (init.backend) {
      assert.ok(init.mode === 'webgpu' || init.mode === 'headlessgl', init.mode);
      assert.not.match(init.reason, /software/);
    } else {
      assert.is(init.mode, 'none');
      assert.match(
        init.reason,
        /^gpu: no real GPU adapter; keeping the TS kernels \(webgpu: .*; headless-gl: .*\)$/,
      );
    }
  });
}

test.run();
