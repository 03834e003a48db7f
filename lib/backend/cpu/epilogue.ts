// A Linear layer's epilogue and relu's gradient, each one pass where the unfused ops took two
// (and an output array each): biasActivation adds the bias and applies relu in place on the
// matmul's fresh output; reluBackward is dy ⊙ [x > 0] without the 0/1 mask array. Both give the
// unfused ops' bits: the sum is stored (rounded to the dtype) before relu reads it, and
// dy · +(x > 0) is what mul(dy, gt(x, 0)) computes. Read next: ../../ops/linear.ts.

import { allocate, dtypeOf } from '../../dtype.ts';
import type { Kernel } from '../backend.ts';
import { unaryInto } from './elementwise.ts';

export const biasActivation: Kernel<'biasActivation'> = (y, bias, activation) => {
  if (bias) {
    const n = bias.length;
    for (let row = 0; row < y.length; row += n)
      for (let j = 0; j < n; j++) y[row + j] = y[row + j] + bias[j];
  }
  return activation === 'relu' ? unaryInto('relu', y, 0, y) : y;
};

export const reluBackward: Kernel<'reluBackward'> = (dy, x) => {
  const dx = allocate(dtypeOf(dy), dy.length);
  for (let i = 0; i < dx.length; i++) dx[i] = dy[i] * +(x[i] > 0);
  return dx;
};
