// Softmax and log-softmax at the default 'float32' matmul precision (float32 tensors): the
// WebAssembly SIMD exps (the row exp; the float32 row kernel along the last dim, whose own tests
// are softmax-f32.test.ts) give their TypeScript references' bits, forward
// and backward, on odd row lengths, strided rows (inner > 1), rows longer than a segment, −∞
// entries and fully masked rows; 'cpu-threads' gives 'cpu''s bits on 1 and 2 threads and carries
// the caller's precision to its workers; at 'float64' precision (and for float64 tensors) softmax
// keeps Math.exp's bits (the numerics before the row exp); the two precisions agree within one
// float32 ulp; the SIMD row moves (in and out of the tile) give the reference's bits.
// Read next: ../lib/backend/cpu/softmax.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cpuBackend } from '../lib/backend/cpu.ts';
import { SIMD_ROW, tsRowExp } from '../lib/backend/cpu/exp-poly.ts';
import { setMatmulPrecision } from '../lib/backend/cpu/matmul.ts';
import {
  SEGMENT,
  softmaxBackwardInto,
  softmaxInto,
  tsSoftmaxExps,
  type SoftmaxExps,
} from '../lib/backend/cpu/softmax.ts';
import {
  MIN_ELEMENTS,
  setNumThreads,
  threadStats,
  threadedBackend,
} from '../lib/backend/threads.ts';
import { TILE, wasmRowExp } from '../lib/backend/wasm/exp-kernel.ts';
import { wasmRowSoftmax } from '../lib/backend/wasm/softmax-kernel.ts';
import type { TypedArray } from '../lib/dtype.ts';
import { aroundDim, sizeOf, type Shape } from '../lib/shape.ts';
import { manualSeed } from '../lib/random.ts';
import { randomArray } from './helpers/matmul.ts';
import { assertBitwise } from './helpers/bitwise.ts';

/** Logits of `shape` in [−8, 8): a few −∞ entries, and row 0 (along `dim`) all −∞. */
function logits(shape: Shape, dim: number, float64 = false): TypedArray {
  const x = randomArray(float64, shape).map((v) => 8 * v);
  for (let i = 3; i < x.length; i += 7) x[i] = -Infinity;
  const [, n, inner] = aroundDim(shape, dim);
  for (let i = 0; i < n; i++) x[i * inner] = -Infinity;
  return x;
}

// (shape, dim): n = 1, 2, 3, 5, 7, 129, 131, 513 along the last dim; strided rows; rows over a
// segment
const cases: [Shape, number][] = [
  [[4, 1], 1],
  [[3, 2], 1],
  [[5, 3], 1],
  [[2, 5], 1],
  [[3, 7], 1],
  [[3, 129], 1],
  [[2, 131], 1],
  [[6, 513], 1],
  [[3, 5, 4], 1],
  [[2, 7, 3, 2], 1],
  [[513, 3], 0],
  [[2, 2 * SEGMENT + 3], 1],
  [[2, SEGMENT + 1, 2], 1],
];
const label = (shape: Shape, dim: number, log: boolean) =>
  `${log ? 'log' : ''}softmax ${JSON.stringify(shape)} dim ${dim}`;

/** Forward and backward through `exps`. */
function run(exps: SoftmaxExps, x: TypedArray, dy: TypedArray, shape: Shape, dim: number) {
  return [false, true].map((log) => {
    const y = softmaxInto(x, shape, dim, log, new Float32Array(x.length), exps);
    const dx = softmaxBackwardInto(y, dy, shape, dim, log, new Float32Array(x.length), exps);
    return { log, y, dx };
  });
}

test('a segment fits the WebAssembly tile, and WebAssembly SIMD is here', () => {
  assert.ok(SEGMENT <= TILE, `SEGMENT ${SEGMENT} > TILE ${TILE}`);
  assert.ok(SIMD_ROW <= 513, 'the cases below reach the SIMD row moves');
  assert.ok(wasmRowExp(), 'WebAssembly SIMD row exp');
});

test("the row moves (load and the four stores): the reference's bits", () => {
  manualSeed(20);
  const simd = wasmRowExp()!;
  // below SIMD_ROW the loops; from it SIMD, with every tail of the four-a-step max
  for (const n of [1, 2, 3, 5, SIMD_ROW - 1, SIMD_ROW, SIMD_ROW + 1, 130, 131, 513, TILE]) {
    for (const [stride, float64] of [
      [1, false],
      [2, false],
      [1, true],
    ] as const) {
      const what = `n ${n}, stride ${stride}${float64 ? ', float64' : ''}`;
      const x = randomArray(float64, [n * stride + 1]).map((v) => 8 * v),
        dy = randomArray(float64, [x.length]);
      if (n === 5 || n === 131) x[1 + 2 * stride] = NaN; // the max of a row with a NaN is NaN
      const results = [tsRowExp, simd].map((rowExp) => {
        const tile = rowExp.tile(n);
        const max = rowExp.load(x, 1, stride, n, tile);
        const loaded = Float64Array.from(tile);
        const [scaled, shifted, diff, product] = [0, 1, 2, 3].map(() => x.map(() => 0.5));
        rowExp.storeScaled(tile, 0.3, scaled, 1, stride, n);
        rowExp.storeShifted(x, 1.7, shifted, 1, stride, n);
        rowExp.storeDiff(dy, tile, -2.1, diff, 1, stride, n);
        rowExp.storeProduct(x, dy, 0.4, product, 1, stride, n);
        return { max, loaded, scaled, shifted, diff, product };
      });
      const [want, got] = results;
      assert.ok(Object.is(got.max, want.max), `${what}: max ${got.max}, want ${want.max}`);
      for (const key of ['loaded', 'scaled', 'shifted', 'diff', 'product'] as const)
        assertBitwise(got[key], want[key], `${what}: ${key}`);
    }
  }
  assert.throws(
    () => simd.load(new Float32Array(4), 0, 1, 4, new Float64Array(4)),
    /load: expected the module's tile of ≥ 4 doubles/,
  );
});

test('the SIMD exps give the TypeScript reference bits, forward and backward', () => {
  manualSeed(21);
  const simd = { rows: wasmRowSoftmax()!, rowExp: wasmRowExp()! };
  for (const [shape, dim] of cases) {
    const x = logits(shape, dim),
      dy = randomArray(false, shape);
    const want = run(tsSoftmaxExps, x, dy, shape, dim),
      got = run(simd, x, dy, shape, dim);
    for (const [i, { log, y, dx }] of got.entries()) {
      assertBitwise(y, want[i].y, label(shape, dim, log));
      assertBitwise(dx, want[i].dx, `${label(shape, dim, log)} backward`);
      const firstRow = Array.from(
        { length: shape[dim] },
        (_, k) => y[k * aroundDim(shape, dim)[2]],
      );
      assert.ok(
        firstRow.every((v) => v === (log ? -Infinity : 0)),
        `${label(shape, dim, log)}: the fully masked row`,
      );
    }
  }
});

/** Today's kernel written out with Math.exp (exp.ts's bits): max, Σ e^(x − max), then scale. */
function mathExpSoftmax(x: TypedArray, shape: Shape, dim: number, log: boolean): TypedArray {
  const [outer, n, inner] = aroundDim(shape, dim);
  const out = x instanceof Float64Array ? new Float64Array(x.length) : new Float32Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const at = (i: number) => (o * n + i) * inner + j;
      let max = -Infinity,
        sum = 0;
      for (let i = 0; i < n; i++) max = Math.max(max, x[at(i)]);
      const e = Array.from({ length: n }, (_, i) => Math.exp(x[at(i)] - max));
      for (const v of e) sum += v;
      for (let i = 0; i < n; i++) {
        if (max === -Infinity) out[at(i)] = log ? -Infinity : 0;
        else out[at(i)] = log ? x[at(i)] - (Math.log(sum) + max) : e[i] * (1 / sum);
      }
    }
  }
  return out;
}

/** Log-softmax's backward with Math.exp: dx = dy − e^y · Σ dy. */
function mathExpLogBackward(y: TypedArray, dy: TypedArray, shape: Shape, dim: number) {
  const [outer, n, inner] = aroundDim(shape, dim);
  const dx = new Float32Array(y.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const at = (i: number) => (o * n + i) * inner + j;
      let s = 0;
      for (let i = 0; i < n; i++) s += dy[at(i)];
      for (let i = 0; i < n; i++) dx[at(i)] = dy[at(i)] - Math.exp(y[at(i)]) * s;
    }
  }
  return dx;
}

// Big enough to split: 2 × 9 × 2000 = 36000 elements ≥ MIN_ELEMENTS, over several rows.
const splitCases: [Shape, number][] = [
  [[18, 2000], 1],
  [[2, 2000, 9], 1],
];

for (const threads of [1, 2]) {
  test(`${threads} thread(s): cpu-threads gives cpu's bits; 'float64' keeps Math.exp's`, () => {
    setNumThreads(threads);
    manualSeed(22);
    for (const precision of ['float32', 'float64'] as const) {
      setMatmulPrecision(precision);
      for (const [shape, dim] of splitCases) {
        assert.ok(sizeOf(shape) >= MIN_ELEMENTS);
        const x = logits(shape, dim),
          dy = randomArray(false, shape);
        for (const log of [false, true]) {
          const what = `${precision}, ${label(shape, dim, log)}`;
          const before = threadStats().dispatches;
          const y = threadedBackend.softmax(x, shape, dim, log);
          const dx = threadedBackend.softmaxBackward(y, dy, shape, dim, log);
          // float32 along the last dim: the row kernel, which stays on the calling thread
          const pooled = threads > 1 && (precision === 'float64' || aroundDim(shape, dim)[2] > 1);
          assert.is(threadStats().dispatches - before, pooled ? 2 : 0, `${what}: pooled`);
          assertBitwise(y, cpuBackend.softmax(x, shape, dim, log), what);
          assertBitwise(dx, cpuBackend.softmaxBackward(y, dy, shape, dim, log), `${what} backward`);
          if (precision === 'float32') continue;
          assertBitwise(y, mathExpSoftmax(x, shape, dim, log), `${what}: Math.exp's bits`);
          if (log) assertBitwise(dx, mathExpLogBackward(y, dy, shape, dim), `${what}: Math.exp's`);
        }
      }
      // Which exp every chunk took: at y = −720 Math.exp is subnormal (~1e−313) and the row exp
      // 0 (its cut-off is −708), so dx = 0 − e^y · Σ dy is −0 in float32 with Math.exp, +0 else.
      const [rows, n] = splitCases[0][0];
      const y = new Float32Array(rows * n).fill(-720),
        dy = new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) dy[r * n] = 1;
      const dx = threadedBackend.softmaxBackward(y, dy, [rows, n], 1, true);
      const zero = precision === 'float64' ? -0 : 0;
      const which = dx.findIndex((v, i) => i % n !== 0 && !Object.is(v, zero));
      assert.is(which, -1, `${precision}: dx[${which}] = ${dx[which]}, want ${zero}`);
    }
    setMatmulPrecision('float32');
  });
}

test('float64 tensors keep Math.exp at either precision', () => {
  manualSeed(23);
  const shape = [5, 513],
    x = logits(shape, 1, true);
  for (const log of [false, true]) {
    assertBitwise(cpuBackend.softmax(x, shape, 1, log), mathExpSoftmax(x, shape, 1, log), `${log}`);
  }
});

test('the row exp is within 2^−44 (relative) of Math.exp in doubles, one float32 ulp in floats', () => {
  manualSeed(24);
  let differ = 0;
  /** got within bound · scale(k) of want. */
  const close = (
    got: TypedArray,
    want: TypedArray,
    bound: number,
    scale: (k: number) => number,
    what: string,
  ) => {
    for (let k = 0; k < got.length; k++) {
      if (Object.is(got[k], want[k])) continue;
      differ++;
      if (!(Math.abs(got[k] - want[k]) <= bound * scale(k)))
        assert.unreachable(`${what}: [${k}] = ${got[k]}, Math.exp's ${want[k]}`);
    }
  };
  for (const [shape, dim] of cases) {
    const x = logits(shape, dim),
      dy = randomArray(false, shape);
    for (const log of [false, true]) {
      const what = label(shape, dim, log);
      // written into doubles (before the float32 rounding), then into floats (strided rows: the
      // last dim's go through the float32 row kernel, softmax-f32.test.ts)
      for (const [Out, bound] of [
        [Float64Array, 2 ** -44],
        [Float32Array, 2 ** -23],
      ] as const) {
        if (Out === Float32Array && aroundDim(shape, dim)[2] === 1) continue;
        const out = () => new Out(x.length);
        const y = softmaxInto(x, shape, dim, log, out(), null);
        const got = softmaxInto(x, shape, dim, log, out(), tsSoftmaxExps);
        // log-softmax's x − log Σ may cancel: against the size of its terms
        const size = (k: number) => Math.abs(y[k]) + (log ? Math.abs(x[k]) : 0);
        close(got, y, bound, size, `${what}, ${Out.name}`);
      }
      // backward from the same y: only log-softmax's e^y differs; dy − e^y·s may cancel, so
      // against the size of its terms
      const y = softmaxInto(x, shape, dim, log, new Float32Array(x.length), null);
      const out = () => new Float64Array(x.length);
      const dx = softmaxBackwardInto(y, dy, shape, dim, log, out(), null);
      const got = softmaxBackwardInto(y, dy, shape, dim, log, out(), tsSoftmaxExps);
      const terms = (k: number) => Math.abs(dy[k]) + Math.abs(dx[k]);
      if (log) close(got, dx, 2 ** -50, terms, `${what} backward`);
      else assertBitwise(got, dx, `${what} backward (no exp in it)`);
    }
  }
  assert.ok(differ > 0, 'the two exps should differ somewhere');
});

test.run();
