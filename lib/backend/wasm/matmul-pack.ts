// matmul's packing (see pack in ../cpu/matmul.ts) in WebAssembly: the operands are copied into
// the kernel's memory with TypedArray.set (a memcpy), then packed into panels there by SIMD loops,
// so no JavaScript loop touches an element. Read next: matmul-kernel.ts (the module these
// functions join), ../cpu/matmul.ts (the packed layout).
//
// A panel is `w` rows of op(A) (or columns of op(B)) stored k-major: dst[k·w + i]. The source is
// row-major, so one of the two strides is 1:
//   packRows: element (i, k) at src[i·ld + k] (A not transposed, B transposed): a group of rows,
//             as many as a vector holds numbers (4 float32s, 2 doubles), is loaded as one vector
//             per row and transposed by shuffles, each k then stored as one vector (the rows past
//             the groups and the last k one number at a time);
//   packCols: element (i, k) at src[k·ld + i] (A transposed, B not): each k is w consecutive
//             numbers, copied as vectors.
// The float32 kernel's panels are float32 (from float32 operands); the float64 kernel's are
// doubles, from float64 operands or from float32 ones, each float32 widened to a double
// (f64x2.promote_low_f32x4, exact, as the TypeScript pack's assignment is). So the panels hold the
// TypeScript pack's numbers. The functions pack whole panels; the last, partial one (rows mod w)
// is left to the TypeScript pack.

import { I32, V128, advance, forLoop, op, type Bytes, type FunctionSpec } from './encode.ts';
import { pack, type Packer } from '../cpu/matmul.ts';
import type { TypedArray } from '../../dtype.ts';

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

/** S and D for panel P: `srcStep` bytes of source a panel, w · depth numbers of `dst` bytes. */
const panelStart = (w: number, dst: number, srcStep: Bytes[]): Bytes[] => [
  op.localGet(P),
  ...srcStep,
  op.i32Mul,
  op.localGet(SRC),
  op.i32Add,
  op.localSet(S),
  op.localGet(P),
  op.localGet(DEPTH),
  op.i32Mul,
  op.i32Const(w * dst),
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

/** Bytes of a source number and of a panel number (4: float32, 8: double). */
interface Numbers {
  src: 4 | 8;
  dst: 4 | 8;
}
const load = (bytes: number, offset: number) =>
  bytes === 4 ? op.f32Load(offset) : op.f64Load(offset);
const store = (bytes: number, offset: number) =>
  bytes === 4 ? op.f32Store(offset) : op.f64Store(offset);
/** One number from src + srcOffset to dst + dstOffset (the addresses: code that leaves them). */
const copyOne = (n: Numbers, dst: Bytes[], dstOffset: number, src: Bytes[], srcOffset: number) => [
  ...dst,
  ...src,
  load(n.src, srcOffset),
  ...(n.src < n.dst ? [op.f64PromoteF32] : []),
  store(n.dst, dstOffset),
];
/** The vector in `local` (4 float32s or 2 doubles) to DK + offset, widened into double panels. */
function storeVector(n: Numbers, local: number, offset: number): Bytes[] {
  if (n.src === n.dst) return [op.localGet(DK), op.localGet(local), op.v128Store(offset)];
  return [
    [op.localGet(DK), op.localGet(local), op.f64x2PromoteLowF32x4, op.v128Store(offset)],
    [op.localGet(local), op.localGet(local), op.i8x16Shuffle(lanes(2, 3, 2, 3)), op.localSet(T)],
    [op.localGet(DK), op.localGet(T), op.f64x2PromoteLowF32x4, op.v128Store(offset + VECTOR)],
  ].flat();
}
const suffix = (n: Numbers) => (n.src === 4 ? 'F32' : 'F64');

/** packRows for panels of w rows: see the scheme above. */
function packRows(w: number, n: Numbers): FunctionSpec {
  const g = VECTOR / n.src; // numbers a vector holds: the rows of a group, the k of a step
  const groups = Math.floor(w / g);
  const many: Bytes[] = []; // g steps of k
  const shuffle = (x: number, y: number, picked: number[], to: number) =>
    many.push(op.localGet(x), op.localGet(y), op.i8x16Shuffle(lanes(...picked)), op.localSet(to));
  for (let q = 0; q < groups; q++) {
    for (let i = 0; i < g; i++) many.push(...rowAt(g * q + i), op.v128Load(0), op.localSet(R + i));
    if (g === 4) {
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
    } else {
      // doubles: column 0 = r0[0] r1[0], column 1 = r0[1] r1[1]
      shuffle(R, R + 1, [0, 1, 4, 5], T);
      shuffle(R, R + 1, [2, 3, 6, 7], R + 1);
      many.push(op.localGet(T), op.localSet(R));
    }
    for (let j = 0; j < g; j++) many.push(...storeVector(n, R + j, (j * w + g * q) * n.dst));
  }
  for (let i = g * groups; i < w; i++) {
    for (let j = 0; j < g; j++)
      many.push(...copyOne(n, [op.localGet(DK)], (j * w + i) * n.dst, rowAt(i), j * n.src));
  }
  const one: Bytes[] = []; // one step of k, every row one number
  for (let i = 0; i < w; i++) one.push(...copyOne(n, [op.localGet(DK)], i * n.dst, rowAt(i), 0));

  const body: Bytes[] = [
    ...panelStart(w, n.dst, [op.i32Const(w), op.localGet(LD), op.i32Mul]),
    op.i32Const(0),
    op.localSet(K),
    op.localGet(S),
    op.localSet(SK),
    op.localGet(D),
    op.localSet(DK),
    // while (k + g ≤ depth) { g steps }
    op.block,
    op.loop,
    op.localGet(DEPTH),
    op.localGet(K),
    op.i32Const(g),
    op.i32Add,
    op.i32LtU,
    op.brIf(1),
    ...many,
    ...advance(K, g),
    ...advance(SK, g * n.src),
    ...advance(DK, g * w * n.dst),
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
    ...advance(SK, n.src),
    ...advance(DK, w * n.dst),
    op.br(0),
    op.end,
    op.end,
  ];
  return { name: `packRows${w}${suffix(n)}`, params, locals, body: forLoop(P, PANELS, 1, body) };
}

/** packCols for panels of w rows: see the scheme above. */
function packCols(w: number, n: Numbers): FunctionSpec {
  // a vector of source numbers at a time, or two float32s widened to a vector of doubles
  const g = n.src === n.dst ? VECTOR / n.src : 2;
  const step: Bytes[] = [];
  for (let q = 0; q < Math.floor(w / g); q++) {
    const widen = n.src < n.dst;
    const read = widen
      ? [op.v128Load64Zero(q * 8), op.f64x2PromoteLowF32x4]
      : [op.v128Load(q * VECTOR)];
    step.push(op.localGet(D), op.localGet(S), ...read, op.v128Store(q * VECTOR));
  }
  for (let i = g * Math.floor(w / g); i < w; i++)
    step.push(...copyOne(n, [op.localGet(D)], i * n.dst, [op.localGet(S)], i * n.src));
  const body: Bytes[] = [
    ...panelStart(w, n.dst, [op.i32Const(w * n.src)]),
    ...forLoop(K, DEPTH, 1, [...step, ...addLocal(S, LD), ...advance(D, w * n.dst)]),
  ];
  return { name: `packCols${w}${suffix(n)}`, params, locals, body: forLoop(P, PANELS, 1, body) };
}

/**
 * The pack functions for panels of each width in `widths` (mr and nr) holding numbers of `dst`
 * bytes, from operands of each size in `srcs`, for one module.
 */
export const packFunctions = (widths: number[], dst: 4 | 8, srcs: (4 | 8)[]): FunctionSpec[] =>
  [...new Set(widths)].flatMap((w) =>
    srcs.flatMap((src) => [packRows(w, { src, dst }), packCols(w, { src, dst })]),
  );

type PackFunction = (src: number, ld: number, panels: number, depth: number, dst: number) => void;

/**
 * The Packer of an instance whose exports hold packFunctions' functions: `stage` copies the
 * operands (float32 or float64, both the same) into the memory at `stageAt` (bytes), growing it
 * as needed (`grown` is told, since the views of the old memory are then detached), up to
 * `maxBytes` of copies; `pack` packs from them where the module has a function for the operands'
 * dtype and the panel's width, else in TypeScript.
 */
export function wasmPacker(
  exports: WebAssembly.Exports,
  stageAt: number,
  maxBytes: number,
  grown: () => void,
): Packer {
  const memory = exports.memory as WebAssembly.Memory;
  const fn = (kind: string, w: number, src: TypedArray) =>
    exports[`pack${kind}${w}${src instanceof Float64Array ? 'F64' : 'F32'}`] as
      PackFunction | undefined;
  const names = Object.keys(exports);
  const [f32, f64] = ['F32', 'F64'].map((dtype) => names.some((name) => name.endsWith(dtype)));
  // an operand's view type where the module packs from it (fused attention's tile products mix
  // float32 operands with float64 tiles; the float64 kernel packs both)
  const viewOf = (x: TypedArray) =>
    x instanceof Float64Array
      ? f64 && Float64Array
      : x instanceof Float32Array && f32 && Float32Array;
  return {
    stage(a, aLo, aHi, b, bLo, bHi) {
      const [ViewA, ViewB] = [viewOf(a), viewOf(b)];
      if (!ViewA || !ViewB) return null;
      const bAt = stageAt + Math.ceil(((aHi - aLo) * ViewA.BYTES_PER_ELEMENT) / VECTOR) * VECTOR,
        end = bAt + (bHi - bLo) * ViewB.BYTES_PER_ELEMENT;
      if (end - stageAt > maxBytes) return null;
      const missing = end - memory.buffer.byteLength;
      if (missing > 0) {
        memory.grow(Math.ceil(missing / 65536));
        grown();
      }
      const sa = new ViewA(memory.buffer, stageAt, aHi - aLo),
        sb = new ViewB(memory.buffer, bAt, bHi - bLo);
      sa.set(a.subarray(aLo, aHi));
      sb.set(b.subarray(bLo, bHi));
      return [sa, sb];
    },
    pack(src, offset, rowStride, colStride, rows, depth, dst, w) {
      const panels = Math.floor(rows / w),
        done = panels * w;
      const packer =
        colStride === 1 ? fn('Rows', w, src) : rowStride === 1 ? fn('Cols', w, src) : undefined;
      if (!packer) return pack(src, offset, rowStride, colStride, rows, depth, dst, w);
      const bytes = src.BYTES_PER_ELEMENT,
        ld = (colStride === 1 ? rowStride : colStride) * bytes;
      if (panels > 0) packer(src.byteOffset + offset * bytes, ld, panels, depth, dst.byteOffset);
      if (done < rows) {
        const rest = dst.subarray(done * depth);
        pack(src, offset + done * rowStride, rowStride, colStride, rows - done, depth, rest, w);
      }
    },
  };
}
