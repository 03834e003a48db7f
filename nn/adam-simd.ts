// Adam's update (optim.ts) in WebAssembly SIMD, two parameters a vector (f64x2): the JavaScript
// loop's double operations in its order, on float32 parameters and gradients widened exactly to
// doubles, so the moments and the parameters come out with the loop's bits (the store rounds to
// float32 as a Float32Array store does). Operands pass through the module's memory CHUNK at a time
// (TypedArray.set, a memcpy). ~3× the loop on the reference train step's 421k parameters.
// Read next: optim.ts.

import {
  F64,
  I32,
  V128,
  forLoop,
  moduleBytes,
  op,
  type Bytes,
} from '../lib/backend/wasm/encode.ts';

const CHUNK = 2048; // parameters a call
const [P_AT, G_AT, M_AT, V_AT] = [0, 4 * CHUNK, 8 * CHUNK, 16 * CHUNK]; // bytes: p, g (f32); m, v
const PAGES = 1; // 24 bytes a parameter: 48 KiB

/** The constants of one parameter's update, as optim.ts computes them. */
export interface AdamConstants {
  l2: number; // weight decay added to the gradient (Adam), 0 for AdamW
  b1: number;
  b2: number;
  shrink: number; // 1 − lr·wd for AdamW's decayed parameters, else 1
  stepSize: number; // lr / (1 − β₁ᵗ)
  bc2Sqrt: number; // √(1 − β₂ᵗ)
  eps: number;
}

// step's locals: the parameters (n, then the constants), the f32 and f64 byte offsets, the
// constants splatted, and the working vectors
const N = 0;
const [L2, B1, B2, SHRINK, STEP, BC2, EPS] = [1, 2, 3, 4, 5, 6, 7];
const [I, J] = [8, 9];
const [VL2, VB1, VC1, VB2, VC2, VSHRINK, VSTEP, VBC2, VEPS] = [10, 11, 12, 13, 14, 15, 16, 17, 18];
const [P, G, M, V] = [19, 20, 21, 22];

const splat = (from: number, to: number): Bytes[] => [
  op.localGet(from),
  op.f64x2Splat,
  op.localSet(to),
];
/** 1 − β splatted (the loop's (1 − b1), a double computed once: the same value every time). */
const oneMinus = (from: number, to: number): Bytes[] => [
  op.f64Const(1),
  op.localGet(from),
  op.f64Sub,
  op.f64x2Splat,
  op.localSet(to),
];
const get = (...locals: number[]): Bytes[] => locals.map((l) => op.localGet(l));

// one pair: gi = g + l2·p;  m = b1·m + (1 − b1)·gi;  v = b2·v + ((1 − b2)·gi)·gi;
//           p = p·shrink − (stepSize·m) / (√v / bc2Sqrt + eps)
const pairBody = (): Bytes[] => [
  ...[op.localGet(I), op.v128Load64Zero(P_AT), op.f64x2PromoteLowF32x4, op.localSet(P)],
  ...[op.localGet(I), op.v128Load64Zero(G_AT), op.f64x2PromoteLowF32x4],
  ...[...get(VL2, P), op.f64x2Mul, op.f64x2Add, op.localSet(G)], // gi
  ...[op.localGet(J), ...get(VB1, J), op.v128Load(M_AT), op.f64x2Mul],
  ...[...get(VC1, G), op.f64x2Mul, op.f64x2Add, op.localTee(M), op.v128Store(M_AT)],
  ...[op.localGet(J), ...get(VB2, J), op.v128Load(V_AT), op.f64x2Mul],
  ...[...get(VC2, G), op.f64x2Mul, op.localGet(G), op.f64x2Mul, op.f64x2Add],
  ...[op.localTee(V), op.v128Store(V_AT)],
  ...[op.localGet(I), ...get(P, VSHRINK), op.f64x2Mul, ...get(VSTEP, M), op.f64x2Mul],
  ...[op.localGet(V), op.f64x2Sqrt, op.localGet(VBC2), op.f64x2Div, op.localGet(VEPS)],
  ...[op.f64x2Add, op.f64x2Div, op.f64x2Sub, op.f32x4DemoteF64x2Zero, op.v128Store64Lane(P_AT, 0)],
  ...[op.localGet(J), op.i32Const(16), op.i32Add, op.localSet(J)],
];

function instantiate() {
  const bytes = moduleBytes(
    {
      name: 'step',
      params: [I32, F64, F64, F64, F64, F64, F64, F64],
      locals: [
        [2, I32],
        [13, V128],
      ],
      body: [
        ...splat(L2, VL2),
        ...splat(B1, VB1),
        ...oneMinus(B1, VC1),
        ...splat(B2, VB2),
        ...oneMinus(B2, VC2),
        ...splat(SHRINK, VSHRINK),
        ...splat(STEP, VSTEP),
        ...splat(BC2, VBC2),
        ...splat(EPS, VEPS),
        op.i32Const(0),
        op.localSet(J),
        // I steps over the floats' bytes, 8 a pair, up to 4·n (n rounded up to even: the lane past
        // an odd end reads and writes the staging memory only)
        ...[op.localGet(N), op.i32Const(4), op.i32Mul, op.localSet(N)],
        ...forLoop(I, N, 8, pairBody()),
      ],
    },
    PAGES,
  );
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const buffer = (exports.memory as WebAssembly.Memory).buffer;
  return {
    step: exports.step as (n: number, ...constants: number[]) => void,
    p: new Float32Array(buffer, P_AT, CHUNK),
    g: new Float32Array(buffer, G_AT, CHUNK),
    m: new Float64Array(buffer, M_AT, CHUNK),
    v: new Float64Array(buffer, V_AT, CHUNK),
  };
}

let instance: ReturnType<typeof instantiate> | undefined;

/**
 * Adam's update of float32 `p` from float32 `g` with moments `m`, `v`, in place; false (nothing
 * done) where WebAssembly SIMD is missing.
 */
export function simdAdamUpdate(
  p: Float32Array,
  g: Float32Array,
  m: Float64Array,
  v: Float64Array,
  k: AdamConstants,
): boolean {
  const w = instance === undefined ? (instance = instantiate()) : instance;
  if (!w) return false;
  for (let lo = 0; lo < p.length; lo += CHUNK) {
    const hi = Math.min(p.length, lo + CHUNK),
      n = hi - lo;
    w.p.set(p.subarray(lo, hi));
    w.g.set(g.subarray(lo, hi));
    w.m.set(m.subarray(lo, hi));
    w.v.set(v.subarray(lo, hi));
    w.step(n, k.l2, k.b1, k.b2, k.shrink, k.stepSize, k.bc2Sqrt, k.eps);
    p.set(w.p.subarray(0, n), lo);
    m.set(w.m.subarray(0, n), lo);
    v.set(w.v.subarray(0, n), lo);
  }
  return true;
}
