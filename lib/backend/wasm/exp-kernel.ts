// The row exp of fused attention's tiles (a RowExp, see ../cpu/exp-poly.ts) in WebAssembly SIMD:
// p_j = e^(x_j − shift) in place over a row of doubles in the module's memory, two a vector
// (f64x2), returning Σ p_j. Every lane does expPoly's operations in expPoly's order (wasm has no
// fused multiply-add, and neither has JavaScript), and the sum is added as expShiftedRow adds it,
// so the results are the TypeScript reference's bit for bit (but for the bits inside a NaN).
// Bound and cut-offs: ../cpu/exp-poly.ts (within 2 ulp of e^x on [−708, 709]; 0 below, +∞ above).
// The same module moves softmax's float32 rows in and out of the tile (widen, scaled, shifted,
// diff, product below; ../cpu/softmax.ts). Read next: encode.ts (the bytes),
// ../cpu/fused-attention.ts.
//
// One lane pair:  k = (x · 1/ln2 + 1.5·2^52) − 1.5·2^52 (nearest, ties to even),
//   r = (x − k·ln2_hi) − k·ln2_lo,  y = (1 + (r + r²·Q(r))) · 2^k (Q by Estrin's scheme),
//   2^k's bits = (k as i64 << 52) + 1.0's bits
//   (i32x4.trunc_sat_f64x2_s_zero → i64x2.extend_low_i32x4_s → i64x2.shl 52 → i64x2.add),
//   then y = 0 where x < −708 and +∞ where x > 709 (where k is out of range and y garbage).
// An odd row's last double goes through the same lanes, loaded alone (lane 1 zero) and stored
// alone.

import { F64, I32, V128, moduleBytes, op, type Bytes, type FunctionSpec } from './encode.ts';
import {
  EXP_HIGH,
  EXP_LOW,
  INV_LN2,
  LN2_HI,
  LN2_LO,
  Q,
  ROUND,
  SIMD_ROW,
  tsRowExp,
  type RowExp,
} from '../cpu/exp-poly.ts';
import type { TypedArray } from '../../dtype.ts';

/** Doubles the row exp's memory holds: the largest tile it takes (fused attention's 128 × 128). */
export const TILE = 16384;
// After the tile, two rows of TILE float32s (A, B) where softmax's rows are staged: copied in and
// out by JavaScript (a memcpy), widened, scaled and narrowed here two doubles a vector.
const ROW_A = TILE * 8,
  ROW_B = ROW_A + TILE * 4;
const PAGES = (ROW_B + TILE * 4) / 65536; // of 64 KiB: 4

// Locals: the parameters (x's byte address, n, shift), then the pair loop's end, the even lane's
// sum, and the v128s.
const [PTR, N, SHIFT, END, EVEN] = [0, 1, 2, 3, 4];
const [SHIFTS, ACC, X, K, R, R2, R4, P] = [5, 6, 7, 8, 9, 10, 11, 12];

/** v128.const of `value` in both lanes. */
const splat = (value: number): Bytes =>
  op.v128Const([...new Uint8Array(new Float64Array([value, value]).buffer)]);

/** Q_j + Q_(j+1)·r, left on the stack. */
const pair = (j: number): Bytes[] => [
  op.localGet(R),
  splat(Q[j + 1]),
  op.f64x2Mul,
  splat(Q[j]),
  op.f64x2Add,
];

/** Local P = e^X, lane by lane, as expPoly computes it. */
function expOfX(): Bytes[] {
  const code: Bytes[] = [
    ...[op.localGet(X), splat(INV_LN2), op.f64x2Mul, splat(ROUND), op.f64x2Add],
    ...[splat(ROUND), op.f64x2Sub, op.localSet(K)], // k = nearest(x / ln2)
    ...[op.localGet(X), op.localGet(K), splat(LN2_HI), op.f64x2Mul, op.f64x2Sub],
    ...[op.localGet(K), splat(LN2_LO), op.f64x2Mul, op.f64x2Sub, op.localSet(R)],
    ...[op.localGet(R), op.localGet(R), op.f64x2Mul, op.localTee(R2)],
    ...[op.localGet(R2), op.f64x2Mul, op.localSet(R4)],
    // q = Q0 + Q1·r + (Q2 + Q3·r)·r² + (Q4 + Q5·r + (Q6 + Q7·r)·r²)·r⁴ + (Q8 + Q9·r)·r⁸
    ...pair(0),
    ...[...pair(2), op.localGet(R2), op.f64x2Mul, op.f64x2Add],
    ...[...pair(4), ...pair(6), op.localGet(R2), op.f64x2Mul, op.f64x2Add],
    ...[op.localGet(R4), op.f64x2Mul, op.f64x2Add],
    ...[...pair(8), op.localGet(R4), op.localGet(R4), op.f64x2Mul, op.f64x2Mul, op.f64x2Add],
  ];
  code.push(
    ...[op.localGet(R2), op.f64x2Mul], // r²·q
    ...[op.localGet(R), op.f64x2Add, splat(1), op.f64x2Add], // 1 + (r + r²·q)
    ...[op.localGet(K), op.i32x4TruncSatF64x2SZero, op.i64x2ExtendLowI32x4S], // k as i64
    ...[op.i32Const(52), op.i64x2Shl, splat(1), op.i64x2Add, op.f64x2Mul], // · 2^k
    ...[op.localGet(X), splat(EXP_LOW), op.f64x2Lt, op.v128AndNot, op.localSet(P)], // 0 below
    ...[splat(Infinity), op.localGet(P), op.localGet(X), splat(EXP_HIGH), op.f64x2Gt],
    ...[op.v128Bitselect, op.localSet(P)], // +∞ above
  );
  return code;
}

/** X = (the vector `load` leaves) − shift in both lanes. */
const shifted = (load: Bytes): Bytes[] => [
  op.localGet(PTR),
  load,
  op.localGet(SHIFTS),
  op.f64x2Sub,
  op.localSet(X),
];

/** expShifted(ptr, n, shift) → Σ p: the pairs, then an odd n's last double. */
function kernelBytes(): Uint8Array<ArrayBuffer> {
  const body: Bytes[] = [
    ...[op.localGet(SHIFT), op.f64x2Splat, op.localSet(SHIFTS)],
    // END = ptr + (n & ~1)·8
    ...[op.localGet(PTR), op.localGet(N), op.i32Const(-2), op.i32And, op.i32Const(8)],
    ...[op.i32Mul, op.i32Add, op.localSet(END)],
    op.block,
    op.loop,
    ...[op.localGet(PTR), op.localGet(END), op.i32LtU, op.i32Eqz, op.brIf(1)],
    ...shifted(op.v128Load(0)),
    ...expOfX(),
    ...[op.localGet(PTR), op.localGet(P), op.v128Store(0)],
    ...[op.localGet(ACC), op.localGet(P), op.f64x2Add, op.localSet(ACC)],
    ...[op.localGet(PTR), op.i32Const(16), op.i32Add, op.localSet(PTR)],
    op.br(0),
    op.end,
    op.end,
    ...[op.localGet(ACC), op.f64x2ExtractLane(0), op.localSet(EVEN)],
    ...[op.localGet(N), op.i32Const(1), op.i32And, op.if],
    ...shifted(op.v128Load64Zero(0)),
    ...expOfX(),
    ...[op.localGet(PTR), op.localGet(P), op.v128Store64Lane(0, 0)],
    ...[op.localGet(EVEN), op.localGet(P), op.f64x2ExtractLane(0), op.f64Add, op.localSet(EVEN)],
    op.end,
    ...[op.localGet(EVEN), op.localGet(ACC), op.f64x2ExtractLane(1), op.f64Add], // even + odd
  ];
  const expShifted: FunctionSpec = {
    name: 'expShifted',
    params: [I32, I32, F64],
    results: [F64],
    locals: [
      [1, I32],
      [1, F64],
      [P - SHIFTS + 1, V128],
    ],
    body,
  };
  return moduleBytes([expShifted, ...rowFunctions], PAGES);
}

// Softmax's row moves (see RowExp in ../cpu/exp-poly.ts) over the first n elements of the staged
// rows and the tile, two or four a step: the last step reads and writes up to three elements past
// n (JavaScript sets row A's to −∞ before `widen`, so the max is the row's). The max is taken over
// the float32s (four a vector, and exact: widening keeps the order).
// Locals: the parameters (n, an f64), then T (the tile's byte address), S (the staged rows'), the
// loop's end, and a v128.
const [ROW_N, ROW_ARG, ROW_T, ROW_S, ROW_END, ROW_W] = [0, 1, 2, 3, 4, 5];

/** for each step of `width` elements: `body`, T += 8·width, S += 4·width, while T < the end. */
const rowLoop = (width: number, body: Bytes[]): Bytes[] => [
  ...[op.localGet(ROW_N), op.i32Const(width - 1), op.i32Add, op.i32Const(-width), op.i32And],
  ...[op.i32Const(8), op.i32Mul, op.localSet(ROW_END)],
  op.block,
  op.loop,
  ...[op.localGet(ROW_T), op.localGet(ROW_END), op.i32LtU, op.i32Eqz, op.brIf(1)],
  ...body,
  ...[op.localGet(ROW_T), op.i32Const(8 * width), op.i32Add, op.localSet(ROW_T)],
  ...[op.localGet(ROW_S), op.i32Const(4 * width), op.i32Add, op.localSet(ROW_S)],
  op.br(0),
  op.end,
  op.end,
];

/** Two float32s of a staged row at S + offset, as doubles. */
const staged = (offset: number): Bytes[] => [
  op.localGet(ROW_S),
  op.v128Load64Zero(offset),
  op.f64x2PromoteLowF32x4,
];
/** The doubles on the stack narrowed to float32 and stored at S in a staged row. */
const narrowTo = (row: number): Bytes[] => [op.f32x4DemoteF64x2Zero, op.v128Store64Lane(row, 0)];
/** The f64 parameter in both lanes, into W. */
const splatArg: Bytes[] = [op.localGet(ROW_ARG), op.f64x2Splat, op.localSet(ROW_W)];
const f32x4MinusInfinity = op.v128Const([
  ...new Uint8Array(new Float32Array(4).fill(-Infinity).buffer),
]);

const rowLocals: FunctionSpec['locals'] = [
  [3, I32],
  [1, V128],
];
/** name(n, value): `body` on each pair, with W = value in both lanes. */
const pairFunction = (name: string, body: Bytes[]): FunctionSpec => ({
  name,
  params: [I32, F64],
  locals: rowLocals,
  body: [...splatArg, ...rowLoop(2, body)],
});
const rowFunctions: FunctionSpec[] = [
  {
    // widen(n, unused) → max(row A): tile = row A as doubles (the f64 keeps the locals' numbers)
    name: 'widen',
    params: [I32, F64],
    results: [F64],
    locals: rowLocals,
    body: [
      ...[f32x4MinusInfinity, op.localSet(ROW_W)],
      ...rowLoop(4, [
        ...[op.localGet(ROW_T), ...staged(ROW_A), op.v128Store(0)],
        ...[op.localGet(ROW_T), ...staged(ROW_A + 8), op.v128Store(16)],
        ...[op.localGet(ROW_W), op.localGet(ROW_S), op.v128Load(ROW_A), op.f32x4Max],
        op.localSet(ROW_W),
      ]),
      ...[0, 1, 2, 3].map((lane) => [op.localGet(ROW_W), op.f32x4ExtractLane(lane)]).flat(),
      ...[op.f32Max, op.f32Max, op.f32Max, op.f64PromoteF32],
    ],
  },
  pairFunction('scaled', [
    // row A = tile · value
    ...[op.localGet(ROW_S), op.localGet(ROW_T), op.v128Load(0), op.localGet(ROW_W)],
    ...[op.f64x2Mul, ...narrowTo(ROW_A)],
  ]),
  pairFunction('shifted', [
    // row A = row A − value
    ...[op.localGet(ROW_S), ...staged(ROW_A), op.localGet(ROW_W), op.f64x2Sub],
    ...narrowTo(ROW_A),
  ]),
  pairFunction('diff', [
    // row B = row B − tile · value
    ...[op.localGet(ROW_S), ...staged(ROW_B), op.localGet(ROW_T), op.v128Load(0)],
    ...[op.localGet(ROW_W), op.f64x2Mul, op.f64x2Sub, ...narrowTo(ROW_B)],
  ]),
  pairFunction('product', [
    // row A = row A · (row B − value)
    ...[op.localGet(ROW_S), ...staged(ROW_A), ...staged(ROW_B), op.localGet(ROW_W)],
    ...[op.f64x2Sub, op.f64x2Mul, ...narrowTo(ROW_A)],
  ]),
];

type ExpShifted = (ptr: number, n: number, shift: number) => number;
type RowFunction = (n: number, value: number) => number;

/** An instance of the module as a RowExp, or null where WebAssembly SIMD is missing. */
function instantiate(): RowExp | null {
  const bytes = kernelBytes();
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const expShifted = exports.expShifted as ExpShifted,
    memory = exports.memory as WebAssembly.Memory;
  const [widen, scaled, shifted, diff, product] = [
    'widen',
    'scaled',
    'shifted',
    'diff',
    'product',
  ].map((name) => exports[name] as RowFunction);
  const tile = new Float64Array(memory.buffer, 0, TILE),
    rowA = new Float32Array(memory.buffer, ROW_A, TILE),
    rowB = new Float32Array(memory.buffer, ROW_B, TILE);
  /** Whether a row move takes the SIMD path: contiguous float32 rows over the whole tile. */
  /**
   * Whether a row move takes the SIMD path: contiguous float32 rows of SIMD_ROW elements or more
   * (shorter ones cost more in the copies' calls than the reference's loops); else the loops, the
   * same bits. `t` must be the module's tile.
   */
  const simdRow = (
    what: string,
    t: Float64Array,
    n: number,
    stride: number,
    a: TypedArray,
    b = a,
    c = a,
  ): boolean => {
    if (t.buffer !== memory.buffer || t.byteOffset !== 0 || n > t.length) {
      throw new Error(`${what}: expected the module's tile of ≥ ${n} doubles`);
    }
    const f32 = a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array;
    return f32 && stride === 1 && n >= SIMD_ROW;
  };
  return {
    tile: (length) => {
      if (length > TILE) {
        throw new Error(
          `expShifted: a tile of ${length} doubles, but the WebAssembly memory holds ${TILE}`,
        );
      }
      return tile.subarray(0, length);
    },
    expShifted: (x, at, n, shift) => {
      if (x.buffer !== memory.buffer || at < 0 || at + n > x.length) {
        throw new Error(
          `expShifted: expected [${at}, ${at + n}) inside a view of the module's tile, got ` +
            `${x.buffer === memory.buffer ? `a view of ${x.length}` : 'another buffer'}`,
        );
      }
      return expShifted(x.byteOffset + at * 8, n, shift);
    },
    load: (x, at, stride, n, t) => {
      if (!simdRow('load', t, n, stride, x)) return tsRowExp.load(x, at, stride, n, t);
      rowA.set(x.subarray(at, at + n));
      if (n & 3) rowA.fill(-Infinity, n, (n + 3) & -4); // the last step's other lanes
      return widen(n, 0);
    },
    storeScaled: (t, scale, out, at, stride, n) => {
      if (!simdRow('storeScaled', t, n, stride, out))
        return tsRowExp.storeScaled(t, scale, out, at, stride, n);
      scaled(n, scale);
      out.set(rowA.subarray(0, n), at);
    },
    storeShifted: (x, shift, out, at, stride, n) => {
      if (!simdRow('storeShifted', tile, n, stride, x, out))
        return tsRowExp.storeShifted(x, shift, out, at, stride, n);
      rowA.set(x.subarray(at, at + n));
      shifted(n, shift);
      out.set(rowA.subarray(0, n), at);
    },
    storeDiff: (dy, t, scale, dx, at, stride, n) => {
      if (!simdRow('storeDiff', t, n, stride, dy, dx))
        return tsRowExp.storeDiff(dy, t, scale, dx, at, stride, n);
      rowB.set(dy.subarray(at, at + n));
      diff(n, scale);
      dx.set(rowB.subarray(0, n), at);
    },
    storeProduct: (y, dy, shift, dx, at, stride, n) => {
      if (!simdRow('storeProduct', tile, n, stride, y, dy, dx))
        return tsRowExp.storeProduct(y, dy, shift, dx, at, stride, n);
      rowA.set(y.subarray(at, at + n));
      rowB.set(dy.subarray(at, at + n));
      product(n, shift);
      dx.set(rowA.subarray(0, n), at);
    },
  };
}

// One instance per thread (a worker builds its own); null: no WebAssembly SIMD here.
let rowExp: RowExp | null | undefined;

/** The SIMD RowExp, or null where WebAssembly SIMD is missing. */
export const wasmRowExp = (): RowExp | null =>
  rowExp !== undefined ? rowExp : (rowExp = instantiate());

/** The fastest RowExp this runtime has: WebAssembly's, else the TypeScript one (the same bits). */
export const fastRowExp = (): RowExp => wasmRowExp() ?? tsRowExp;
