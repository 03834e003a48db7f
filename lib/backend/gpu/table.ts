// The GPU backend's table, with no platform in it: 'cpu-threads' with matmul, softmax and softmax
// backward overridden by gpu.js kernels (override.ts), each behind an accepts() predicate so small
// or float64 work stays on the CPU, where it, and every other kernel, runs threaded. Node's
// ../gpu.ts and the browser's webgl.ts each pick a gpu.js mode, make a runner and call
// makeGpuBackend, so the per-shape cache and the size thresholds are the same on both.
// Read next: kernels.ts (the kernels), runner.ts (cache, counters).

import type { Backend, MatmulArgs } from '../backend.ts';
import { cpuBackend } from '../cpu.ts';
import { batchOffsets } from '../cpu/matmul.ts';
import { overrideBackend, type Overrides } from '../override.ts';
import { threadedBackend } from '../threads.ts';
import type { TypedArray } from '../../dtype.ts';
import { aroundDim, sizeOf, type Shape } from '../../shape.ts';
import {
  matmulSource,
  rowDotSource,
  rowLogSumExpSource,
  softmaxApplySource,
  softmaxBackwardApplySource,
} from './kernels.ts';
import {
  counters,
  resetCounters,
  type GpuCounters,
  type GpuMode,
  type KernelRunner,
} from './runner.ts';

export type { GpuCounters, GpuMode };

/** The CPU reference for softmax backward. */
export const cpuSoftmaxBackward = cpuBackend.softmaxBackward;

export interface GpuBackendOptions {
  /**
   * The gpu.js mode; default: $ATTNGRAD_GPU_MODE, else a real adapter (WebGPU, then headless-gl).
   */
  mode?: GpuMode;
  /** Matmuls of fewer flops (2·batch·M·N·K) run threaded. Default 2^22 (≈ 128³ multiply-adds). */
  minMatmulFlops?: number;
  /** Softmaxes (and their backward) of fewer elements run threaded. Default 2^16. */
  minSoftmaxSize?: number;
}

export interface GpuInit {
  backend: Backend | null;
  mode: GpuMode | 'none';
  /** One line: the adapter in use, or why there is no GPU backend. */
  reason: string;
}

/** A copy of the counters (compiles, runs, uploads, downloads, bytes, CPU fallbacks). */
export const gpuCounters = (): GpuCounters => ({ ...counters });
export const resetGpuCounters = resetCounters;

// GLSL indexes in float32, exact below 2^24: larger arrays stay on the CPU.
const maxElements = 2 ** 24;
const sizeLimit = (...xs: TypedArray[]) => xs.every((x) => x.length < maxElements);
const isFloat32 = (...xs: TypedArray[]) => xs.every((x) => x instanceof Float32Array);

/** The backend table over one runner: 'cpu-threads' with three kernels overridden. */
export function makeGpuBackend(runner: KernelRunner, options: GpuBackendOptions = {}): Backend {
  const minFlops = options.minMatmulFlops ?? 2 ** 22;
  const minSoftmax = options.minSoftmaxSize ?? 2 ** 16;
  const softmaxAccepts = (x: TypedArray, shape: Shape, dy?: TypedArray) =>
    isFloat32(x, dy ?? x) &&
    x.length >= Math.max(minSoftmax, 1) &&
    sizeLimit(x) &&
    shape.length > 0;
  const matmulAccepts = (m: MatmulArgs) => {
    const flops = 2 * sizeOf(m.outShape) * inner(m);
    return (
      isFloat32(m.a, m.b) &&
      flops > 0 &&
      flops >= minFlops &&
      sizeLimit(m.a, m.b) &&
      sizeOf(m.outShape) < maxElements
    );
  };
  const overrides = {
    matmul: { accepts: matmulAccepts, run: (m: MatmulArgs) => matmul(runner, m) },
    softmax: {
      accepts: (x: TypedArray, shape: Shape) => softmaxAccepts(x, shape),
      run: (x: TypedArray, shape: Shape, dim: number, log: boolean) =>
        softmaxPasses(runner, softmaxKernels, [x as Float32Array], shape, dim, log, false),
    },
    softmaxBackward: {
      accepts: (y: TypedArray, dy: TypedArray, shape: Shape) => softmaxAccepts(y, shape, dy),
      run: (y: TypedArray, dy: TypedArray, shape: Shape, dim: number, log: boolean) => {
        const args = [y as Float32Array, dy as Float32Array];
        return softmaxPasses(runner, softmaxBackwardKernels, args, shape, dim, log, true);
      },
    },
  } satisfies Overrides;
  return overrideBackend('gpu', threadedBackend, overrides, () => counters.cpuFallbacks++);
}

/** K, the length of each dot product. */
const inner = ({ aShape, transA }: MatmulArgs) =>
  transA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];

/**
 * Launch one kernel, compiled once per name, output length, constants and argument lengths (the
 * cache key; every size is a compile-time constant, see gpu/kernels.ts).
 */
function launch(
  runner: KernelRunner,
  name: string,
  source: string,
  output: number,
  constants: Record<string, number>,
  args: Float32Array[],
): Float32Array {
  const sizes = [output, ...Object.entries(constants).map(([k, v]) => `${k}=${v}`)];
  const key = `${name} ${sizes.join(' ')} ${args.map((a) => a.length).join(' ')}`;
  return runner.run({ key, source, output, constants }, args);
}

function matmul(runner: KernelRunner, m: MatmulArgs): Float32Array {
  const { a, b, aShape, bShape, transA, transB, outShape } = m;
  const M = outShape[outShape.length - 2],
    N = outShape[outShape.length - 1],
    K = inner(m);
  const outBatch = outShape.slice(0, -2);
  // element (i, k) of op(A) is a[aOff[z] + i·rowA + k·colA],
  // element (k, j) of op(B) is b[bOff[z] + k·rowB + j·colB]
  const [rowA, colA] = transA ? [1, M] : [K, 1];
  const [rowB, colB] = transB ? [1, K] : [N, 1];
  const aOff = Float32Array.from(batchOffsets(aShape, outBatch, M * K)),
    bOff = Float32Array.from(batchOffsets(bShape, outBatch, K * N));
  const constants = { MN: M * N, N, K, rowA, colA, rowB, colB };
  const args = [a as Float32Array, b as Float32Array, aOff, bOff];
  return launch(runner, 'matmul', matmulSource, sizeOf(outShape), constants, args);
}

/** A kernel's name (its cache key starts with it) and source. */
type Kernel = [name: string, source: string];
const softmaxKernels: [Kernel, Kernel] = [
  ['rowLogSumExp', rowLogSumExpSource],
  ['softmaxApply', softmaxApplySource],
];
const softmaxBackwardKernels: [Kernel, Kernel] = [
  ['rowDot', rowDotSource],
  ['softmaxBackwardApply', softmaxBackwardApplySource],
];

/**
 * Softmax, forward or backward, in two launches over the (outer, n, inner) layout: a statistic
 * per row (forward: the max-subtracted log-sum-exp; backward: Σ dy ⊙ y, or Σ dy for log-softmax),
 * then one thread per element, which takes the statistics as its last argument. `rowLog` passes
 * the log flag to the row pass too (the forward's row pass is the same for both, so it is shared).
 */
function softmaxPasses(
  runner: KernelRunner,
  [row, apply]: [Kernel, Kernel],
  args: Float32Array[],
  shape: Shape,
  dim: number,
  log: boolean,
  rowLog: boolean,
): Float32Array {
  const [outer, n, inr] = aroundDim(shape, dim);
  const flag = log ? 1 : 0;
  const rowConstants: Record<string, number> = { n, inner: inr };
  if (rowLog) rowConstants.log = flag;
  const stats = launch(runner, ...row, outer * inr, rowConstants, args);
  const constants = { inner: inr, nInner: n * inr, log: flag };
  return launch(runner, ...apply, args[0].length, constants, [...args, stats]);
}
