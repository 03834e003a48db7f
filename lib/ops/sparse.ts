// Sparse-attention primitives over an index table: each query t reads the W keys idx[t, ·] (−1 =
// empty slot), so attention costs O(T·W) time and memory instead of O(T·S). A pattern (local,
// atrous, strided, ...) is then nothing but a table; see models/sparse-attention.ts.
//
//   gatherScores  (B,nh,T,d) q, (B,nh,S,d) k → (B,nh,T,W)   s_tj = q_t · k_idx[t,j]  (fill: empty)
//   gatherApply   (B,nh,T,W) p, (B,nh,S,d) v → (B,nh,T,d)   o_t  = Σ_j p_tj v_idx[t,j]
//   scatterApply  (B,nh,T,W) p, (B,nh,T,d) x → (B,nh,S,d)   y_m  = Σ_{idx[t,j]=m} p_tj x_t
//
// idx is int32 (T, W), shared by the batch, or (B, T, W) when padding differs per row. Attention is
// softmax(gatherScores(q/√hs, k, idx, −∞)) then gatherApply: empty slots score −∞, the fused
// softmax turns them into zeros (and a row with no key at all into a zero row).
// Read next: ../backend/cpu/sparse.ts (the reference kernels, reached through backend()).

import { backend, type SparseDims } from '../backend/backend.ts';
import { fmt } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { checkSameDtype } from './elementwise.ts';
import { primitive, type Op } from './primitive.ts';

/** Kernel dims from a (B, nh, ·, d) operand, the key count S and the table. */
function dimsOf(x: Tensor, S: number, d: number, idx: Tensor): SparseDims {
  const [B, nh] = x.shape;
  const [T, W] = idx.shape.slice(-2);
  return { G: B * nh, heads: nh, T, S, W, d, perBatch: idx.ndim === 3 };
}
const table = (idx: Tensor) => idx.data as Int32Array;

// s_tj = q_t · k_idx[t,j]:  dq_t = Σ_j ds_tj k_idx[t,j] = gatherApply(ds, k);
//                           dk_m = Σ_{idx[t,j]=m} ds_tj q_t = scatterApply(ds, q)
const gatherScoresP: Op<{ fill: number }> = primitive<{ fill: number }>({
  name: 'gatherScores',
  forward: ([q, k, idx], { fill }) => {
    const [B, nh, T] = q.shape;
    const dims = dimsOf(q, k.shape[2], q.shape[3], idx);
    const s = backend().gatherScores(q.data, k.data, table(idx), dims, fill);
    return new Tensor(s, [B, nh, T, dims.W]);
  },
  backward: (ds, [q, k, idx]) => [
    gatherApplyP([ds, k, idx], undefined),
    scatterApplyP([ds, q, idx], k.shape[2]),
    null,
  ],
});

// o_t = Σ_j p_tj v_idx[t,j]:  dp_tj = do_t · v_idx[t,j] = gatherScores(do, v) (0 in empty slots);
//                             dv_m = Σ_{idx[t,j]=m} p_tj do_t = scatterApply(p, do)
const gatherApplyP: Op<undefined> = primitive({
  name: 'gatherApply',
  forward: ([p, v, idx]) => {
    const [B, nh, T] = p.shape;
    const dims = dimsOf(p, v.shape[2], v.shape[3], idx);
    return new Tensor(backend().gatherApply(p.data, v.data, table(idx), dims), [B, nh, T, dims.d]);
  },
  backward: (dout, [p, v, idx]) => [
    gatherScoresP([dout, v, idx], { fill: 0 }),
    scatterApplyP([p, dout, idx], v.shape[2]),
    null,
  ],
});

// y_m = Σ_{idx[t,j]=m} p_tj x_t:  dp_tj = x_t · dy_idx[t,j] = gatherScores(x, dy) (0 in empty
// slots);
//                                 dx_t = Σ_j p_tj dy_idx[t,j] = gatherApply(p, dy)
const scatterApplyP: Op<number> = primitive<number>({
  name: 'scatterApply',
  forward: ([p, x, idx], S) => {
    const [B, nh] = p.shape;
    const dims = dimsOf(p, S, x.shape[3], idx);
    return new Tensor(backend().scatterApply(p.data, x.data, table(idx), dims), [B, nh, S, dims.d]);
  },
  backward: (dy, [p, x, idx]) => [
    gatherScoresP([x, dy, idx], { fill: 0 }),
    gatherApplyP([p, dy, idx], undefined),
    null,
  ],
});

// ---- checked entry points: shapes, dtypes and every table entry, so kernels never read out of
// bounds ----

function check(op: string, rows: Tensor, other: Tensor, idx: Tensor, S: number, d: number): void {
  checkSameDtype(op, rows, other);
  const [B, nh, T] = rows.shape;
  if (
    rows.ndim !== 4 ||
    other.ndim !== 4 ||
    other.shape[0] !== B ||
    other.shape[1] !== nh ||
    other.shape[3] !== d
  ) {
    throw new Error(
      `${op}: operands must be (B, nh, ·, d) with the same B, nh, d; got ${fmt(rows.shape)} and ` +
        `${fmt(other.shape)}`,
    );
  }
  if (
    idx.dtype !== 'int32' ||
    !(idx.ndim === 2 || (idx.ndim === 3 && idx.shape[0] === B)) ||
    idx.shape[idx.ndim - 2] !== T
  ) {
    throw new Error(
      `${op}: idx must be int32 (${T}, W) or (${B}, ${T}, W), got ${idx.dtype} ${fmt(idx.shape)}`,
    );
  }
  const data = table(idx);
  for (let i = 0; i < data.length; i++) {
    if (data[i] < -1 || data[i] >= S)
      throw new Error(`${op}: idx entry ${data[i]} at ${i} is outside [−1, ${S})`);
  }
}

/** (B,nh,T,d) q, (B,nh,S,d) k → (B,nh,T,W) scores q_t · k_idx[t,j]; `fill` in empty slots. */
export function gatherScores(q: Tensor, k: Tensor, idx: Tensor, fill = 0): Tensor {
  check('gatherScores', q, k, idx, k.shape[2], q.shape[3]);
  return gatherScoresP([q, k, idx], { fill });
}

/** (B,nh,T,W) weights, (B,nh,S,d) values → (B,nh,T,d) Σ_j p_tj v_idx[t,j]. */
export function gatherApply(p: Tensor, v: Tensor, idx: Tensor): Tensor {
  if (p.shape[3] !== idx.shape[idx.ndim - 1])
    throw new Error(`gatherApply: weights ${fmt(p.shape)} do not match idx ${fmt(idx.shape)}`);
  check('gatherApply', p, v, idx, v.shape[2], v.shape[3]);
  return gatherApplyP([p, v, idx], undefined);
}

/** (B,nh,T,W) weights, (B,nh,T,d) rows → (B,nh,S,d): row t added into every key slot it read. */
export function scatterApply(p: Tensor, x: Tensor, idx: Tensor, S: number): Tensor {
  if (p.shape[3] !== idx.shape[idx.ndim - 1])
    throw new Error(`scatterApply: weights ${fmt(p.shape)} do not match idx ${fmt(idx.shape)}`);
  if (x.shape[2] !== p.shape[2])
    throw new Error(`scatterApply: rows ${fmt(x.shape)} and weights ${fmt(p.shape)} differ in T`);
  check('scatterApply', p, x, idx, S, x.shape[3]);
  return scatterApplyP([p, x, idx], S);
}
