// matmul's packing in WebAssembly (lib/backend/wasm/matmul-pack.ts) against the TypeScript pack it
// replaces: the same panels bit for bit, padding lanes included, for panel widths that are and are
// not multiples of 4, both source layouts, float32 panels and double ones (from float32 and from
// float64 operands), and row and depth counts with every kind of tail; and the staged copies that
// it packs from, through memory growth.
// Read next: ../lib/backend/wasm/matmul-pack.ts, matmul-f32.test.ts (whole products).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { matmul, pack, type PanelKernel, type Panels } from '../lib/backend/cpu/matmul.ts';
import {
  STAGE_BYTES,
  wasmPanelKernel,
  wasmPanelKernelF32With,
} from '../lib/backend/wasm/matmul-kernel.ts';
import { manualSeed } from '../lib/random.ts';
import { matmulProblem, randomArray } from './helpers/matmul.ts';

// mr 6 (not a multiple of 4) and nr 8: packers for widths 6 and 8
const kernel = wasmPanelKernelF32With({ mr: 6, nr: 8, kc: 64, mc: 66, nc: 64, mb: 132 });
const f64 = wasmPanelKernel(); // 4×4, double panels

/**
 * Both packs of `rows × depth` of a random source (float64 or not) laid out with `ld`, into
 * panels of `kernel`'s scratch and a copy, both first filled with the same garbage.
 */
function packBoth(
  kernel: PanelKernel<Panels>,
  float64: boolean,
  byRows: boolean,
  [rows, depth, w]: number[],
) {
  const ld = (byRows ? depth : rows) + 3; // a row stride wider than what is read
  const src = randomArray(float64, [(byRows ? rows : depth) * ld]);
  const [rowStride, colStride] = byRows ? [ld, 1] : [1, ld];
  const staged = kernel.packer!.stage(src, 0, src.length, src, 0, 1)!;
  const length = Math.ceil(rows / w) * w * depth;
  const got = kernel.scratch('packB', length);
  got.set(Array.from({ length }, (_, i) => -i - 0.5));
  const want = got.slice();
  const args = [2 * rowStride + colStride, rowStride, colStride, rows - 2, depth - 1] as const;
  pack(src, ...args, want, w);
  kernel.packer!.pack(staged[0], ...args, got, w);
  return { got, want };
}

test('the WebAssembly packs are the TypeScript pack, bit for bit', () => {
  manualSeed(21);
  const cases: [string, PanelKernel<Panels> | null, boolean, number[]][] = [
    ['float32', kernel, false, [6, 8]],
    ['float32 into doubles', f64, false, [4]],
    ['float64', f64, true, [4]],
  ];
  for (const [name, kernel, float64, widths] of cases) {
    assert.ok(kernel?.packer, `${name}: the kernel packs in WebAssembly`);
    for (const w of widths)
      for (const byRows of [true, false])
        for (const rows of [3, 8, 9, 10, 15, 2 + 3 * w])
          for (const depth of [2, 3, 4, 5, 6, 8, 9, 40]) {
            const { got, want } = packBoth(kernel!, float64, byRows, [rows, depth, w]);
            const layout = byRows ? 'rows' : 'columns';
            const what = `${name}, w ${w}, ${layout}, ${rows - 2} × ${depth - 1}`;
            for (let i = 0; i < want.length; i++)
              if (!Object.is(got[i], want[i]))
                assert.unreachable(`${what}: [${i}] ${got[i]} ≠ ${want[i]}`);
          }
  }
});

test('stage: the spans asked, memory growth, other dtypes declined and past its cap', () => {
  const packer = kernel!.packer!;
  const before = kernel!.scratch('c', 4).buffer;
  const a = Float32Array.from({ length: 1 << 20 }, (_, i) => i),
    b = Float32Array.from({ length: 1000 }, (_, i) => -i);
  const [sa, sb] = packer.stage(a, 5, (1 << 20) - 3, b, 10, 20)!;
  assert.equal([sa.length, sa[0], sa[sa.length - 1]], [(1 << 20) - 8, 5, (1 << 20) - 4]);
  assert.equal(Array.from(sb), Array.from(b.subarray(10, 20)));
  assert.ok(sb.byteOffset >= sa.byteOffset + sa.byteLength, 'the copies do not overlap');
  assert.ok(kernel!.scratch('c', 4).buffer !== before, 'grown: scratch views of the new memory');
  assert.is(packer.stage(new Float64Array(4), 0, 4, b, 0, 4), null, 'mixed dtypes');
  const doubles = new Float64Array(4);
  assert.is(packer.stage(doubles, 0, 4, doubles, 0, 4), null, 'float64: no float32 panels from it');
  assert.ok(f64!.packer!.stage(doubles, 0, 4, doubles, 0, 4), 'float64 into doubles');
  const [sd, sf] = f64!.packer!.stage(doubles, 0, 4, b, 0, 4)!;
  assert.ok(sd instanceof Float64Array && sf instanceof Float32Array, 'float64 with float32');
  assert.is(packer.stage(new Int32Array(4), 0, 4, new Int32Array(4), 0, 4), null, 'int32');
  const over = new Float32Array(STAGE_BYTES / 4 + 1);
  assert.is(packer.stage(over, 0, over.length, b, 0, 0), null, 'past STAGE_BYTES');
  assert.ok(packer.stage(over, 1, over.length, b, 0, 0), 'STAGE_BYTES itself');
});

test('products after the memory grew: still the TypeScript kernel without a packer', () => {
  manualSeed(22);
  const reference = { ...kernel!, packer: undefined };
  for (const [transA, transB] of [
    [false, false],
    [true, true],
  ]) {
    const args = matmulProblem([3], [1], 70, 130, 21, transA, transB, false);
    const got = matmul(args, kernel!),
      want = matmul(args, reference);
    assert.ok(
      got.every((x, i) => Object.is(x, want[i])),
      `transA ${transA}, transB ${transB}`,
    );
  }
});

test("fused attention's mixed products (float64 tiles times float32 operands): the TypeScript pack's bits", () => {
  manualSeed(23);
  const reference = { ...f64!, packer: undefined };
  for (const [transA, transB] of [
    [false, false],
    [true, false],
    [false, true],
  ]) {
    const args = matmulProblem([2], [2], 37, 21, 16, transA, transB, false);
    const mixed = { ...args, a: Float64Array.from(args.a) }; // a float64 tile, b float32
    const got = matmul(mixed, f64!),
      want = matmul(mixed, reference);
    assert.ok(
      got.every((x, i) => Object.is(x, want[i])),
      `transA ${transA}, transB ${transB}`,
    );
  }
});

test.run();
