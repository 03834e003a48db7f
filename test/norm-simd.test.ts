// LayerNorm and RMSNorm in WebAssembly SIMD (float32 tensors at the default 'float32' matmul
// precision, row sums in four lanes): the module gives its TypeScript reference's bits (normRows,
// normBackwardRows with lanes) on odd row lengths, one row and many, rows over a chunk, with and
// without γ, β, dγ, dβ; 'cpu-threads' gives 'cpu''s bits on 1 and 2 threads, split or not; at
// 'float64' precision (and for float64 tensors) both keep the loops' bits from before the lanes
// (a sequential textbook); the two precisions agree within one float32 ulp.
// Read next: ../lib/backend/wasm/norm-kernel.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { NormResult } from '../lib/backend/backend.ts';
import { cpuBackend } from '../lib/backend/cpu.ts';
import { setMatmulPrecision } from '../lib/backend/cpu/matmul.ts';
import { normBackwardRows, normRows } from '../lib/backend/cpu/norm.ts';
import { setNumThreads, threadStats, threadedBackend } from '../lib/backend/threads.ts';
import { simdNormBackwardRows, simdNormRows } from '../lib/backend/wasm/norm-kernel.ts';
import { allocate, type DType, type TypedArray } from '../lib/dtype.ts';
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
          const what = `[${rows}, ${n}]${rms ? ' rms' : ''}${g ? ' γ' : ''}${dg ? ' dγ' : ''}${db ? ' dβ' : ''}`;
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

test.run();
