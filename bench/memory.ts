// Memory over a long run: trains the reference model of train-step.ts for --steps steps (default
// 2,000) and samples the resident set size (RSS: what the OS counts for the process — JS heap,
// typed-array storage, worker threads) every --every steps. RSS must stay flat: every sample after
// the warm-up (JIT, scratch buffers, Adam's moments, the pool's arena all settle in the first
// --warmup steps) within ±10% of the baseline, the median over the first tenth after the warm-up. A
// leak — a graph kept alive by a stray reference, a cache that never evicts — shows as a line that
// keeps climbing. Prints a table, writes bench/results/memory.json and memory.svg, exits 1 when RSS
// drifts. Usage: npm run bench:memory -- [--steps 2000] [--every 50] [--warmup 100] [--backend
// cpu-threads|cpu]. The allocator's settings (MALLOC_*_, GLIBC_TUNABLES) are printed and recorded:
// glibc's decide where tensors' storage lives and so how the RSS moves (README, "Memory:").

import { join } from 'node:path';
import { memoryUsage } from 'node:process';
import * as lib from '../lib/index.ts';
import { lineChartSvg } from '../report/line-chart.ts';
import { countFlag, flagValue, machine, median, resultsDir, writeAtomic } from './harness.ts';
import { initialWeights, makeBatches, trainAttngrad } from './train-step.ts';

const BOUND = 0.1; // ±10% of the RSS at the end of the warm-up

// The allocator's settings this run has: glibc reads MALLOC_*_ and GLIBC_TUNABLES at start.
const malloc = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k.startsWith('MALLOC_') || k === 'GLIBC_TUNABLES'),
);

const count = (name: string, fallback: number) => countFlag('bench/memory', name, fallback);
const steps = count('--steps', 2000),
  every = count('--every', 50),
  warmup = count('--warmup', 100);
if (warmup >= steps)
  throw new Error(`bench/memory: --warmup ${warmup} must be below --steps ${steps}`);
const backendName = flagValue('--backend') ?? 'cpu-threads';
lib.setBackend(backendName);

interface Sample {
  step: number; // steps done
  rssMiB: number;
  heapUsedMiB: number; // JS objects
  arrayBuffersMiB: number; // typed-array storage (main thread)
}
const MiB = 1 << 20;
const samples: Sample[] = [];
const sample = (step: number) => {
  const m = memoryUsage();
  samples.push({
    step,
    rssMiB: m.rss / MiB,
    heapUsedMiB: m.heapUsed / MiB,
    arrayBuffersMiB: m.arrayBuffers / MiB,
  });
};

console.log(
  `# RSS over ${steps} train steps (backend '${backendName}', ${lib.getNumThreads()} threads), a sample every ${every}; ` +
    `malloc: ${
      Object.entries(malloc)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || "the C library's defaults"
    }\n`,
);
const started = performance.now();
sample(0);
const result = trainAttngrad(initialWeights(), makeBatches(50), {
  steps,
  onStep: (i, loss) => {
    const done = i + 1;
    if (done % every !== 0 && done !== warmup && done !== steps) return;
    sample(done);
    const s = samples[samples.length - 1];
    const eta = (((performance.now() - started) / done) * (steps - done)) / 1e3;
    process.stdout.write(
      `\r  step ${String(done).padStart(5)}/${steps}  RSS ${s.rssMiB.toFixed(0)} MiB  loss ${loss.toFixed(3)}  ~${eta.toFixed(0)} s left   `,
    );
  },
});
process.stdout.write('\n\n');

// The baseline: the median RSS over the first tenth of the run after the warm-up (one sample would
// catch the garbage collector at a random point of its cycle; RSS swings ±5% within a few steps).
const after = samples.filter((s) => s.step >= warmup);
const firstTenth = after.filter((s) => s.step <= warmup + (steps - warmup) / 10);
const lastTenth = after.filter((s) => s.step >= steps - (steps - warmup) / 10);
const base = median(firstTenth.map((s) => s.rssMiB)),
  end = median(lastTenth.map((s) => s.rssMiB));
const worst = after.reduce((w, s) =>
  Math.abs(s.rssMiB - base) > Math.abs(w.rssMiB - base) ? s : w,
);
const drift = (worst.rssMiB - base) / base;
// Typed-array storage swings with the collector's cycle (V8 frees it at its own pace); the rest of
// the RSS shows native growth on its own.
const rest = after.map((s) => s.rssMiB - s.arrayBuffersMiB);

console.log('| step | RSS MiB | heap used MiB | array buffers MiB |\n|---:|---:|---:|---:|');
const shown = samples.filter(
  (s, i) => s.step === warmup || i === 0 || i === samples.length - 1 || s.step % (10 * every) === 0,
);
for (const s of shown)
  console.log(
    `| ${s.step} | ${s.rssMiB.toFixed(1)} | ${s.heapUsedMiB.toFixed(1)} | ${s.arrayBuffersMiB.toFixed(1)} |`,
  );
console.log(
  `\nRSS baseline (median of steps ${warmup}–${firstTenth[firstTenth.length - 1].step}): ${base.toFixed(1)} MiB; ` +
    `median of the last tenth: ${end.toFixed(1)} MiB (${(100 * (end / base - 1)).toFixed(1)}%)`,
);
console.log(
  `largest deviation: ${(100 * drift).toFixed(1)}% at step ${worst.step} (bound ±${100 * BOUND}%); ` +
    `median step ${result.timing.msMedian.toFixed(0)} ms; loss ${result.losses[0].toFixed(3)} → ${result.losses[result.losses.length - 1].toFixed(3)}`,
);
console.log(
  `RSS less array buffers after the warm-up: ${Math.min(...rest).toFixed(1)}–${Math.max(...rest).toFixed(1)} MiB`,
);

const env = {
  ...machine(),
  backend: backendName,
  threads: lib.getNumThreads(),
  steps,
  every,
  warmup,
  bound: BOUND,
  malloc,
};
writeAtomic(
  join(resultsDir, 'memory.json'),
  JSON.stringify(
    { ...env, baselineMiB: base, lastTenthMiB: end, maxDeviation: drift, samples },
    null,
    2,
  ) + '\n',
);
const series = (name: string, key: keyof Sample, color: string) => ({
  name,
  color,
  points: samples.map((s): [number, number] => [s.step, s[key]]),
});
writeAtomic(
  join(resultsDir, 'memory.svg'),
  lineChartSvg(
    `Memory over ${steps} train steps ('${backendName}', ${lib.getNumThreads()} threads)`,
    'step',
    'MiB',
    [
      series('RSS', 'rssMiB', '#d62728'),
      ...[1 + BOUND, 1 - BOUND].map((f) => ({
        name: `baseline ${f > 1 ? '+' : '−'}${100 * BOUND}%`,
        color: '#999999',
        points: [
          [warmup, base * f],
          [steps, base * f],
        ] as [number, number][],
      })),
      series('JS heap used', 'heapUsedMiB', '#1f77b4'),
      series('array buffers', 'arrayBuffersMiB', '#2ca02c'),
    ],
  ),
);
console.log(`wrote ${join(resultsDir, 'memory.json')}, memory.svg`);
process.exit(Math.abs(drift) <= BOUND ? 0 : 1); // exit: the worker pool may keep the event loop alive
