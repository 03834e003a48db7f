// The GPU.js backend in Node: which gpu.js mode runs, and the backend over it (gpu/table.ts: the
// threaded backend with matmul, softmax and softmax backward overridden by gpu.js kernels behind
// size predicates). The browser's counterpart is gpu/webgl.ts.
// gpu.js is an optional dependency, loaded here with a dynamic import() only when asked for.
// Read next: gpu/table.ts, gpu/kernels.ts (the kernels), gpu/runner.ts (cache, counters),
// gpu/webgpu-bridge.ts.
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
import {
  gpuModes,
  InThreadRunner,
  type GpuJs,
  type GpuMode,
  type KernelRunner,
} from './gpu/runner.ts';
import { makeGpuBackend, type GpuBackendOptions, type GpuInit } from './gpu/table.ts';
import { startWebGpu } from './gpu/webgpu-bridge.ts';

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
