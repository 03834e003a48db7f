// The float32 matmul precision: its TypeScript reference kernel and its f32x4 WebAssembly kernel
// (any tile and blocking) give bitwise the textbook float32 sum along k on odd shapes, all four
// transpose cases and broadcast batches; the threaded backend gives the same bits on 1–3 threads
// and carries the caller's precision to its workers; float32 and float64 sums agree within the
// float32 rounding bound; the setting and $ATTNGRAD_MATMUL_PRECISION are validated.
// Read next: ../lib/backend/cpu/matmul.ts, ../lib/backend/wasm/matmul-kernel.ts.

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { MatmulArgs } from '../lib/backend/backend.ts';
import { cpuBackend } from '../lib/backend/cpu.ts';
import {
  getMatmulPrecision,
  matmul,
  matmulBlock,
  setMatmulPrecision,
  tsPanelKernel,
  tsPanelKernelF32,
  type MatmulPrecision,
  type PanelKernel,
  type Panels,
} from '../lib/backend/cpu/matmul.ts';
import { setNumThreads, threadStats, threadedBackend } from '../lib/backend/threads.ts';
import { wasmPanelKernelF32, wasmPanelKernelF32With } from '../lib/backend/wasm/matmul-kernel.ts';
import { manualSeed } from '../lib/random.ts';
import { matmulLabel, matmulProblem, textbookMatmul } from './helpers/matmul.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Every element the same number (Object.is: -0 and NaN too; a NaN's payload may differ). */
function assertSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i]))
      assert.unreachable(`${what}: [${i}] = ${got[i]}, want ${want[i]}`);
  }
}

const simd = wasmPanelKernelF32();
// The default 4×8 tile and other tiles and blockings: each element's sum runs along k in every one.
const kernels: [string, PanelKernel<Panels> | null][] = [
  ['TypeScript 4×4', tsPanelKernelF32],
  ['wasm 4×8', simd],
  ['wasm 6×8, kc 7', wasmPanelKernelF32With({ mr: 6, nr: 8, kc: 7, mc: 12, nc: 16, mb: 24 })],
  ['wasm 8×4, kc 64', wasmPanelKernelF32With({ mr: 8, nr: 4, kc: 64, mc: 64, nc: 64, mb: 128 })],
];

/** Each kernel against the textbook float32 sum: bitwise. */
function check(args: MatmulArgs): void {
  const want = Float32Array.from(textbookMatmul(args, true));
  for (const [name, kernel] of kernels) {
    const got = matmul(args, kernel!);
    assert.ok(got instanceof Float32Array, `${matmulLabel(args)}, ${name}: dtype`);
    assertSame(got, want, `${matmulLabel(args)}, ${name}`);
  }
}

const transposes: [boolean, boolean][] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

test('WebAssembly SIMD is available, and every kernel under test builds', () => {
  for (const [name, kernel] of kernels) assert.ok(kernel, `${name}: WebAssembly.validate failed`);
  assert.is(getMatmulPrecision(), 'float32', 'the default precision');
});

test('odd shapes, all four transpose cases: every kernel is the textbook float32 sum', () => {
  manualSeed(11);
  const sizes: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [5, 9, 13], // tails of 1 past 4 and 8
    [17, 33, 9],
    [65, 130, 67],
    [4, 0, 5],
    [0, 3, 4],
    [5, 3, 0],
    [2, 300, 3], // K past one K block of 256
    [70, 300, 260], // every block edge at once
    [1030, 3, 5], // M past one band of C (1024 rows)
  ];
  for (const [M, K, N] of sizes)
    for (const [transA, transB] of transposes)
      check(matmulProblem([], [], M, K, N, transA, transB, false));
});

test('batched and broadcast batches: every kernel is the textbook float32 sum', () => {
  manualSeed(12);
  const batches: [number[], number[]][] = [
    [[3], [3]],
    [[2, 1], [3]],
    [[], [4]],
    [[4], []],
    [
      [2, 1, 3],
      [1, 2, 1],
    ],
    [[0], [1]],
  ];
  for (const [batchA, batchB] of batches)
    for (const [transA, transB] of transposes)
      check(matmulProblem(batchA, batchB, 9, 17, 11, transA, transB, false));
});

test('K = 0: a block of zeros, written over whatever the output held (the pool reuses it)', () => {
  const args = matmulProblem([2], [2], 5, 0, 9, false, true, false);
  for (const [name, kernel] of kernels) {
    const out = new Float32Array(2 * 5 * 9).fill(NaN);
    matmulBlock(args, out, 3, 8, 2, 7, kernel!);
    for (let r = 0; r < 10; r++)
      for (let j = 0; j < 9; j++) {
        const inside = r >= 3 && r < 8 && j >= 2 && j < 7;
        assert.ok(
          inside ? out[r * 9 + j] === 0 : Number.isNaN(out[r * 9 + j]),
          `${name} [${r}, ${j}]`,
        );
      }
  }
});

test('NaN and infinities: the same outputs from the TypeScript and WebAssembly kernels', () => {
  manualSeed(13);
  const args = matmulProblem([], [], 9, 300, 7, false, true, false);
  args.a[2 * 300 + 5] = NaN;
  args.b[4 * 300 + 7] = Infinity;
  const got = matmul(args, tsPanelKernelF32);
  assert.ok(Number.isNaN(got[2 * 7 + 3]), 'row 2 is NaN');
  assert.is(Math.abs(got[0 * 7 + 4]), Infinity, 'column 4 is infinite');
  assertSame(matmul(args, simd!), got, 'NaN and Infinity');
});

test('float32 and float64 sums agree within the float32 rounding bound', () => {
  manualSeed(14);
  // Summing K rounded products in float32 errs by at most γ = (K + 1)·u/(1 − (K + 1)·u) of Σ|a·b|
  // (u = 2⁻²⁴; Higham, Accuracy and Stability, §3.1); random signs make it ~√K·u in practice,
  // so the whole result agrees to 1e-6 relative (Frobenius norm) up to K = 1024.
  for (const [M, K, N] of [
    [64, 1024, 48],
    [33, 129, 65],
  ]) {
    const args = matmulProblem([], [], M, K, N, false, true, false);
    const f32 = matmul(args, simd!),
      f64 = matmul(args, tsPanelKernel);
    const abs = textbookMatmul({
      ...args,
      a: args.a.map(Math.abs),
      b: args.b.map(Math.abs),
    });
    const u = 2 ** -24,
      gamma = ((K + 1) * u) / (1 - (K + 1) * u);
    let errSq = 0,
      normSq = 0;
    for (let i = 0; i < f32.length; i++) {
      const err = Math.abs(f32[i] - f64[i]);
      if (err > gamma * abs[i] + 2 * u * Math.abs(f64[i]))
        assert.unreachable(`${M}×${K}×${N}: [${i}] ${f32[i]} vs ${f64[i]} past the bound`);
      errSq += err ** 2;
      normSq += f64[i] ** 2;
    }
    const relative = Math.sqrt(errSq / normSq);
    assert.ok(relative < 1e-6, `${M}×${K}×${N}: relative error ${relative}`);
    assert.ok(relative > 0, `${M}×${K}×${N}: the two precisions should differ somewhere`);
  }
});

test('float64 tensors are summed in doubles whatever the precision', () => {
  manualSeed(15);
  const args = matmulProblem([2], [], 9, 70, 13, true, false, true);
  const got = cpuBackend.matmul(args);
  assert.ok(got instanceof Float64Array);
  assertSame(got, matmul(args, tsPanelKernel), 'float64 at precision float32');
  assertSame(threadedBackend.matmul(args), got, 'float64 on cpu-threads');
});

for (const threads of [1, 2, 3]) {
  test(`${threads} thread(s): cpu-threads gives the CPU kernel's bits in either precision`, () => {
    setNumThreads(threads);
    manualSeed(16);
    for (const precision of ['float32', 'float64'] as MatmulPrecision[]) {
      setMatmulPrecision(precision);
      for (const [transA, transB] of transposes) {
        // 300 × 130 × 260 = 10.1M multiply-adds: past MIN_WORK, so it splits from 2 threads
        const args = matmulProblem([], [], 300, 130, 260, transA, transB, false);
        const before = threadStats().dispatches;
        const got = threadedBackend.matmul(args);
        const pooled = threadStats().dispatches - before;
        assert.is(pooled, threads > 1 ? 1 : 0, `${precision}: dispatched to the pool`);
        assertSame(got, cpuBackend.matmul(args), `${threads} threads, ${precision}`);
        // The workers used the caller's precision, not their own default.
        const other = precision === 'float32' ? tsPanelKernel : tsPanelKernelF32;
        assert.ok(
          !matmul(args, other).every((x, i) => Object.is(x, got[i])),
          `${precision}: the other precision's bits`,
        );
      }
    }
    setMatmulPrecision('float32');
  });
}

test('setMatmulPrecision and $ATTNGRAD_MATMUL_PRECISION are validated', () => {
  assert.throws(
    () => setMatmulPrecision('float16' as MatmulPrecision),
    /setMatmulPrecision: need 'float32' or 'float64', got 'float16'/,
  );
  setMatmulPrecision('float64');
  assert.is(getMatmulPrecision(), 'float64');
  setMatmulPrecision('float32');
  const read = (value: string) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "import('./lib/backend/cpu/matmul.ts').then((m) => console.log(m.getMatmulPrecision()))",
      ],
      { cwd: root, env: { ...process.env, ATTNGRAD_MATMUL_PRECISION: value }, encoding: 'utf8' },
    );
  assert.is(read('float64').stdout.trim(), 'float64');
  const bad = read('double');
  assert.ok(bad.status !== 0, 'a bad value fails');
  assert.match(bad.stderr, /need 'float32' or 'float64', got ATTNGRAD_MATMUL_PRECISION=double/);
});

test.run();
