// How an accelerated backend is made: another backend's table with some kernels overridden. Each
// override has an `accepts` test (is this call big enough, of the right dtype, for this engine?)
// and a `run` that replaces the kernel for the calls it accepts; every other call goes to the
// kernel below, unchanged. 'cpu-threads' (threads.ts) overrides 'cpu' this way, and 'gpu' (gpu.ts)
// overrides 'cpu-threads'. Read next: threads.ts.

import type { Backend, KernelName } from './backend.ts';

/** `run` replaces the kernel below for the calls `accepts` takes. */
export interface Override<Kernel extends (...args: never[]) => unknown> {
  accepts: (...args: Parameters<Kernel>) => boolean;
  run: Kernel;
}

export type Overrides = { [K in KernelName]?: Override<Backend[K]> };

/**
 * The backend `name`: `base` with each kernel of `overrides` replaced by one that runs the
 * override when it accepts the call, else base's kernel (telling `declined`, if given, which).
 */
export function overrideBackend(
  name: string,
  base: Backend,
  overrides: Overrides,
  declined?: (kernel: KernelName) => void,
): Backend {
  const table: Record<string, unknown> = { ...base, name };
  for (const [kernel, override] of Object.entries(overrides)) {
    const { accepts, run } = override as Override<(...args: unknown[]) => unknown>;
    const below = base[kernel as KernelName] as (...args: unknown[]) => unknown;
    table[kernel] = (...args: unknown[]) => {
      if (accepts(...args)) return run(...args);
      declined?.(kernel as KernelName);
      return below(...args);
    };
  }
  return table as unknown as Backend;
}
