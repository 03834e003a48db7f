// matmul's inner loops (a PanelKernel, see ../cpu/matmul.ts) in WebAssembly SIMD, in two
// precisions, each doing its TypeScript reference's sums in the same order, so the results are the
// reference's bit for bit (but for the bits inside a NaN: WebAssembly may return another NaN).
// Read next: encode.ts (the bytes), ../threads.ts (the backend that uses it).
//
// Why it is fast: V8 compiles the TypeScript micro-kernel to scalar code (one number per
// instruction, 16 accumulators spilling out of 16 registers, a bounds check on every load). Here a
// v128 register holds `lanes` numbers (2 doubles or 4 float32s), and a tile of mr × nr outputs is
// mr · nr / lanes accumulator registers:
//
//     acc[i][h] = (c[i][lanes·h], …, c[i][lanes·h + lanes − 1])    row i < mr, h < nr / lanes
//
// One step along k loads B's nr numbers as nr / lanes vectors b_h, broadcasts each a[i] to every
// lane, and does acc[i][h] += splat(a[i]) · b_h. Every lane does what the TypeScript line does: a
// multiply rounded, then an add rounded (wasm has no fused multiply-add), hence the same bits.
//   float64: the reference's 4×4 tile, 8 accumulators; the sums start at 0 and are added to C.
//   float32: a 4×8 tile, 8 accumulators, B blocks of 512 columns; the sums start from C and are
//            stored back, so each output element is one float32 sum along k, as microKernelF32
//            does it. Measured (`npm run bench:matmul -- --tiles`, 1 thread, contended): 4×8 ran
//            at 28–30 GFLOP/s at 1024³ where 4×4, 6×8 and 4×12 ran at 25–26 and 8×8 at 20 (its
//            16 accumulators spill); nc 512 took the work around the panels of 1024×128·128×512
//            from 1.4 to 1.0 ms (A is packed once, not twice), kc 512 changed nothing.
//
// The function takes byte addresses into its own memory: multiply(pa, pb, mc, nc, kc, c, ldc).
// The packs and C live there, so `scratch` hands out views of that memory, sized by the kernel's
// blocking. The module also packs (matmul-pack.ts's functions, a PanelKernel's `packer`):
// the operands are copied in after the scratch slots, and the memory grows to hold them (up to
// STAGE_BYTES), after which the scratch views are cut again from the new buffer.

import { I32, V128, advance, forLoop, moduleBytes, op, type Bytes } from './encode.ts';
import { packFunctions, wasmPacker } from './matmul-pack.ts';
import {
  matmul,
  scratchLengths,
  summedInFloat32,
  tsPanelKernel,
  tsPanelKernelF32,
  type Blocking,
  type MatmulPrecision,
  type PanelKernel,
  type Panels,
} from '../cpu/matmul.ts';
import type { MatmulArgs } from '../backend.ts';
import type { TypedArray } from '../../dtype.ts';

/** A number format: its SIMD instructions, and whether a tile's sums start from C ('carry'). */
interface Format {
  bytes: number; // of one number
  splat: (offset: number) => Bytes; // load one number into every lane
  mul: Bytes;
  add: Bytes;
  carry: boolean;
  packs: (4 | 8)[]; // the operands' bytes a number it packs from (matmul-pack.ts)
  View: Float32ArrayConstructor | Float64ArrayConstructor;
}
const F64: Format = {
  bytes: 8,
  splat: op.v128Load64Splat,
  mul: op.f64x2Mul,
  add: op.f64x2Add,
  carry: false,
  packs: [4, 8], // float32 and float64 operands into double panels
  View: Float64Array,
};
const F32: Format = {
  bytes: 4,
  splat: op.v128Load32Splat,
  mul: op.f32x4Mul,
  add: op.f32x4Add,
  carry: true,
  packs: [4], // float32 operands
  View: Float32Array,
};
const VECTOR = 16; // bytes in a v128
const PAGE = 65536; // bytes in a page of WebAssembly memory
// The most memory the packing module's operand copies take: 64 MiB, two 2048 × 2048 float32
// operands (a thread's memory never shrinks, so it keeps what its largest product took). Past it,
// matmulBlock packs in TypeScript: packing in TypeScript cost ~5% at 1024³ (bench:matmul), a
// share that shrinks as 1/n.
export const STAGE_BYTES = 64 * 2 ** 20;
const STAGE_PAGES = STAGE_BYTES / PAGE;

/** The pages the scratch slots (C, then the packs) fill: the operands' copies start after them. */
const scratchPages = (format: Format, blocking: Blocking) =>
  Math.ceil(
    (Object.values(scratchLengths(blocking)).reduce((x, y) => x + y) * format.bytes) / PAGE,
  );

// Locals: the 7 parameters (addresses in bytes, sizes in elements), then loop state, then v128s:
// the accumulators, A's splat, then B's vectors.
const [PA, PB, MC, NC, KC, C, LDC] = [0, 1, 2, 3, 4, 5, 6];
const [JR, IR, K, X, Y, TILE] = [7, 8, 9, 10, 11, 12];
const ACC = 13;

/** The module of one format and tile: `multiply` over B panels (jr), then A panels (ir). */
function kernelBytes(format: Format, { mr, nr, ...blocks }: Blocking): Uint8Array<ArrayBuffer> {
  const { bytes } = format;
  const vectors = (nr * bytes) / VECTOR; // per row of the tile
  const acc = (i: number, h: number) => ACC + vectors * i + h;
  const A = ACC + mr * vectors,
    B = A + 1; // B's vector h is local B + h

  /** local = base + n · bytes, with n the element count that `elements` leaves on the stack. */
  const setAddress = (local: number, base: number, elements: Bytes[]): Bytes[] => [
    op.localGet(base),
    ...elements,
    op.i32Const(bytes),
    op.i32Mul,
    op.i32Add,
    op.localSet(local),
  ];
  /** TILE = c + (ir·ldc + jr)·bytes: the tile's first row in C. */
  const tileStart = setAddress(TILE, C, [
    op.localGet(IR),
    op.localGet(LDC),
    op.i32Mul,
    op.localGet(JR),
    op.i32Add,
  ]);
  /** `row(i, h)` for every vector of the tile, TILE moving down C's rows. */
  const eachVector = (row: (i: number, h: number) => Bytes[]): Bytes[] => {
    const code: Bytes[] = [...tileStart];
    for (let i = 0; i < mr; i++) {
      for (let h = 0; h < vectors; h++) code.push(...row(i, h));
      code.push(...setAddress(TILE, TILE, [op.localGet(LDC)]));
    }
    return code;
  };

  // One step along k: acc[i][h] += splat(a[i]) · b_h, then x and y move to the next k.
  const step: Bytes[] = [];
  for (let h = 0; h < vectors; h++)
    step.push(op.localGet(Y), op.v128Load(VECTOR * h), op.localSet(B + h));
  for (let i = 0; i < mr; i++) {
    step.push(op.localGet(X), format.splat(i * bytes), op.localSet(A));
    for (let h = 0; h < vectors; h++) {
      step.push(
        op.localGet(acc(i, h)),
        op.localGet(A),
        op.localGet(B + h),
        format.mul,
        format.add,
        op.localSet(acc(i, h)),
      );
    }
  }
  step.push(...advance(X, mr * bytes), ...advance(Y, nr * bytes));

  // One tile: the accumulators from C (carry) or zero, kc steps (kc ≥ 1), then into C's tile.
  const tile: Bytes[] = format.carry
    ? eachVector((i, h) => [op.localGet(TILE), op.v128Load(VECTOR * h), op.localSet(acc(i, h))])
    : Array.from({ length: mr * vectors }, (_, v) => [op.v128Zero, op.localSet(ACC + v)]).flat();
  tile.push(
    ...setAddress(X, PA, [op.localGet(IR), op.localGet(KC), op.i32Mul]), // A panel ir
    ...setAddress(Y, PB, [op.localGet(JR), op.localGet(KC), op.i32Mul]), // B panel jr
    // do { step } while (--k != 0)
    op.localGet(KC),
    op.localSet(K),
    op.loop,
    ...step,
    op.localGet(K),
    op.i32Const(1),
    op.i32Sub,
    op.localTee(K),
    op.brIf(0),
    op.end,
  );
  tile.push(
    ...eachVector((i, h) =>
      format.carry
        ? [op.localGet(TILE), op.localGet(acc(i, h)), op.v128Store(VECTOR * h)]
        : [
            op.localGet(TILE),
            op.localGet(TILE),
            op.v128Load(VECTOR * h),
            op.localGet(acc(i, h)),
            format.add,
            op.v128Store(VECTOR * h),
          ],
    ),
  );

  const multiply = {
    name: 'multiply',
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: [
      [TILE - JR + 1, I32],
      [mr * vectors + 1 + vectors, V128],
    ] as [number, number][],
    body: forLoop(JR, NC, nr, forLoop(IR, MC, mr, tile)),
  };
  const pages = scratchPages(format, { mr, nr, ...blocks });
  const packs = packFunctions([mr, nr], format.bytes as 4 | 8, format.packs);
  return moduleBytes([multiply, ...packs], pages, pages + STAGE_PAGES);
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

/** An instance of the module as a PanelKernel, or null where WebAssembly SIMD is missing. */
function instantiate<P extends Panels>(format: Format, blocking: Blocking): PanelKernel<P> | null {
  const { mr, nr, mc, nc } = blocking;
  if (mc % mr || nc % nr || (nr * format.bytes) % VECTOR) {
    throw new Error(
      `matmul: a WebAssembly tile needs mc a multiple of mr, nc of nr and rows of whole ` +
        `vectors, got ${JSON.stringify(blocking)}`,
    );
  }
  const bytes = kernelBytes(format, blocking);
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const multiply = exports.multiply as Multiply,
    memory = exports.memory as WebAssembly.Memory;
  // The memory, cut into C then the two packs, each as long as matmulBlock ever asks (cut again
  // when the packer grows the memory: the views of the old one are detached).
  const cut = () => {
    const views: Record<string, Panels> = {};
    let offset = 0;
    for (const [slot, length] of Object.entries(scratchLengths(blocking))) {
      views[slot] = new format.View(memory.buffer, offset * format.bytes, length);
      offset += length;
    }
    return views;
  };
  let views = cut();
  const stageAt = scratchPages(format, blocking) * PAGE;
  const packer = wasmPacker(exports, stageAt, STAGE_BYTES, () => (views = cut()));
  const size = format.bytes;
  return {
    blocking,
    packer,
    scratch: (slot, length) => {
      if (length > views[slot].length) {
        throw new Error(
          `matmul: scratch '${slot}' of ${length} numbers, but the WebAssembly memory holds ` +
            `${views[slot].length}`,
        );
      }
      return views[slot].subarray(0, length) as P;
    },
    multiply: (packA, packB, mc, nc, kc, c, ci, ldc) =>
      multiply(packA.byteOffset, packB.byteOffset, mc, nc, kc, c.byteOffset + ci * size, ldc),
  };
}

// One instance of each per thread (a worker builds its own); null: no WebAssembly SIMD here.
let f64Kernel: PanelKernel | null | undefined;
let f32Kernel: PanelKernel<Float32Array> | null | undefined;
export const F32_BLOCKING: Blocking = { mr: 4, nr: 8, kc: 256, mc: 64, nc: 512, mb: 1024 };

/** The float64 WebAssembly PanelKernel, or null where WebAssembly SIMD is missing. */
export const wasmPanelKernel = (): PanelKernel | null =>
  f64Kernel !== undefined ? f64Kernel : (f64Kernel = instantiate(F64, tsPanelKernel.blocking));

/** The float32 WebAssembly PanelKernel (4×8 tiles), or null where WebAssembly SIMD is missing. */
export const wasmPanelKernelF32 = (): PanelKernel<Float32Array> | null =>
  f32Kernel !== undefined ? f32Kernel : (f32Kernel = instantiate(F32, F32_BLOCKING));

/** A float32 WebAssembly PanelKernel of another tile and blocking (bench/matmul.ts compares). */
export const wasmPanelKernelF32With = (blocking: Blocking): PanelKernel<Float32Array> | null =>
  instantiate(F32, blocking);

/** The fastest float64 PanelKernel this runtime has: WebAssembly's, else the TypeScript one. */
export const fastPanelKernel = (): PanelKernel => wasmPanelKernel() ?? tsPanelKernel;

/** The fastest PanelKernel for A's dtype at `precision` (default: the current setting). */
export const fastPanels = (a: TypedArray, precision?: MatmulPrecision): PanelKernel<Panels> =>
  summedInFloat32(a, precision) ? (wasmPanelKernelF32() ?? tsPanelKernelF32) : fastPanelKernel();

/** The CPU matmul with the fastest panel kernel: the reference's bits, sooner. */
export const fastMatmul = (args: MatmulArgs): TypedArray => matmul(args, fastPanels(args.a));
