// matmul's packing (see pack in ../cpu/matmul.ts) in WebAssembly, for the float32 kernel: the
// operands are copied into the kernel's memory with TypedArray.set (a memcpy), then packed into
// panels there by SIMD loops, so no JavaScript loop touches an element. Read next:
// matmul-kernel.ts (the module these functions join), ../cpu/matmul.ts (the packed layout).
//
// A panel is `w` rows of op(A) (or columns of op(B)) stored k-major: dst[k·w + i]. The source is
// row-major, so one of the two strides is 1:
//   packRows: element (i, k) at src[i·ld + k] (A not transposed, B transposed): four rows of four
//             k each are loaded as four vectors and transposed by shuffles, each k then stored as
//             one vector (rows past a multiple of 4 and the last k mod 4 one number at a time);
//   packCols: element (i, k) at src[k·ld + i] (A transposed, B not): each k is w consecutive
//             numbers, copied as w / 4 vectors.
// Both only copy bits, so the panels hold the TypeScript pack's numbers. They pack whole panels;
// the last, partial one (rows mod w) is left to the TypeScript pack.

import { I32, V128, advance, forLoop, op, type Bytes, type FunctionSpec } from './encode.ts';
import { pack, type Packer } from '../cpu/matmul.ts';

const F32 = 4; // bytes in a float32
const VECTOR = 16; // bytes in a v128

// Parameters (addresses and ld in bytes, the rest in elements), then locals: the panel, its first
// source and destination address, k, the addresses at k, then four loaded and four shuffled v128s.
const [SRC, LD, PANELS, DEPTH, DST] = [0, 1, 2, 3, 4];
const [P, S, D, K, SK, DK] = [5, 6, 7, 8, 9, 10];
const [R, T] = [11, 15];
const params = [I32, I32, I32, I32, I32];
const locals: FunctionSpec['locals'] = [
  [DK - P + 1, I32],
  [8, V128],
];

/** local = local + other (a local). */
const addLocal = (local: number, other: number): Bytes[] => [
  op.localGet(local),
  op.localGet(other),
  op.i32Add,
  op.localSet(local),
];

/** S and D for panel P: `srcStep` bytes of source a panel, w · depth numbers of destination. */
const panelStart = (w: number, srcStep: Bytes[]): Bytes[] => [
  op.localGet(P),
  ...srcStep,
  op.i32Mul,
  op.localGet(SRC),
  op.i32Add,
  op.localSet(S),
  op.localGet(P),
  op.localGet(DEPTH),
  op.i32Mul,
  op.i32Const(w * F32),
  op.i32Mul,
  op.localGet(DST),
  op.i32Add,
  op.localSet(D),
];

/** The address of source row i at k: SK + i·ld. */
const rowAt = (i: number): Bytes[] => [
  op.localGet(SK),
  op.localGet(LD),
  op.i32Const(i),
  op.i32Mul,
  op.i32Add,
];

/** 32-bit lanes as i8x16.shuffle's byte indices: lane l of the pair is bytes 4l … 4l + 3. */
const lanes = (...picked: number[]): Bytes =>
  picked.flatMap((l) => [0, 1, 2, 3].map((b) => 4 * l + b));

/** packRows for panels of w rows: see the scheme above. */
function packRows(w: number): FunctionSpec {
  const groups = Math.floor(w / 4);
  // Four steps of k: each group of four rows as a 4×4 transpose, then the rows past the groups.
  const four: Bytes[] = [];
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < 4; i++) four.push(...rowAt(4 * g + i), op.v128Load(0), op.localSet(R + i));
    const shuffle = (x: number, y: number, picked: number[], to: number) =>
      four.push(op.localGet(x), op.localGet(y), op.i8x16Shuffle(lanes(...picked)), op.localSet(to));
    // t0 = r0[0] r1[0] r0[1] r1[1], t1 = r0[2] r1[2] r0[3] r1[3], t2, t3 the same of r2, r3
    shuffle(R, R + 1, [0, 4, 1, 5], T);
    shuffle(R, R + 1, [2, 6, 3, 7], T + 1);
    shuffle(R + 2, R + 3, [0, 4, 1, 5], T + 2);
    shuffle(R + 2, R + 3, [2, 6, 3, 7], T + 3);
    // column j (= k + j) of the four rows: r0[j] r1[j] r2[j] r3[j]
    shuffle(T, T + 2, [0, 1, 4, 5], R);
    shuffle(T, T + 2, [2, 3, 6, 7], R + 1);
    shuffle(T + 1, T + 3, [0, 1, 4, 5], R + 2);
    shuffle(T + 1, T + 3, [2, 3, 6, 7], R + 3);
    for (let j = 0; j < 4; j++)
      four.push(op.localGet(DK), op.localGet(R + j), op.v128Store((j * w + 4 * g) * F32));
  }
  for (let i = 4 * groups; i < w; i++) {
    for (let j = 0; j < 4; j++)
      four.push(op.localGet(DK), ...rowAt(i), op.f32Load(j * F32), op.f32Store((j * w + i) * F32));
  }
  // One step of k, every row one number.
  const one: Bytes[] = [];
  for (let i = 0; i < w; i++)
    one.push(op.localGet(DK), ...rowAt(i), op.f32Load(0), op.f32Store(i * F32));

  const body: Bytes[] = [
    ...panelStart(w, [op.i32Const(w), op.localGet(LD), op.i32Mul]),
    op.i32Const(0),
    op.localSet(K),
    op.localGet(S),
    op.localSet(SK),
    op.localGet(D),
    op.localSet(DK),
    // while (k + 4 ≤ depth) { four steps }
    op.block,
    op.loop,
    op.localGet(DEPTH),
    op.localGet(K),
    op.i32Const(4),
    op.i32Add,
    op.i32LtU,
    op.brIf(1),
    ...four,
    ...advance(K, 4),
    ...advance(SK, 4 * F32),
    ...advance(DK, 4 * w * F32),
    op.br(0),
    op.end,
    op.end,
    // while (k < depth) { one step }
    op.block,
    op.loop,
    op.localGet(K),
    op.localGet(DEPTH),
    op.i32LtU,
    op.i32Eqz,
    op.brIf(1),
    ...one,
    ...advance(K, 1),
    ...advance(SK, F32),
    ...advance(DK, w * F32),
    op.br(0),
    op.end,
    op.end,
  ];
  return { name: `packRows${w}`, params, locals, body: forLoop(P, PANELS, 1, body) };
}

/** packCols for panels of w rows: see the scheme above. */
function packCols(w: number): FunctionSpec {
  const groups = Math.floor(w / 4);
  const step: Bytes[] = [];
  for (let g = 0; g < groups; g++)
    step.push(op.localGet(D), op.localGet(S), op.v128Load(g * VECTOR), op.v128Store(g * VECTOR));
  for (let i = 4 * groups; i < w; i++)
    step.push(op.localGet(D), op.localGet(S), op.f32Load(i * F32), op.f32Store(i * F32));
  const body: Bytes[] = [
    ...panelStart(w, [op.i32Const(w * F32)]),
    ...forLoop(K, DEPTH, 1, [...step, ...addLocal(S, LD), ...advance(D, w * F32)]),
  ];
  return { name: `packCols${w}`, params, locals, body: forLoop(P, PANELS, 1, body) };
}

/** The pack functions for panels of each width in `widths` (mr and nr), for one module. */
export const packFunctions = (widths: number[]): FunctionSpec[] =>
  [...new Set(widths)].flatMap((w) => [packRows(w), packCols(w)]);

type PackFunction = (src: number, ld: number, panels: number, depth: number, dst: number) => void;

/**
 * The Packer of an instance whose exports hold packFunctions' functions: `stage` copies the
 * operands into the memory at `stageAt` (bytes), growing it as needed (`grown` is told, since the
 * views of the old memory are then detached), up to `maxBytes` of copies.
 */
export function wasmPacker(
  exports: WebAssembly.Exports,
  stageAt: number,
  maxBytes: number,
  grown: () => void,
): Packer {
  const memory = exports.memory as WebAssembly.Memory;
  const fn = (name: string) => exports[name] as PackFunction | undefined;
  return {
    stage(a, aLo, aHi, b, bLo, bHi) {
      const aBytes = (aHi - aLo) * F32,
        bAt = stageAt + Math.ceil(aBytes / VECTOR) * VECTOR;
      const end = bAt + (bHi - bLo) * F32;
      if (!(a instanceof Float32Array && b instanceof Float32Array) || end - stageAt > maxBytes)
        return null;
      const missing = end - memory.buffer.byteLength;
      if (missing > 0) {
        memory.grow(Math.ceil(missing / 65536));
        grown();
      }
      const sa = new Float32Array(memory.buffer, stageAt, aHi - aLo),
        sb = new Float32Array(memory.buffer, bAt, bHi - bLo);
      sa.set(a.subarray(aLo, aHi));
      sb.set(b.subarray(bLo, bHi));
      return [sa, sb];
    },
    pack(src, offset, rowStride, colStride, rows, depth, dst, w) {
      const panels = Math.floor(rows / w),
        done = panels * w;
      const packer =
        colStride === 1 ? fn(`packRows${w}`) : rowStride === 1 ? fn(`packCols${w}`) : undefined;
      if (!packer) return pack(src, offset, rowStride, colStride, rows, depth, dst, w);
      const ld = (colStride === 1 ? rowStride : colStride) * F32;
      if (panels > 0) packer(src.byteOffset + offset * F32, ld, panels, depth, dst.byteOffset);
      if (done < rows) {
        const rest = dst.subarray(done * depth);
        pack(src, offset + done * rowStride, rowStride, colStride, rows - done, depth, rest, w);
      }
    },
  };
}
