// Index kernels: gather / scatterAdd (torch.gather and its adjoint) and indexSelect / indexAdd
// (embedding lookup and its adjoint). Indices are checked by the ops before they reach here.

import { allocate, dtypeOf } from '../../dtype.ts';
import { aroundDim, sizeOf, type Shape } from '../../shape.ts';
import type { Kernel } from '../backend.ts';

// Position of element `i` of an index tensor (shape idxShape) in a tensor of `shape`, with the
// coordinate along `dim` replaced by the index value. Both sides use the (outer, n, inner) split.
function gatherOffsets(idxShape: Shape, shape: Shape, dim: number, index: Int32Array): Int32Array {
  const [, ni, innerI] = aroundDim(idxShape, dim);
  const [, n, inner] = aroundDim(shape, dim);
  const offsets = new Int32Array(index.length);
  const innerDims = idxShape.slice(dim + 1);
  const outerDims = idxShape.slice(0, dim);
  for (let i = 0; i < index.length; i++) {
    const o = Math.floor(i / (ni * innerI));
    const r = i % innerI;
    // unravel o and r over the index's own dims, re-ravel over x's dims (they may be larger)
    offsets[i] =
      (reravel(o, outerDims, shape.slice(0, dim)) * n + index[i]) * inner +
      reravel(r, innerDims, shape.slice(dim + 1));
  }
  return offsets;
}

function reravel(flat: number, from: Shape, to: Shape): number {
  let out = 0,
    mult = 1;
  for (let d = from.length - 1; d >= 0; d--) {
    out += (flat % from[d]) * mult;
    flat = Math.floor(flat / from[d]);
    mult *= to[d];
  }
  return out;
}

export const gather: Kernel<'gather'> = (x, shape, dim, index, indexShape) => {
  const offsets = gatherOffsets(indexShape, shape, dim, index);
  const out = allocate(dtypeOf(x), index.length);
  for (let i = 0; i < out.length; i++) out[i] = x[offsets[i]];
  return out;
};

export const scatterAdd: Kernel<'scatterAdd'> = (src, index, indexShape, dim, shape) => {
  const offsets = gatherOffsets(indexShape, shape, dim, index);
  const out = allocate(dtypeOf(src), sizeOf(shape));
  for (let i = 0; i < src.length; i++) out[offsets[i]] += src[i];
  return out;
};

export const indexSelect: Kernel<'indexSelect'> = (x, shape, dim, index) => {
  const [outer, n, inner] = aroundDim(shape, dim);
  const k = index.length;
  const out = allocate(dtypeOf(x), outer * k * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const from = (o * n + index[j]) * inner;
      out.set(x.subarray(from, from + inner), (o * k + j) * inner);
    }
  }
  return out;
};

export const indexAdd: Kernel<'indexAdd'> = (src, srcShape, dim, index, shape) => {
  const [outer, n, inner] = aroundDim(shape, dim);
  const k = srcShape[dim];
  const out = allocate(dtypeOf(src), sizeOf(shape));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const to = (o * n + index[j]) * inner;
      const from = (o * k + j) * inner;
      for (let i = 0; i < inner; i++) out[to + i] += src[from + i];
    }
  }
  return out;
};
