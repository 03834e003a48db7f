// The reference backend: every kernel in plain TypeScript. Accelerated backends are checked against
// it.
// Read next: override.ts, then threads.ts (the default backend, built on this one).

import type { Backend } from './backend.ts';
import { binary, unary, where } from './cpu/elementwise.ts';
import { biasActivation, reluBackward } from './cpu/epilogue.ts';
import { fusedAttention, fusedAttentionBackward } from './cpu/fused-attention.ts';
import { gather, indexAdd, indexSelect, scatterAdd } from './cpu/indexing.ts';
import { causalLinearAttention, causalLinearAttentionBackward } from './cpu/linear-attention.ts';
import { matmul } from './cpu/matmul.ts';
import { cat, cumsum, stridedCopy, stridedScatter } from './cpu/movement.ts';
import { norm, normBackward } from './cpu/norm.ts';
import { argReduce, reduce } from './cpu/reduce.ts';
import { softmax, softmaxBackward } from './cpu/softmax.ts';
import { gatherApply, gatherScores, scatterApply } from './cpu/sparse.ts';

export const cpuBackend = {
  name: 'cpu',
  unary,
  reluBackward,
  biasActivation,
  binary,
  where,
  reduce,
  argReduce,
  matmul,
  softmax,
  softmaxBackward,
  norm,
  normBackward,
  stridedCopy,
  stridedScatter,
  cat,
  gather,
  scatterAdd,
  indexSelect,
  indexAdd,
  cumsum,
  gatherScores,
  gatherApply,
  scatterApply,
  causalLinearAttention,
  causalLinearAttentionBackward,
  fusedAttention,
  fusedAttentionBackward,
} satisfies Backend;
