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
// These kernels are not (yet) entries of the Backend interface: the primitives ask the active
// backend for a kernel of the same name and fall back to these, so an accelerated backend can
// override them without every backend having to implement them.

import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';

export interface SparseDims {
  G: number; // groups (B·nh)
  heads: number; // nh: groups per table when the table is per batch row
  T: number; // queries
  S: number; // keys
  W: number; // slots per query
  d: number; // row width of q / k / v
  perBatch: boolean; // idx is (B, T, W) rather than (T, W)
}

const tableOffset = ({ heads, T, W, perBatch }: SparseDims, g: number) => (perBatch ? Math.floor(g / heads) * T * W : 0);

export function gatherScores(q: TypedArray, k: TypedArray, idx: Int32Array, dims: SparseDims, fill: number): TypedArray {
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
}

export function gatherApply(p: TypedArray, v: TypedArray, idx: Int32Array, dims: SparseDims): TypedArray {
  const { G, T, S, W, d } = dims;
  const out = allocate(dtypeOf(v), G * T * d);
  const row = new Float64Array(d);
  for (let g = 0; g < G; g++) {
    const tab = tableOffset(dims, g);
    for (let t = 0; t < T; t++) {
      row.fill(0);
      for (let j = 0; j < W; j++) {
        const m = idx[tab + t * W + j];
        const w = p[(g * T + t) * W + j];
        if (m < 0) continue;
        const vo = (g * S + m) * d;
        for (let c = 0; c < d; c++) row[c] += w * v[vo + c];
      }
      out.set(row, (g * T + t) * d);
    }
  }
  return out;
}

export function scatterApply(p: TypedArray, x: TypedArray, idx: Int32Array, dims: SparseDims): TypedArray {
  const { G, T, S, W, d } = dims;
  const out = allocate(dtypeOf(x), G * S * d);
  const acc = new Float64Array(S * d); // one group's (S, d) sums, rounded once at the end
  for (let g = 0; g < G; g++) {
    const tab = tableOffset(dims, g);
    acc.fill(0);
    for (let t = 0; t < T; t++) {
      const xo = (g * T + t) * d;
      for (let j = 0; j < W; j++) {
        const m = idx[tab + t * W + j];
        const w = p[(g * T + t) * W + j];
        if (m < 0) continue;
        for (let c = 0; c < d; c++) acc[m * d + c] += w * x[xo + c];
      }
    }
    out.set(acc, g * S * d);
  }
  return out;
}
