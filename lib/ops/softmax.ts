// Softmax and log-softmax as fused, max-subtracted primitives (stable for logits of ±1e4; fully
// masked rows of −Infinity give zeros, and zero gradients). Read next: norm.ts.

import { backend } from '../backend/backend.ts';
import { normDim } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { primitive } from './primitive.ts';

// d softmax: dx = y ⊙ (dy − Σ(dy ⊙ y));  d log-softmax: dx = dy − exp(y)·Σdy  (exp(y) =
// softmax(x)). Both in one fused kernel (softmaxBackward), so an accelerated backend can run them
// in one place.
const softmaxPrimitive = (name: string, log: boolean) =>
  primitive<number>({
    name,
    forward: ([x], dim) => new Tensor(backend().softmax(x.data, x.shape, dim, log), x.shape),
    backward: (dy, _inputs, y, dim) => [
      new Tensor(backend().softmaxBackward(y.data, dy.data, y.shape, dim, log), y.shape),
    ],
  });
const softmaxP = softmaxPrimitive('softmax', false);
const logSoftmaxP = softmaxPrimitive('logSoftmax', true);

export const softmax = (x: Tensor, dim: number) => softmaxP([x], normDim('softmax', dim, x.ndim));
export const logSoftmax = (x: Tensor, dim: number) =>
  logSoftmaxP([x], normDim('logSoftmax', dim, x.ndim));
