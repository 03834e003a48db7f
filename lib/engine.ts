// The engine's surface on every platform: what index.ts (Node) and browser.ts (a page or a Web
// Worker) both export. Node-only pieces stay out of it: the worker_threads pool comes in through
// backend/threads/pool.ts, which the browser bundle swaps for web-pool.ts (web/build.ts). Reading
// order for learners: tensor.ts → autograd.ts → ops/primitive.ts → ops/*.ts → backend/cpu/*.

import { cpuBackend } from './backend/cpu.ts';
import { registerBackend, setBackend } from './backend/backend.ts';
import { threadedBackend } from './backend/threads.ts';

// Two CPU backends with bitwise the same results: 'cpu', the single-threaded TypeScript reference
// every kernel is checked against, and 'cpu-threads' (the default), which runs matmul's inner loops
// in WebAssembly SIMD and splits large matmuls, exps and softmaxes across cores (ATTNGRAD_THREADS
// or setNumThreads(n) sets how many; with 1, everything runs on the main thread). A backend of
// your own: overrideBackend(name, base, overrides) from backend/override.ts, then registerBackend.
registerBackend(cpuBackend);
registerBackend(threadedBackend);
setBackend(threadedBackend.name);

export { Tensor, type TensorLike } from './tensor.ts';
export type { DType, TypedArray } from './dtype.ts';
export { backward, grad, valueAndGrad, noGrad, isGradEnabled, type GradFn } from './autograd.ts';
export {
  tensor,
  zeros,
  ones,
  full,
  zerosLike,
  onesLike,
  arange,
  eye,
  randn,
  rand,
  randint,
  type TensorOptions,
} from './creation.ts';
export { manualSeed, getRngState, setRngState, type RngState } from './random.ts';
export {
  where,
  maskedFill,
  stack,
  linear,
  oneHot,
  dropout,
  crossEntropy,
  gelu,
  silu,
  elu,
  clamp,
  logsumexp,
  tril,
  triu,
  split,
  chunk,
  type CrossEntropyOptions,
} from './functional.ts';
export { cat, slice } from './ops/movement.ts';
export { matmul, type MatmulOptions } from './ops/matmul.ts';
export { softmax, logSoftmax } from './ops/softmax.ts';
export { layerNorm, rmsNorm } from './ops/norm.ts';
export { gather, indexSelect } from './ops/indexing.ts';
export { gatherScores, gatherApply, scatterApply } from './ops/sparse.ts';
export {
  causalLinearAttention,
  linearAttention,
  type LinearAttentionOptions,
} from './ops/linear-attention.ts';
export { fusedAttention, type FusedAttentionOptions } from './ops/fused-attention.ts';
export { primitives } from './ops/primitive.ts';
export {
  backend,
  setBackend,
  registerBackend,
  type Backend,
  type KernelName,
} from './backend/backend.ts';
export type {
  Activation,
  FusedAttentionDims,
  FusedAttentionMask,
  FusedAttentionResult,
  LinearAttentionDims,
  LinearAttentionGrads,
  MatmulArgs,
  SparseDims,
} from './backend/backend.ts';
export { overrideBackend, type Override, type Overrides } from './backend/override.ts';
export { toNdarray, fromNdarray } from './ndarray-interop.ts';
export { setNumThreads, getNumThreads, threadStats, type ThreadStats } from './backend/threads.ts';
export { setStoragePoolLimit, storagePoolStats, clearStoragePool } from './storage-pool.ts';
export {
  setMatmulPrecision,
  getMatmulPrecision,
  type MatmulPrecision,
} from './backend/cpu/matmul.ts';
export {
  gpuCounters,
  resetGpuCounters,
  type GpuBackendOptions,
  type GpuCounters,
  type GpuInit,
  type GpuMode,
} from './backend/gpu/table.ts';
export { graphOps } from './autograd.ts';
export { scatterAdd, indexAdd } from './ops/indexing.ts';
export { sliceScatter } from './functional.ts';
