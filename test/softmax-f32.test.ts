// The float32 row softmax (float32 tensors along the last dim at 'float32' matmul precision):
// exp32 within 2^−23 (relative) of Math.exp over a dense sweep of [EXP32_LOW, 0] and exact at the
// edges; the WebAssembly SIMD kernel gives the TypeScript reference's bits on odd row lengths, one
// row and many (several calls' worth), −∞ and NaN entries, fully masked rows, forward and
// backward; 'cpu-threads' gives 'cpu''s bits on 1 and 2 threads; 'float64' precision keeps exp.ts's
// bits; the float32 results are within 2^−21 of the float64 ones, relative to their terms.
// Read next: ../lib/backend/cpu/softmax-f32.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpuBackend } from '../lib/backend/cpu.ts';
import { setMatmulPrecision } from '../lib/backend/cpu/matmul.ts';
import { EXP32_LOW, exp32, tsRowSoftmax, type RowSoftmax } from '../lib/backend/cpu/softmax-f32.ts';
import { softmaxBackwardInto, softmaxInto } from '../lib/backend/cpu/softmax.ts';
import {
  MIN_ELEMENTS,
  setNumThreads,
  threadStats,
  threadedBackend,
} from '../lib/backend/threads.ts';
import { CALL, wasmRowSoftmax } from '../lib/backend/wasm/softmax-kernel.ts';
import { manualSeed, random } from '../lib/random.ts';
import { assertBitwise } from './helpers/bitwise.ts';

const f32 = Math.fround;
const simd = (): RowSoftmax => {
  const kernel = wasmRowSoftmax();
  assert.ok(kernel, 'WebAssembly SIMD');
  return kernel!;
};

/**
 * rows × n logits in [−scale, scale): every 7th −∞, row 0 all −∞, one NaN row, one +∞ entry, and
 * row 4's max a zero: −0 then +0 in one lane (the kernel's lane max −0, Math.max's +0).
 */
function logits(rows: number, n: number, scale: number): Float32Array {
  const x = new Float32Array(rows * n).map(() => scale * (2 * random() - 1));
  for (let i = 3; i < x.length; i += 7) x[i] = -Infinity;
  x.fill(-Infinity, 0, n);
  if (rows > 2) x[n + (n >> 1)] = NaN;
  if (rows > 3) x[3 * n] = Infinity;
  if (rows > 4) {
    const row = x.subarray(4 * n, 5 * n);
    row.forEach((v, i) => (row[i] = -Math.abs(v)));
    [row[0], row[4]] = [-0, 0];
  }
  return x;
}

test('exp32: within 2^−23 of Math.exp over [EXP32_LOW, 0]; exact edges', () => {
  let worst = 0;
  const steps = 1 << 20;
  for (let i = 0; i <= steps; i++) {
    const d = f32((EXP32_LOW * i) / steps),
      want = Math.exp(d);
    worst = Math.max(worst, Math.abs(exp32(d) - want) / want);
  }
  assert.ok(worst < 2 ** -23, `worst relative error ${worst}`);
  assert.ok(worst > 2 ** -26, `an exp this close to Math.exp is suspicious (${worst})`);
  assert.is(exp32(0), 1);
  assert.is(exp32(-0), 1);
  assert.is(exp32(-Infinity), 0);
  assert.ok(exp32(EXP32_LOW) > 0 && exp32(EXP32_LOW) <= 2 ** -126 * (1 + 2 ** -22));
  for (const d of [f32(EXP32_LOW - 1e-5), -88, -100, -1e30]) assert.is(exp32(d), 0, `${d}`);
  assert.is(exp32(89), Infinity);
  assert.ok(Number.isNaN(exp32(NaN)));
});

test("the SIMD exp32 gives exp32's bits over the sweep (log-softmax's backward, Σ dy = −1)", () => {
  const n = 1 << 16,
    y = new Float32Array(n),
    dy = new Float32Array(n);
  for (let i = 1; i < n; i++) y[i] = f32((EXP32_LOW - 2) * (i / n)); // below the cut-off too
  y[1] = -Infinity;
  y[2] = NaN;
  dy[0] = -1; // dx_i = 0 − exp32(y_i)·(−1) = exp32(y_i) for i ≥ 1
  const dx = new Float32Array(n);
  simd().backward(y, dy, dx, 1, n, true);
  const want = Float32Array.from(y, (v, i) => (i ? exp32(v) : dx[0]));
  assertBitwise(dx, want, 'exp32');
});

const lengths = [1, 2, 3, 5, 7, 63, 64, 65, 513, 9000];

test("the SIMD kernel gives the reference's bits, forward and backward", () => {
  manualSeed(31);
  for (const n of lengths) {
    // one row; a few; more than one call's worth (rows of CALL / n and a partial call)
    for (const rows of [1, 5, Math.floor(CALL / n) * 2 + 3]) {
      const x = logits(rows, n, 12),
        dy = Float32Array.from(x, () => 2 * random() - 1);
      // y from far below the cut-off to above 0, for log-softmax's exp(y)
      const rawY = Float32Array.from(x, () => 100 * random() - 95);
      for (const log of [false, true]) {
        const what = `${log ? 'log' : ''}softmax ${rows}×${n}`;
        const [want, got] = [tsRowSoftmax, simd()].map((kernel) => {
          const y = new Float32Array(x.length),
            dx = new Float32Array(x.length),
            dxRaw = new Float32Array(x.length);
          kernel.forward(x, y, rows, n, log);
          kernel.backward(y, dy, dx, rows, n, log);
          kernel.backward(rawY, dy, dxRaw, rows, n, log);
          return { y, dx, dxRaw };
        });
        assertBitwise(got.y, want.y, what);
        assertBitwise(got.dx, want.dx, `${what} backward`);
        assertBitwise(got.dxRaw, want.dxRaw, `${what} backward from other y`);
        const masked = want.y.subarray(0, n);
        assert.ok(
          masked.every((v) => v === (log ? -Infinity : 0)),
          `${what}: masked row`,
        );
      }
    }
  }
});

/** [rows, n] shapes big enough to split (≥ MIN_ELEMENTS), and not. */
const shapes = [
  [16 * 4 * 64, 64],
  [1024, 64],
  [64, 513],
  [3, 9000],
  [5, 7],
];

for (const threads of [1, 2]) {
  test(`${threads} thread(s): cpu-threads gives cpu's bits; 'float64' keeps exp.ts's`, () => {
    setNumThreads(threads);
    manualSeed(32);
    for (const [rows, n] of shapes) {
      const x = logits(rows, n, 8),
        dy = Float32Array.from(x, () => 2 * random() - 1);
      for (const precision of ['float32', 'float64'] as const) {
        setMatmulPrecision(precision);
        for (const log of [false, true]) {
          const what = `${precision}, ${log ? 'log' : ''}softmax ${rows}×${n}`;
          const before = threadStats().dispatches;
          const y = threadedBackend.softmax(x, [rows, n], 1, log);
          const dx = threadedBackend.softmaxBackward(y, dy, [rows, n], 1, log);
          // the float32 row kernel stays on the calling thread; 'float64' splits from MIN_ELEMENTS
          const pooled = threads > 1 && precision === 'float64' && rows * n >= MIN_ELEMENTS;
          assert.is(threadStats().dispatches - before, pooled ? 2 : 0, `${what}: pooled`);
          assertBitwise(y, cpuBackend.softmax(x, [rows, n], 1, log), what);
          assertBitwise(dx, cpuBackend.softmaxBackward(y, dy, [rows, n], 1, log), `${what} bwd`);
          if (precision === 'float32') continue;
          const exact = softmaxInto(x, [rows, n], 1, log, new Float32Array(x.length), null);
          assertBitwise(y, exact, `${what}: exp.ts's bits`);
          const dxExact = softmaxBackwardInto(
            y,
            dy,
            [rows, n],
            1,
            log,
            y.map(() => 0),
            null,
          );
          assertBitwise(dx, dxExact, `${what} backward: exp.ts's bits`);
        }
      }
    }
    setMatmulPrecision('float32');
    setNumThreads(2);
  });
}

test('float32 within 2^−21 of float64 precision, relative to the terms', () => {
  manualSeed(33);
  const bound = 2 ** -21;
  for (const n of lengths) {
    for (const scale of [1, 8, 30]) {
      const rows = Math.max(1, Math.floor(20000 / n));
      const x = new Float32Array(rows * n).map(() => scale * (2 * random() - 1)),
        dy = Float32Array.from(x, () => random() - 0.5);
      for (const log of [false, true]) {
        const what = `${log ? 'log' : ''}softmax ${rows}×${n}, scale ${scale}`;
        const y = new Float32Array(x.length);
        tsRowSoftmax.forward(x, y, rows, n, log);
        const y64 = softmaxInto(x, [rows, n], 1, log, new Float64Array(x.length), null);
        const dx = new Float32Array(x.length);
        tsRowSoftmax.backward(y, dy, dx, rows, n, log);
        const dx64 = softmaxBackwardInto(
          y,
          dy,
          [rows, n],
          1,
          log,
          new Float64Array(x.length),
          null,
        );
        for (let r = 0; r < rows; r++) {
          const row = (a: ArrayLike<number>) => Array.from({ length: n }, (_, i) => a[r * n + i]);
          const [xs, ys, y32s, dys] = [row(x), row(y64), row(y), row(dy)];
          const max = Math.max(...xs);
          const s = log ? dys.reduce((a, b) => a + b) : dys.reduce((a, b, i) => a + b * y32s[i], 0);
          for (let i = 0; i < n; i++) {
            const k = r * n + i;
            // softmax: e^(x − max)'s error grows with |x − max| (x − max rounded to float32);
            // log-softmax: x − log Σ may cancel; backward: against the size of its terms
            const size = log
              ? Math.abs(xs[i]) + Math.abs(xs[i] - ys[i])
              : ys[i] * (1 + max - xs[i]);
            if (!(Math.abs(y[k] - y64[k]) <= bound * size))
              assert.unreachable(`${what}: y[${k}] = ${y[k]}, float64 ${y64[k]}`);
            const terms = log
              ? Math.abs(dys[i]) + Math.exp(y[k]) * Math.abs(s)
              : Math.abs(y[k]) * (Math.abs(dys[i]) + Math.abs(s));
            if (!(Math.abs(dx[k] - dx64[k]) <= bound * terms))
              assert.unreachable(`${what}: dx[${k}] = ${dx[k]}, float64 ${dx64[k]}`);
          }
        }
      }
    }
  }
});

test.run();
