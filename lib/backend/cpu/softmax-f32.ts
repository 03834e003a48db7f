// Softmax and log-softmax of float32 rows (along the last dim) in float32 arithmetic: the
// TypeScript reference of the WebAssembly SIMD kernel (../wasm/softmax-kernel.ts), which does the
// same operations in the same order on four lanes and so gives the same bits. softmax.ts sends
// float32 tensors here at matmul precision 'float32' when the dim is the last one (inner = 1).
//
// Every float32 operation is a JavaScript double operation rounded once (Math.fround, or the store
// into a Float32Array): for + − × ÷ that is the float32 result (53 ≥ 2·24 + 2 bits). Sums are in
// doubles, element i into lane i mod 4, the lanes added as (s0 + s2) + (s1 + s3); the products
// dy·y of two float32s are exact in a double. Per row of n:
//   softmax:     m = max x;  e_i = exp32(x_i − m);  S = Σ e_i;  y_i = e_i · f32(1 / S)
//   log-softmax: m = max x;  S = Σ exp32(x_i − m);  y_i = x_i − f32(ln S + m)
//   softmax backward:     s = f32(Σ dy_i·y_i);  dx_i = y_i · (dy_i − s)
//   log-softmax backward: s = f32(Σ dy_i);      dx_i = dy_i − exp32(y_i) · s
// A fully masked row (max −∞) gives zeros (softmax) or −∞ (log-softmax).
//
// exp32: Cody–Waite with a two-part ln2 (C1 has 9 significant bits, so k·C1 is exact for the
// |k| ≤ 128 used), then cephes' expf polynomial by Horner, each step rounded (wasm SIMD has no
// fused multiply-add):
//   k = nearest(d / ln2) (ties to even: (d·(1/ln2) + 1.5·2^23) − 1.5·2^23),
//   r = (d − k·C1) − k·C2,  e^d ≈ ((P(r)·r² + r) + 1) · 2^k.
// Bound: relative error below 2^−23 against Math.exp on [EXP32_LOW, 0] (at most one float32 ulp
// from Math.exp rounded to float32; test/softmax-f32.test.ts sweeps it). d < EXP32_LOW (e^d below
// float32's normal range, and −∞) gives 0; d > EXP32_HIGH gives +∞; exp32(0) = 1 exactly.

const f32 = Math.fround;

export const INV_LN2_32 = f32(Math.LOG2E);
export const ROUND_32 = 1.5 * 2 ** 23; // t + ROUND_32 − ROUND_32: t to an integer (|t| < 2^22)
export const C1 = 0.693359375; // ln2 = C1 + C2, C1 = 355/512
export const C2 = f32(-2.1219444e-4);
/** cephes expf's polynomial, the highest power first: P(r) ≈ (e^r − 1 − r)/r². */
export const P = [
  1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
  5.0000001201e-1,
].map(f32);
export const EXP32_LOW = f32(Math.log(2 ** -126)); // e^d is subnormal below
export const EXP32_HIGH = 88; // 2^k stays finite (k ≤ 127)
const [P0, P1, P2, P3, P4, P5] = P;
const POW2_32 = new Float64Array(255).map((_, i) => 2 ** (i - 127)); // 2^k, k = −127..127

/** e^d in float32 arithmetic, d a float32 (see the header). */
export function exp32(d: number): number {
  if (d < EXP32_LOW) return 0;
  if (d > EXP32_HIGH) return Infinity;
  const k = f32(f32(f32(d * INV_LN2_32) + ROUND_32) - ROUND_32);
  const r = f32(f32(d - f32(k * C1)) - f32(k * C2));
  const p = f32(
    f32(f32(f32(f32(f32(f32(f32(f32(f32(P0 * r) + P1) * r) + P2) * r) + P3) * r) + P4) * r) + P5,
  );
  return f32(f32(f32(f32(p * f32(r * r)) + r) + 1) * POW2_32[k + 127]); // NaN stays NaN
}

/** Softmax of contiguous rows of float32s: the reference and the SIMD kernel. */
export interface RowSoftmax {
  /** out = (log-)softmax of `rows` rows of n from x (both rows·n long). */
  forward: (x: Float32Array, out: Float32Array, rows: number, n: number, log: boolean) => void;
  /** dx from y (the forward's output) and dy, as forward's rows. */
  backward: (
    y: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    rows: number,
    n: number,
    log: boolean,
  ) => void;
}

/** A running sum in four lanes: add(i, v) puts v in lane i mod 4; total() adds them in order. */
class LaneSum {
  private lanes = new Float64Array(4);
  reset(): void {
    this.lanes.fill(0);
  }
  add(i: number, v: number): void {
    this.lanes[i & 3] += v;
  }
  total(): number {
    const [s0, s1, s2, s3] = this.lanes;
    return s0 + s2 + (s1 + s3);
  }
}
const sum = new LaneSum();

function forwardRow(x: Float32Array, out: Float32Array, at: number, n: number, log: boolean) {
  const end = at + n;
  let max = -Infinity;
  for (let i = at; i < end; i++) max = Math.max(max, x[i]);
  if (max === -Infinity) {
    out.fill(log ? -Infinity : 0, at, end);
    return;
  }
  sum.reset();
  for (let i = at; i < end; i++) {
    const e = exp32(f32(x[i] - max));
    if (!log) out[i] = e;
    sum.add(i - at, e);
  }
  if (log) {
    const logSum = f32(Math.log(sum.total()) + max);
    for (let i = at; i < end; i++) out[i] = x[i] - logSum;
    return;
  }
  const inv = f32(1 / sum.total());
  for (let i = at; i < end; i++) out[i] *= inv;
}

function backwardRow(
  y: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
  at: number,
  n: number,
  log: boolean,
) {
  const end = at + n;
  sum.reset();
  for (let i = at; i < end; i++) sum.add(i - at, log ? dy[i] : dy[i] * y[i]);
  const s = f32(sum.total());
  if (log) for (let i = at; i < end; i++) dx[i] = dy[i] - f32(exp32(y[i]) * s);
  else for (let i = at; i < end; i++) dx[i] = y[i] * f32(dy[i] - s);
}

export const tsRowSoftmax: RowSoftmax = {
  forward: (x, out, rows, n, log) => {
    for (let r = 0; r < rows; r++) forwardRow(x, out, r * n, n, log);
  },
  backward: (y, dy, dx, rows, n, log) => {
    for (let r = 0; r < rows; r++) backwardRow(y, dy, dx, r * n, n, log);
  },
};
