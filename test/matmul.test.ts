// The packed CPU matmul kernel against a plain triple loop written here: odd shapes that cut
// every tile and block edge, all four transpose combinations, batched and broadcast batch
// shapes, float32 and float64; with each panel kernel (TypeScript, WebAssembly SIMD), which must
// also agree bit for bit. The float64 precision (sums in doubles) throughout: matmul-f32.test.ts
// tests the float32 one. Read next: ../lib/backend/cpu/matmul.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  matmul,
  setMatmulPrecision,
  tsPanelKernel,
  type PanelKernel,
} from '../lib/backend/cpu/matmul.ts';
import { wasmPanelKernel } from '../lib/backend/wasm/matmul-kernel.ts';
import { manualSeed } from '../lib/random.ts';
import { sizeOf } from '../lib/shape.ts';
import { matmulLabel, matmulProblem, textbookMatmul } from './helpers/matmul.ts';

setMatmulPrecision('float64');

/**
 * Equal element by element as numbers (Object.is), so a NaN equals a NaN whatever its bit pattern.
 */
function assertSameNumbers(got: ArrayLike<number>, want: ArrayLike<number>, label: string): void {
  assert.is(got.length, want.length, `${label}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i]))
      assert.unreachable(`${label}: out[${i}] = ${got[i]}, want ${want[i]}`);
  }
}

/** Build operands for out = (batchA..., M, K) · (batchB..., K, N), run both, compare. */
function check(...problem: Parameters<typeof matmulProblem>): void {
  const args = matmulProblem(...problem);
  const [, , , K, , , , float64] = problem; // the inner size and the dtype
  const got = matmul(args);
  const want = textbookMatmul(args);
  const label = matmulLabel(args);
  if (simd)
    assertSameNumbers(matmul(args, simd), got, `${label}, WebAssembly kernel vs TypeScript`);

  assert.ok(float64 ? got instanceof Float64Array : got instanceof Float32Array, `${label}: dtype`);
  assert.is(got.length, sizeOf(args.outShape), `${label}: size`);
  // float64: both sum the same doubles (in another order), so they agree to rounding, ~1e-12
  // relative to the size of the terms. float32: the kernel rounds its double sum once.
  const tol = float64 ? 1e-12 : 1e-6;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (err > tol * Math.max(1, Math.abs(want[i]), Math.sqrt(K))) {
      assert.unreachable(`${label}: out[${i}] = ${got[i]}, want ${want[i]} (err ${err})`);
    }
  }
}

const simd: PanelKernel | null = wasmPanelKernel();

test('WebAssembly SIMD is available (Node 20 has it), so the fast kernel is tested', () => {
  assert.ok(simd, 'wasmPanelKernel() returned null: WebAssembly.validate rejected the kernel');
});

const sizes: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [17, 33, 9],
  [65, 130, 67],
  [4, 0, 5],
  [0, 3, 4],
  [5, 3, 0],
  [2, 300, 3], // K over one K block (256): sums cross the block boundary
  [70, 2, 260], // M over one M block (64), N over one N block (256)
  [70, 300, 260], // every block edge at once
  [1030, 3, 5], // M over one band of C (1024 rows)
];
const transposes: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

for (const float64 of [false, true]) {
  const dtype = float64 ? 'float64' : 'float32';
  test(`${dtype}: odd shapes, all transpose combinations`, () => {
    manualSeed(1);
    for (const [M, K, N] of sizes) {
      for (const [transA, transB] of transposes) check([], [], M, K, N, transA, transB, float64);
    }
  });

  test(`${dtype}: batched and broadcast batch shapes`, () => {
    manualSeed(2);
    const batches: [number[], number[]][] = [
      [[3], [3]], // plain batch
      [[2, 1], [3]], // [2,1] with [3] -> [2,3]
      [[], [4]], // a matrix against a batch
      [[4], []], // a batch against a matrix
      [
        [2, 1, 3],
        [1, 2, 1],
      ], // size-1 dims on both sides -> [2,2,3]
      [[1], [1, 1]], // all ones, different ranks
      [[0], [1]], // an empty batch
    ];
    for (const [batchA, batchB] of batches) {
      for (const [transA, transB] of transposes) {
        check(batchA, batchB, 5, 6, 7, transA, transB, float64);
        check(batchA, batchB, 9, 17, 3, transA, transB, float64);
      }
    }
  });
}

test('NaN and infinities reach the same outputs with either kernel', () => {
  manualSeed(3);
  const args = matmulProblem([], [], 9, 300, 7, false, true, false);
  args.a[2 * 300 + 5] = NaN; // row 2 of the output: all NaN
  args.b[4 * 300 + 7] = Infinity; // column 4: ±Infinity (or NaN in row 2)
  const got = matmul(args, tsPanelKernel);
  for (let j = 0; j < 7; j++) assert.ok(Number.isNaN(got[2 * 7 + j]), `out[2][${j}] should be NaN`);
  for (let i = 0; i < 9; i++)
    if (i !== 2) assert.is(Math.abs(got[i * 7 + 4]), Infinity, `out[${i}][4]`);
  if (simd)
    assertSameNumbers(
      matmul(args, simd),
      got,
      'NaN and Infinity, WebAssembly kernel vs TypeScript',
    );
});

test('K = 0 gives zeros, and small integers are exact', () => {
  const zeros = matmul({
    a: new Float32Array(0),
    b: new Float32Array(0),
    aShape: [2, 3, 0],
    bShape: [0, 4],
    transA: false,
    transB: false,
    outShape: [2, 3, 4],
  });
  assert.equal([...zeros], new Array(24).fill(0));
  // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]]
  const ab = matmul({
    a: new Float64Array([1, 2, 3, 4]),
    b: new Float64Array([5, 6, 7, 8]),
    aShape: [2, 2],
    bShape: [2, 2],
    transA: false,
    transB: false,
    outShape: [2, 2],
  });
  assert.equal([...ab], [19, 22, 43, 50]);
  // Aᵀ · Bᵀ with the same buffers: [[1, 3], [2, 4]] · [[5, 7], [6, 8]] = [[23, 31], [34, 46]]
  const atbt = matmul({
    a: new Float64Array([1, 2, 3, 4]),
    b: new Float64Array([5, 6, 7, 8]),
    aShape: [2, 2],
    bShape: [2, 2],
    transA: true,
    transB: true,
    outShape: [2, 2],
  });
  assert.equal([...atbt], [23, 31, 34, 46]);
});

test.run();
