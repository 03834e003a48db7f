// Sparse-attention kernels: every query reads its keys through an index table, so the work and the
// memory are O(T·W), never O(T·S). Read next: ../../ops/sparse.ts (the primitives built on them).
//
// Layout. G = B·nh groups of rows; q-like operands are (G, T, d), k-like (G, S, d), weights
// (G, T, W); the table idx is (T, W), shared by every group, or (B, T, W), one per batch row
// (then group g uses table ⌊g / nh⌋). idx[t, j] ∈ [0, S) names a key, −1 an empty slot.
//
//   gatherScores  s[g,t,j] = q[g,t]·k[g,idx[t,j]]          (fill where idx = −1)
//   gatherApply   o[g,t]   = Σ_j p[g,t,j] v[g,idx[t,j]]    (empty slots add nothing)
//   scatterApply  y[g,m]   = Σ_{(t,j): idx[t,j]=m} p[g,t,j] x[g,t]
//
// scatterApply is the adjoint of gatherApply in v; each of the three is the adjoint of another in
// one argument, which is how the backward rules close over them. Sums run in doubles (a JS number,
// or a Float64Array row) and are rounded to the output dtype once.
//
// Kernels of the Backend table (../backend.ts declares them and SparseDims); the primitives in
// ../../ops/sparse.ts reach them through backend(), so an accelerated backend can override them.

import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import type { Kernel, SparseDims } from '../backend.ts';

export type { SparseDims };

const tableOffset = ({ heads, T, W, perBatch }: SparseDims, g: number) =>
  perBatch ? Math.floor(g / heads) * T * W : 0;

/**
 * Visit every query row (g, t) in order with its non-empty slots, in slot order: `count` of them,
 * their keys in keys[0 .. count) and their weights p[g,t,j] in weights[0 .. count).
 */
function forEachRow(
  p: TypedArray,
  idx: Int32Array,
  dims: SparseDims,
  visit: (g: number, t: number, count: number, keys: Int32Array, weights: Float64Array) => void,
): void {
  const { G, T, W } = dims;
  const keys = new Int32Array(W),
    weights = new Float64Array(W);
  for (let g = 0; g < G; g++) {
    for (let t = 0; t < T; t++) {
      const tab = tableOffset(dims, g) + t * W,
        row = (g * T + t) * W;
      let count = 0;
      for (let j = 0; j < W; j++) {
        if (idx[tab + j] < 0) continue;
        keys[count] = idx[tab + j];
        weights[count++] = p[row + j];
      }
      visit(g, t, count, keys, weights);
    }
  }
}

/** dst[to .. to + d) += w · src[from .. from + d), in doubles. */
function addScaled(
  dst: Float64Array,
  to: number,
  w: number,
  src: TypedArray,
  from: number,
  d: number,
): void {
  for (let c = 0; c < d; c++) dst[to + c] += w * src[from + c];
}

export const gatherScores: Kernel<'gatherScores'> = (q, k, idx, dims, fill) => {
  const { G, T, S, W, d } = dims;
  const out = allocate(dtypeOf(q), G * T * W);
  for (let g = 0; g < G; g++) {
    const tab = tableOffset(dims, g);
    for (let t = 0; t < T; t++) {
      const qo = (g * T + t) * d;
      for (let j = 0; j < W; j++) {
        const m = idx[tab + t * W + j];
        if (m < 0) {
          out[(g * T + t) * W + j] = fill;
          continue;
        }
        const ko = (g * S + m) * d;
        let acc = 0;
        for (let c = 0; c < d; c++) acc += q[qo + c] * k[ko + c];
        out[(g * T + t) * W + j] = acc;
      }
    }
  }
  return out;
};

/** o[g,t] = Σ_j p[g,t,j] v[g,idx[t,j]]: (G, T, W) weights, (G, S, d) values → (G, T, d). */
export const gatherApply: Kernel<'gatherApply'> = (p, v, idx, dims) => {
  const { G, T, S, d } = dims;
  const out = allocate(dtypeOf(v), G * T * d);
  const row = new Float64Array(d);
  forEachRow(p, idx, dims, (g, t, count, keys, weights) => {
    row.fill(0);
    for (let s = 0; s < count; s++) addScaled(row, 0, weights[s], v, (g * S + keys[s]) * d, d);
    out.set(row, (g * T + t) * d);
  });
  return out;
};

/** y[g,m] = Σ_{idx[t,j]=m} p[g,t,j] x[g,t]: (G, T, W) weights, (G, T, d) rows → (G, S, d). */
export const scatterApply: Kernel<'scatterApply'> = (p, x, idx, dims) => {
  const { G, T, S, d } = dims;
  const acc = new Float64Array(S * d); // one group's (S, d) sums, rounded once at its last row
  const out = allocate(dtypeOf(x), G * S * d);
  forEachRow(p, idx, dims, (g, t, count, keys, weights) => {
    if (t === 0) acc.fill(0);
    for (let s = 0; s < count; s++) addScaled(acc, keys[s] * d, weights[s], x, (g * T + t) * d, d);
    if (t === T - 1) out.set(acc, g * S * d);
  });
  return out;
};
