// Where a train step's time goes, kernel by kernel: trains the reference model of train-step.ts
// with every kernel of the active backend wrapped in a timer, and prints the time per step of each
// (kernel, operand shapes) pair, biggest first. Wall time on the calling thread: a threaded kernel
// counts the whole fork-join, waits included. Usage: node --import tsx bench/kernel-times.ts
// [--backend cpu-threads|cpu] [--steps 12] [--top 30]

import * as lib from '../lib/index.ts';
import type { Backend } from '../lib/index.ts';
import type { MatmulArgs } from '../lib/backend/backend.ts';
import { countFlag, flagValue } from './harness.ts';
import { initialWeights, makeBatches, trainAttngrad } from './train-step.ts';

const steps = countFlag('bench/kernel-times', '--steps', 12),
  top = countFlag('bench/kernel-times', '--top', 30);
lib.setBackend(flagValue('--backend') ?? 'cpu-threads');
const inner = lib.backend();

const shape = (s: unknown) => (Array.isArray(s) ? s.join('×') || 'scalar' : '');
/** A readable key for one call: the kernel, its op, and the shapes that decide its cost. */
function describe(kernel: string, a: unknown[]): string {
  if (kernel === 'matmul') {
    const m = a[0] as MatmulArgs;
    return `matmul ${m.transA ? 'T' : 'N'}${m.transB ? 'T' : 'N'} ${shape(m.aShape)} · ${shape(m.bShape)}`;
  }
  if (kernel === 'unary') return `unary ${a[0]} (${(a[1] as ArrayLike<number>).length})`;
  if (kernel === 'binary') return `binary ${a[0]} ${shape(a[2])} ${shape(a[4])}`;
  if (kernel === 'reduce')
    return `reduce ${a[0]} ${shape(a[2])} over ${(a[3] as number[]).join(',')}`;
  const firstShape = a.find((x) => Array.isArray(x));
  return `${kernel} ${shape(firstShape)}`;
}

const ms = new Map<string, number>(),
  calls = new Map<string, number>();
const timed = { ...inner, name: `${inner.name}+timers` } as Record<string, unknown>;
for (const [kernel, fn] of Object.entries(inner)) {
  if (typeof fn !== 'function') continue;
  timed[kernel] = (...a: unknown[]) => {
    const t0 = performance.now();
    const out = (fn as (...x: unknown[]) => unknown)(...a);
    const key = describe(kernel, a);
    ms.set(key, (ms.get(key) ?? 0) + performance.now() - t0);
    calls.set(key, (calls.get(key) ?? 0) + 1);
    return out;
  };
}
lib.registerBackend(timed as unknown as Backend);
lib.setBackend(timed.name as string);

const result = trainAttngrad(initialWeights(), makeBatches(steps));
const total = [...ms.values()].reduce((s, v) => s + v, 0);
const matmul = [...ms].filter(([k]) => k.startsWith('matmul')).reduce((s, [, v]) => s + v, 0);
// The totals also hold the warm-up steps and the final loss evaluation: per step = total / steps.
console.log(
  `# kernels of a train step, backend '${inner.name}' (${lib.getNumThreads()} threads), ${steps} steps\n`,
);
console.log(
  `step median ${result.timing.msMedian.toFixed(0)} ms; kernels ${(total / steps).toFixed(0)} ms per step, ` +
    `of which matmul ${(matmul / steps).toFixed(0)} ms (${((100 * matmul) / total).toFixed(0)}%)\n`,
);
console.log(
  '| kernel and operand shapes | calls per step | ms per step | share |\n|---|---:|---:|---:|',
);
for (const [key, v] of [...ms].sort((x, y) => y[1] - x[1]).slice(0, top)) {
  console.log(
    `| ${key} | ${(calls.get(key)! / steps).toFixed(1)} | ${(v / steps).toFixed(1)} | ${((100 * v) / total).toFixed(1)}% |`,
  );
}
process.exit(0); // the worker pool may keep the event loop alive
