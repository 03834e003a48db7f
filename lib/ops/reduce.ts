// Reductions over dims (number, list, or all), with keepdim. Read next: matmul.ts.

import { backend, type ReduceOp } from '../backend/backend.ts';
import { normDim, normDims } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { primitive } from './primitive.ts';

export interface ReduceAttrs {
  dims: number[];
  keepdim: boolean;
}

export function reduceAttrs(
  op: string,
  x: Tensor,
  dim: number | number[] | undefined,
  keepdim = false,
): ReduceAttrs {
  return { dims: normDims(op, dim, x.ndim), keepdim };
}

const keptShape = (x: Tensor, dims: number[]) => x.shape.map((d, i) => (dims.includes(i) ? 1 : d));

function reducePrimitive(
  op: ReduceOp,
  backward: (dy: Tensor, x: Tensor, y: Tensor, dims: number[]) => Tensor,
) {
  return primitive<ReduceAttrs>({
    name: op,
    forward: ([x], { dims, keepdim }) => {
      const data = backend().reduce(op, x.data, x.shape, dims);
      const shape = keepdim ? keptShape(x, dims) : x.shape.filter((_, i) => !dims.includes(i));
      return new Tensor(data, shape);
    },
    // dy and y are brought back to keepdim layout, then broadcast against x
    backward: (dy, [x], y, { dims }) => [
      backward(dy.reshape(keptShape(x, dims)), x, y.reshape(keptShape(x, dims)), dims),
    ],
  });
}

// d Σx = 1 for every element
export const sum = reducePrimitive('sum', (dy, x) => dy.expand(x.shape));
// max/min: the gradient goes to the elements equal to the result, split evenly among ties
const toExtremes = (dy: Tensor, x: Tensor, y: Tensor, dims: number[]) => {
  const isExtreme = x.eq(y);
  return dy.mul(isExtreme).div(isExtreme.sum(dims, true));
};
export const max = reducePrimitive('max', toExtremes);
export const min = reducePrimitive('min', toExtremes);

export function argReduce(
  op: 'argmax' | 'argmin',
  x: Tensor,
  dim?: number,
  keepdim = false,
): Tensor {
  if (dim === undefined) return argReduce(op, x.reshape([-1]), 0, false);
  const d = normDim(op, dim, x.ndim);
  if (x.shape[d] === 0)
    throw new Error(`${op}: cannot reduce an empty dim ${dim} of shape [${x.shape}]`);
  const shape = keepdim
    ? x.shape.map((s, i) => (i === d ? 1 : s))
    : x.shape.filter((_, i) => i !== d);
  return new Tensor(backend().argReduce(op, x.data, x.shape, d), shape);
}
