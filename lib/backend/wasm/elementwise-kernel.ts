// Float32 elementwise kernels in WebAssembly SIMD (f32x4) for the threaded backend: binary
// arithmetic where b is the same shape, one number or a row repeated (a bias, a mask), a Linear's
// epilogue (bias + relu), relu and its gradient, and column sums in doubles (a bias's gradient).
// Each gives the TypeScript kernel's bits (../cpu/elementwise.ts, epilogue.ts, reduce.ts):
//   - + − × ÷ of two float32s rounded to float32 are JavaScript's double op rounded on the store
//     (a double's 53 bits are enough that the second rounding never differs: 53 ≥ 2·24 + 2);
//   - min and max return one operand, NaN winning and −0 below +0, as Math.min and Math.max do;
//   - relu is v·[v > 0] (so −0 for negatives) with −∞'s NaN mended to +0, as elementwise.ts has it;
//     relu's gradient dy·[x > 0];
//   - column sums add each column's rows in row order, in doubles, as reduce.ts does.
// The operands live in JavaScript typed arrays, so they pass through the module's memory in
// chunks of CHUNK floats, copied in and out with TypedArray.set (a memcpy): on 2^17–2^21 floats
// ~1.7–3× the speed of the JavaScript loops. Read next: encode.ts (the bytes), ../threads.ts
// (where the threaded backend uses them).

import { allocate, type TypedArray } from '../../dtype.ts';
import { sizeOf, type Shape } from '../../shape.ts';
import type { Activation, BinaryOp, Kernel } from '../backend.ts';
import { binary } from '../cpu/elementwise.ts';
import { biasActivation, reluBackward } from '../cpu/epilogue.ts';
import { reduceWith } from '../cpu/reduce.ts';
import { I32, V128, moduleBytes, op, type Bytes } from './encode.ts';

const PAGES = 4; // of 64 KiB: A, B and O (CHUNK floats each), then ACC (CHUNK / 2 doubles)
export const CHUNK = 16384;
const [A_AT, B_AT, O_AT, ACC_AT] = [0, 1, 2, 3].map((region) => region * 4 * CHUNK);

/** The operations of `run`, by code. */
const OPS = [
  'add',
  'sub',
  'mul',
  'div',
  'maximum',
  'minimum',
  'relu',
  'addRelu',
  'reluGrad',
] as const;
type SimdOp = (typeof OPS)[number];

// run's locals: the parameters (op, rows, rowVectors), then A and O's byte index, B's, the row's
// end
const [OP, ROWS, ROW_VECTORS, I, J, ROW_END] = [0, 1, 2, 3, 4, 5];
const [X, Y, R] = [6, 7, 8]; // v128

const splat32 = (value: number): Bytes =>
  op.v128Const([...new Uint8Array(new Float32Array([value, value, value, value]).buffer)]);

/** [v > 0] as 1 or 0 in each lane, v being the vector on the stack. */
const positive = (): Bytes[] => [op.v128Zero, op.f32x4Gt, splat32(1), op.v128And];

/**
 * relu of the vector on the stack, as elementwise.ts: r = v·[v > 0], and +0 where r is NaN but v
 * is not.
 */
const relu = (): Bytes[] => [
  ...[op.localTee(X), op.localGet(X), ...positive(), op.f32x4Mul],
  ...[op.localTee(R), op.localGet(R), op.localGet(R), op.f32x4Ne], // r is NaN
  ...[op.localGet(X), op.localGet(X), op.f32x4Ne, op.v128AndNot, op.v128AndNot], // …and v is not
];

/** What each operation leaves on the stack from X (a's vector) and Y (b's). */
const bodies: Record<SimdOp, Bytes[]> = {
  add: [op.localGet(X), op.localGet(Y), op.f32x4Add],
  sub: [op.localGet(X), op.localGet(Y), op.f32x4Sub],
  mul: [op.localGet(X), op.localGet(Y), op.f32x4Mul],
  div: [op.localGet(X), op.localGet(Y), op.f32x4Div],
  maximum: [op.localGet(X), op.localGet(Y), op.f32x4Max],
  minimum: [op.localGet(X), op.localGet(Y), op.f32x4Min],
  relu: [op.localGet(X), ...relu()],
  addRelu: [op.localGet(X), op.localGet(Y), op.f32x4Add, ...relu()],
  reluGrad: [op.localGet(X), op.localGet(Y), ...positive(), op.f32x4Mul], // dy · [x > 0]
};

/**
 * run(op, rows, rowVectors): O = A op B over rows·rowVectors vectors of 4, B's first rowVectors
 * vectors read again for every row (B is one row: the same shape in one row, or a bias).
 */
function runBody(): Bytes[] {
  const loops = (body: Bytes[]): Bytes[] => [
    ...[op.i32Const(0), op.localSet(I), op.block, op.loop],
    ...[op.localGet(ROWS), op.i32Eqz, op.brIf(1)],
    ...[op.localGet(ROWS), op.i32Const(-1), op.i32Add, op.localSet(ROWS)],
    ...[op.localGet(I), op.localGet(ROW_VECTORS), op.i32Const(16), op.i32Mul, op.i32Add],
    ...[op.localSet(ROW_END), op.i32Const(0), op.localSet(J), op.block, op.loop],
    ...[op.localGet(I), op.localGet(ROW_END), op.i32LtU, op.i32Eqz, op.brIf(1)],
    ...[op.localGet(I), op.localGet(I), op.v128Load(A_AT), op.localSet(X)],
    ...[op.localGet(J), op.v128Load(B_AT), op.localSet(Y), ...body, op.v128Store(O_AT)],
    ...[op.localGet(I), op.i32Const(16), op.i32Add, op.localSet(I)],
    ...[op.localGet(J), op.i32Const(16), op.i32Add, op.localSet(J), op.br(0)],
    ...[op.end, op.end, op.br(0), op.end, op.end],
  ];
  return OPS.flatMap((name, code) => [
    ...[op.localGet(OP), op.i32Const(code), op.i32Eq, op.if],
    ...loops(bodies[name]),
    op.end,
  ]);
}

// columnSums's locals: (rows, rowVectors), then A's byte index, ACC's, the row's end in ACC
const [C_ROWS, C_ROW_VECTORS, C_I, C_P, C_END] = [0, 1, 2, 3, 4];

/** ACC[p] += the two floats at A[i + offset] as doubles. */
const addPair = (offset: number): Bytes[] => [
  ...[op.localGet(C_P), op.localGet(C_P), op.v128Load(ACC_AT + 2 * offset)],
  ...[op.localGet(C_I), op.v128Load64Zero(A_AT + offset), op.f64x2PromoteLowF32x4],
  ...[op.f64x2Add, op.v128Store(ACC_AT + 2 * offset)],
];

/** columnSums(rows, rowVectors): ACC[j] += A[r·4·rowVectors + j] for every row r, in order. */
function columnSumsBody(): Bytes[] {
  return [
    ...[op.localGet(C_ROW_VECTORS), op.i32Const(32), op.i32Mul, op.localSet(C_END)],
    ...[op.block, op.loop, op.localGet(C_ROWS), op.i32Eqz, op.brIf(1)],
    ...[op.localGet(C_ROWS), op.i32Const(-1), op.i32Add, op.localSet(C_ROWS)],
    ...[op.i32Const(0), op.localSet(C_P), op.block, op.loop],
    ...[op.localGet(C_P), op.localGet(C_END), op.i32LtU, op.i32Eqz, op.brIf(1)],
    ...addPair(0),
    ...addPair(8),
    ...[op.localGet(C_I), op.i32Const(16), op.i32Add, op.localSet(C_I)],
    ...[op.localGet(C_P), op.i32Const(32), op.i32Add, op.localSet(C_P), op.br(0)],
    ...[op.end, op.end, op.br(0), op.end, op.end],
  ];
}

interface Module {
  run: (code: number, rows: number, rowVectors: number) => void;
  columnSums: (rows: number, rowVectors: number) => void;
  a: Float32Array;
  b: Float32Array;
  o: Float32Array;
  acc: Float64Array;
}

function instantiate(): Module | null {
  const bytes = moduleBytes(
    [
      {
        name: 'run',
        params: [I32, I32, I32],
        locals: [
          [3, I32],
          [3, V128],
        ],
        body: runBody(),
      },
      {
        name: 'columnSums',
        params: [I32, I32],
        locals: [[3, I32]],
        body: columnSumsBody(),
      },
    ],
    PAGES,
  );
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const buffer = (exports.memory as WebAssembly.Memory).buffer;
  return {
    run: exports.run as Module['run'],
    columnSums: exports.columnSums as Module['columnSums'],
    a: new Float32Array(buffer, A_AT, CHUNK),
    b: new Float32Array(buffer, B_AT, CHUNK),
    o: new Float32Array(buffer, O_AT, CHUNK),
    acc: new Float64Array(buffer, ACC_AT, CHUNK / 2),
  };
}

let instance: Module | null | undefined;
const simd = (): Module | null => (instance !== undefined ? instance : (instance = instantiate()));

// Below this many floats the JavaScript loop wins (the copies and the call cost ~1 µs).
const MIN_LENGTH = 256;

/**
 * out = a op b in chunks, b being an array of a's length, one number, or a row of floats (a
 * multiple of 4, at most CHUNK) read again for every row of a. out may be a.
 */
function runChunks(
  m: Module,
  name: SimdOp,
  a: Float32Array,
  b: Float32Array | number,
  out: Float32Array,
): Float32Array {
  const code = OPS.indexOf(name);
  const row = typeof b !== 'number' && b.length !== a.length ? b.length : 0; // 0: no rows
  if (typeof b === 'number') m.b.fill(b);
  else if (row) m.b.set(b);
  const step = row ? Math.floor(CHUNK / row) * row : CHUNK;
  for (let lo = 0; lo < a.length; lo += step) {
    const hi = Math.min(a.length, lo + step),
      n = hi - lo;
    m.a.set(a.subarray(lo, hi));
    if (typeof b !== 'number' && !row) m.b.set(b.subarray(lo, hi));
    if (row) m.run(code, n / row, row / 4);
    else m.run(code, 1, Math.ceil(n / 4)); // the lanes past n are computed, never read
    out.set(n === CHUNK ? m.o : m.o.subarray(0, n), lo);
  }
  return out;
}

const isF32 = (x: TypedArray): x is Float32Array => x instanceof Float32Array;
const COMMUTES: ReadonlySet<BinaryOp> = new Set(['add', 'mul', 'maximum', 'minimum']);
const BINARY: ReadonlySet<string> = new Set(['sub', 'div', ...COMMUTES]);

/**
 * binary (../cpu/elementwise.ts) on float32, where b has the output's shape, is one
 * number, or is its trailing dims (a row of at most CHUNK floats, a multiple of 4); a broadcast a
 * is swapped with b when op commutes. null where SIMD does not apply: the caller runs the
 * TypeScript kernel.
 */
export function simdBinary(
  name: BinaryOp,
  a: TypedArray,
  aShape: Shape,
  b: TypedArray,
  bShape: Shape,
  outShape: Shape,
): TypedArray | null {
  const m = simd(),
    size = sizeOf(outShape);
  if (!m || !isF32(a) || !isF32(b) || !BINARY.has(name) || size < MIN_LENGTH) return null;
  if (a.length !== size) {
    if (!COMMUTES.has(name) || b.length !== size) return null;
    [a, b, aShape, bShape] = [b, a, bShape, aShape];
  }
  // equal lengths under broadcasting are equal shapes; else b must be a row of a
  const row = b.length !== size && b.length !== 1;
  if (row && (!isTrailing(bShape, aShape) || b.length % 4 !== 0 || b.length > CHUNK)) return null;
  return runChunks(
    m,
    name as SimdOp,
    a,
    b.length === 1 ? b[0] : b,
    allocate('float32', size) as Float32Array,
  );
}

/** Is `shape`, left-padded with 1s to `full`'s rank, 1s and then `full`'s trailing dims? */
function isTrailing(shape: Shape, full: Shape): boolean {
  if (shape.length > full.length) return false;
  const dims = [...new Array<number>(full.length - shape.length).fill(1), ...shape];
  let k = full.length;
  while (k > 0 && dims[k - 1] === full[k - 1]) k--;
  return dims.slice(0, k).every((d) => d === 1);
}

/** biasActivation (../cpu/epilogue.ts) in place on float32; null where SIMD does not apply. */
export function simdBiasActivation(
  y: TypedArray,
  bias: TypedArray | null,
  activation: Activation,
): TypedArray | null {
  const m = simd();
  if (!m || !isF32(y) || y.length < MIN_LENGTH || (bias && !isF32(bias))) return null;
  if (!bias) return activation === 'relu' ? runChunks(m, 'relu', y, 0, y) : y;
  if (bias.length % 4 !== 0 || bias.length > CHUNK) return null;
  return runChunks(m, activation === 'relu' ? 'addRelu' : 'add', y, bias, y);
}

/** reluBackward (../cpu/epilogue.ts), dy · [x > 0], on float32; null where SIMD does not apply. */
export function simdReluBackward(dy: TypedArray, x: TypedArray): TypedArray | null {
  const m = simd();
  if (!m || !isF32(dy) || !isF32(x) || dy.length < MIN_LENGTH) return null;
  return runChunks(m, 'reluGrad', dy, x, allocate('float32', dy.length) as Float32Array);
}

/**
 * Σ over n rows of `inner` float32s of x from `at`, each column summed in row order in doubles
 * (as reduce.ts sums), written into `acc`; false where SIMD does not apply (inner not a
 * multiple of 4 or above CHUNK / 2).
 */
export function simdColumnSums(
  x: TypedArray,
  at: number,
  n: number,
  inner: number,
  acc: Float64Array,
): boolean {
  const m = simd();
  if (!m || !isF32(x) || inner % 4 !== 0 || inner > CHUNK / 2 || n * inner < MIN_LENGTH)
    return false;
  const sums = m.acc.subarray(0, inner).fill(0);
  const rowsAChunk = Math.floor(CHUNK / inner);
  for (let r = 0; r < n; r += rowsAChunk) {
    const rows = Math.min(rowsAChunk, n - r);
    m.a.set(x.subarray(at + r * inner, at + (r + rows) * inner));
    m.columnSums(rows, inner / 4);
  }
  acc.set(sums);
  return true;
}

// The threaded backend's kernels: SIMD where it applies, else the TypeScript kernel (same bits).
export const fastBinary: Kernel<'binary'> = (name, a, aShape, b, bShape, outShape) =>
  simdBinary(name, a, aShape, b, bShape, outShape) ?? binary(name, a, aShape, b, bShape, outShape);
export const fastBiasActivation: Kernel<'biasActivation'> = (y, bias, activation) =>
  simdBiasActivation(y, bias, activation) ?? biasActivation(y, bias, activation);
export const fastReluBackward: Kernel<'reluBackward'> = (dy, x) =>
  simdReluBackward(dy, x) ?? reluBackward(dy, x);
export const fastReduce: Kernel<'reduce'> = reduceWith(simdColumnSums);
