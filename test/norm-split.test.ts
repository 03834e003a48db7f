// LayerNorm and RMSNorm on the threaded backend against the CPU reference, bit for bit: y, the row
// statistics, dx, dγ and dβ, for float32 and float64, with and without γ and β, on odd shapes (a
// 1-wide row, rows not a multiple of the chunks, two long rows) and 2 or 3 threads, at 'float64'
// matmul precision (float32 at 'float32' runs the SIMD rows, which never split); small calls
// (a train step's) stay on the calling thread; and the CPU kernel's LayerNorm loops against the
// textbook loops. Read next: ../lib/backend/threads/norm.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpuBackend } from '../lib/backend/cpu.ts';
import { setMatmulPrecision } from '../lib/backend/cpu/matmul.ts';
import { setNumThreads, threadStats, threadedBackend } from '../lib/backend/threads.ts';
import { allocate, type DType, type TypedArray } from '../lib/dtype.ts';
import { manualSeed, randn } from '../lib/index.ts';
import { assertBitwise } from './helpers/bitwise.ts';

function assertBitwiseOrNull(
  got: ArrayLike<number> | null,
  want: ArrayLike<number> | null,
  what: string,
) {
  if (got === null || want === null) return assert.is(got, want, `${what}: null`);
  assertBitwise(got, want, what, true);
}

const normals = (n: number, dtype: DType, scale = 1): TypedArray => {
  const out = allocate(dtype, n);
  out.set(randn([n], { dtype: 'float64' }).mul(scale).data);
  return out;
};

/** Forward and backward on both backends: the threaded one must use the pool twice. */
function check(shape: number[], dtype: DType, rms: boolean, hasGamma: boolean, hasBeta: boolean) {
  const n = shape[shape.length - 1],
    size = shape.reduce((a, b) => a * b, 1);
  const x = normals(size, dtype, 3).map((v) => v + 0.5),
    dy = normals(size, dtype);
  const gamma = hasGamma ? normals(n, dtype) : null,
    beta = hasBeta ? normals(n, dtype) : null;
  const what = `${dtype} [${shape}]${rms ? ' rms' : ''}${hasGamma ? ' γ' : ''}${hasBeta ? ' β' : ''}`;
  const before = threadStats().dispatches;
  const got = threadedBackend.norm(x, shape, gamma, beta, 1e-5, rms);
  const grads = threadedBackend.normBackward(dy, x, shape, gamma, hasBeta, got, rms);
  assert.is(threadStats().dispatches, before + 2, `${what}: on the pool`);
  const want = cpuBackend.norm(x, shape, gamma, beta, 1e-5, rms);
  const wantGrads = cpuBackend.normBackward(dy, x, shape, gamma, hasBeta, want, rms);
  assertBitwiseOrNull(got.y, want.y, `${what} y`);
  assertBitwiseOrNull(got.mean, want.mean, `${what} mean`);
  assertBitwiseOrNull(got.rstd, want.rstd, `${what} rstd`);
  assertBitwiseOrNull(grads.dx, wantGrads.dx, `${what} dx`);
  assertBitwiseOrNull(grads.dgamma, wantGrads.dgamma, `${what} dγ`);
  assertBitwiseOrNull(grads.dbeta, wantGrads.dbeta, `${what} dβ`);
}

test('norm and normBackward on the pool are the CPU kernels, bit for bit', () => {
  manualSeed(8);
  setMatmulPrecision('float64');
  for (const threads of [2, 3]) {
    setNumThreads(threads);
    for (const dtype of ['float32', 'float64'] as const) {
      for (const shape of [
        [2049, 130],
        [3, 301, 299],
        [270000, 1],
        [2, 140000],
      ]) {
        for (const [rms, hasGamma, hasBeta] of [
          [false, true, true],
          [false, false, false],
          [false, false, true],
          [true, true, false],
          [true, false, false],
        ])
          check(shape, dtype, rms, hasGamma, hasBeta);
      }
    }
  }
  setMatmulPrecision('float32');
});

/** The norm kernels as first written (one loop per pass, every case in it): the bits to keep. */
function textbook(x: TypedArray, dy: TypedArray, n: number, gamma: TypedArray, beta: TypedArray) {
  const [y, dx] = [x.slice(), x.slice()],
    dgamma = new Float64Array(n),
    dbeta = new Float64Array(n);
  for (let base = 0; base < x.length; base += n) {
    let mu = 0,
      sq = 0;
    for (let i = 0; i < n; i++) mu += x[base + i];
    mu /= n;
    for (let i = 0; i < n; i++) sq += (x[base + i] - mu) ** 2;
    const rs = 1 / Math.sqrt(sq / n + 1e-5);
    let meanG = 0,
      meanGX = 0;
    for (let i = 0; i < n; i++) {
      const xhat = (x[base + i] - mu) * rs,
        g = gamma[i] * dy[base + i];
      y[base + i] = gamma[i] * xhat + beta[i];
      meanG += g;
      meanGX += g * xhat;
      dgamma[i] += dy[base + i] * xhat;
      dbeta[i] += dy[base + i];
    }
    [meanG, meanGX] = [meanG / n, meanGX / n];
    for (let i = 0; i < n; i++) {
      const xhat = (x[base + i] - mu) * rs;
      dx[base + i] = rs * (gamma[i] * dy[base + i] - meanG - xhat * meanGX);
    }
  }
  return { y, dx, dgamma, dbeta };
}

// in float64, where a reordered product or sum shows (float32 would round most of it away)
test('the CPU LayerNorm with γ and β gives the textbook loops their bits', () => {
  manualSeed(9);
  const [rows, n] = [37, 130];
  const x = normals(rows * n, 'float64', 3),
    dy = normals(rows * n, 'float64');
  const gamma = normals(n, 'float64'),
    beta = normals(n, 'float64');
  const want = textbook(x, dy, n, gamma, beta);
  const stats = cpuBackend.norm(x, [rows, n], gamma, beta, 1e-5, false);
  const grads = cpuBackend.normBackward(dy, x, [rows, n], gamma, true, stats, false);
  assertBitwiseOrNull(stats.y, want.y, 'y');
  assertBitwiseOrNull(grads.dx, want.dx, 'dx');
  assertBitwiseOrNull(grads.dgamma, want.dgamma, 'dγ');
  assertBitwiseOrNull(grads.dbeta, want.dbeta, 'dβ');
});

test("a train step's norm (1024 × 128) stays on the calling thread", () => {
  setNumThreads(2);
  const x = normals(1024 * 128, 'float32');
  const before = threadStats().dispatches;
  const stats = threadedBackend.norm(x, [1024, 128], null, null, 1e-5, false);
  threadedBackend.normBackward(x, x, [1024, 128], null, false, stats, false);
  assert.is(threadStats().dispatches, before);
});

test.run();
