// Batched matrix product with broadcast batch dims. The transposed forms exist so backward can
// multiply by Aᵀ or Bᵀ without materialising a transpose (the kernel packs either layout).
// Read next: softmax.ts.

import { backend } from '../backend/backend.ts';
import { broadcastShapes, fmt } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { checkSameDtype } from './elementwise.ts';
import { primitive, type Op } from './primitive.ts';

export interface MatmulAttrs {
  transA: boolean;
  transB: boolean;
}

function outShape(a: Tensor, b: Tensor, { transA, transB }: MatmulAttrs): number[] {
  if (a.ndim < 2 || b.ndim < 2) {
    throw new Error(
      `matmul: operands need at least 2 dims, got ${fmt(a.shape)} and ${fmt(b.shape)}`,
    );
  }
  const [m, ka] = transA ? a.shape.slice(-2).reverse() : a.shape.slice(-2);
  const [kb, n] = transB ? b.shape.slice(-2).reverse() : b.shape.slice(-2);
  if (ka !== kb) {
    const shown = (t: Tensor, tr: boolean) => fmt(t.shape) + (tr ? 'ᵀ' : '');
    throw new Error(
      `matmul: shapes ${shown(a, transA)} and ${shown(b, transB)} are not compatible (${ka} != ` +
        `${kb})`,
    );
  }
  return [...broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2)), m, n];
}

// Y = op(A)·op(B), op = identity or transpose:
//   dA = dY·op(B)ᵀ (or op(B)·dYᵀ when A was transposed)
//   dB = op(A)ᵀ·dY (or dYᵀ·op(A) when B was transposed)
export const matmulT: Op<MatmulAttrs> = primitive<MatmulAttrs>({
  name: 'matmul',
  forward: ([a, b], attrs) => {
    checkSameDtype('matmul', a, b);
    const shape = outShape(a, b, attrs);
    const data = backend().matmul({
      a: a.data,
      b: b.data,
      aShape: a.shape,
      bShape: b.shape,
      ...attrs,
      outShape: shape,
    });
    return new Tensor(data, shape);
  },
  backward: (dy, [a, b], _y, { transA, transB }) => [
    transA ? mm(b, dy, transB, true) : mm(dy, b, false, !transB),
    transB ? mm(dy, a, true, transA) : mm(a, dy, !transA, false),
  ],
});

const mm = (a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor =>
  matmulT([a, b], { transA, transB });

export interface MatmulOptions {
  transA?: boolean; // use aᵀ (its last two dims swapped) without materialising it
  transB?: boolean; // use bᵀ: q.matmul(k, { transB: true }) is q·kᵀ with no copy of k
}

/**
 * torch.matmul: 1-D operands are promoted to a row (left) or a column (right) and the dim removed
 * after. transA / transB transpose the last two dims of an operand inside the product, where the
 * kernel packs either layout: no transposed copy forward, none backward.
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const { transA = false, transB = false } = options;
  if (a.ndim === 0 || b.ndim === 0) {
    throw new Error(
      `matmul: scalars are not matrices, got shapes ${fmt(a.shape)} and ${fmt(b.shape)}`,
    );
  }
  if ((transA && a.ndim === 1) || (transB && b.ndim === 1)) {
    throw new Error(
      `matmul: transA / transB need an operand of 2+ dims, got shapes ${fmt(a.shape)} and ` +
        `${fmt(b.shape)} with transA ${transA}, transB ${transB}`,
    );
  }
  if (a.ndim === 1) return matmul(a.unsqueeze(0), b, options).squeeze(-2);
  if (b.ndim === 1) return matmul(a, b.unsqueeze(-1), options).squeeze(-1);
  return mm(a, b, transA, transB);
}
