// The GPU.js backend: the CPU backend's table with matmul, softmax and softmax backward overridden
// by gpu.js kernels, each behind an accepts() predicate so small or float64 work stays on the CPU.
// gpu.js is an optional dependency, loaded here with a dynamic import() only when asked for.
// Read next: gpu/kernels.ts (the kernels), gpu/runner.ts (cache, counters), gpu/webgpu-bridge.ts.
//
// Which gpu.js mode runs is decided once, explicitly (gpu.js's own auto mode prefers headless-gl
// whenever a display exists, even on a software renderer):
// - ATTNGRAD_GPU_MODE=webgpu|headlessgl|webasm|cpu forces that mode, software adapters included
//   (for tests: webasm and cpu use no GPU at all);
// - otherwise WebGPU (Dawn) on a real adapter, else headless-gl on a renderer that names real
//   hardware, else no backend and a one-line reason: llvmpipe is a CPU, and on a CPU the TS
//   kernels beat every gpu.js mode (gpujs-notes.md).
// Headless-gl on a real GPU needs the gl package built (X11 headers) and an X display (xvfb-run).

import { createRequire } from 'node:module';
import type { Backend, MatmulArgs } from './backend.ts';
import { cpuBackend } from './cpu.ts';
import { fastMatmul } from './wasm/matmul-kernel.ts';
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
  /** The gpu.js mode; default: $ATTNGRAD_GPU_MODE, else a real adapter (WebGPU, then headless-gl). */
  mode?: GpuMode;
  /** Matmuls of fewer flops (2·batch·M·N·K) run on the CPU. Default 2^22 (≈ 128³ multiply-adds). */
  minMatmulFlops?: number;
  /** Softmaxes (and their backward) of fewer elements run on the CPU. Default 2^16. */
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

/** Run `gpu` when `accepts` says so, else the CPU reference `cpu` (and count the fallback). */
function accelerate<A extends unknown[], R>(
  cpu: (...a: A) => R,
  accepts: (...a: A) => boolean,
  gpu: (...a: A) => R,
) {
  return (...a: A): R => {
    if (accepts(...a)) return gpu(...a);
    counters.cpuFallbacks++;
    return cpu(...a);
  };
}

/** The backend table over one runner: the CPU kernels, with three of them overridden. */
function makeGpuBackend(runner: KernelRunner, options: GpuBackendOptions = {}): Backend {
  const minFlops = options.minMatmulFlops ?? 2 ** 22;
  const minSoftmax = options.minSoftmaxSize ?? 2 ** 16;
  const softmaxAccepts = (x: TypedArray, shape: Shape, dy?: TypedArray) =>
    isFloat32(x, dy ?? x) &&
    x.length >= Math.max(minSoftmax, 1) &&
    sizeLimit(x) &&
    shape.length > 0;
  return {
    ...cpuBackend,
    name: 'gpu',
    matmul: accelerate(
      fastMatmul,
      (m: MatmulArgs) => {
        const flops = 2 * sizeOf(m.outShape) * inner(m);
        return (
          isFloat32(m.a, m.b) &&
          flops > 0 &&
          flops >= minFlops &&
          sizeLimit(m.a, m.b) &&
          sizeOf(m.outShape) < maxElements
        );
      },
      (m: MatmulArgs) => matmul(runner, m),
    ),
    softmax: accelerate(
      cpuBackend.softmax,
      (x, shape) => softmaxAccepts(x, shape),
      (x, shape, dim, log) => softmax(runner, x as Float32Array, shape, dim, log),
    ),
    softmaxBackward: accelerate(
      cpuSoftmaxBackward,
      (y, dy, shape) => softmaxAccepts(y, shape, dy),
      (y, dy, shape, dim, log) =>
        softmaxBackward(runner, y as Float32Array, dy as Float32Array, shape, dim, log),
    ),
  };
}

/** K, the length of each dot product. */
const inner = ({ aShape, transA }: MatmulArgs) =>
  transA ? aShape[aShape.length - 2] : aShape[aShape.length - 1];

function matmul(runner: KernelRunner, m: MatmulArgs): Float32Array {
  const { a, b, aShape, bShape, transA, transB, outShape } = m;
  const M = outShape[outShape.length - 2],
    N = outShape[outShape.length - 1],
    K = inner(m);
  const outBatch = outShape.slice(0, -2);
  const batch = sizeOf(outBatch);
  // element (i, k) of op(A) is a[aOff[z] + i·rowA + k·colA]; (k, j) of op(B) is b[bOff[z] + k·rowB + j·colB]
  const [rowA, colA] = transA ? [1, M] : [K, 1];
  const [rowB, colB] = transB ? [1, K] : [N, 1];
  const aOff = batchOffsets(aShape, outBatch, M * K),
    bOff = batchOffsets(bShape, outBatch, K * N);
  const key = `matmul ${batch}×${M}×${N}×${K} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} ${a.length} ${b.length}`;
  const constants = { MN: M * N, N, K, rowA, colA, rowB, colB };
  return runner.run({ key, source: matmulSource, output: batch * M * N, constants }, [
    a as Float32Array,
    b as Float32Array,
    aOff,
    bOff,
  ]);
}

/**
 * Per entry of the broadcast batch `outBatch`, the offset of the operand's matrix in its buffer
 * (batch dims align from the right; a size-1 or missing dim is broadcast), as in cpu/matmul.ts.
 */
function batchOffsets(shape: Shape, outBatch: Shape, matrixSize: number): Float32Array {
  const batch = shape.slice(0, -2);
  const offsets = new Float32Array(Math.max(sizeOf(outBatch), 1));
  for (let flat = 0; flat < offsets.length; flat++) {
    let rest = flat,
      offset = 0,
      stride = matrixSize;
    for (let d = outBatch.length - 1, e = batch.length - 1; d >= 0 && e >= 0; d--, e--) {
      const index = rest % outBatch[d];
      rest = Math.floor(rest / outBatch[d]);
      if (batch[e] !== 1) offset += index * stride;
      stride *= batch[e];
    }
    offsets[flat] = offset;
  }
  return offsets;
}

// Softmax in two launches: per-row log-sum-exp (max-subtracted), then one thread per element.
function softmax(
  runner: KernelRunner,
  x: Float32Array,
  shape: Shape,
  dim: number,
  log: boolean,
): Float32Array {
  const [outer, n, inr] = aroundDim(shape, dim);
  const tag = `${outer}×${n}×${inr}`;
  const lse = runner.run(
    {
      key: `rowLogSumExp ${tag}`,
      source: rowLogSumExpSource,
      output: outer * inr,
      constants: { n, inner: inr },
    },
    [x],
  );
  const constants = { inner: inr, nInner: n * inr, log: log ? 1 : 0 };
  return runner.run(
    {
      key: `softmaxApply ${tag} ${log ? 'log' : 'exp'}`,
      source: softmaxApplySource,
      output: x.length,
      constants,
    },
    [x, lse],
  );
}

// Softmax backward in two launches: per-row Σ dy ⊙ y (or Σ dy), then one thread per element.
function softmaxBackward(
  runner: KernelRunner,
  y: Float32Array,
  dy: Float32Array,
  shape: Shape,
  dim: number,
  log: boolean,
): Float32Array {
  const [outer, n, inr] = aroundDim(shape, dim);
  const tag = `${outer}×${n}×${inr} ${log ? 'log' : 'exp'}`;
  const flag = log ? 1 : 0;
  const s = runner.run(
    {
      key: `rowDot ${tag}`,
      source: rowDotSource,
      output: outer * inr,
      constants: { n, inner: inr, log: flag },
    },
    [y, dy],
  );
  const constants = { inner: inr, nInner: n * inr, log: flag };
  return runner.run(
    {
      key: `softmaxBackwardApply ${tag}`,
      source: softmaxBackwardApplySource,
      output: y.length,
      constants,
    },
    [y, dy, s],
  );
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
    `webgpu: ${web.detail}; headless-gl: ${gl.detail}; ATTNGRAD_GPU_MODE=${gpuModes.join('|')} forces a gpu.js mode`,
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
