// Softmax and log-softmax as fused, max-subtracted primitives (stable for logits of ±1e4; fully
// masked rows of −Infinity give zeros, and zero gradients). Read next: norm.ts.

import { backend } from '../backend/backend.ts';
import { normDim } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { primitive } from './primitive.ts';

const softmaxPrimitive = (name: string, log: boolean, grad: (dy: Tensor, y: Tensor, dim: number) => Tensor) =>
  primitive<number>({
    name,
    forward: ([x], dim) => new Tensor(backend().softmax(x.data, x.shape, dim, log), x.shape),
    backward: (dy, _inputs, y, dim) => [grad(dy, y, dim)],
  });

// d softmax: dx = y ⊙ (dy − Σ(dy ⊙ y))
const softmaxP = softmaxPrimitive('softmax', false, (dy, y, dim) => y.mul(dy.sub(dy.mul(y).sum(dim, true))));
// d log-softmax: dx = dy − softmax(x)·Σdy, with softmax(x) = exp(y)
const logSoftmaxP = softmaxPrimitive('logSoftmax', true, (dy, y, dim) => dy.sub(y.exp().mul(dy.sum(dim, true))));

export const softmax = (x: Tensor, dim: number) => softmaxP([x], normDim('softmax', dim, x.ndim));
export const logSoftmax = (x: Tensor, dim: number) => logSoftmaxP([x], normDim('logSoftmax', dim, x.ndim));
