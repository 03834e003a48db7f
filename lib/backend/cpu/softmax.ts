// Softmax and log-softmax along one dim, max-subtracted so logits of ±1e4 never overflow.
// Three passes per row: max, Σ exp(x − max) (each exp kept in a row of doubles), then write. A row
// whose entries are all −Infinity (fully masked) has max = −Infinity; it gives zeros for softmax
// (not 0/0 = NaN) and −Infinity for log-softmax. The (outer, n, inner) layout handles any dim
// without a transpose.
// Backward, fused, from the output y (two passes per row, the sum in a double):
//   softmax:      dx = y ⊙ (dy − Σ dy ⊙ y)
//   log-softmax:  dx = dy − exp(y) · Σ dy        (exp(y) = softmax(x))
// A fully masked row (y = 0 for softmax) gets dx = 0.

import { allocate, dtypeOf } from '../../dtype.ts';
import { aroundDim } from '../../shape.ts';
import type { Kernel, KernelInto } from '../backend.ts';
import { scratch } from './scratch.ts';

export const softmax: Kernel<'softmax'> = (x, shape, dim, log) =>
  softmaxInto(x, shape, dim, log, allocate(dtypeOf(x), x.length));

/**
 * softmax written into `out` (x's length): the threaded backend's chunks write their rows in place.
 */
export const softmaxInto: KernelInto<'softmax'> = (x, shape, dim, log, out) => {
  const [outer, n, inner] = aroundDim(shape, dim);
  // exp(x − max) in doubles: one exp per element, one rounding per output
  const e = scratch('softmax row', n);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      let max = -Infinity;
      for (let i = 0; i < n; i++) max = Math.max(max, x[base + i * inner]);
      if (max === -Infinity) {
        for (let i = 0; i < n; i++) out[base + i * inner] = log ? -Infinity : 0;
        continue;
      }
      let sum = 0;
      for (let i = 0; i < n; i++) sum += e[i] = Math.exp(x[base + i * inner] - max);
      if (log) {
        const logSum = Math.log(sum) + max;
        for (let i = 0; i < n; i++) out[base + i * inner] = x[base + i * inner] - logSum;
      } else {
        const inv = 1 / sum;
        for (let i = 0; i < n; i++) out[base + i * inner] = e[i] * inv;
      }
    }
  }
  return out;
};

export const softmaxBackward: Kernel<'softmaxBackward'> = (y, dy, shape, dim, log) =>
  softmaxBackwardInto(y, dy, shape, dim, log, allocate(dtypeOf(y), y.length));

/** softmaxBackward written into `dx` (y's length), as softmaxInto. */
export const softmaxBackwardInto: KernelInto<'softmaxBackward'> = (y, dy, shape, dim, log, dx) => {
  const [outer, n, inner] = aroundDim(shape, dim);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * n * inner + j;
      let s = 0;
      for (let i = 0, at = base; i < n; i++, at += inner) s += log ? dy[at] : dy[at] * y[at];
      for (let i = 0, at = base; i < n; i++, at += inner) {
        dx[at] = log ? dy[at] - Math.exp(y[at]) * s : y[at] * (dy[at] - s);
      }
    }
  }
  return dx;
};
