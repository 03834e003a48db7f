// GPU.js kernels against the TypeScript reference on odd shapes: matmul (batched, broadcast,
// transposed operands), softmax and log-softmax over a middle dim, and their backward. Every GPU
// computes in float32 with the error of a plain float32 sum (docs/gpujs.md, Precision), so the
// tolerance is on the error normalised by the largest reference value: 1e-5, about 80 float32
// roundings. Runs wherever a backend does: the bench page checks gpu.js on WebGL with it, and the
// browser test asserts every row. Read next: bench-worker.ts.

import type { Backend, MatmulArgs } from '../lib/backend/backend.ts';
import { cpuBackend } from '../lib/backend/cpu.ts';
import { gpuCounters, manualSeed, randn } from '../lib/index.ts';

export const PARITY_TOLERANCE = 1e-5;

export interface ParityRow {
  kernel: string;
  shape: string;
  error: number; // max |gpu − reference| / max |reference|
  ok: boolean; // within tolerance, and run by the GPU backend (not left to the CPU)
}

const values = (shape: number[]) => randn(shape).data as Float32Array;

function matmulCase(
  batchA: number[],
  batchB: number[],
  [M, K, N]: number[],
  tA = false,
  tB = false,
) {
  const aShape = [...batchA, ...(tA ? [K, M] : [M, K])];
  const bShape = [...batchB, ...(tB ? [N, K] : [K, N])];
  // batch dims broadcast right-aligned, as in NumPy
  const n = Math.max(batchA.length, batchB.length);
  const dim = (b: number[], i: number) => b[i - n + b.length] ?? 1;
  const batch = Array.from({ length: n }, (_, i) => Math.max(dim(batchA, i), dim(batchB, i)));
  const args: MatmulArgs = {
    a: values(aShape),
    b: values(bShape),
    aShape,
    bShape,
    transA: tA,
    transB: tB,
    outShape: [...batch, M, N],
  };
  const label = (s: number[], t: boolean) => `[${s.join(',')}]${t ? 'ᵀ' : ''}`;
  return {
    kernel: 'matmul',
    shape: `${label(aShape, tA)} · ${label(bShape, tB)}`,
    run: (b: Backend) => b.matmul(args),
  };
}

function softmaxCase(shape: number[], dim: number, log: boolean, backward: boolean) {
  const x = values(shape);
  const y = cpuBackend.softmax(x, shape, dim, log);
  const dy = values(shape);
  return {
    kernel: `${log ? 'logSoftmax' : 'softmax'}${backward ? ' backward' : ''}`,
    shape: `[${shape.join(',')}] dim ${dim}`,
    run: (b: Backend) =>
      backward ? b.softmaxBackward(y, dy, shape, dim, log) : b.softmax(x, shape, dim, log),
  };
}

/** Every case on `gpu` and on the reference. `gpu` must take work of any size (thresholds 0). */
export function gpuParity(gpu: Backend): ParityRow[] {
  manualSeed(7);
  const cases = [
    matmulCase([], [], [37, 53, 29]),
    matmulCase([3], [3], [17, 65, 31], true, false),
    matmulCase([2, 3], [3], [9, 40, 23], false, true),
    matmulCase([], [], [128, 96, 160], true, true),
    softmaxCase([6, 33, 5], 1, false, false),
    softmaxCase([6, 33, 5], 1, true, false),
    softmaxCase([4, 3, 129], 2, false, true),
    softmaxCase([4, 3, 129], 2, true, true),
  ];
  return cases.map(({ kernel, shape, run }) => {
    const want = run(cpuBackend);
    const before = gpuCounters().runs;
    const got = run(gpu);
    const onGpu = gpuCounters().runs > before;
    let scale = 0,
      worst = 0;
    for (let i = 0; i < want.length; i++) {
      scale = Math.max(scale, Math.abs(want[i]));
      worst = Math.max(worst, Math.abs(got[i] - want[i]));
    }
    const error = got.length === want.length ? worst / scale : Infinity;
    return { kernel, shape, error, ok: onGpu && error <= PARITY_TOLERANCE };
  });
}
