// The GPU.js backend: the threaded backend ('cpu-threads') with matmul, softmax and softmax
// backward overridden by gpu.js kernels (override.ts), each behind an accepts() predicate so small
// or float64 work stays on the CPU, where it, and every other kernel, runs threaded.
// gpu.js is an optional dependency, loaded here with a dynamic import() only when asked for.
// Read next: gpu/kernels.ts (the kernels), gpu/runner.ts (cache, counters), gpu/webgpu-bridge.ts.
//
// Which gpu.js mode runs is decided once, explicitly (gpu.js's own auto mode prefers headless-gl
// whenever a display exists, even on a software renderer):
// - ATTNGRAD_GPU_MODE=webgpu|headlessgl|webasm|cpu forces that mode, software adapters included
//   (for tests: webasm and cpu use no GPU at all);
// - otherwise WebGPU (Dawn) on a real adapter, else headless-gl on a renderer that names real
//   hardware, else no backend and a one-line reason: llvmpipe is a CPU, and on a CPU the TS
//   kernels beat every gpu.js mode (docs/gpujs.md has the measurements).
// Headless-gl on a real GPU needs the gl package built (X11 headers) and an X display (xvfb-run).

import { createRequire } from 'node:module';
import type { Backend, MatmulArgs } from './backend.ts';
import { cpuBackend } from './cpu.ts';
import { batchOffsets } from './cpu/matmul.ts';
import { overrideBackend, type Overrides } from './override.ts';
import { threadedBackend } from './threads.ts';
import type { TypedArray } from '../dtype.ts';
import { aroundDim, sizeOf, type Shape } from '../shape.ts';
import {
  matmulSource,
  rowDotSource,
  rowLogSumExpSource,
  softmaxApplySource,
  softmaxBackwardApplySource,
} from './gpu/kernels.ts';
import {
  counters,
  gpuModes,
  InThreadRunner,
  resetCounters,
  type GpuCounters,
  type GpuJs,
  type GpuMode,
  type KernelRunner,
} from './gpu/runner.ts';
import { startWebGpu } from './gpu/webgpu-bridge.ts';

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
function makeGpuBackend(runner: KernelRunner, options: GpuBackendOptions = {}): Backend {
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

/**
 * Load gpu.js and pick its mode (see the header). Returns the backend, not registered: the caller
 * does registerBackend(backend) and setBackend('gpu'), or prints `reason` and keeps the CPU.
 * Throws only on an ATTNGRAD_GPU_MODE that names no mode.
 */
export async function initGpuBackend(options: GpuBackendOptions = {}): Promise<GpuInit> {
  const forced = options.mode ?? parseMode(process.env.ATTNGRAD_GPU_MODE);
  const none = (reason: string, details = ''): GpuInit => ({
    backend: null,
    mode: 'none',
    reason: `gpu: ${reason}; keeping the TS kernels${details && ` (${details})`}`,
  });
  const gpujs = await loadGpuJs();
  if (!gpujs) return none('gpu.js is not installed (an optional dependency)');
  const ok = (runner: KernelRunner, detail: string): GpuInit => ({
    backend: makeGpuBackend(runner, options),
    mode: runner.mode,
    reason: `gpu: gpu.js ${runner.mode}${forced ? ' (forced)' : ''} on ${detail}`,
  });

  if (forced === 'webasm' || forced === 'cpu') {
    return ok(
      new InThreadRunner(gpujs, forced),
      forced === 'cpu' ? "gpu.js's JS kernels, no GPU" : 'WebAssembly, no GPU',
    );
  }
  if (forced === 'webgpu') {
    const web = await startWebGpu(true);
    return web.runner
      ? ok(web.runner, web.detail)
      : none(`forced mode webgpu has no adapter (${web.detail})`);
  }
  if (forced === 'headlessgl') {
    const gl = headlessGl(gpujs, true);
    return gl.runner
      ? ok(gl.runner, gl.detail)
      : none(`forced mode headlessgl is unavailable (${gl.detail})`);
  }
  const web = await startWebGpu(false);
  if (web.runner) return ok(web.runner, web.detail);
  const gl = headlessGl(gpujs, false);
  if (gl.runner) return ok(gl.runner, gl.detail);
  return none(
    'no real GPU adapter',
    `webgpu: ${web.detail}; headless-gl: ${gl.detail}; ATTNGRAD_GPU_MODE=${gpuModes.join('|')} ` +
      `forces a gpu.js mode`,
  );
}

function parseMode(value: string | undefined): GpuMode | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(gpuModes as readonly string[]).includes(value)) {
    throw new Error(`ATTNGRAD_GPU_MODE must be one of ${gpuModes.join(', ')}, got '${value}'`);
  }
  return value as GpuMode;
}

async function loadGpuJs(): Promise<GpuJs | null> {
  const name = 'gpu.js'; // a variable, so TypeScript does not look for the optional package's types
  try {
    const module = await import(name);
    return (module.default ?? module) as GpuJs;
  } catch {
    return null;
  }
}

const softwareRenderer = /llvmpipe|lavapipe|softpipe|swiftshader|software|basic render/i;

/**
 * headless-gl on a renderer that names real hardware (or on any renderer when forced), probed with
 * a 1×1 context. Unforced, this rarely answers yes: headless-gl names only its ANGLE layer, and a
 * machine whose GPU headless-gl could use is one where Dawn's Vulkan or EGL already found it.
 */
function headlessGl(
  gpujs: GpuJs,
  forced: boolean,
): { runner: KernelRunner | null; detail: string } {
  type Gl = WebGLRenderingContextLike | null;
  let createContext: (w: number, h: number) => Gl;
  try {
    const fromGpuJs = createRequire(createRequire(import.meta.url).resolve('gpu.js'));
    createContext = fromGpuJs('gl');
  } catch {
    return { runner: null, detail: 'the gl package is not built (it needs X11 headers)' };
  }
  const gl = createContext(1, 1);
  if (!gl)
    return {
      runner: null,
      detail: 'no GL context (headless-gl needs an X display, e.g. xvfb-run)',
    };
  const debug = gl.getExtension('WEBGL_debug_renderer_info') as {
    UNMASKED_RENDERER_WEBGL: number;
  } | null;
  const renderer = String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  (gl.getExtension('STACKGL_destroy_context') as { destroy(): void } | null)?.destroy();
  if (!forced && softwareRenderer.test(renderer))
    return { runner: null, detail: `${renderer} (software)` };
  // headless-gl 8 reports its ANGLE layer, not the driver under it: llvmpipe cannot be ruled out
  if (!forced && /^(angle|stack-?gl)?$/i.test(renderer.trim())) {
    return {
      runner: null,
      detail: `renderer '${renderer}' does not name its GPU, so it may be llvmpipe`,
    };
  }
  try {
    return { runner: new InThreadRunner(gpujs, 'headlessgl'), detail: renderer };
  } catch (e) {
    return { runner: null, detail: (e as Error).message };
  }
}

interface WebGLRenderingContextLike {
  RENDERER: number;
  getExtension(name: string): unknown;
  getParameter(name: number): unknown;
}
