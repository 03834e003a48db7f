// PLACEHOLDER naive matmul (to be replaced by the packed kernel).
import { allocate, dtypeOf, type TypedArray } from '../../dtype.ts';
import type { MatmulArgs } from '../backend.ts';
import { sizeOf } from '../../shape.ts';

export function matmul({ a, b, aShape, bShape, transA, transB, outShape }: MatmulArgs): TypedArray {
  const r = outShape.length;
  const M = outShape[r - 2], N = outShape[r - 1];
  const K = transA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  const out = allocate(dtypeOf(a), sizeOf(outShape));
  const batch = sizeOf(outShape.slice(0, -2));
  const aBatch = sizeOf(aShape.slice(0, -2)), bBatch = sizeOf(bShape.slice(0, -2));
  for (let p = 0; p < batch; p++) {
    const ao = (aBatch === 1 ? 0 : p) * M * K, bo = (bBatch === 1 ? 0 : p) * K * N;
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[ao + (transA ? k * M + i : i * K + k)] * b[bo + (transB ? j * K + k : k * N + j)];
      out[p * M * N + i * N + j] = s;
    }
  }
  return out;
}
