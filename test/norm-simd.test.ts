// LayerNorm and RMSNorm in WebAssembly SIMD (float32 tensors at the default 'float32' matmul
// precision, row sums in four lanes): the module gives its TypeScript reference's bits (normRows,
// normBackwardRows with lanes) on odd row lengths, one row and many, rows over a chunk, with and
// without γ, β, dγ, dβ; 'cpu-threads' gives 'cpu''s bits on 1 and 2 threads, and splits only the
// TypeScript loops (at 'float64' precision; the SIMD rows stay on the calling thread); at
// 'float64' precision (and for float64 tensors) both keep the loops' bits from before the lanes
// (a sequential textbook); the two precisions agree within one float32 ulp.
// Read next: ../lib/backend/wasm/norm-kernel.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend, NormResult } from '../lib/backend/backend.ts';
import { cpuBackend } from '../lib/backend/cpu.ts';
import { setMatmulPrecision, type MatmulPrecision } from '../lib/backend/cpu/matmul.ts';
import { normBackwardRows, normRows } from '../lib/backend/cpu/norm.ts';
import { setNumThreads, threadStats, threadedBackend } from '../lib/backend/threads.ts';
import { simdNormBackwardRows, simdNormRows } from '../lib/backend/wasm/norm-kernel.ts';
import { allocate, type TypedArray } from '../lib/dtype.ts';
import { sizeOf, type Shape } from '../lib/shape.ts';
import { manualSeed } from '../lib/random.ts';
import { randomArray } from './helpers/matmul.ts';
import { assertBitwise } from './helpers/bitwise.ts';

const EPS = 1e-5;
const LENGTHS = [1, 2, 3, 5, 7, 127, 128, 129, 513];
const FLAGS = [false, true];
const PAIRS = FLAGS.flatMap((a) => FLAGS.map((b) => [a, b]));

/** x (offset so μ ≠ 0), dy, γ, β of rows × n float32s (or float64s). */
function operands(rows: number, n: number, float64 = false) {
  const x = randomArray(float64, [rows, n]).map((v) => 3 * v + 0.5);
  return {
    x,
    dy: randomArray(float64, [rows, n]),
    gamma: randomArray(float64, [n]),
    beta: randomArray(float64, [n]),
  };
}

const stats = (x: TypedArray, rows: number): NormResult => ({
  y: allocate(x instanceof Float64Array ? 'float64' : 'float32', x.length),
  mean: new Float64Array(rows),
  rstd: new Float64Array(rows),
});

test('the SIMD forward gives normRows its bits (sums in lanes)', () => {
  manualSeed(31);
  for (const n of LENGTHS)
    for (const rows of [1, 37, n >= 127 ? 300 : 5000]) {
      const { x, gamma, beta } = operands(rows, n);
      for (const rms of FLAGS)
        for (const [g, b] of PAIRS) {
          const what = `[${rows}, ${n}]${rms ? ' rms' : ''}${g ? ' γ' : ''}${b ? ' β' : ''}`;
          const [gm, bt] = [g ? gamma : null, b ? beta : null];
          const [got, want] = [stats(x, rows), stats(x, rows)];
          assert.ok(simdNormRows(x, n, gm, bt, EPS, rms, got, 0, rows), `${what}: taken`);
          normRows(x, n, gm, bt, EPS, rms, true, want, 0, rows);
          assertBitwise(got.y, want.y, `${what} y`);
          assertBitwise(got.mean, want.mean, `${what} mean`);
          assertBitwise(got.rstd, want.rstd, `${what} rstd`);
        }
    }
});

test('the SIMD backward gives normBackwardRows its bits: dx, and dγ, dβ added to', () => {
  manualSeed(32);
  for (const n of LENGTHS)
    for (const rows of [1, 37, n >= 127 ? 300 : 5000]) {
      const { x, dy, gamma } = operands(rows, n);
      const st = stats(x, rows);
      normRows(x, n, null, null, EPS, false, true, st, 0, rows);
      const start = randomArray(true, [n]) as Float64Array; // sums already begun
      for (const [rms, g] of PAIRS)
        for (const [dg, db] of PAIRS) {
          const named = [rms && 'rms', g && 'γ', dg && 'dγ', db && 'dβ'].filter(Boolean);
          const what = `[${rows}, ${n}] ${named.join(' ')}`;
          const sums = () => [dg ? start.slice() : null, db ? start.slice() : null];
          const [gotG, gotB] = sums(),
            [wantG, wantB] = sums();
          const [got, want] = [new Float32Array(x.length), new Float32Array(x.length)];
          const gm = g ? gamma : null;
          const taken = simdNormBackwardRows(dy, x, n, gm, st, rms, got, gotG, gotB, 0, rows);
          assert.ok(taken, `${what}: taken`);
          normBackwardRows(dy, x, n, gm, st, rms, true, want, wantG, wantB, 0, rows);
          assertBitwise(got, want, `${what} dx`);
          if (gotG && wantG) assertBitwise(gotG, wantG, `${what} dγ`);
          if (gotB && wantB) assertBitwise(gotB, wantB, `${what} dβ`);
        }
    }
});

test('the module declines what it cannot take: float64, rows over a chunk', () => {
  const { x, gamma } = operands(2, 8, true);
  assert.not.ok(simdNormRows(x, 8, gamma, null, EPS, false, stats(x, 2), 0, 2));
  const long = new Float32Array(20000);
  assert.not.ok(simdNormRows(long, 20000, null, null, EPS, false, stats(long, 1), 0, 1));
});

/** Forward and backward of x through `backend`'s kernels. */
function through(backend: Backend, x: TypedArray, shape: Shape, rms: boolean, affine: Affine) {
  const { dy, gamma, beta } = affine;
  const st = backend.norm(x, shape, gamma, beta, EPS, rms);
  return { ...st, ...backend.normBackward(dy, x, shape, gamma, beta !== null, st, rms) };
}
type Affine = { dy: TypedArray; gamma: TypedArray | null; beta: TypedArray | null };
type Result = ReturnType<typeof through>;
type Run = { x: TypedArray; shape: Shape; rms: boolean; affine: Affine };
const KEYS = ['y', 'mean', 'rstd', 'dx', 'dgamma', 'dbeta'] as const;

function assertSame(got: Result, want: Result, what: string) {
  for (const k of KEYS) {
    const [a, b] = [got[k], want[k]];
    if (a === null || b === null) assert.is(a, b, `${what} ${k}: null`);
    else assertBitwise(a, b, `${what} ${k}`, true);
  }
}

// a train step's (2^17, on the calling thread), odd rows split on 2 threads, [4096, 512] split
const SHAPES: Shape[] = [
  [16, 64, 128],
  [3, 301, 299],
  [4096, 512],
];
const CASES = [
  [false, true, true],
  [false, false, false],
  [true, true, false],
  [false, true, false],
];

/** Every shape and case through 'cpu' and 'cpu-threads' (1 and 2 threads), at `precision`. */
function eachRun(
  precision: MatmulPrecision,
  check: (cpu: Result, threaded: Result, what: string, run: Run) => void,
) {
  setMatmulPrecision(precision);
  manualSeed(33);
  for (const shape of SHAPES) {
    const n = shape[shape.length - 1],
      rows = sizeOf(shape) / n;
    const { x, dy, gamma, beta } = operands(rows, n);
    for (const [rms, g, b] of CASES) {
      const affine = { dy, gamma: g ? gamma : null, beta: b ? beta : null };
      const what = `${precision} [${shape}]${rms ? ' rms' : ''}${g ? ' γ' : ''}${b ? ' β' : ''}`;
      const cpu = through(cpuBackend, x, shape, rms, affine);
      for (const threads of [1, 2]) {
        setNumThreads(threads);
        const before = threadStats().dispatches;
        const got = through(threadedBackend, x, shape, rms, affine);
        const split = threads === 2 && sizeOf(shape) >= 1 << 18 && precision === 'float64';
        assert.is(threadStats().dispatches - before, split ? 2 : 0, `${what}: on the pool`);
        check(cpu, got, `${what} on ${threads}`, { x, shape, rms, affine });
      }
    }
  }
  setMatmulPrecision('float32');
}

test("'cpu-threads' gives 'cpu''s bits on 1 and 2 threads (sums in lanes)", () => {
  eachRun('float32', (cpu, threaded, what) => assertSame(threaded, cpu, what));
});

/** The norm loops before the lanes: every sum in order, one element after another. */
function textbook({ x, shape, rms, affine: { dy, gamma, beta } }: Run): Result {
  const n = shape[shape.length - 1],
    rows = x.length / n;
  const [y, dx] = [new Float32Array(x.length), new Float32Array(x.length)];
  const [mean, rstd] = [new Float64Array(rows), new Float64Array(rows)];
  const [dg, db] = [new Float64Array(n), new Float64Array(n)];
  for (let r = 0, base = 0; r < rows; r++, base += n) {
    let mu = 0,
      sq = 0,
      meanG = 0,
      meanGX = 0;
    if (!rms) {
      for (let i = 0; i < n; i++) mu += x[base + i];
      mu /= n;
    }
    for (let i = 0; i < n; i++) sq += (x[base + i] - mu) ** 2;
    const rs = 1 / Math.sqrt(sq / n + EPS);
    [mean[r], rstd[r]] = [mu, rs];
    const xhat = (i: number) => (x[base + i] - mu) * rs;
    const g = (i: number) => (gamma ? gamma[i] * dy[base + i] : dy[base + i]);
    for (let i = 0; i < n; i++) {
      y[base + i] = (gamma ? gamma[i] * xhat(i) : xhat(i)) + (beta ? beta[i] : 0);
      meanG += g(i);
      meanGX += g(i) * xhat(i);
      dg[i] += dy[base + i] * xhat(i);
      db[i] += dy[base + i];
    }
    meanG = rms ? 0 : meanG / n;
    meanGX /= n;
    for (let i = 0; i < n; i++) dx[base + i] = rs * (g(i) - meanG - xhat(i) * meanGX);
  }
  const [dgamma, dbeta] = [gamma ? dg : null, beta ? db : null].map((a) =>
    a ? Float32Array.from(a) : null,
  );
  return { y, mean, rstd, dx, dgamma, dbeta };
}

test("at 'float64' precision both backends keep the sequential loops' bits", () => {
  eachRun('float64', (cpu, threaded, what, run) => {
    const want = textbook(run);
    assertSame(cpu, want, `${what} cpu`);
    assertSame(threaded, want, what);
  });
});

// The sums differ only in order (in doubles), so a result moves by at most one float32 rounding.
test("'float32' and 'float64' precision agree within one float32 ulp", () => {
  manualSeed(34);
  const shape = [37, 129];
  const { x, dy, gamma, beta } = operands(37, 129);
  let moved = 0;
  for (const [rms, g, b] of CASES) {
    const affine = { dy, gamma: g ? gamma : null, beta: b ? beta : null };
    const [f32, f64] = (['float32', 'float64'] as const).map((precision) => {
      setMatmulPrecision(precision);
      return through(cpuBackend, x, shape, rms, affine);
    });
    for (const k of KEYS) {
      const [a, want] = [f32[k], f64[k]];
      if (!a || !want) continue;
      for (let i = 0; i < a.length; i++) {
        const ulp = k === 'mean' || k === 'rstd' ? 2 ** -50 : 2 ** -23;
        if (a[i] !== want[i]) moved++;
        assert.ok(Math.abs(a[i] - want[i]) <= ulp * Math.abs(want[i]), `${k}[${i}]`);
      }
    }
  }
  assert.ok(moved > 0, 'the lanes change some bits'); // else the lanes were not taken
  setMatmulPrecision('float32');
});

test.run();
