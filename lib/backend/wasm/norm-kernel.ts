// LayerNorm and RMSNorm of float32 rows in WebAssembly SIMD, forward and backward, for the
// threaded backend: ../cpu/norm.ts's normRows and normBackwardRows with their row sums in four
// lanes (sumTerms), bit for bit. Two floats a vector: each pair of float32s is widened to doubles
// (f64x2.promote_low_f32x4), every product, difference and quotient is the double one the
// TypeScript loop makes, and results are narrowed once on the store (f32x4.demote_f64x2_zero
// rounds to nearest as a Float32Array store does). A row of n:
//   sums    ⌊n/4⌋ groups of four, floats 0, 1 into accumulator A0's lanes and 2, 3 into A1's
//           (partials i mod 4), then A0 + A1 and its two lanes added, then the n mod 4 last
//           floats one at a time (loaded alone, lane 0 added): sumTerms's order;
//   writes  ⌈n/4⌉ groups of four: up to 3 floats past the row's end are written too, and the
//           next row overwrites them (so a chunk leaves room for 3 after its last row);
//   dγ, dβ  doubles in the module's memory, each column's rows added in row order (as the
//           TypeScript loop adds them), across the calls of one kernel call.
// One module for each case (rms or not, with or without γ, β, dγ, dβ; 832 KiB of memory each,
// built on first use), so no test runs per element. Rows pass through the module's memory in
// chunks, copied in and out with TypedArray.set. ~1.3 ns an element forward, ~2.2 backward, one
// thread (1024 × 128 to 4096 × 512, under contention): 3–7× the TypeScript loops. Read next:
// encode.ts (the bytes), ../threads/norm.ts (why these calls are not split).

import type { TypedArray } from '../../dtype.ts';
import type { NormResult } from '../backend.ts';
import { normBackwardOn, normBackwardRows, normOn, normRows } from '../cpu/norm.ts';
import { F64, I32, V128, moduleBytes, op, type Bytes, type FunctionSpec } from './encode.ts';

const CHUNK = 16384; // floats of a row region; a chunk of rows fills at most CHUNK − 3 of them
const MAX_N = CHUNK - 3;
// Byte offsets: x, dy, the output (y or dx), γ, β as CHUNK floats each; then each row's mean and
// rstd, dγ's and dβ's sums as CHUNK doubles each.
const [X_AT, DY_AT, O_AT, G_AT, B_AT] = [0, 1, 2, 3, 4].map((k) => k * 4 * CHUNK);
const [MEAN_AT, RSTD_AT, DG_AT, DB_AT] = [0, 1, 2, 3].map((k) => 20 * CHUNK + k * 8 * CHUNK);
const PAGES = (52 * CHUNK) / 65536;

// Locals: the parameters (rows, n, eps), the i32s (the row's byte index in the row regions, the
// column's in γ's and in dγ's, the groups' end, the row's end, the row's index in the stats), the
// doubles (two sums, μ, rstd, n, and backward's mean(g), mean(g ⊙ x̂)), the v128s (each sum's two
// accumulators, μ and rstd splatted, backward's d, x̂, g, a temporary, mean(g), mean(g ⊙ x̂)).
const [ROWS, N, EPS] = [0, 1, 2];
const [I, J, JD, END4, ENDN, STAT] = [3, 4, 5, 6, 7, 8];
const [S0, S1, MU, RS, NF, C0, C1] = [9, 10, 11, 12, 13, 14, 15];
const [A00, A01, A10, A11, MUV, RSV, D, XH, G, T, C0V, C1V] = [
  16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
];
const SUMS = [
  { s: S0, acc: [A00, A01] },
  { s: S1, acc: [A10, A11] },
];

/** Where one step of a pass is: floats h/4, h/4 + 1 of the group (a pair), or one float. */
interface At {
  /** The element(s) as doubles: row region `region` at I, or (byColumn) at J. */
  load: (region: number, byColumn?: boolean) => Bytes[];
  /** Sum k += the f64x2 that `value` leaves. */
  add: (k: number, value: Bytes[]) => Bytes[];
  /** The column sums at `region` (doubles) += T. */
  accumulate: (region: number) => Bytes[];
  /** The f64x2 that `value` leaves, narrowed, stored in the output at I. */
  store: (value: Bytes[]) => Bytes[];
}

const pair = (h: number): At => ({
  load: (region, byColumn = false) => [
    ...[op.localGet(byColumn ? J : I), op.v128Load64Zero(region + h), op.f64x2PromoteLowF32x4],
  ],
  add: (k, value) => {
    const acc = SUMS[k].acc[h / 8];
    return [op.localGet(acc), ...value, op.f64x2Add, op.localSet(acc)];
  },
  accumulate: (region) => [
    ...[op.localGet(JD), op.localGet(JD), op.v128Load(region + 2 * h)],
    ...[op.localGet(T), op.f64x2Add, op.v128Store(region + 2 * h)],
  ],
  store: (value) => [
    ...[op.localGet(I), ...value, op.f32x4DemoteF64x2Zero, op.v128Store64Lane(O_AT + h, 0)],
  ],
});

// a row's last n mod 4 floats, one at a time in lane 0 (lane 1 computes on a zero, unused)
const single: Omit<At, 'store'> = {
  load: (region, byColumn = false) => [
    ...[op.localGet(byColumn ? J : I), op.v128Load32Zero(region), op.f64x2PromoteLowF32x4],
  ],
  add: (k, value) => [
    ...[op.localGet(SUMS[k].s), ...value, op.f64x2ExtractLane(0), op.f64Add],
    op.localSet(SUMS[k].s),
  ],
  accumulate: (region) => [
    ...[op.localGet(JD), op.localGet(JD), op.v128Load64Zero(region)],
    ...[op.localGet(T), op.f64x2Add, op.v128Store64Lane(region, 0)],
  ],
};

/** while (I < end) { body; I += 4·floats; J too; JD += 8·floats } */
const walk = (end: number, floats: number, body: Bytes[]): Bytes[] => [
  ...[op.block, op.loop, op.localGet(I), op.localGet(end), op.i32LtU, op.i32Eqz, op.brIf(1)],
  ...body,
  ...[I, J].flatMap((k) => [op.localGet(k), op.i32Const(4 * floats), op.i32Add, op.localSet(k)]),
  ...[op.localGet(JD), op.i32Const(8 * floats), op.i32Add, op.localSet(JD), op.br(0)],
  ...[op.end, op.end],
];

/** From the row's start (`base`, a byte index): I = base, J = JD = 0. */
const startRow = (base: Bytes[]): Bytes[] => [
  ...[...base, op.localSet(I), op.i32Const(0), op.localSet(J), op.i32Const(0), op.localSet(JD)],
];
const rowStart = [op.localGet(ENDN), op.localGet(N), op.i32Const(4), op.i32Mul, op.i32Sub];

/** A pass over the row making `sums` sums in sumTerms's order (into S0, S1) with `step`. */
function sumPass(sums: number, step: (at: Omit<At, 'store'>) => Bytes[]): Bytes[] {
  const accs = SUMS.slice(0, sums);
  return [
    ...startRow(rowStart),
    ...accs.flatMap(({ acc }) => acc.flatMap((a) => [op.v128Zero, op.localSet(a)])),
    ...walk(END4, 4, [...step(pair(0)), ...step(pair(8))]),
    ...accs.flatMap(({ s, acc: [a0, a1] }) => [
      ...[op.localGet(a0), op.localGet(a1), op.f64x2Add, op.localTee(a0)],
      ...[
        op.f64x2ExtractLane(0),
        op.localGet(a0),
        op.f64x2ExtractLane(1),
        op.f64Add,
        op.localSet(s),
      ],
    ]),
    ...walk(ENDN, 1, step(single)),
  ];
}

/** A pass over the row's groups of four storing what `value` computes (3 floats past the end). */
const writePass = (value: (at: At) => Bytes[]): Bytes[] => [
  ...startRow(rowStart),
  ...walk(
    ENDN,
    4,
    [pair(0), pair(8)].flatMap((at) => at.store(value(at))),
  ),
];

/** For each of ROWS rows: END4, ENDN, then `body`; STAT steps by a double. */
const eachRow = (body: Bytes[]): Bytes[] => [
  ...[op.localGet(N), op.f64ConvertI32U, op.localSet(NF), op.i32Const(0), op.localSet(ENDN)],
  ...[op.block, op.loop, op.localGet(ROWS), op.i32Eqz, op.brIf(1)],
  ...[op.localGet(ROWS), op.i32Const(-1), op.i32Add, op.localSet(ROWS)],
  ...[op.localGet(ENDN), op.localGet(N), op.i32Const(-4), op.i32And, op.i32Const(4), op.i32Mul],
  ...[op.i32Add, op.localSet(END4), op.localGet(ENDN), op.localGet(N), op.i32Const(4)],
  ...[op.i32Mul, op.i32Add, op.localSet(ENDN)],
  ...body,
  ...[op.localGet(STAT), op.i32Const(8), op.i32Add, op.localSet(STAT), op.br(0), op.end, op.end],
];

const splat = (local: number, to: number): Bytes[] => [
  ...[op.localGet(local), op.f64x2Splat, op.localSet(to)],
];
/** x̂ = (x − μ)·rstd */
const xhat = (at: At | Omit<At, 'store'>): Bytes[] => [
  ...[...at.load(X_AT), op.localGet(MUV), op.f64x2Sub, op.localGet(RSV), op.f64x2Mul],
];

interface Case {
  rms: boolean;
  gamma: boolean;
  beta: boolean; // forward: β given; backward: dβ wanted
  dgamma: boolean; // backward: dγ wanted
}

/** normRows on the rows of x: y, and each row's mean and rstd. */
function forwardBody({ rms, gamma, beta }: Case): Bytes[] {
  const mean = sumPass(1, (at) => at.add(0, at.load(X_AT)));
  const square = (at: Omit<At, 'store'>) => [
    ...[...at.load(X_AT), op.localGet(MUV), op.f64x2Sub, op.localTee(T), op.localGet(T)],
    op.f64x2Mul,
  ];
  return eachRow([
    ...(rms ? [] : [...mean, op.localGet(S0), op.localGet(NF), op.f64Div, op.localSet(MU)]),
    ...splat(MU, MUV),
    ...sumPass(1, (at) => at.add(0, square(at))),
    ...[op.f64Const(1), op.localGet(S0), op.localGet(NF), op.f64Div, op.localGet(EPS), op.f64Add],
    ...[op.f64Sqrt, op.f64Div, op.localSet(RS), ...splat(RS, RSV)],
    ...[op.localGet(STAT), op.localGet(MU), op.f64Store(MEAN_AT)],
    ...[op.localGet(STAT), op.localGet(RS), op.f64Store(RSTD_AT)],
    ...writePass((at) => [
      ...xhat(at),
      ...(gamma ? [...at.load(G_AT, true), op.f64x2Mul] : []),
      ...(beta ? at.load(B_AT, true) : [op.v128Zero]), // + 0 as the TypeScript loop adds it
      op.f64x2Add,
    ]),
  ]);
}

/** normBackwardRows on the rows of x and dy: dx, and dγ, dβ's sums as asked. */
function backwardBody({ rms, gamma, beta, dgamma }: Case): Bytes[] {
  // g = γ ⊙ dy, dy being what `dy` leaves
  const g = (at: At | Omit<At, 'store'>, dy: Bytes[]) => [
    ...dy,
    ...(gamma ? [...at.load(G_AT, true), op.f64x2Mul] : []),
  ];
  const terms = (at: Omit<At, 'store'>) => [
    ...[...at.load(DY_AT), op.localSet(D), ...xhat(at), op.localSet(XH)],
    ...[...g(at, [op.localGet(D)]), op.localSet(G)],
    ...at.add(0, [op.localGet(G)]),
    ...at.add(1, [op.localGet(G), op.localGet(XH), op.f64x2Mul]),
    ...(dgamma ? [op.localGet(D), op.localGet(XH), op.f64x2Mul, op.localSet(T)] : []),
    ...(dgamma ? at.accumulate(DG_AT) : []),
    ...(beta ? [op.localGet(D), op.localSet(T), ...at.accumulate(DB_AT)] : []),
  ];
  return eachRow([
    ...[op.localGet(STAT), op.f64Load(MEAN_AT), op.localSet(MU), ...splat(MU, MUV)],
    ...[op.localGet(STAT), op.f64Load(RSTD_AT), op.localSet(RS), ...splat(RS, RSV)],
    ...sumPass(2, terms),
    ...(rms ? [] : [op.localGet(S0), op.localGet(NF), op.f64Div, op.localSet(C0)]),
    ...[op.localGet(S1), op.localGet(NF), op.f64Div, op.localSet(C1)],
    ...[...splat(C0, C0V), ...splat(C1, C1V)],
    // dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂))
    ...writePass((at) => [
      ...[op.localGet(RSV), ...g(at, at.load(DY_AT)), op.localGet(C0V), op.f64x2Sub],
      ...[...xhat(at), op.localGet(C1V), op.f64x2Mul, op.f64x2Sub, op.f64x2Mul],
    ]),
  ]);
}

type RowsFn = (rows: number, n: number, eps: number) => void;
interface Module {
  run: RowsFn;
  x: Float32Array;
  dy: Float32Array;
  o: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float64Array;
  rstd: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
}

/** A module of one function, `run`, with its own memory. */
function instantiate(body: Bytes[]): Module | null {
  const locals: FunctionSpec['locals'] = [
    [6, I32],
    [7, F64],
    [12, V128],
  ];
  const bytes = moduleBytes({ name: 'run', params: [I32, I32, F64], locals, body }, PAGES);
  if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const buffer = (exports.memory as WebAssembly.Memory).buffer;
  const floats = (at: number) => new Float32Array(buffer, at, CHUNK);
  const doubles = (at: number) => new Float64Array(buffer, at, CHUNK);
  return {
    run: exports.run as RowsFn,
    ...{ x: floats(X_AT), dy: floats(DY_AT), o: floats(O_AT) },
    ...{ gamma: floats(G_AT), beta: floats(B_AT) },
    ...{ mean: doubles(MEAN_AT), rstd: doubles(RSTD_AT) },
    ...{ dgamma: doubles(DG_AT), dbeta: doubles(DB_AT) },
  };
}

// Each case's module is built on its first call (writing all 24 cases' bytes took 20–40 ms).
const modules = new Map<string, Module | null>();
function simd(backward: boolean, c: Case): Module | null {
  const key = JSON.stringify([backward, c]);
  if (!modules.has(key)) modules.set(key, instantiate((backward ? backwardBody : forwardBody)(c)));
  return modules.get(key)!;
}

const isF32 = (x: TypedArray | null): x is Float32Array => x instanceof Float32Array;
/** Whether the module takes rows of n of these arrays (float32, or absent). */
const takes = (n: number, ...arrays: Array<TypedArray | null>) =>
  n <= MAX_N && arrays.every((a) => a === null || isF32(a));

/** Rows [lo, hi) in calls of as many whole rows as a region holds (with 3 floats to spare). */
function eachChunk(n: number, lo: number, hi: number, run: (r: number, rows: number) => void) {
  const step = Math.floor(MAX_N / n);
  for (let r = lo; r < hi; r += step) run(r, Math.min(step, hi - r));
}

/**
 * normRows (../cpu/norm.ts) with sums in lanes, rows [lo, hi) into `out`; false (nothing
 * written) where the module does not apply: not float32, n above MAX_N, no WebAssembly SIMD.
 */
export function simdNormRows(
  x: TypedArray,
  n: number,
  gamma: TypedArray | null,
  beta: TypedArray | null,
  eps: number,
  rms: boolean,
  out: NormResult,
  lo: number,
  hi: number,
): boolean {
  const m = simd(false, { rms, gamma: !!gamma, beta: !!beta, dgamma: false });
  if (!m || !takes(n, x, gamma, beta, out.y)) return false;
  if (gamma) m.gamma.set(gamma);
  if (beta) m.beta.set(beta);
  eachChunk(n, lo, hi, (r, rows) => {
    m.x.set(x.subarray(r * n, (r + rows) * n));
    m.run(rows, n, eps);
    out.y.set(m.o.subarray(0, rows * n), r * n);
    out.mean.set(m.mean.subarray(0, rows), r);
    out.rstd.set(m.rstd.subarray(0, rows), r);
  });
  return true;
}

/**
 * normBackwardRows (../cpu/norm.ts) with sums in lanes: dx of rows [lo, hi), their terms added to
 * dγ and dβ where given; false (nothing written) where the module does not apply.
 */
export function simdNormBackwardRows(
  dy: TypedArray,
  x: TypedArray,
  n: number,
  gamma: TypedArray | null,
  { mean, rstd }: Omit<NormResult, 'y'>,
  rms: boolean,
  dx: TypedArray,
  dgamma: Float64Array | null,
  dbeta: Float64Array | null,
  lo: number,
  hi: number,
): boolean {
  const m = simd(true, { rms, gamma: !!gamma, beta: !!dbeta, dgamma: !!dgamma });
  if (!m || !takes(n, dy, x, gamma, dx)) return false;
  if (gamma) m.gamma.set(gamma);
  if (dgamma) m.dgamma.set(dgamma);
  if (dbeta) m.dbeta.set(dbeta);
  eachChunk(n, lo, hi, (r, rows) => {
    m.x.set(x.subarray(r * n, (r + rows) * n));
    m.dy.set(dy.subarray(r * n, (r + rows) * n));
    m.mean.set(mean.subarray(r, r + rows));
    m.rstd.set(rstd.subarray(r, r + rows));
    m.run(rows, n, 0);
    dx.set(m.o.subarray(0, rows * n), r * n);
  });
  if (dgamma) dgamma.set(m.dgamma.subarray(0, n));
  if (dbeta) dbeta.set(m.dbeta.subarray(0, n));
  return true;
}

// The threaded backend's row loops and kernels: SIMD where the sums are in lanes (normLanes) and
// the module applies, else the TypeScript loops; the same bits either way.
export const fastNormRows: typeof normRows = (x, n, gamma, beta, eps, rms, lanes, out, lo, hi) => {
  if (!(lanes && simdNormRows(x, n, gamma, beta, eps, rms, out, lo, hi)))
    normRows(x, n, gamma, beta, eps, rms, lanes, out, lo, hi);
};
export const fastNormBackwardRows: typeof normBackwardRows = (
  dy,
  x,
  n,
  gamma,
  stats,
  rms,
  lanes,
  dx,
  dgamma,
  dbeta,
  lo,
  hi,
) => {
  if (!(lanes && simdNormBackwardRows(dy, x, n, gamma, stats, rms, dx, dgamma, dbeta, lo, hi)))
    normBackwardRows(dy, x, n, gamma, stats, rms, lanes, dx, dgamma, dbeta, lo, hi);
};
export const fastNorm = normOn(fastNormRows);
export const fastNormBackward = normBackwardOn(fastNormBackwardRows);
