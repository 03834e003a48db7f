// Kernel runners: compile a gpu.js kernel once per shape, run it, count the work. Two kinds:
// InThreadRunner for the synchronous modes (webasm, cpu, headlessgl; webgl2 and webgl in a
// browser) and, in webgpu-bridge.ts, a runner that drives a WebGPU device from a worker thread.
// Read next: webgpu-bridge.ts.

import type { KernelSpec } from './kernels.ts';

// webgl2 and webgl run in a browser only (webgl.ts); gpuModes are the modes Node can force.
export type GpuMode = 'webgpu' | 'headlessgl' | 'webasm' | 'cpu' | 'webgl2' | 'webgl';
export const gpuModes: readonly GpuMode[] = ['webgpu', 'headlessgl', 'webasm', 'cpu'];

/** What the GPU backend did since the process started (or resetGpuCounters()). */
export interface GpuCounters {
  compiles: number; // kernels built: one per kernel and shape
  runs: number; // kernel launches
  uploads: number; // argument arrays sent to the device
  downloads: number; // results read back
  uploadBytes: number;
  downloadBytes: number;
  cpuFallbacks: number; // calls an accepts() predicate left to the CPU ('cpu-threads') kernel
}

const zero = (): GpuCounters => ({
  compiles: 0,
  runs: 0,
  uploads: 0,
  downloads: 0,
  uploadBytes: 0,
  downloadBytes: 0,
  cpuFallbacks: 0,
});
export const counters: GpuCounters = zero();
export const resetCounters = (): void => void Object.assign(counters, zero());

export interface KernelRunner {
  readonly mode: GpuMode;
  /** Run the kernel `spec` (compiling it on first use of its key) on flat float32 arguments. */
  run(spec: KernelSpec, args: readonly Float32Array[]): Float32Array;
}

/** Count one launch: its uploads (every argument) and its download (the result). */
export function countRun(args: readonly Float32Array[], result: Float32Array): void {
  counters.runs++;
  counters.uploads += args.length;
  for (const a of args) counters.uploadBytes += a.byteLength;
  counters.downloads++;
  counters.downloadBytes += result.byteLength;
}

/** The slice of gpu.js's API used here (gpu.js is optional, so its typings cannot be imported). */
export interface GpuJs {
  GPU: new (settings: { mode: string }) => GpuInstance;
  [kernelClass: string]: unknown;
}
interface GpuInstance {
  Kernel: unknown;
  createKernel(
    source: string,
    settings: object,
  ): (...args: Float32Array[]) => Float32Array | Promise<Float32Array>;
}

const kernelClass: Record<GpuMode, string> = {
  webgpu: 'WebGPUKernel',
  headlessgl: 'HeadlessGLKernel',
  webasm: 'WebAssemblyKernel',
  cpu: 'CPUKernel',
  webgl2: 'WebGL2Kernel',
  webgl: 'WebGLKernel',
};

/**
 * The synchronous gpu.js modes, in this thread. Kernels are never destroyed: in headless-gl,
 * destroying one kernel makes the others of the same GPU return zeros (docs/gpujs.md, bug 4),
 * and a training run meets a bounded set of shapes.
 */
export class InThreadRunner implements KernelRunner {
  private gpu: GpuInstance;
  private kernels = new Map<
    string,
    (...args: Float32Array[]) => Float32Array | Promise<Float32Array>
  >();

  constructor(
    gpujs: GpuJs,
    readonly mode: GpuMode,
  ) {
    this.gpu = new gpujs.GPU({ mode });
    // gpu.js falls back silently (headless-gl without a context becomes webasm): check the class
    const picked = this.gpu.Kernel as { name?: string } | null;
    if (picked !== gpujs[kernelClass[mode]]) {
      throw new Error(
        `gpu.js picked ${picked?.name ?? 'no kernel class'} when asked for mode '${mode}'`,
      );
    }
  }

  run(spec: KernelSpec, args: readonly Float32Array[]): Float32Array {
    let kernel = this.kernels.get(spec.key);
    if (!kernel) {
      // tactic 'precision' avoids headless-gl's stale-result bug (docs/gpujs.md, 3); no setting is
      // ever undefined (6)
      kernel = this.gpu.createKernel(spec.source, {
        output: [spec.output],
        constants: spec.constants,
        precision: 'single',
        tactic: 'precision',
      });
      this.kernels.set(spec.key, kernel);
      counters.compiles++;
    }
    const result = kernel(...args);
    if (!(result instanceof Float32Array) || result.length !== spec.output) {
      throw new Error(
        `gpu.js ${this.mode}: kernel ${spec.key} returned ${describe(result)}, expected ` +
          `Float32Array(${spec.output})`,
      );
    }
    countRun(args, result);
    return result;
  }
}

const describe = (x: unknown): string =>
  x instanceof Promise
    ? 'a Promise'
    : `${(x as object)?.constructor?.name ?? typeof x}(${(x as { length?: number })?.length})`;
