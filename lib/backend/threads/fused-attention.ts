// Fused attention on the pool: whole (batch, head) groups a chunk, each chunk running the CPU
// kernel's own code (../cpu/fused-attention.ts) on its groups with the tile products and the row
// exps in WebAssembly SIMD (the same operations in the same order), so the result is bitwise the
// CPU backend's.
// The pool's arena holds one dtype, and the kernels return more than one array (y and the row
// log-sum-exp; dq, dk, dv), some in doubles: so operands travel as float64 (exact for float32
// input, and the kernel computes in doubles anyway), the outputs sit end to end in one float64
// output, and `result` casts them back (y rounds to float32 once, as the CPU kernel's store does).
// Read next: ../threads.ts (the splits table this extends).

import { castArray, dtypeOf, type TypedArray } from '../../dtype.ts';
import type { FusedAttentionDims, FusedAttentionMask } from '../backend.ts';
import { fusedAttentionBackwardInto, fusedAttentionInto } from '../cpu/fused-attention.ts';
import type { Split } from '../threads.ts';
import { fastRowExp } from '../wasm/exp-kernel.ts';
import { fastPanelKernel } from '../wasm/matmul-kernel.ts';

// Multiply-adds of the scores alone (groups · T · S · d) from which a call splits: as matmul's
// MIN_WORK, a job costs ~0.1 ms and this is ~0.5 ms of work on one thread.
const MIN_WORK = 1 << 22;

/** What every chunk needs: the sizes and the mask, its padding travelling as the last operand. */
export interface Params {
  dims: FusedAttentionDims;
  mask: Omit<FusedAttentionMask, 'keep'>;
  hasKeep: boolean;
}

const groupsOf = (dims: FusedAttentionDims) => dims.batch * dims.heads;
const accepts = (dims: FusedAttentionDims) =>
  groupsOf(dims) > 1 && groupsOf(dims) * dims.T * dims.S * dims.d >= MIN_WORK;
const f64 = (x: TypedArray) => castArray(x, 'float64');

/** Operands in doubles, the padding mask (if any) last; one chunk a group. */
function plan(operands: TypedArray[], dims: FusedAttentionDims, mask: FusedAttentionMask) {
  const { keep, ...rest } = mask;
  const inputs = [...operands, ...(keep ? [keep] : [])].map(f64);
  return { params: { dims, mask: rest, hasKeep: keep !== null }, chunks: groupsOf(dims), inputs };
}

/** The views of a chunk: operands, the mask with its padding, and the output. */
function unpack(params: Params, views: TypedArray[], operands: number) {
  const keep = params.hasKeep ? views[operands] : null;
  return { ops: views.slice(0, operands), mask: { ...params.mask, keep }, out: views.at(-1)! };
}

/** out[lo, hi) as a new array of `like`'s dtype. */
const part = (out: TypedArray, lo: number, hi: number, like: TypedArray) =>
  castArray(out.subarray(lo, hi), dtypeOf(like));

export const fusedAttentionSplits = {
  // output: y (groups·T·dv), then lse (groups·T)
  fusedAttention: {
    accepts: (_q, _k, _v, dims) => accepts(dims),
    plan: (q, k, v, dims, mask) => ({
      ...plan([q, k, v], dims, mask),
      outLength: groupsOf(dims) * dims.T * (dims.dv + 1),
    }),
    chunk: (params, views) => {
      const { ops, mask, out } = unpack(params, views, 3);
      const rows = groupsOf(params.dims) * params.dims.T;
      const y = out.subarray(0, rows * params.dims.dv),
        lse = out.subarray(rows * params.dims.dv) as Float64Array;
      const [kernel, rowExp] = [fastPanelKernel(), fastRowExp()]; // SIMD, the same bits
      return (g) =>
        fusedAttentionInto(
          ops[0],
          ops[1],
          ops[2],
          params.dims,
          mask,
          [g, g + 1],
          y,
          lse,
          kernel,
          rowExp,
        );
    },
    result: (out, _q, _k, v, dims) => {
      const yLength = groupsOf(dims) * dims.T * dims.dv;
      return { y: part(out, 0, yLength, v), lse: out.slice(yLength) as Float64Array };
    },
  } satisfies Split<'fusedAttention', Params>,
  // operands dy, q, k, v, y, lse; output: dq, dk, dv end to end
  fusedAttentionBackward: {
    accepts: (_dy, _q, _k, _v, _y, _lse, dims) => accepts(dims),
    plan: (dy, q, k, v, y, lse, dims, mask) => ({
      ...plan([dy, q, k, v, y, lse], dims, mask),
      outLength: q.length + k.length + v.length,
    }),
    chunk: (params, views) => {
      const { ops, mask, out } = unpack(params, views, 6);
      const [dy, q, k, v, y, lse] = ops;
      const [nq, nk] = [q.length, k.length];
      const grads = {
        dq: out.subarray(0, nq),
        dk: out.subarray(nq, nq + nk),
        dv: out.subarray(nq + nk),
      };
      const [kernel, rowExp] = [fastPanelKernel(), fastRowExp()];
      return (g) =>
        fusedAttentionBackwardInto(
          dy,
          q,
          k,
          v,
          y,
          lse as Float64Array,
          params.dims,
          mask,
          [g, g + 1],
          grads,
          kernel,
          rowExp,
        );
    },
    result: (out, _dy, q, k, v) => {
      const [nq, nk] = [q.length, k.length];
      return {
        dq: part(out, 0, nq, q),
        dk: part(out, nq, nq + nk, k),
        dv: part(out, nq + nk, out.length, v),
      };
    },
  } satisfies Split<'fusedAttentionBackward', Params>,
};
