// Just enough of the WebAssembly binary format to write a module of exported functions and one
// exported memory: the instructions the matmul kernel (matmul-kernel.ts), the exp kernel
// (exp-kernel.ts) and the elementwise kernels (elementwise-kernel.ts) use, and the module around
// them. Spec:
// https://webassembly.github.io/spec/core/binary/ (sections 5.1–5.5; the SIMD opcodes are the
// 0xFD-prefixed ones). Read next: matmul-kernel.ts.

export type Bytes = number[];

/** Unsigned LEB128: 7 bits a byte, low bits first, the top bit set on every byte but the last. */
export function uleb(n: number): Bytes {
  const bytes: Bytes = [];
  do {
    const low = n & 0x7f;
    n >>>= 7;
    bytes.push(n ? low | 0x80 : low);
  } while (n);
  return bytes;
}

/** Signed LEB128: as uleb, stopping once the rest is all sign bits (bit 6 of the last byte). */
export function sleb(n: number): Bytes {
  const bytes: Bytes = [];
  for (;;) {
    const low = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(low & 0x40)) || (n === -1 && low & 0x40)) return [...bytes, low];
    bytes.push(low | 0x80);
  }
}

const vector = (items: Bytes[]): Bytes => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: Bytes): Bytes => [id, ...uleb(body.length), ...body];
const name = (text: string): Bytes =>
  vector([...new TextEncoder().encode(text)].map((byte) => [byte]));

export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;

// A memory access names its alignment (log2 of bytes) and a constant offset added to the address.
const memarg = (alignLog2: number, offset: number): Bytes => [...uleb(alignLog2), ...uleb(offset)];
const simd = (opcode: number, ...immediates: Bytes): Bytes => [
  0xfd,
  ...uleb(opcode),
  ...immediates,
];

/** The instructions used, by their text-format names. */
export const op = {
  localGet: (i: number): Bytes => [0x20, ...uleb(i)],
  localSet: (i: number): Bytes => [0x21, ...uleb(i)],
  localTee: (i: number): Bytes => [0x22, ...uleb(i)],
  i32Const: (n: number): Bytes => [0x41, ...sleb(n)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32LtU: [0x49],
  i32Eqz: [0x45],
  i32And: [0x71],
  i32Eq: [0x46],
  f64Add: [0xa0],
  f64Sub: [0xa1],
  f64Mul: [0xa2],
  f64Div: [0xa3],
  f64Sqrt: [0x9f],
  f64ConvertI32U: [0xb8],
  f64Const: (value: number): Bytes => [0x44, ...new Uint8Array(new Float64Array([value]).buffer)],
  if: [0x04, 0x40], // … end: runs when the i32 popped is not 0
  block: [0x02, 0x40], // 0x40: the block leaves nothing on the stack
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number): Bytes => [0x0c, ...uleb(depth)],
  brIf: (depth: number): Bytes => [0x0d, ...uleb(depth)],
  f32Load: (offset: number): Bytes => [0x2a, ...memarg(2, offset)],
  f32Store: (offset: number): Bytes => [0x38, ...memarg(2, offset)],
  f64Load: (offset: number): Bytes => [0x2b, ...memarg(3, offset)],
  f64Store: (offset: number): Bytes => [0x39, ...memarg(3, offset)],
  f64PromoteF32: [0xbb],
  f32Max: [0x97],
  v128Load: (offset: number): Bytes => simd(0x00, ...memarg(4, offset)),
  v128Store: (offset: number): Bytes => simd(0x0b, ...memarg(4, offset)),
  // one float32 in all four lanes; one double in both lanes
  v128Load32Splat: (offset: number): Bytes => simd(0x09, ...memarg(2, offset)),
  v128Load64Splat: (offset: number): Bytes => simd(0x0a, ...memarg(3, offset)),
  v128Zero: simd(0x0c, ...new Array<number>(16).fill(0)), // v128.const of 16 zero bytes
  v128Const: (bytes: Bytes): Bytes => simd(0x0c, ...bytes), // 16 bytes, lane 0 first
  // one double into lane 0 (lane 1 zero); lane 0 stored alone
  v128Load64Zero: (offset: number): Bytes => simd(0x5d, ...memarg(3, offset)),
  v128Load32Zero: (offset: number): Bytes => simd(0x5c, ...memarg(2, offset)), // one float32
  v128Store64Lane: (offset: number, lane: number): Bytes => simd(0x5b, ...memarg(3, offset), lane),
  // lanes of two vectors picked by 16 byte indices (0–15: the first vector's, 16–31: the second's)
  i8x16Shuffle: (lanes: Bytes): Bytes => simd(0x0d, ...lanes),
  v128And: simd(0x4e),
  v128AndNot: simd(0x4f), // a & ~b
  v128Bitselect: simd(0x52), // (a & c) | (b & ~c)
  f64x2Splat: simd(0x14),
  f64x2ExtractLane: (lane: number): Bytes => simd(0x21, lane),
  f64x2Lt: simd(0x49),
  f64x2Gt: simd(0x4a),
  f64x2Sub: simd(0xf1),
  i32x4TruncSatF64x2SZero: simd(0xfc), // lanes 0, 1 = the doubles truncated; 2, 3 = 0
  i64x2ExtendLowI32x4S: simd(0xc7),
  i64x2Shl: simd(0xcb), // by an i32
  i64x2Add: simd(0xce),
  f32x4Ne: simd(0x42),
  f32x4Gt: simd(0x44),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  f32x4Div: simd(0xe7),
  f32x4Min: simd(0xe8),
  f32x4Max: simd(0xe9),
  f64x2PromoteLowF32x4: simd(0x5f), // lanes 0, 1 (float32) → two doubles
  f32x4DemoteF64x2Zero: simd(0x5e), // two doubles → float32 lanes 0, 1 (2, 3 zero)
  f32x4ExtractLane: (lane: number): Bytes => simd(0x1f, lane),
  f64x2Add: simd(0xf0),
  f64x2Mul: simd(0xf2),
  // the float32 softmax kernel's (softmax-kernel.ts)
  else: [0x05], // if … else … end
  f32x4Eq: simd(0x41),
  f32x4Lt: simd(0x43),
  v128AnyTrue: simd(0x53), // i32: 1 when any bit is set
  i32x4Shl: simd(0xab), // by an i32
  i32x4Add: simd(0xae),
  f64x2Div: simd(0xf3),
  f64x2Sqrt: simd(0xef),
  f32x4Pmax: simd(0xeb), // b if a < b, else a: one maxps, but neither NaN nor ±0 rules
  v128Or: simd(0x50),
};

export interface FunctionSpec {
  name: string;
  params: number[]; // value types
  results?: number[]; // value types returned; none when absent
  locals: Array<[count: number, type: number]>; // numbered after the params
  body: Bytes[];
}

const types = (list: number[]): Bytes => vector(list.map((t) => [t]));

/**
 * for (local = 0; local < limit; local += step) { body }, `limit` a local: a block around a loop.
 */
export function forLoop(local: number, limit: number, step: number, body: Bytes[]): Bytes[] {
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
    ...advance(local, step),
    op.br(0),
    op.end,
    op.end,
  ];
}

/** local += n (a constant). */
export const advance = (local: number, n: number): Bytes[] => [
  op.localGet(local),
  op.i32Const(n),
  op.i32Add,
  op.localSet(local),
];

/**
 * A module exporting each function of `fns` (function i has type i) and a memory of `pages` ×
 * 64 KiB, which JavaScript may grow to `maxPages` (by default it never grows).
 */
export function moduleBytes(
  fns: FunctionSpec | FunctionSpec[],
  pages: number,
  maxPages = pages,
): Uint8Array<ArrayBuffer> {
  const list = Array.isArray(fns) ? fns : [fns];
  const code = (fn: FunctionSpec) => {
    const body = [
      ...vector(fn.locals.map(([count, type]) => [...uleb(count), type])),
      ...fn.body.flat(),
      ...op.end,
    ];
    return [...uleb(body.length), ...body];
  };
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(
      1,
      vector(list.map((fn) => [0x60, ...types(fn.params), ...types(fn.results ?? [])])),
    ), // the types
    ...section(3, vector(list.map((_, i) => uleb(i)))), // function i has type i
    ...section(5, vector([[0x01, ...uleb(pages), ...uleb(maxPages)]])), // memory 0: min, max
    ...section(
      7,
      vector([
        ...list.map((fn, i) => [...name(fn.name), 0x00, ...uleb(i)]),
        [...name('memory'), 0x02, 0],
      ]),
    ), // exports
    ...section(10, vector(list.map(code))), // the bodies
  ]);
}
