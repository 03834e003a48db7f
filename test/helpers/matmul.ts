// Random matmul problems for the kernel tests: matmul.test.ts checks the CPU kernel against a
// triple loop (textbookMatmul), threads.test.ts checks the threaded backend against the CPU kernel.

import type { MatmulArgs } from '../../lib/backend/backend.ts';
import { random } from '../../lib/random.ts';
import { sizeOf, type Shape } from '../../lib/shape.ts';

/** Uniform in [-1, 1) from the seeded generator. */
export function randomArray(float64: boolean, shape: Shape): Float32Array | Float64Array {
  const x = float64 ? new Float64Array(sizeOf(shape)) : new Float32Array(sizeOf(shape));
  for (let i = 0; i < x.length; i++) x[i] = 2 * random() - 1;
  return x;
}

/**
 * Operands for (batchA..., M, K) · (batchB..., K, N), either one stored transposed, and the
 * broadcast output shape.
 */
export function matmulProblem(
  batchA: number[],
  batchB: number[],
  M: number,
  K: number,
  N: number,
  transA: boolean,
  transB: boolean,
  float64: boolean,
): MatmulArgs {
  const aShape = [...batchA, ...(transA ? [K, M] : [M, K])];
  const bShape = [...batchB, ...(transB ? [N, K] : [K, N])];
  const n = Math.max(batchA.length, batchB.length);
  const outBatch = [...Array(n).keys()].map((i) => {
    const da = batchA[batchA.length - n + i] ?? 1,
      db = batchB[batchB.length - n + i] ?? 1;
    return da === 1 ? db : da;
  });
  const a = randomArray(float64, aShape),
    b = randomArray(float64, bShape);
  return { a, b, aShape, bShape, transA, transB, outShape: [...outBatch, M, N] };
}

/** `[2,3]ᵀ · [2,4]`: the operand shapes, ᵀ where stored transposed. */
export const matmulLabel = ({ aShape, bShape, transA, transB }: MatmulArgs) =>
  `${JSON.stringify(aShape)}${transA ? 'ᵀ' : ''} · ${JSON.stringify(bShape)}${transB ? 'ᵀ' : ''}`;

/**
 * The textbook definition, one batch entry at a time, with the batch broadcast done by hand: each
 * element one sum along k, in doubles, or in float32 (`float32Sums`: every product and every
 * partial sum rounded to float32, as the float32 kernels sum).
 */
export function textbookMatmul(
  { a, b, aShape, bShape, transA, transB, outShape }: MatmulArgs,
  float32Sums = false,
): Float64Array {
  const f = float32Sums ? Math.fround : (x: number) => x;
  const r = outShape.length;
  const [M, N] = [outShape[r - 2], outShape[r - 1]];
  const K = transA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];
  const outBatch = outShape.slice(0, -2);
  const out = new Float64Array(sizeOf(outShape));
  // Which matrix of an operand batch index `idx` reads (right-aligned; size-1 dims broadcast).
  const flatIndex = (shape: Shape, idx: number[]) => {
    const batch = shape.slice(0, -2);
    let flat = 0;
    for (let e = 0; e < batch.length; e++) {
      flat = flat * batch[e] + (batch[e] === 1 ? 0 : idx[idx.length - batch.length + e]);
    }
    return flat;
  };
  for (let p = 0; p < sizeOf(outBatch); p++) {
    const idx: number[] = [];
    for (let d = outBatch.length - 1, rest = p; d >= 0; d--) {
      idx.unshift(rest % outBatch[d]);
      rest = Math.floor(rest / outBatch[d]);
    }
    const ao = flatIndex(aShape, idx) * M * K,
      bo = flatIndex(bShape, idx) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          s = f(
            s +
              f(
                a[ao + (transA ? k * M + i : i * K + k)] * b[bo + (transB ? j * K + k : k * N + j)],
              ),
          );
        }
        out[p * M * N + i * N + j] = s;
      }
    }
  }
  return out;
}
