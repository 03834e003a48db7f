// matmul's inner loops (a PanelKernel, see ../cpu/matmul.ts) in WebAssembly SIMD: the same 4×4
// tiles, the same sums in the same order, so the result is the TypeScript kernel's bit for bit
// (but for the bits inside a NaN: WebAssembly may return another NaN pattern).
// Read next: encode.ts (the bytes), ../threads.ts (the backend that uses it).
//
// Why it is ~4× faster: V8 compiles the TypeScript micro-kernel to scalar code (one double per
// instruction, 16 accumulators spilling out of 16 registers, a bounds check on every load). Here
// a v128 register holds two doubles, so a 4×4 tile is 8 registers:
//
//     acc[i][h] = (c[i][2h], c[i][2h+1])     for row i in 0..3, half h in 0..1
//
// and one step along k loads B's 4 numbers as two pairs b0 = (b[0], b[1]), b1 = (b[2], b[3]),
// broadcasts each a[i] to both lanes, and does acc[i][h] += splat(a[i]) · b_h: 8 multiplies and
// 8 adds for 32 flops. Every lane does what the TypeScript line `cij += ai * bj` does: an f64
// multiply rounded, then an f64 add rounded (wasm has no fused multiply-add), hence the same bits.
//
// The function takes byte addresses into its own memory: multiply(pa, pb, mc, nc, kc, c, ldc).
// The packs and C live there, so `scratch` hands out views of that memory. Its size is fixed by
// SCRATCH_LENGTHS, so it never grows and the views stay valid.

import { I32, V128, moduleBytes, op, type Bytes } from './encode.ts';
import { SCRATCH_LENGTHS, matmul, tsPanelKernel, type PanelKernel } from '../cpu/matmul.ts';
import type { MatmulArgs } from '../backend.ts';
import type { TypedArray } from '../../dtype.ts';

const R = 4; // the tile, as in ../cpu/matmul.ts
const F64 = 8; // bytes in a double

// Locals: the 7 parameters (addresses in bytes, sizes in elements), then loop state, then v128s.
const [PA, PB, MC, NC, KC, C, LDC] = [0, 1, 2, 3, 4, 5, 6];
const [JR, IR, K, X, Y, TILE] = [7, 8, 9, 10, 11, 12];
const ACC = 13; // acc[i][h] is local ACC + 2i + h
const A = ACC + 8,
  B0 = A + 1,
  B1 = A + 2;
const acc = (i: number, h: number) => ACC + 2 * i + h;

/** for (local = 0; local < limit; local += step) { body }: a block around a loop. */
function forLoop(local: number, limit: number, step: number, body: Bytes[]): Bytes[] {
  return [
    op.i32Const(0),
    op.localSet(local),
    op.block,
    op.loop,
    op.localGet(local),
    op.localGet(limit),
    op.i32LtU,
    op.i32Eqz,
    op.brIf(1), // exit when local ≥ limit
    ...body,
    op.localGet(local),
    op.i32Const(step),
    op.i32Add,
    op.localSet(local),
    op.br(0),
    op.end,
    op.end,
  ];
}

/** local = base + n · 8, with n the element count that `elements` leaves on the stack. */
const setAddress = (local: number, base: number, elements: Bytes[]): Bytes[] => [
  op.localGet(base),
  ...elements,
  op.i32Const(F64),
  op.i32Mul,
  op.i32Add,
  op.localSet(local),
];

/** local = base + index · kc · 8: where panel `index` (counted in rows or columns) starts. */
const panelStart = (local: number, base: number, index: number): Bytes[] =>
  setAddress(local, base, [op.localGet(index), op.localGet(KC), op.i32Mul]);

/** One step along k: acc[i][h] += splat(a[i]) · b_h, then x and y move to the next k. */
function step(): Bytes[] {
  const code: Bytes[] = [
    op.localGet(Y),
    op.v128Load(0),
    op.localSet(B0),
    op.localGet(Y),
    op.v128Load(16),
    op.localSet(B1),
  ];
  for (let i = 0; i < R; i++) {
    code.push(op.localGet(X), op.v128Load64Splat(i * F64), op.localSet(A));
    for (const [h, b] of [
      [0, B0],
      [1, B1],
    ]) {
      code.push(
        op.localGet(acc(i, h)),
        op.localGet(A),
        op.localGet(b),
        op.f64x2Mul,
        op.f64x2Add,
        op.localSet(acc(i, h)),
      );
    }
  }
  const advance = (local: number) => [
    op.localGet(local),
    op.i32Const(R * F64),
    op.i32Add,
    op.localSet(local),
  ];
  return [...code, ...advance(X), ...advance(Y)];
}

/** One 4×4 tile: zero the accumulators, run kc steps (kc ≥ 1), add them into C's tile. */
function tile(): Bytes[] {
  const code: Bytes[] = [];
  for (let i = 0; i < R; i++)
    for (let h = 0; h < 2; h++) code.push(op.v128Zero, op.localSet(acc(i, h)));
  code.push(...panelStart(X, PA, IR), ...panelStart(Y, PB, JR));
  // do { step } while (--k != 0)
  code.push(
    op.localGet(KC),
    op.localSet(K),
    op.loop,
    ...step(),
    op.localGet(K),
    op.i32Const(1),
    op.i32Sub,
    op.localTee(K),
    op.brIf(0),
    op.end,
  );
  // tile = c + (ir·ldc + jr)·8, then row by row: C[i][..] += acc[i][..], tile += ldc·8
  const tileOffset = [op.localGet(IR), op.localGet(LDC), op.i32Mul, op.localGet(JR), op.i32Add];
  code.push(...setAddress(TILE, C, tileOffset));
  for (let i = 0; i < R; i++) {
    for (let h = 0; h < 2; h++) {
      code.push(
        op.localGet(TILE),
        op.localGet(TILE),
        op.v128Load(16 * h),
        op.localGet(acc(i, h)),
        op.f64x2Add,
        op.v128Store(16 * h),
      );
    }
    code.push(...setAddress(TILE, TILE, [op.localGet(LDC)]));
  }
  return code;
}

/** The module: `multiply` loops over B panels (jr), then A panels (ir), as tsPanelKernel does. */
function kernelBytes(): Uint8Array<ArrayBuffer> {
  const doubles = SCRATCH_LENGTHS.c + SCRATCH_LENGTHS.packA + SCRATCH_LENGTHS.packB;
  const pages = Math.ceil((doubles * F64) / 65536);
  return moduleBytes(
    {
      name: 'multiply',
      params: [I32, I32, I32, I32, I32, I32, I32],
      locals: [
        [TILE - JR + 1, I32],
        [B1 - ACC + 1, V128],
      ],
      body: forLoop(JR, NC, R, forLoop(IR, MC, R, tile())),
    },
    pages,
  );
}

type Multiply = (
  pa: number,
  pb: number,
  mc: number,
  nc: number,
  kc: number,
  c: number,
  ldc: number,
) => void;

let kernel: PanelKernel | null | undefined; // one per thread: a worker builds its own

/** The WebAssembly PanelKernel, or null where WebAssembly SIMD is missing (then use the TS one). */
export function wasmPanelKernel(): PanelKernel | null {
  if (kernel !== undefined) return kernel;
  const bytes = kernelBytes();
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return (kernel = null);
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const multiply = exports.multiply as Multiply,
    memory = exports.memory as WebAssembly.Memory;
  // The memory, cut into C then the two packs, each as long as matmulBlock ever asks.
  const views: Record<string, Float64Array> = {};
  let offset = 0;
  for (const [slot, length] of Object.entries(SCRATCH_LENGTHS)) {
    views[slot] = new Float64Array(memory.buffer, offset * F64, length);
    offset += length;
  }
  return (kernel = {
    scratch: (slot, length) => {
      if (length > views[slot].length) {
        throw new Error(
          `matmul: scratch '${slot}' of ${length} doubles, but the WebAssembly memory holds ` +
            `${views[slot].length}`,
        );
      }
      return views[slot].subarray(0, length);
    },
    multiply: (packA, packB, mc, nc, kc, c, ci, ldc) =>
      multiply(packA.byteOffset, packB.byteOffset, mc, nc, kc, c.byteOffset + ci * F64, ldc),
  });
}

/** The fastest PanelKernel this runtime has: WebAssembly's, else the TypeScript reference. */
export const fastPanelKernel = (): PanelKernel => wasmPanelKernel() ?? tsPanelKernel;

/** The CPU matmul with the fastest panel kernel: the reference's bits, sooner. */
export const fastMatmul = (args: MatmulArgs): TypedArray => matmul(args, fastPanelKernel());
