// The reference backend: every kernel in plain TypeScript. Accelerated backends are checked against it.

import type { Backend } from './backend.ts';
import { binary, unary, where } from './cpu/elementwise.ts';
import { gather, indexAdd, indexSelect, scatterAdd } from './cpu/indexing.ts';
import { matmul } from './cpu/matmul.ts';
import { cat, cumsum, stridedCopy, stridedScatter } from './cpu/movement.ts';
import { norm, normBackward } from './cpu/norm.ts';
import { argReduce, reduce } from './cpu/reduce.ts';
import { softmax, softmaxBackward } from './cpu/softmax.ts';

export const cpuBackend = {
  name: 'cpu',
  unary, binary, where, reduce, argReduce, matmul, softmax, softmaxBackward, norm, normBackward,
  stridedCopy, stridedScatter, cat, gather, scatterAdd, indexSelect, indexAdd, cumsum,
} satisfies Backend;
