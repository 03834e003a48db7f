// The Backend: a table of kernels, plain functions over typed arrays (no Tensor, no autograd).
// Every kernel an op calls is an entry here, and ops reach kernels only through backend().<kernel>.
// The CPU backend (cpu.ts) implements every kernel and is the reference; an accelerated backend
// is another backend's table with some kernels overridden (override.ts: an `accepts` size test
// and a `run`), so whatever an override declines falls through to the layer below.
// Read next: cpu.ts, then override.ts, then ../ops/primitive.ts.
//
// What runs where ('cpu' ⊂ 'cpu-threads' ⊂ 'gpu': each backend is the one before it with the
// kernels below overridden; a call an override declines runs the layer below):
//
//   kernel                 cpu            cpu-threads                        gpu (gpu.js, float32)
//   matmul                 TS panel       SIMD panel kernel; split across    from 2^22 flops
//                          kernel         the pool from 2^22 multiply-adds   (2·batch·M·N·K)
//                                         (and ≥ 128 rows or columns)
//   unary                  TS             split from 2^15 elements (not      -
//                                         neg, abs, sign, relu)
//   softmax, its backward  TS             float32 at matmul precision        from 2^16 elements
//                                         'float32': the f32x4 row kernel
//                                         along the last dim (not split),
//                                         else the SIMD row exp; split from
//                                         2^15 elements (> 1 row)
//   norm, normBackward     TS             f64x2 SIMD rows on float32 at      -
//                                         matmul precision 'float32'; else
//                                         split from 2^18 elements (> 1
//                                         row): rows; dγ, dβ by columns
//   fusedAttention, its    TS tile        SIMD tile products and row exps;   -
//   backward               products and   split by (batch, head) groups from
//                          row exps       2^22 score multiply-adds (G·T·S·d)
//   binary, biasActivation TS             f32x4 SIMD on float32 from 2^8     -
//   reluBackward, reduce                  elements (binary: b the same
//                                         shape, one number or a row;
//                                         reduce: sums of ≥ 4-wide columns)
//   every other kernel     TS             the cpu kernel                     the cpu kernel
//
// The thresholds: MIN_WORK and MIN_ELEMENTS in threads.ts (measured there), minMatmulFlops and
// minSoftmaxSize in gpu.ts (GpuBackendOptions). Nothing splits with one thread (ATTNGRAD_THREADS
// or setNumThreads); the gpu backend leaves float64 work and arrays of 2^24 elements or more to
// the threaded kernels. matmul sums float32 products in float32 (f32x4 SIMD) or in doubles:
// setMatmulPrecision in cpu/matmul.ts; 'cpu' and 'cpu-threads' give the same bits in either.
//
// Adding a kernel: declare it in `Backend` below, with its parameter types and a doc comment;
// write it in cpu/ as `export const name: Kernel<'name'> = (a, b) => ...` (the types come from the
// declaration) and list it in cpu.ts (`satisfies Backend` fails until you do). Splitting one
// across threads: one entry in `splits` in threads.ts (when it splits, how the job is cut, what a
// chunk computes); the pool and the workers take it from there.

import type { TypedArray } from '../dtype.ts';
import type { Shape } from '../shape.ts';

export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'abs'
  | 'sign'
  | 'relu'
  | 'sigmoid'
  | 'tanh'
  | 'erf'
  | 'pow'; // pow takes a scalar exponent as `param`
export type BinaryOp =
  'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum' | 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne';
export type ReduceOp = 'sum' | 'max' | 'min';
/** What a Linear applies after its bias (biasActivation). */
export type Activation = 'none' | 'relu';

export interface NormResult {
  y: TypedArray;
  mean: Float64Array; // per row; zeros for rmsNorm
  rstd: Float64Array; // per row: 1 / sqrt(var + eps)   (rmsNorm: 1 / sqrt(mean(x²) + eps))
}
export interface NormGrads {
  dx: TypedArray;
  dgamma: TypedArray | null;
  dbeta: TypedArray | null;
}

/** A batched matmul problem: out[b] = op(A[b]) · op(B[b]), op = transpose when the flag is set. */
export interface MatmulArgs {
  a: TypedArray;
  b: TypedArray;
  aShape: Shape; // (..., M, K) or (..., K, M) when transA
  bShape: Shape; // (..., K, N) or (..., N, K) when transB
  transA: boolean;
  transB: boolean;
  outShape: Shape; // (...broadcast batch, M, N)
}

/**
 * A sparse-attention problem (cpu/sparse.ts): G = B·nh groups of rows, T queries each reading W
 * slots of an index table over S keys, rows of width d; the table is (T, W), or (B, T, W) when
 * `perBatch` (group g then uses table ⌊g / heads⌋).
 */
export interface SparseDims {
  G: number; // groups (B·nh)
  heads: number; // nh: groups per table when the table is per batch row
  T: number; // queries
  S: number; // keys
  W: number; // slots per query
  d: number; // row width of q / k / v
  perBatch: boolean; // idx is (B, T, W) rather than (T, W)
}

/** Causal linear attention: `heads` independent (batch × head) sequences of length n. */
export interface LinearAttentionDims {
  heads: number;
  n: number;
  d: number; // feature width of φ(q), φ(k)
  dv: number; // value width
}

export interface LinearAttentionGrads {
  dq: TypedArray;
  dk: TypedArray;
  dv: TypedArray;
}

/**
 * Fused softmax attention (cpu/fused-attention.ts): batch·heads groups, T queries over S keys, q and
 * k rows of width d, v rows of width dv; query t sits at position i = S − T + t, key j at j.
 */
export interface FusedAttentionDims {
  batch: number;
  heads: number;
  T: number;
  S: number;
  d: number;
  dv: number;
}

/**
 * What the fused kernels do to the scores s_ij = κ_i·scale·q_i·k_j − slope_h·|i − j|: which keys a
 * query sees (causal: j ≤ i; a window: |i − j| ≤ window or j < sinks, then causal if set; keep: a
 * (batch, S) 0/1 padding mask of keys), the ALiBi slopes per head, and the log-n factor κ_i =
 * max(floor, log n_i / log base) over the n_i keys query i sees.
 */
export interface FusedAttentionMask {
  scale: number;
  causal: boolean;
  window: number | null;
  sinks: number;
  keep: TypedArray | null;
  slopes: readonly number[] | null;
  logn: { base: number; floor: number } | null;
}

export interface FusedAttentionResult {
  y: TypedArray; // (batch, heads, T, dv)
  lse: Float64Array; // (batch, heads, T): log Σ_j exp(s_ij) per row, −∞ for a row with no keys
}

/** dq, dk, dv: the same three gradients as linear attention's. */
export type FusedAttentionGrads = LinearAttentionGrads;

/** binary's and where's operands: a and b, each with its shape, broadcast to outShape. */
export type BroadcastOperands = [
  a: TypedArray,
  aShape: Shape,
  b: TypedArray,
  bShape: Shape,
  outShape: Shape,
];

export interface Backend {
  name: string;
  unary(op: UnaryOp, x: TypedArray, param?: number): TypedArray;
  /** relu's gradient in one pass: dy · [x > 0] (the bits of mul(dy, gt(x, 0))). */
  reluBackward(dy: TypedArray, x: TypedArray): TypedArray;
  /**
   * A Linear's epilogue in place: y (rows, n) + bias (n) when given, then relu when asked, written
   * over y and returned (y is a matmul output that nothing else holds). The bits of add, then relu.
   */
  biasActivation(y: TypedArray, bias: TypedArray | null, activation: Activation): TypedArray;
  /** Elementwise with NumPy broadcasting; comparisons return 1/0 in the dtype of `a`. */
  binary(op: BinaryOp, ...operands: BroadcastOperands): TypedArray;
  /** a where cond is non-zero, else b; cond broadcasts to outShape too. */
  where(cond: TypedArray, condShape: Shape, ...operands: BroadcastOperands): TypedArray;
  /** Reduce over `dims` (sorted); the result has those dims of size 1 (keepdim layout). */
  reduce(op: ReduceOp, x: TypedArray, shape: Shape, dims: readonly number[]): TypedArray;
  argReduce(op: 'argmax' | 'argmin', x: TypedArray, shape: Shape, dim: number): Int32Array;
  matmul(args: MatmulArgs): TypedArray;
  softmax(x: TypedArray, shape: Shape, dim: number, log: boolean): TypedArray;
  /**
   * Gradient of softmax (dx = y ⊙ (dy − Σ dy ⊙ y)) or, when `log`, log-softmax (dx = dy − exp(y)·Σ
   * dy), from its output y.
   */
  softmaxBackward(
    y: TypedArray,
    dy: TypedArray,
    shape: Shape,
    dim: number,
    log: boolean,
  ): TypedArray;
  /** Normalise each row of length shape[-1]; rms = true skips the centring (RMSNorm). */
  norm(
    x: TypedArray,
    shape: Shape,
    gamma: TypedArray | null,
    beta: TypedArray | null,
    eps: number,
    rms: boolean,
  ): NormResult;
  normBackward(
    dy: TypedArray,
    x: TypedArray,
    shape: Shape,
    gamma: TypedArray | null,
    hasBeta: boolean,
    stats: NormResult,
    rms: boolean,
  ): NormGrads;
  /**
   * Copy a strided view (offset, strides over `shape`, stride 0 = broadcast) into a new contiguous
   * array.
   */
  stridedCopy(x: TypedArray, shape: Shape, strides: readonly number[], offset: number): TypedArray;
  /**
   * Zeros of `shape` with `src` written into the view (offset, strides): the adjoint of stridedCopy
   * for slices.
   */
  stridedScatter(
    src: TypedArray,
    srcShape: Shape,
    shape: Shape,
    strides: readonly number[],
    offset: number,
  ): TypedArray;
  cat(
    parts: readonly TypedArray[],
    shapes: readonly Shape[],
    dim: number,
    outShape: Shape,
  ): TypedArray;
  /** torch.gather: out[..i..] = x[..index[..i..]..] along dim; index has out's shape. */
  gather(
    x: TypedArray,
    shape: Shape,
    dim: number,
    index: Int32Array,
    indexShape: Shape,
  ): TypedArray;
  /** Adjoint of gather: zeros of `shape`, then out[..index[..i..]..] += src[..i..]. */
  scatterAdd(
    src: TypedArray,
    index: Int32Array,
    indexShape: Shape,
    dim: number,
    shape: Shape,
  ): TypedArray;
  /** index_select: pick whole slices index[j] along dim. */
  indexSelect(x: TypedArray, shape: Shape, dim: number, index: Int32Array): TypedArray;
  /** Adjoint of indexSelect: zeros of `shape`, slice index[j] += src slice j. */
  indexAdd(
    src: TypedArray,
    srcShape: Shape,
    dim: number,
    index: Int32Array,
    shape: Shape,
  ): TypedArray;
  /** Inclusive prefix sum along dim (reverse = suffix sum), accumulated in doubles. */
  cumsum(x: TypedArray, shape: Shape, dim: number, reverse: boolean): TypedArray;
  /** Sparse scores s[g,t,j] = q[g,t]·k[g,idx[t,j]], `fill` where idx = −1 (an empty slot). */
  gatherScores(
    q: TypedArray,
    k: TypedArray,
    idx: Int32Array,
    dims: SparseDims,
    fill: number,
  ): TypedArray;
  /** o[g,t] = Σ_j p[g,t,j] v[g,idx[t,j]] over the non-empty slots. */
  gatherApply(p: TypedArray, v: TypedArray, idx: Int32Array, dims: SparseDims): TypedArray;
  /** The adjoint of gatherApply in v: y[g,m] = Σ_{(t,j): idx[t,j]=m} p[g,t,j] x[g,t]. */
  scatterApply(p: TypedArray, x: TypedArray, idx: Int32Array, dims: SparseDims): TypedArray;
  /** Causal linear attention: φ(q), φ(k) (heads, n, d) and v (heads, n, dv) → (heads, n, dv). */
  causalLinearAttention(
    q: TypedArray,
    k: TypedArray,
    v: TypedArray,
    dims: LinearAttentionDims,
    eps: number,
  ): TypedArray;
  /** Gradients of q, k, v from dy and the forward's output y. */
  causalLinearAttentionBackward(
    dy: TypedArray,
    q: TypedArray,
    k: TypedArray,
    v: TypedArray,
    y: TypedArray,
    dims: LinearAttentionDims,
    eps: number,
  ): LinearAttentionGrads;
  /** Softmax attention without the T × S matrix: y and the row log-sum-exp (online softmax). */
  fusedAttention(
    q: TypedArray,
    k: TypedArray,
    v: TypedArray,
    dims: FusedAttentionDims,
    mask: FusedAttentionMask,
  ): FusedAttentionResult;
  /** Gradients of q, k, v from dy, the forward's output y and its log-sum-exp (tiles recomputed). */
  fusedAttentionBackward(
    dy: TypedArray,
    q: TypedArray,
    k: TypedArray,
    v: TypedArray,
    y: TypedArray,
    lse: Float64Array,
    dims: FusedAttentionDims,
    mask: FusedAttentionMask,
  ): FusedAttentionGrads;
}

export type KernelName = Exclude<keyof Backend, 'name'>;

/** The type of kernel K: the CPU kernels are declared `const softmax: Kernel<'softmax'> = ...`. */
export type Kernel<K extends KernelName> = Backend[K];

/**
 * A kernel's `...Into` form (softmaxInto, softmaxBackwardInto): its arguments, then the array the
 * result is written into, so the threaded backend's chunks can write their rows of a shared output
 * in place. (unaryInto spells out its signature: its `param` is required.)
 */
export type KernelInto<K extends KernelName> = (
  ...args: [...Parameters<Kernel<K>>, out: TypedArray]
) => ReturnType<Kernel<K>>;

let current: Backend | null = null;
const registry = new Map<string, Backend>();

export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
  current ??= backend;
}

/** The active backend; kernels are looked up through it on every call. */
export function backend(): Backend {
  if (!current)
    throw new Error('backend: no backend registered (import attngrad from lib/index.ts)');
  return current;
}

export function setBackend(name: string): void {
  const b = registry.get(name);
  if (!b)
    throw new Error(
      `setBackend: unknown backend '${name}' (registered: ${[...registry.keys()].join(', ')})`,
    );
  current = b;
}
