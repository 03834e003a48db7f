// Random matmul problems for the kernel tests: matmul.test.ts checks the CPU kernel against a
// triple loop, threads.test.ts checks the threaded backend against the CPU kernel.

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
