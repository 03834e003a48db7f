// Softmax and log-softmax along one dim, max-subtracted so logits of ±1e4 never overflow.
// Three passes per row: max, Σ exp(x − max) (each exp kept in a row of doubles), then write; exp is
// exp.ts's inlinable copy of Math.exp (the same bits, faster). A row
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
import { exp } from './exp.ts';
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
      const base = o * n * inner + j,
        end = base + n * inner;
      let max = -Infinity;
      for (let at = base; at < end; at += inner) max = Math.max(max, x[at]);
      if (max === -Infinity) {
        for (let at = base; at < end; at += inner) out[at] = log ? -Infinity : 0;
        continue;
      }
      let sum = 0;
      // a masked score (−∞, in runs: a predictable branch) skips exp, whose value there is 0
      for (let i = 0, at = base; i < n; i++, at += inner) {
        const v = x[at] - max;
        sum += e[i] = v === -Infinity ? 0 : exp(v);
      }
      if (log) {
        const logSum = Math.log(sum) + max;
        for (let at = base; at < end; at += inner) out[at] = x[at] - logSum;
      } else {
        const inv = 1 / sum;
        for (let i = 0, at = base; i < n; i++, at += inner) out[at] = e[i] * inv;
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
      const base = o * n * inner + j,
        end = base + n * inner;
      let s = 0;
      if (log) {
        for (let at = base; at < end; at += inner) s += dy[at];
        for (let at = base; at < end; at += inner) dx[at] = dy[at] - exp(y[at]) * s;
      } else {
        for (let at = base; at < end; at += inner) s += dy[at] * y[at];
        for (let at = base; at < end; at += inner) dx[at] = y[at] * (dy[at] - s);
      }
    }
  }
  return dx;
};
