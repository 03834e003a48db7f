// Fused softmax attention (the FlashAttention scheme, Dao et al. 2022, arXiv 2205.14135, on the
// CPU), forward and backward, without ever holding a T × S score matrix: two kernels of the Backend
// table, which the primitive in ../../ops/fused-attention.ts reaches through backend().
//
// Per query row i (position S − T + t) of group g = (b, h), with s_ij = c_i·q_i·k_j − m_h·|i − j|
// over the keys i sees (c_i = κ_i·scale; ../backend.ts FusedAttentionMask says which keys), in
// blocks of BR query rows against tiles of BC keys (a tile no row of the block sees is skipped):
//   forward   S = Q_blk·K_tileᵀ, masked and scaled, then one online-softmax step a row with a
//             running max m, a running sum l and an accumulator a (dv doubles):
//               m' = max(m, max_tile s),  l ← l·e^(m−m') + Σ e^(s−m'),  a ← a·e^(m−m') + P·V_tile
//             y_i = a / l and lse_i = m + log l are all it keeps (a row with no keys: y = 0, −∞).
//   backward  the tiles again, P = e^(S − lse) from the saved lse, D_i = dy_i·y_i:
//               dV_tile += Pᵀ·dY_blk,  dS = c ⊙ P ⊙ (dY_blk·V_tileᵀ − D),
//               dQ_blk += dS·K_tile,  dK_tile += dSᵀ·Q_blk
// The tile products are the blocked matmul's (matmul.ts, matmulBlock into doubles) with a panel
// kernel the caller picks, and every e^(s − m) and e^(s − lse) is a row exp the caller picks
// (exp-poly.ts: a polynomial within 2 ulp of e^x, its row sums added in two lanes): the TypeScript
// ones here, the WebAssembly SIMD ones on the threads, which do the same operations in the same
// order, so both give the same bits. The scores tile lives where the row exp reads it (for SIMD:
// in its module's memory).
// Memory: the outputs, the lse (n doubles), a few BR × BC tiles and, in backward, one group's dk
// and dv in doubles: O(n·d), against O(n²) for the scores, probabilities and their gradients of
// the unfused path. A group's result depends only on its own inputs, so groups can be split
// across threads bit for bit.

import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import type {
  FusedAttentionDims,
  FusedAttentionGrads,
  FusedAttentionMask,
  Kernel,
} from '../backend.ts';
import { matmulBlock, tsPanelKernel, type PanelKernel } from './matmul.ts';
import { expPoly, tsRowExp, type RowExp } from './exp-poly.ts';
import { scratch } from './scratch.ts';

const BR = 128; // query rows a block
const BC = 128; // keys a tile

/** One query row as both kernels walk it. */
interface Row {
  r: number; // row index g·T + t
  keepOff: number; // b·S into the padding mask
  i: number; // position
  c: number; // κ_i·scale
  slope: number; // ALiBi slope of the head, 0 without
  spans: Int32Array; // up to two half-open key ranges [lo, hi)
  count: number; // how many spans
}

/** The keys position i sees before padding, as up to two spans written into row.spans. */
function visibleSpans(row: Row, S: number, mask: FusedAttentionMask): void {
  const { i, spans } = row;
  const end = mask.causal ? Math.min(i + 1, S) : S; // no key at or past `end` is seen
  row.count = 0;
  if (mask.window === null) {
    if (end > 0) [spans[0], spans[1], row.count] = [0, end, 1];
    return;
  }
  const sinkEnd = Math.min(mask.sinks, end);
  const lo = Math.max(i - mask.window, 0),
    hi = Math.min(i + mask.window + 1, end);
  if (sinkEnd > 0) [spans[0], spans[1], row.count] = [0, sinkEnd, 1];
  if (hi <= lo) return;
  if (row.count === 1 && lo <= sinkEnd) spans[1] = Math.max(sinkEnd, hi);
  else [spans[2 * row.count], spans[2 * row.count + 1], row.count] = [lo, hi, row.count + 1];
}

/** κ_i = max(floor, log n_i / log base) over the n_i keys row i sees (padding excluded). */
function lognFactor(row: Row, mask: FusedAttentionMask): number {
  const { logn, keep } = mask;
  if (!logn) return 1;
  let n = 0;
  for (let s = 0; s < row.count; s++) {
    const [lo, hi] = [row.spans[2 * s], row.spans[2 * s + 1]];
    if (!keep) n += hi - lo;
    else for (let j = lo; j < hi; j++) if (keep[row.keepOff + j] !== 0) n++;
  }
  return Math.max(logn.floor, Math.log(n) / Math.log(logn.base));
}

/** A block of query rows of one group: its rows (the first `n` of `rows` are filled). */
interface Block {
  g: number; // group b·heads + h
  t0: number; // first query
  n: number; // rows
  rows: Row[];
}

const newRow = (): Row => ({
  r: 0,
  keepOff: 0,
  i: 0,
  c: 0,
  slope: 0,
  spans: new Int32Array(4),
  count: 0,
});

/** Visit the blocks of BR query rows of groups g0 … g1 − 1, every row's keys and factor filled. */
function forEachBlock(
  dims: FusedAttentionDims,
  mask: FusedAttentionMask,
  [g0, g1]: [number, number],
  visit: (block: Block) => void,
): void {
  const { heads, T, S } = dims;
  const block: Block = { g: 0, t0: 0, n: 0, rows: Array.from({ length: BR }, newRow) };
  for (let g = g0; g < g1; g++) {
    for (let t0 = 0; t0 < T; t0 += BR) {
      Object.assign(block, { g, t0, n: Math.min(BR, T - t0) });
      for (let r = 0; r < block.n; r++) {
        const row = block.rows[r];
        row.r = g * T + t0 + r;
        row.i = S - T + t0 + r;
        row.keepOff = Math.floor(g / heads) * S;
        row.slope = mask.slopes ? mask.slopes[g % heads] : 0;
        visibleSpans(row, S, mask);
        row.c = mask.scale * lognFactor(row, mask);
      }
      visit(block);
    }
  }
}

/** Does some row of the block see a key in [j0, j1) (before padding)? */
function tileSeen(block: Block, j0: number, j1: number): boolean {
  for (let r = 0; r < block.n; r++) {
    const { spans, count } = block.rows[r];
    for (let s = 0; s < count; s++) if (spans[2 * s] < j1 && spans[2 * s + 1] > j0) return true;
  }
  return false;
}

/** Visit the key tiles [j0, j1) of BC keys that some row of the block sees. */
function forEachTile(block: Block, S: number, visit: (j0: number, j1: number) => void): void {
  for (let j0 = 0; j0 < S; j0 += BC) {
    const j1 = Math.min(j0 + BC, S);
    if (tileSeen(block, j0, j1)) visit(j0, j1);
  }
}

/** Does row see key j (its spans, then the padding)? */
function sees(row: Row, j: number, keep: TypedArray | null): boolean {
  for (let s = 0; s < row.count; s++)
    if (j >= row.spans[2 * s] && j < row.spans[2 * s + 1])
      return !keep || keep[row.keepOff + j] !== 0;
  return false;
}

/** out (m × n, doubles) = op(a)·op(b), a (m × kk) or its transpose, through the matmul panels. */
function product(
  kernel: PanelKernel,
  a: TypedArray,
  b: TypedArray,
  [m, kk, n]: [number, number, number],
  [transA, transB]: [boolean, boolean],
  out: Float64Array,
): void {
  const aShape = transA ? [kk, m] : [m, kk],
    bShape = transB ? [n, kk] : [kk, n];
  matmulBlock({ a, b, aShape, bShape, transA, transB, outShape: [m, n] }, out, 0, m, 0, n, kernel);
}

/**
 * The block's scores against keys j0 … j1 − 1 into s (n × nc): c_i·q_i·k_j − slope·|i − j|, −∞
 * for a key the row does not see.
 */
function scores(
  q: TypedArray,
  k: TypedArray,
  dims: FusedAttentionDims,
  mask: FusedAttentionMask,
  block: Block,
  [j0, j1]: [number, number],
  kernel: PanelKernel,
  s: Float64Array,
): void {
  const { S, d } = dims;
  const nc = j1 - j0,
    q0 = block.rows[0].r * d,
    k0 = (block.g * S + j0) * d;
  product(
    kernel,
    q.subarray(q0, q0 + block.n * d),
    k.subarray(k0, k0 + nc * d),
    [block.n, d, nc],
    [false, true],
    s,
  );
  for (let r = 0; r < block.n; r++) {
    const row = block.rows[r];
    const { c, slope, i } = row;
    if (!mask.keep && seesAll(row, j0, j1)) {
      // the usual tile: every key visible (no per-key test), and without ALiBi only the scale
      if (slope === 0) for (let at = r * nc; at < (r + 1) * nc; at++) s[at] *= c;
      else
        for (let j = j0, at = r * nc; j < j1; j++, at++)
          s[at] = c * s[at] - slope * Math.abs(i - j);
      continue;
    }
    for (let j = j0; j < j1; j++) {
      const at = r * nc + j - j0;
      s[at] = sees(row, j, mask.keep) ? c * s[at] - slope * Math.abs(i - j) : -Infinity;
    }
  }
}

/** Is [j0, j1) inside one of the row's spans? */
function seesAll({ spans, count }: Row, j0: number, j1: number): boolean {
  for (let s = 0; s < count; s++) if (spans[2 * s] <= j0 && j1 <= spans[2 * s + 1]) return true;
  return false;
}

/**
 * The forward kernel with its tile products on `panels()`'s panel kernel and its exps on
 * `exps()`'s: y (batch, heads, T, dv) in v's dtype and the row log-sum-exp; q, k, v contiguous.
 */
export const fusedAttentionOn =
  (panels: () => PanelKernel, exps: () => RowExp): Kernel<'fusedAttention'> =>
  (q, k, v, dims, mask) => {
    const y = allocate(dtypeOf(v), dims.batch * dims.heads * dims.T * dims.dv);
    const lse = new Float64Array(dims.batch * dims.heads * dims.T);
    const groups: [number, number] = [0, dims.batch * dims.heads];
    fusedAttentionInto(q, k, v, dims, mask, groups, y, lse, panels(), exps());
    return { y, lse };
  };

/** The reference: products and exps in TypeScript. */
export const fusedAttention = fusedAttentionOn(
  () => tsPanelKernel,
  () => tsRowExp,
);

/**
 * The forward on groups [g0, g1), written into their rows of y and lse (the threads' chunks), the
 * tile products through `kernel` and the exps through `rowExp` (the threaded backend passes the
 * SIMD ones: the same bits).
 */
export function fusedAttentionInto(
  q: TypedArray,
  k: TypedArray,
  v: TypedArray,
  dims: FusedAttentionDims,
  mask: FusedAttentionMask,
  groups: [number, number],
  y: TypedArray,
  lse: Float64Array,
  kernel: PanelKernel = tsPanelKernel,
  rowExp: RowExp = tsRowExp,
): void {
  const { S, dv } = dims;
  const s = rowExp.tile(BR * BC),
    pv = scratch('fused pv', BR * dv);
  const max = new Float64Array(BR),
    sum = new Float64Array(BR),
    acc = new Float64Array(BR * dv);
  forEachBlock(dims, mask, groups, (block) => {
    max.fill(-Infinity);
    sum.fill(0);
    acc.fill(0);
    forEachTile(block, S, (j0, j1) => {
      const nc = j1 - j0;
      scores(q, k, dims, mask, block, [j0, j1], kernel, s);
      // one online-softmax step a row: rescale to the new max, s becomes p = e^(s − max)
      for (let r = 0; r < block.n; r++) {
        let m = max[r];
        for (let j = 0; j < nc; j++) m = Math.max(m, s[r * nc + j]);
        if (m > max[r]) {
          const rescale = expPoly(max[r] - m); // 0 on the first keys the row sees (max = −∞)
          sum[r] *= rescale;
          for (let c = 0; c < dv; c++) acc[r * dv + c] *= rescale;
          max[r] = m;
        }
        // p = e^(s − m) and its sum; 0 while the row has seen no key (m = −∞)
        if (m === -Infinity) s.fill(0, r * nc, (r + 1) * nc);
        else sum[r] += rowExp.expShifted(s, r * nc, nc, m);
      }
      const v0 = (block.g * S + j0) * dv;
      product(kernel, s, v.subarray(v0, v0 + nc * dv), [block.n, nc, dv], [false, false], pv);
      for (let e = 0; e < block.n * dv; e++) acc[e] += pv[e];
    });
    for (let r = 0; r < block.n; r++) {
      const { r: at } = block.rows[r];
      const l = sum[r]; // 0: the row sees no key, y = 0 (y may be reused memory: always written)
      lse[at] = l > 0 ? max[r] + Math.log(l) : -Infinity;
      for (let c = 0; c < dv; c++) y[at * dv + c] = l > 0 ? acc[r * dv + c] / l : 0;
    }
  });
}

/** The backward kernel on `panels()` and `exps()`: gradients of q, k, v from dy, y and lse. */
export const fusedAttentionBackwardOn =
  (panels: () => PanelKernel, exps: () => RowExp): Kernel<'fusedAttentionBackward'> =>
  (dy, q, k, v, y, lse, dims, mask) => {
    const grads = {
      dq: allocate(dtypeOf(q), q.length),
      dk: allocate(dtypeOf(k), k.length),
      dv: allocate(dtypeOf(v), v.length),
    };
    const groups: [number, number] = [0, dims.batch * dims.heads];
    fusedAttentionBackwardInto(dy, q, k, v, y, lse, dims, mask, groups, grads, panels(), exps());
    return grads;
  };

/** The reference: products and exps in TypeScript. */
export const fusedAttentionBackward = fusedAttentionBackwardOn(
  () => tsPanelKernel,
  () => tsRowExp,
);

/** The backward on groups [g0, g1), written into their rows of dq, dk, dv. */
export function fusedAttentionBackwardInto(
  dy: TypedArray,
  q: TypedArray,
  k: TypedArray,
  v: TypedArray,
  y: TypedArray,
  lse: Float64Array,
  dims: FusedAttentionDims,
  mask: FusedAttentionMask,
  groups: [number, number],
  { dq, dk, dv: dvOut }: FusedAttentionGrads,
  kernel: PanelKernel = tsPanelKernel,
  rowExp: RowExp = tsRowExp,
): void {
  const { T, S, d, dv } = dims;
  const p = rowExp.tile(BR * BC),
    dp = scratch('fused dp', BR * BC),
    part = scratch('fused part', Math.max(BR, BC) * Math.max(d, dv));
  const dkAcc = new Float64Array(S * d),
    dvAcc = new Float64Array(S * dv), // one group's dk, dv
    dqAcc = new Float64Array(BR * d),
    D = new Float64Array(BR); // D_i = dy_i · y_i
  forEachBlock(dims, mask, groups, (block) => {
    const { n, g } = block;
    const r0 = block.rows[0].r;
    const [qb, dyb] = [q.subarray(r0 * d, (r0 + n) * d), dy.subarray(r0 * dv, (r0 + n) * dv)];
    dqAcc.fill(0);
    for (let r = 0; r < n; r++) {
      D[r] = 0;
      for (let c = 0; c < dv; c++) D[r] += dy[(r0 + r) * dv + c] * y[(r0 + r) * dv + c];
    }
    forEachTile(block, S, (j0, j1) => {
      const nc = j1 - j0;
      const [k0, v0] = [(g * S + j0) * d, (g * S + j0) * dv];
      const [kb, vb] = [k.subarray(k0, k0 + nc * d), v.subarray(v0, v0 + nc * dv)];
      scores(q, k, dims, mask, block, [j0, j1], kernel, p);
      for (let r = 0; r < n; r++) {
        const L = lse[r0 + r]; // −∞: the row sees no key
        if (L === -Infinity) p.fill(0, r * nc, (r + 1) * nc);
        else rowExp.expShifted(p, r * nc, nc, L);
      }
      product(kernel, p, dyb, [nc, n, dv], [true, false], part); // dv_j += Σ_i p_ij dy_i
      for (let e = 0; e < nc * dv; e++) dvAcc[j0 * dv + e] += part[e];
      product(kernel, dyb, vb, [n, dv, nc], [false, true], dp); // dy_i · v_j
      for (let r = 0; r < n; r++) {
        const c = block.rows[r].c;
        // p becomes c·ds = c·p ⊙ (dy·v − D)
        for (let j = 0; j < nc; j++) p[r * nc + j] = c * p[r * nc + j] * (dp[r * nc + j] - D[r]);
      }
      product(kernel, p, kb, [n, nc, d], [false, false], part); // dq_i += Σ_j c ds_ij k_j
      for (let e = 0; e < n * d; e++) dqAcc[e] += part[e];
      product(kernel, p, qb, [nc, n, d], [true, false], part); // dk_j += Σ_i c ds_ij q_i
      for (let e = 0; e < nc * d; e++) dkAcc[j0 * d + e] += part[e];
    });
    dq.set(dqAcc.subarray(0, n * d), r0 * d); // every row, zeros for one with no keys
    if (block.t0 + n === T) {
      dk.set(dkAcc, g * S * d);
      dvOut.set(dvAcc, g * S * dv);
      dkAcc.fill(0);
      dvAcc.fill(0);
    }
  });
}
