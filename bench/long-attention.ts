// The long-sequence attention cases of `npm run bench`, attngrad only: one causal softmax-attention
// mixer (models/attention.ts: projections, 4 heads of 16, C 64, B 1) forward + backward at n 4096
// on the fused kernel (`attention-4096`) and at n 2048 on the unfused path
// (`attention-2048-unfused`: matmul, softmax, matmul), so one run compares 4× the work on the fused
// kernel with the unfused path. Each row has the median time and `peakMiB`, the high-water mark of
// process.memoryUsage().arrayBuffers above its value before the case (experiments/mixer-cost.ts,
// as bench/attention-scaling.ts measures it). Before timing, the fused mixer's output and
// gradients are checked against the unfused one's at n = CHECK_N (same weights, same input).
// Standalone: node --import tsx bench/long-attention.ts (prints the rows, writes
// bench/results/long-attention.json). Read next: ../experiments/mixer-cost.ts, benchmark.ts.

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { manualSeed, randn, type Tensor } from '../lib/index.ts';
import { withFusedAttention } from '../models/attention.ts';
import type { TokenMixer } from '../models/index.ts';
import { costMixer, mixerCost, type CostShape } from '../experiments/mixer-cost.ts';
import { fmtMs, machine, relError, resultsDir, writeAtomic, type Timing } from './harness.ts';

const SHAPE: CostShape = { batch: 1, channels: 64, heads: 4 }; // 4 heads of 16
const CHECK_N = 256;
const TOLERANCE = 1e-4; // max |Δ| / max |unfused|, float32

export interface LongAttentionRow extends Timing {
  case: string;
  impl: string;
  peakMiB: number;
}

const cases = [
  { name: 'attention-4096', n: 4096, fused: true },
  { name: 'attention-2048-unfused', n: 2048, fused: false },
];

/** A fresh causal softmax mixer of length n (seeded: the same weights every time). */
function mixer(n: number): TokenMixer {
  manualSeed(1);
  return costMixer({ attention: 'softmax' }, n, SHAPE);
}

/** Output, input gradient and weight gradients of one causal forward + backward, fused or not. */
function gradients(fused: boolean, n: number): Float32Array[] {
  const m = mixer(n);
  manualSeed(2);
  const x = randn([SHAPE.batch, n, SHAPE.channels], { requiresGrad: true });
  const dy = randn([SHAPE.batch, n, SHAPE.channels]);
  return withFusedAttention(fused, () => {
    const y = m.forward(x, { causal: true }) as Tensor;
    y.backward(dy);
    const weights = m.parameters().map((p) => p.grad!.data as Float32Array);
    return [y.data as Float32Array, x.grad!.data as Float32Array, ...weights];
  });
}

/**
 * The fused mixer against the unfused one at n: the worst error over every array, relative to the
 * array's largest value or 1, whichever is more (key.bias's gradient is 0 but for rounding: a
 * softmax row does not change when every score of it moves by the same q·b).
 */
export function fusedError(n = CHECK_N): number {
  const [fused, unfused] = [true, false].map((f) => gradients(f, n));
  return Math.max(...fused.map((a, i) => relError(a, unfused[i]) * scaleOf(unfused[i])));
}

// relError divides by the array's max |value|; this turns it into max |Δ| / max(1, max |value|)
const scaleOf = (x: Float32Array) =>
  Math.min(
    1,
    x.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
  );

/**
 * Check the fused path, then time both cases on the active backend as `impl`; a failed check is
 * returned instead of the fused row.
 */
export function longAttention(impl: string, only: RegExp | null = null) {
  const rows: LongAttentionRow[] = [];
  const failures: string[] = [];
  for (const c of cases.filter((c) => !only || only.test(c.name))) {
    if (c.fused) {
      const err = fusedError();
      if (!(err <= TOLERANCE)) {
        failures.push(`${c.name}: fused differs from unfused at n ${CHECK_N} (rel. ${err})`);
        continue;
      }
    }
    const cost = withFusedAttention(c.fused, () => mixerCost(mixer(c.n), c.n, SHAPE));
    rows.push({ case: c.name, impl, ...cost, timer: 'loop' });
    process.stdout.write(
      `  ${c.name.padEnd(26)} ${impl.padEnd(12)} ${fmtMs(cost.msMedian).padStart(8)} ms  ` +
        `peak ${cost.peakMiB.toFixed(1)} MiB\n`,
    );
  }
  return { rows, failures };
}

/** What the two cases are, for the benchmark's table. */
export const longAttentionWhat = Object.fromEntries(
  cases.map((c) => [
    c.name,
    `causal attention mixer fwd+bwd B1 h4 n${c.n} d16, ${c.fused ? 'fused' : 'unfused'}`,
  ]),
);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(`# long attention: fused at n 4096, unfused at n 2048 (checked at n ${CHECK_N})\n`);
  const { rows, failures } = longAttention('attngrad');
  if (failures.length) {
    console.error(failures.join('\n'));
    process.exit(1);
  }
  const [fused, unfused] = rows;
  console.log(
    `\nfused n 4096 / unfused n 2048: time ×${(fused.msMedian / unfused.msMedian).toFixed(2)}, ` +
      `peak ${fused.peakMiB.toFixed(1)} vs ${unfused.peakMiB.toFixed(1)} MiB`,
  );
  const file = join(resultsDir, 'long-attention.json');
  writeAtomic(file, JSON.stringify({ ...machine(), rows }, null, 2) + '\n');
  console.log(`wrote ${file}`);
  process.exit(0);
}
