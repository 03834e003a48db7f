// Index primitives in adjoint pairs: gather ↔ scatterAdd (torch.gather) and indexSelect ↔ indexAdd
// (embedding lookup). Every index is checked here, so kernels never read out of bounds. The
// adjoints are public too, in PyTorch's form x.scatterAdd(dim, index, src) and
// x.indexAdd(dim, index, source): x plus the scattered values. Read next: ../functional.ts.

import { backend } from '../backend/backend.ts';
import { fmt, normDim, sameShape } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { primitive, type Op } from './primitive.ts';

export function checkIndex(op: string, index: Tensor, size: number): Int32Array {
  if (index.dtype !== 'int32')
    throw new Error(`${op}: index must have dtype int32, got ${index.dtype}`);
  const data = index.data as Int32Array;
  for (let i = 0; i < data.length; i++) {
    if (data[i] < 0 || data[i] >= size) {
      throw new Error(
        `${op}: index ${data[i]} is out of range for a dim of size ${size} (at position ${i})`,
      );
    }
  }
  return data;
}

interface IndexAttrs {
  dim: number;
  shape: number[]; // shape of the tensor indexed into
}

export const gatherP: Op<IndexAttrs> = primitive<IndexAttrs>({
  name: 'gather',
  forward: ([x, index], { dim }) =>
    new Tensor(
      backend().gather(x.data, x.shape, dim, index.data as Int32Array, index.shape),
      index.shape,
    ),
  backward: (dy, [, index], _y, attrs) => [scatterAddP([dy, index], attrs), null],
});

export const scatterAddP: Op<IndexAttrs> = primitive<IndexAttrs>({
  name: 'scatterAdd',
  forward: ([src, index], { dim, shape }) =>
    new Tensor(
      backend().scatterAdd(src.data, index.data as Int32Array, index.shape, dim, shape),
      shape,
    ),
  backward: (dy, [, index], _y, attrs) => [gatherP([dy, index], attrs), null],
});

/** torch.gather: out[i][j] = x[i][index[i][j]] for dim 1; index has x's ndim and fits inside x. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const d = normDim('gather', dim, x.ndim);
  const fits = index.ndim === x.ndim && index.shape.every((s, i) => i === d || s <= x.shape[i]);
  if (!fits)
    throw new Error(
      `gather: index shape ${fmt(index.shape)} does not fit input ${fmt(x.shape)} outside dim ` +
        `${dim}`,
    );
  checkIndex('gather', index, x.shape[d]);
  return gatherP([x, index], { dim: d, shape: [...x.shape] });
}

/**
 * torch.Tensor.scatter_add: x plus src added at index along dim; for dim 0,
 * out[index[i][j]][j] += src[i][j]. index has x's ndim, no dim longer than src's nor, outside
 * dim, than x's; only src's index-shaped corner takes part.
 */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const d = normDim('scatterAdd', dim, x.ndim);
  const fits =
    index.ndim === x.ndim &&
    src.ndim === x.ndim &&
    index.shape.every((s, i) => s <= src.shape[i] && (i === d || s <= x.shape[i]));
  if (!fits) {
    const shapes = `input ${fmt(x.shape)}, index ${fmt(index.shape)} and src ${fmt(src.shape)}`;
    throw new Error(
      `scatterAdd: ${shapes} do not fit: index must not exceed src, nor input ` +
        `outside dim ${dim}`,
    );
  }
  if (src.dtype !== x.dtype) {
    throw new Error(`scatterAdd: dtype mismatch (input ${x.dtype} vs src ${src.dtype})`);
  }
  checkIndex('scatterAdd', index, x.shape[d]);
  let part = src; // (index.shape)
  index.shape.forEach((s, i) => (part = part.shape[i] > s ? part.slice(i, 0, s) : part));
  return x.add(scatterAddP([part, index], { dim: d, shape: [...x.shape] }));
}

export const indexSelectP: Op<IndexAttrs> = primitive<IndexAttrs>({
  name: 'indexSelect',
  forward: ([x, index], { dim }) => {
    const shape = x.shape.map((s, i) => (i === dim ? index.size : s));
    return new Tensor(backend().indexSelect(x.data, x.shape, dim, index.data as Int32Array), shape);
  },
  backward: (dy, [, index], _y, attrs) => [indexAddP([dy, index], attrs), null],
});

export const indexAddP: Op<IndexAttrs> = primitive<IndexAttrs>({
  name: 'indexAdd',
  forward: ([src, index], { dim, shape }) =>
    new Tensor(
      backend().indexAdd(src.data, src.shape, dim, index.data as Int32Array, shape),
      shape,
    ),
  backward: (dy, [, index], _y, attrs) => [indexSelectP([dy, index], attrs), null],
});

/**
 * Pick whole slices along dim (index is 1-D): the embedding lookup is weight.indexSelect(0, ids).
 */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const d = normDim('indexSelect', dim, x.ndim);
  if (index.ndim !== 1)
    throw new Error(`indexSelect: index must be 1-D, got shape ${fmt(index.shape)}`);
  checkIndex('indexSelect', index, x.shape[d]);
  return indexSelectP([x, index], { dim: d, shape: [...x.shape] });
}

/**
 * torch.Tensor.index_add: x plus source's slices added at index along dim; for dim 0,
 * out[index[i]] += source[i]. index is 1-D; source is x's shape with dim of index's length.
 */
export function indexAdd(x: Tensor, dim: number, index: Tensor, source: Tensor): Tensor {
  const d = normDim('indexAdd', dim, x.ndim);
  if (index.ndim !== 1) {
    throw new Error(`indexAdd: index must be 1-D, got shape ${fmt(index.shape)}`);
  }
  const expected = x.shape.map((s, i) => (i === d ? index.size : s));
  if (!sameShape(source.shape, expected)) {
    throw new Error(
      `indexAdd: source ${fmt(source.shape)} must have shape ${fmt(expected)} ` +
        `(input ${fmt(x.shape)}, dim ${dim}, index of length ${index.size})`,
    );
  }
  if (source.dtype !== x.dtype) {
    throw new Error(`indexAdd: dtype mismatch (input ${x.dtype} vs source ${source.dtype})`);
  }
  checkIndex('indexAdd', index, x.shape[d]);
  return x.add(indexAddP([source, index], { dim: d, shape: [...x.shape] }));
}
