// Softmax and log-softmax of float32 rows, forward and backward, in WebAssembly SIMD (f32x4): the
// arithmetic of ../cpu/softmax-f32.ts (the reference: formulas, exp32 and its bound there), four
// lanes at a time, so the bits are the reference's. Many rows a call: whole rows, up to CALL
// floats (or one row of up to MAX_ROW), are copied into the module's memory (TypedArray.set, a
// memcpy) and the result copied out. Read next: encode.ts (the bytes), ../cpu/softmax.ts.
//
// Per row, passes over its vectors of four; a row's last vector (n not a multiple of 4) is loaded
// whole, its lanes past the row masked (−∞ for the max, +0 in the sums) and stored whole: what it
// writes past the row is rewritten by the next row, or falls in the slack after the staged rows.
// Sums: lanes 0, 1 promoted to doubles into ACC_LO, lanes 2, 3 into ACC_HI (element i into lane
// i mod 4), then (s0 + s2) + (s1 + s3) in both lanes of a vector.
// Log-softmax's forward needs ln S, which wasm lacks: `logSums` writes each row's max and S,
// JavaScript writes f32(ln S + max) over the max (+∞ for a fully masked row, so −∞ − ∞ = −∞), and
// `logShift` subtracts it.
// Measured on [4096, 512] (one thread, contended, outputs preallocated): softmax forward 3.7 ms,
// backward 2.0 (log-softmax 3.6, 3.3), of which the copies in and out take ~0.7 ms a 2M-float
// array; the TypeScript reference ~88 and 10 (86, 83). Memory: 15 pages (~1 MiB) a thread.

import {
  I32,
  V128,
  advance,
  forLoop,
  moduleBytes,
  op,
  type Bytes,
  type FunctionSpec,
} from './encode.ts';
import {
  C1,
  C2,
  EXP32_HIGH,
  EXP32_LOW,
  INV_LN2_32,
  P,
  ROUND_32,
  tsRowSoftmax,
  type RowSoftmax,
} from '../cpu/softmax-f32.ts';
import type { SoftmaxExps } from '../cpu/softmax.ts';
import { fastRowExp } from './exp-kernel.ts';

/** The longest row the module takes (longer ones run the reference: the same bits). */
export const MAX_ROW = 65536;
/** The most floats staged a call when rows are shorter than that. */
export const CALL = 16384;
// A (x or y), B (dy), O (the result): MAX_ROW floats each and 16 bytes of slack; then a row's max
// (f32) and sum (f64) for CALL rows, then the tail masks.
const REGION = MAX_ROW * 4 + 16;
const [A_AT, B_AT, O_AT, MAXES_AT] = [0, 1, 2, 3].map((i) => i * REGION);
const SUMS_AT = MAXES_AT + CALL * 4,
  MASKS_AT = SUMS_AT + CALL * 8;
const PAGES = Math.ceil((MASKS_AT + 64) / 65536); // of 64 KiB

// Locals: the parameters (rows, n), then i32s (row, the row's byte index, the vector's, the
// row's full vectors' end, n mod 4, the full vectors' bytes, the row's bytes) and v128s.
const [ROWS, N, R, ROW, I, END, TAIL, FULL, ROW_BYTES] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const [MASK, X, G, ACC_LO, ACC_HI, S, D, K, RR, E, KR] = [
  9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
];
const locals: FunctionSpec['locals'] = [
  [ROW_BYTES - R + 1, I32],
  [KR - MASK + 1, V128],
];

const f32x4 = (value: number): Bytes =>
  op.v128Const([...new Uint8Array(new Float32Array(4).fill(value).buffer)]);
const f64x2One = op.v128Const([...new Uint8Array(new Float64Array([1, 1]).buffer)]);
const i32x4 = (value: number): Bytes =>
  op.v128Const([...new Uint8Array(new Int32Array(4).fill(value).buffer)]);
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
/** i8x16.shuffle of the vector in `local` with itself, picking its 32-bit lanes `lanes`. */
const shuffle = (local: number, lanes: number[]): Bytes[] => [
  op.localGet(local),
  op.localGet(local),
  op.i8x16Shuffle(lanes.flatMap((lane) => range(4 * lane, 4))),
];

/** The vector at I in the region at `at`; a masked step takes `outside` past the row. */
const load = (at: number, masked: boolean, outside: Bytes[]): Bytes[] =>
  masked
    ? [op.localGet(I), op.v128Load(at), ...outside, op.localGet(MASK), op.v128Bitselect]
    : [op.localGet(I), op.v128Load(at)];
const loadInto = (at: number, local: number, masked: boolean, outside: Bytes[]): Bytes[] => [
  ...load(at, masked, outside),
  op.localSet(local),
];

/** The row's full vectors with step(false), then its last partial one with step(true). */
const pass = (step: (masked: boolean) => Bytes[]): Bytes[] => [
  ...[op.localGet(ROW), op.localSet(I), op.block, op.loop],
  ...[op.localGet(I), op.localGet(END), op.i32LtU, op.i32Eqz, op.brIf(1)],
  ...step(false),
  ...advance(I, 16),
  ...[op.br(0), op.end, op.end],
  ...[op.localGet(TAIL), op.if, ...step(true), op.end],
];

/** For each row: END set, `body`, ROW advanced. */
const eachRow = (body: Bytes[]): Bytes[] =>
  forLoop(R, ROWS, 1, [
    ...[op.localGet(ROW), op.localGet(FULL), op.i32Add, op.localSet(END)],
    ...body,
    ...[op.localGet(ROW), op.localGet(ROW_BYTES), op.i32Add, op.localSet(ROW)],
  ]);

/** TAIL, FULL, ROW_BYTES and MASK from n; ROW = 0. */
const prologue: Bytes[] = [
  ...[op.localGet(N), op.i32Const(3), op.i32And, op.localSet(TAIL)],
  ...[op.localGet(N), op.i32Const(-4), op.i32And, op.i32Const(4), op.i32Mul, op.localSet(FULL)],
  ...[op.localGet(N), op.i32Const(4), op.i32Mul, op.localSet(ROW_BYTES)],
  ...[op.localGet(TAIL), op.i32Const(16), op.i32Mul, op.v128Load(MASKS_AT), op.localSet(MASK)],
  ...[op.i32Const(0), op.localSet(ROW)],
];

/**
 * S = the row's max in every lane (from A): Math.max's but for the sign of a zero max, which no
 * result shows (x − (±0) differ only at x = −0, whose exp32 is 1 either way; ln S ± 0 likewise).
 * The lanes' running max is pmax (one instruction; f32x4.max's NaN and ±0 rules cost V8 eight in
 * the loop's chain of dependencies), a NaN noted in G apart.
 */
const rowMax: Bytes[] = [
  ...[f32x4(-Infinity), op.localSet(S), op.v128Zero, op.localSet(G)],
  ...pass((masked) => [
    ...loadInto(A_AT, X, masked, [f32x4(-Infinity)]),
    ...[op.localGet(S), op.localGet(X), op.f32x4Pmax, op.localSet(S)],
    ...[op.localGet(G), op.localGet(X), op.localGet(X), op.f32x4Ne, op.v128Or, op.localSet(G)],
  ]),
  ...[...shuffle(S, [2, 3, 0, 1]), op.localGet(S), op.f32x4Max, op.localSet(S)],
  ...[...shuffle(S, [1, 0, 3, 2]), op.localGet(S), op.f32x4Max, op.localSet(S)],
  ...[op.localGet(G), op.v128AnyTrue, op.if, f32x4(NaN), op.localSet(S), op.end],
];

/**
 * e^D (exp32, lane by lane), left on the stack; +∞ above EXP32_HIGH only `high` (the forward's
 * D = x − max is never above 0). 2^k's bits come from KR = d/ln2 + 1.5·2^23, a float in
 * [2^23, 2^24) whose low bits are k's two's complement: KR's bits << 23 are k << 23.
 */
const exp32OfD = (high: boolean): Bytes[] => [
  ...[op.localGet(D), f32x4(INV_LN2_32), op.f32x4Mul, f32x4(ROUND_32), op.f32x4Add],
  ...[op.localTee(KR), f32x4(ROUND_32), op.f32x4Sub, op.localSet(K)], // k = nearest(d / ln2)
  ...[op.localGet(D), op.localGet(K), f32x4(C1), op.f32x4Mul, op.f32x4Sub],
  ...[op.localGet(K), f32x4(C2), op.f32x4Mul, op.f32x4Sub, op.localSet(RR)], // r
  f32x4(P[0]),
  ...P.slice(1).flatMap((c) => [op.localGet(RR), op.f32x4Mul, f32x4(c), op.f32x4Add]), // P(r)
  ...[op.localGet(RR), op.localGet(RR), op.f32x4Mul, op.f32x4Mul, op.localGet(RR), op.f32x4Add],
  ...[f32x4(1), op.f32x4Add], // (P·r² + r) + 1
  ...[op.localGet(KR), op.i32Const(23), op.i32x4Shl, i32x4(0x3f800000), op.i32x4Add],
  op.f32x4Mul, // · 2^k (k + 127 in the exponent bits)
  ...[op.localGet(D), f32x4(EXP32_LOW), op.f32x4Lt, op.v128AndNot], // 0 below
  ...(high
    ? [op.localSet(E), f32x4(Infinity), op.localGet(E), op.localGet(D), f32x4(EXP32_HIGH)]
    : []),
  ...(high ? [op.f32x4Gt, op.v128Bitselect] : []), // +∞ above
];

/** ACC_LO, ACC_HI += the vector in `local` as doubles (lanes 0, 1 and 2, 3). */
const accumulate = (local: number): Bytes[] => [
  ...[op.localGet(ACC_LO), op.localGet(local), op.f64x2PromoteLowF32x4, op.f64x2Add],
  op.localSet(ACC_LO),
  ...[op.localGet(ACC_HI), ...shuffle(local, [2, 3, 2, 3]), op.f64x2PromoteLowF32x4, op.f64x2Add],
  op.localSet(ACC_HI),
];
/** ACC_LO, ACC_HI += X·G (lanes 0, 1 and 2, 3), the products exact in doubles. */
const accumulateProducts: Bytes[] = [ACC_LO, ACC_HI].flatMap((acc) => {
  const lanes = (local: number) =>
    acc === ACC_LO ? [op.localGet(local)] : shuffle(local, [2, 3, 2, 3]);
  return [
    ...[op.localGet(acc), ...lanes(X), op.f64x2PromoteLowF32x4],
    ...[...lanes(G), op.f64x2PromoteLowF32x4, op.f64x2Mul, op.f64x2Add, op.localSet(acc)],
  ];
});
const clearSums: Bytes[] = [op.v128Zero, op.localSet(ACC_LO), op.v128Zero, op.localSet(ACC_HI)];
/** The sum (s0 + s2) + (s1 + s3) in both lanes of S. */
const total: Bytes[] = [
  ...[op.localGet(ACC_LO), op.localGet(ACC_HI), op.f64x2Add, op.localSet(S)],
  ...[...shuffle(S, [2, 3, 0, 1]), op.localGet(S), op.f64x2Add, op.localSet(S)],
];
/** S = f32(the double in S's lanes) in every lane. */
const narrowS: Bytes[] = [
  ...[op.localGet(S), op.f32x4DemoteF64x2Zero, op.localSet(S)],
  ...[...shuffle(S, [0, 0, 0, 0]), op.localSet(S)],
];
/** D = x − max (S); the masked lanes' D is −∞ (exp 0). */
const shiftedX = (masked: boolean): Bytes[] => [
  ...loadInto(A_AT, X, masked, [f32x4(-Infinity)]),
  ...[op.localGet(X), op.localGet(S), op.f32x4Sub, op.localSet(D)],
];
const store = (value: Bytes[]): Bytes[] => [op.localGet(I), ...value, op.v128Store(O_AT)];

/** softmax(rows, n): O = softmax of A's rows. */
const softmaxBody: Bytes[] = [
  ...prologue,
  ...eachRow([
    ...rowMax,
    ...[op.localGet(S), f32x4(-Infinity), op.f32x4Eq, op.v128AnyTrue, op.if],
    ...pass(() => store([op.v128Zero])), // fully masked: zeros
    op.else, // not fully masked
    ...clearSums,
    ...pass((masked) => [
      ...shiftedX(masked),
      ...[...exp32OfD(false), op.localSet(E), ...store([op.localGet(E)]), ...accumulate(E)],
    ]),
    ...total,
    ...[f64x2One, op.localGet(S), op.f64x2Div, op.localSet(S), ...narrowS], // f32(1 / S)
    ...pass(() => store([op.localGet(I), op.v128Load(O_AT), op.localGet(S), op.f32x4Mul])),
    op.end,
  ]),
];

/** logSums(rows, n): MAXES[r] = the row's max, SUMS[r] = Σ exp32(x − max) (unset if max = −∞). */
const logSumsBody: Bytes[] = [
  ...prologue,
  ...eachRow([
    ...rowMax,
    ...[op.localGet(R), op.i32Const(4), op.i32Mul, op.localGet(S), op.f32x4ExtractLane(0)],
    op.f32Store(MAXES_AT),
    ...[op.localGet(S), f32x4(-Infinity), op.f32x4Eq, op.v128AnyTrue, op.i32Eqz, op.if],
    ...clearSums,
    ...pass((masked) => [
      ...shiftedX(masked),
      ...exp32OfD(false),
      op.localSet(E),
      ...accumulate(E),
    ]),
    ...total,
    ...[op.localGet(R), op.i32Const(8), op.i32Mul, op.localGet(S), op.v128Store64Lane(SUMS_AT, 0)],
    op.end,
  ]),
];

/** logShift(rows, n): O = A − MAXES[r] (by now f32(ln S + max)). */
const logShiftBody: Bytes[] = [
  ...prologue,
  ...eachRow([
    ...[op.localGet(R), op.i32Const(4), op.i32Mul, op.v128Load32Splat(MAXES_AT), op.localSet(S)],
    ...pass(() => store([op.localGet(I), op.v128Load(A_AT), op.localGet(S), op.f32x4Sub])),
  ]),
];

/** softmaxBackward(rows, n): O = y ⊙ (dy − f32(Σ dy·y)), y in A, dy in B. */
const softmaxBackwardBody: Bytes[] = [
  ...prologue,
  ...eachRow([
    ...clearSums,
    ...pass((masked) => [
      ...loadInto(A_AT, X, masked, [op.v128Zero]),
      ...loadInto(B_AT, G, masked, [op.v128Zero]),
      ...accumulateProducts,
    ]),
    ...total,
    ...narrowS,
    ...pass(() =>
      store([
        ...[op.localGet(I), op.v128Load(A_AT), op.localGet(I), op.v128Load(B_AT)],
        ...[op.localGet(S), op.f32x4Sub, op.f32x4Mul],
      ]),
    ),
  ]),
];

/** logSoftmaxBackward(rows, n): O = dy − exp32(y) · f32(Σ dy), y in A, dy in B. */
const logSoftmaxBackwardBody: Bytes[] = [
  ...prologue,
  ...eachRow([
    ...clearSums,
    ...pass((masked) => [...loadInto(B_AT, G, masked, [op.v128Zero]), ...accumulate(G)]),
    ...total,
    ...narrowS,
    ...pass(() => [
      ...[op.localGet(I), op.v128Load(A_AT), op.localSet(D)],
      ...store([
        op.localGet(I),
        op.v128Load(B_AT),
        ...exp32OfD(true),
        op.localGet(S),
        op.f32x4Mul,
        op.f32x4Sub,
      ]),
    ]),
  ]),
];

const NAMES = ['softmax', 'logSums', 'logShift', 'softmaxBackward', 'logSoftmaxBackward'] as const;
type Name = (typeof NAMES)[number];
const BODIES: Record<Name, Bytes[]> = {
  softmax: softmaxBody,
  logSums: logSumsBody,
  logShift: logShiftBody,
  softmaxBackward: softmaxBackwardBody,
  logSoftmaxBackward: logSoftmaxBackwardBody,
};

type Run = (rows: number, n: number) => void;

/** An instance of the module as a RowSoftmax, or null where WebAssembly SIMD is missing. */
function instantiate(): RowSoftmax | null {
  const fns = NAMES.map((name) => ({ name, params: [I32, I32], locals, body: BODIES[name] }));
  const bytes = moduleBytes(fns, PAGES);
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const run = Object.fromEntries(NAMES.map((name) => [name, exports[name] as Run])) as Record<
    Name,
    Run
  >;
  const buffer = (exports.memory as WebAssembly.Memory).buffer;
  const [a, b, o] = [A_AT, B_AT, O_AT].map((at) => new Float32Array(buffer, at, MAX_ROW));
  const maxes = new Float32Array(buffer, MAXES_AT, CALL),
    sums = new Float64Array(buffer, SUMS_AT, CALL);
  // mask t: lanes below t all ones (the rows' last vectors when n mod 4 = t)
  new Int32Array(buffer, MASKS_AT, 16).set([0, 0, 0, 0, -1, 0, 0, 0, -1, -1, 0, 0, -1, -1, -1, 0]);

  /** `call(k)` on runs of k whole rows, their floats staged from `inputs` into `staged`. */
  const inCalls = (
    rows: number,
    n: number,
    inputs: Float32Array[],
    staged: Float32Array[],
    out: Float32Array,
    call: (k: number) => void,
  ) => {
    const step = Math.max(1, Math.floor(CALL / n));
    for (let r = 0; r < rows; r += step) {
      const k = Math.min(step, rows - r),
        lo = r * n,
        hi = lo + k * n;
      inputs.forEach((x, i) => staged[i].set(x.subarray(lo, hi)));
      call(k);
      out.set(o.subarray(0, hi - lo), lo);
    }
  };
  return {
    forward: (x, out, rows, n, log) => {
      if (n > MAX_ROW || n === 0) return tsRowSoftmax.forward(x, out, rows, n, log);
      inCalls(rows, n, [x], [a], out, (k) => {
        if (!log) return run.softmax(k, n);
        run.logSums(k, n);
        for (let r = 0; r < k; r++) {
          const max = maxes[r];
          maxes[r] = max === -Infinity ? Infinity : Math.fround(Math.log(sums[r]) + max);
        }
        run.logShift(k, n);
      });
    },
    backward: (y, dy, dx, rows, n, log) => {
      if (n > MAX_ROW || n === 0) return tsRowSoftmax.backward(y, dy, dx, rows, n, log);
      const kernel = log ? run.logSoftmaxBackward : run.softmaxBackward;
      inCalls(rows, n, [y, dy], [a, b], dx, (k) => kernel(k, n));
    },
  };
}

// One instance per thread (a worker builds its own); null: no WebAssembly SIMD here.
let instance: RowSoftmax | null | undefined;

/** The SIMD RowSoftmax, or null where WebAssembly SIMD is missing. */
export const wasmRowSoftmax = (): RowSoftmax | null =>
  instance !== undefined ? instance : (instance = instantiate());

let fast: SoftmaxExps | undefined;

/** The fastest exps this runtime has (WebAssembly's, else the TypeScript ones: the same bits). */
export const fastSoftmaxExps = (): SoftmaxExps =>
  (fast ??= { rows: wasmRowSoftmax() ?? tsRowSoftmax, rowExp: fastRowExp() });
