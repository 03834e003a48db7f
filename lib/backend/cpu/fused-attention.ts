// Fused softmax attention (the FlashAttention scheme, Dao et al. 2022, arXiv 2205.14135, on the
// CPU), forward and backward, without ever holding a T × S score matrix: two kernels of the Backend
// table, which the primitive in ../../ops/fused-attention.ts reaches through backend().
//
// Per query row i (position S − T + t) of group g = (b, h), with s_ij = c_i·q_i·k_j − m_h·|i − j|
// over the keys i sees (c_i = κ_i·scale; ../backend.ts FusedAttentionMask says which keys):
//   forward   keys in tiles of TILE: scores of the tile, then one online-softmax step with a
//             running max m, a running sum l and an accumulator a (dv doubles):
//               m' = max(m, max_tile s),  l ← l·e^(m−m') + Σ e^(s−m'),  a ← a·e^(m−m') + Σ e^(s−m') v_j
//             y_i = a / l and lse_i = m + log l are all it keeps (a row with no keys: y = 0, −∞).
//   backward  the tiles again, p_ij = e^(s_ij − lse_i) from the saved lse, D_i = dy_i·y_i:
//               dv_j += p_ij dy_i,  ds_ij = p_ij (dy_i·v_j − D_i),
//               dq_i += c_i ds_ij k_j,  dk_j += c_i ds_ij q_i
// Memory: the outputs, the lse (n doubles) and, in backward, one group's dk and dv in doubles:
// O(n·d), against O(n²) for the scores, probabilities and their gradients of the unfused path.
// Every sum is in doubles, rows in order, so a row's result never depends on anything but its own
// inputs (groups can be split across threads bit for bit).

import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import type {
  FusedAttentionDims,
  FusedAttentionGrads,
  FusedAttentionMask,
  Kernel,
} from '../backend.ts';

const TILE = 64; // keys a tile: one running-max rescale per tile rather than one per key

/** One query row as both kernels walk it. */
interface Row {
  g: number; // group b·heads + h
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

/** Visit every query row of groups g0 … g1 − 1: position, visible spans, score coefficient. */
function forEachRow(
  dims: FusedAttentionDims,
  mask: FusedAttentionMask,
  [g0, g1]: [number, number],
  visit: (row: Row) => void,
): void {
  const { heads, T, S } = dims;
  const row: Row = {
    g: 0,
    r: 0,
    keepOff: 0,
    i: 0,
    c: 0,
    slope: 0,
    spans: new Int32Array(4),
    count: 0,
  };
  for (let g = g0; g < g1; g++) {
    row.g = g;
    row.keepOff = Math.floor(g / heads) * S;
    row.slope = mask.slopes ? mask.slopes[g % heads] : 0;
    for (let t = 0; t < T; t++) {
      row.r = g * T + t;
      row.i = S - T + t;
      visibleSpans(row, S, mask);
      row.c = mask.scale * lognFactor(row, mask);
      visit(row);
    }
  }
}

/**
 * Scores s_j of keys j0 … j1 − 1 for the scaled query qs (c_i·q_i) into out[0 …]: −∞ for a padded
 * key. Returns the tile's max.
 */
function scoreTile(
  qs: Float64Array,
  k: TypedArray,
  kOff: number,
  j0: number,
  j1: number,
  row: Row,
  keep: TypedArray | null,
  out: Float64Array,
): number {
  const d = qs.length;
  let max = -Infinity;
  for (let j = j0; j < j1; j++) {
    let s = -Infinity;
    if (!keep || keep[row.keepOff + j] !== 0) {
      const kj = kOff + j * d;
      s = -row.slope * Math.abs(row.i - j);
      for (let a = 0; a < d; a++) s += qs[a] * k[kj + a];
    }
    out[j - j0] = s;
    if (s > max) max = s;
  }
  return max;
}

/** qs = c·q_r, the row's query scaled, in doubles. */
function scaledQuery(q: TypedArray, row: Row, qs: Float64Array): void {
  const d = qs.length,
    off = row.r * d;
  for (let a = 0; a < d; a++) qs[a] = row.c * q[off + a];
}

/** All groups at once: the kernels' groups from 0 to batch·heads. */
const allGroups = (dims: FusedAttentionDims): [number, number] => [0, dims.batch * dims.heads];

/** y (batch, heads, T, dv) in v's dtype and the row log-sum-exp; q, k, v contiguous. */
export const fusedAttention: Kernel<'fusedAttention'> = (q, k, v, dims, mask) => {
  const y = allocate(dtypeOf(v), dims.batch * dims.heads * dims.T * dims.dv);
  const lse = new Float64Array(dims.batch * dims.heads * dims.T);
  fusedAttentionInto(q, k, v, dims, mask, allGroups(dims), y, lse);
  return { y, lse };
};

/** The forward on groups [g0, g1), written into their rows of y and lse (the threads' chunks). */
export function fusedAttentionInto(
  q: TypedArray,
  k: TypedArray,
  v: TypedArray,
  dims: FusedAttentionDims,
  mask: FusedAttentionMask,
  groups: [number, number],
  y: TypedArray,
  lse: Float64Array,
): void {
  const { S, d, dv } = dims;
  const qs = new Float64Array(d),
    acc = new Float64Array(dv),
    tile = new Float64Array(TILE);
  forEachRow(dims, mask, groups, (row) => {
    scaledQuery(q, row, qs);
    const kOff = row.g * S * d,
      vOff = row.g * S * dv;
    let m = -Infinity,
      l = 0;
    acc.fill(0);
    for (let s = 0; s < row.count; s++) {
      const hi = row.spans[2 * s + 1];
      for (let j0 = row.spans[2 * s]; j0 < hi; j0 += TILE) {
        const j1 = Math.min(j0 + TILE, hi);
        const max = scoreTile(qs, k, kOff, j0, j1, row, mask.keep, tile);
        if (max > m) {
          const rescale = Math.exp(m - max); // 0 on the first visible tile (m = −∞)
          l *= rescale;
          for (let c = 0; c < dv; c++) acc[c] *= rescale;
          m = max;
        }
        if (m === -Infinity) continue; // only padded keys so far
        for (let j = j0; j < j1; j++) {
          const p = Math.exp(tile[j - j0] - m);
          if (p === 0) continue;
          l += p;
          const vj = vOff + j * dv;
          for (let c = 0; c < dv; c++) acc[c] += p * v[vj + c];
        }
      }
    }
    lse[row.r] = l > 0 ? m + Math.log(l) : -Infinity;
    for (let c = 0; c < dv; c++) y[row.r * dv + c] = l > 0 ? acc[c] / l : 0; // y may be reused memory
  });
}

/** Gradients of q, k, v from dy and the forward's y and lse (both per row). */
export const fusedAttentionBackward: Kernel<'fusedAttentionBackward'> = (
  dy,
  q,
  k,
  v,
  y,
  lse,
  dims,
  mask,
) => {
  const grads = {
    dq: allocate(dtypeOf(q), q.length),
    dk: allocate(dtypeOf(k), k.length),
    dv: allocate(dtypeOf(v), v.length),
  };
  fusedAttentionBackwardInto(dy, q, k, v, y, lse, dims, mask, allGroups(dims), grads);
  return grads;
};

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
): void {
  const { T, S, d, dv } = dims;
  const dkAcc = new Float64Array(S * d),
    dvAcc = new Float64Array(S * dv); // one group's dk, dv in doubles
  const qs = new Float64Array(d),
    dqRow = new Float64Array(d),
    tile = new Float64Array(TILE);
  // the group's dk, dv out of the accumulators (called when its last row is done)
  const flush = (g: number) => {
    dk.set(dkAcc, g * S * d);
    dvOut.set(dvAcc, g * S * dv);
    dkAcc.fill(0);
    dvAcc.fill(0);
  };
  forEachRow(dims, mask, groups, (row) => {
    const L = lse[row.r];
    const kOff = row.g * S * d,
      vOff = row.g * S * dv,
      yOff = row.r * dv;
    if (L !== -Infinity) {
      scaledQuery(q, row, qs);
      let D = 0; // D_i = dy_i · y_i
      for (let c = 0; c < dv; c++) D += dy[yOff + c] * y[yOff + c];
      dqRow.fill(0);
      for (let s = 0; s < row.count; s++) {
        const hi = row.spans[2 * s + 1];
        for (let j0 = row.spans[2 * s]; j0 < hi; j0 += TILE) {
          const j1 = Math.min(j0 + TILE, hi);
          scoreTile(qs, k, kOff, j0, j1, row, mask.keep, tile);
          for (let j = j0; j < j1; j++) {
            const p = Math.exp(tile[j - j0] - L);
            if (p === 0) continue;
            const vj = vOff + j * dv,
              kj = kOff + j * d;
            let dp = 0;
            for (let c = 0; c < dv; c++) {
              dp += dy[yOff + c] * v[vj + c];
              dvAcc[j * dv + c] += p * dy[yOff + c];
            }
            const ds = p * (dp - D);
            for (let a = 0; a < d; a++) {
              dqRow[a] += ds * k[kj + a];
              dkAcc[j * d + a] += ds * qs[a];
            }
          }
        }
      }
      for (let a = 0; a < d; a++) dq[row.r * d + a] = row.c * dqRow[a];
    } else dq.fill(0, row.r * d, (row.r + 1) * d); // a row with no keys (dq may be reused memory)
    if ((row.r + 1) % T === 0) flush(row.g);
  });
}
