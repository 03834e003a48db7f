// The GPU.js backend in a browser: gpu.js on WebGL2 (else WebGL 1), in the page or in a worker
// (gpu.js draws on an OffscreenCanvas there), over the same table as in Node (table.ts: the
// per-shape kernel cache and the size thresholds). The caller hands in gpu.js (the browser bundle
// imports it lazily). A software renderer (SwiftShader, what headless Chromium has without a GPU)
// is refused unless forced, as in Node: on a CPU the TS kernels are faster (docs/gpujs.md).
// Read next: table.ts.

import { InThreadRunner, type GpuJs, type GpuMode } from './runner.ts';
import { makeGpuBackend, type GpuBackendOptions, type GpuInit } from './table.ts';

export interface WebGlOptions extends Omit<GpuBackendOptions, 'mode'> {
  /** Run on a software renderer too (tests, and a user who picks the backend by hand). */
  force?: boolean;
}

const softwareRenderer = /swiftshader|llvmpipe|lavapipe|softpipe|software|basic render/i;

/** The renderer WebGL names here (unmasked when the browser allows), or null without WebGL. */
export function webGlRenderer(): string | null {
  const scope = globalThis as { document?: Document };
  const canvas = scope.document
    ? scope.document.createElement('canvas')
    : new OffscreenCanvas(1, 1);
  const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext;
  if (!gl) return null;
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}

/**
 * gpu.js on WebGL: the backend (not registered: registerBackend, then setBackend('gpu')), or none
 * and a one-line reason.
 */
export function initWebGlBackend(gpujs: GpuJs, options: WebGlOptions = {}): GpuInit {
  const none = (reason: string): GpuInit => ({
    backend: null,
    mode: 'none',
    reason: `gpu: ${reason}; keeping the TS kernels`,
  });
  const renderer = webGlRenderer();
  if (renderer === null) return none('this browser has no WebGL');
  const software = softwareRenderer.test(renderer);
  if (software && !options.force) return none(`${renderer} is a software renderer`);
  const errors: string[] = [];
  for (const mode of ['webgl2', 'webgl'] as GpuMode[]) {
    try {
      const runner = new InThreadRunner(gpujs, mode);
      const what = software ? `${renderer} (software, on the CPU)` : renderer;
      return {
        backend: makeGpuBackend(runner, options),
        mode,
        reason: `gpu: gpu.js ${mode}${options.force ? ' (forced)' : ''} on ${what}`,
      };
    } catch (e) {
      errors.push(`${mode}: ${(e as Error).message}`);
    }
  }
  return none(errors.join('; '));
}
