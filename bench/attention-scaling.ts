// How attention's cost grows with sequence length: time and peak memory of one forward+backward of
// a causal token mixer (B 1, C 64, 4 heads) for n = 256 … 4096 — softmax attention
// (models/attention.ts, O(n²) time and memory; and its fused kernel: O(n²) time, O(n) memory), local attention (models/sparse-attention.ts, window
// w: O(n·w)), linear attention (models/linear-attention.ts, O(n·hs²)) and FLASH (models/flash.ts,
// chunks of 64: O(n·c)). The measuring (time, the arrayBuffers peak, softmax's predicted peak) is
// experiments/mixer-cost.ts, which the sparse experiment's cost curve shares. Softmax is skipped
// where its n×n matrices would pass ~2 GiB: predicted from the peak measured at the previous n.
// Writes bench/results/attention-scaling.json and .svg, prints a markdown table.
// Usage: node --import tsx bench/attention-scaling.ts [--sizes 256,512] [--window 32]
// Read next: ../experiments/mixer-cost.ts, chart.ts.

import { join } from 'node:path';
import { backend, type Backend } from '../lib/index.ts';
import { withFusedAttention, type TransformerConfig } from '../models/index.ts';
import {
  costMixer,
  mixerCost,
  quadraticPeakBytes,
  type CostShape,
  type MixerCost,
} from '../experiments/mixer-cost.ts';
import { barChartSvg, type Group } from './chart.ts';
import { countFlag, flagValue, fmtMs, machine, resultsDir, writeAtomic } from './harness.ts';

const SIZES = (flagValue('--sizes') ?? '256,512,1024,2048,4096').split(',').map(Number);
const SHAPE: CostShape = { batch: 1, channels: 64, heads: 4 };
const WINDOW = countFlag('bench/attention-scaling', '--window', 32);
const GIB = 2 ** 30;

interface Variant {
  name: string;
  config: Partial<TransformerConfig>;
  fused?: boolean; // softmax attention on the fused kernel (default: the unfused path)
  skip?(n: number, previous?: Row): string | null; // a reason to skip this size
}

const variants: Variant[] = [
  {
    name: 'softmax',
    config: { attention: 'softmax' },
    skip: (n, prev) => {
      const measured =
        prev?.peakMiB === undefined ? undefined : { n: prev.n, peakMiB: prev.peakMiB };
      const bytes = quadraticPeakBytes(n, SHAPE, measured);
      return bytes > 2 * GIB
        ? `n×n matrices ≈ ${(bytes / GIB).toFixed(1)} GiB (predicted) > 2 GiB`
        : null;
    },
  },
  { name: 'softmax (fused)', config: { attention: 'softmax' }, fused: true },
  { name: `local (w ${WINDOW})`, config: { attention: 'local', window: WINDOW } },
  { name: 'linear (elu+1)', config: { attention: 'linear', featureMap: 'elu' } },
  { name: 'flash (c 64)', config: { attention: 'flash', chunk: 64 } },
];

interface Row extends Partial<MixerCost> {
  n: number;
  mixer: string;
  skipped?: string;
}

const rows: Row[] = [];
const { batch: B, channels: C, heads: NH } = SHAPE;
console.log(
  `# attention forward+backward vs sequence length (B ${B}, C ${C}, ${NH} heads, causal, float32, backend '${backend().name}')\n`,
);
for (const n of SIZES) {
  for (const v of variants) {
    const previous = rows.filter((r) => r.mixer === v.name && r.peakMiB !== undefined).at(-1);
    const reason = v.skip?.(n, previous);
    if (reason) {
      rows.push({ n, mixer: v.name, skipped: reason });
      continue;
    }
    const cost = () => mixerCost(costMixer(v.config, n, SHAPE), n, SHAPE);
    rows.push({ n, mixer: v.name, ...withFusedAttention(v.fused ?? false, cost) });
    const r = rows[rows.length - 1];
    process.stdout.write(
      `  n ${String(n).padStart(4)} ${v.name.padEnd(16)} ${fmtMs(r.msMedian!).padStart(8)} ms  ${r.peakMiB!.toFixed(1).padStart(8)} MiB\n`,
    );
  }
}

console.log(
  '\n| n | mixer | median ms | spread ms (min–max, n) | peak arrayBuffers Δ MiB | note |',
);
console.log('|---:|---|---:|---:|---:|---|');
for (const r of rows) {
  if (r.skipped) console.log(`| ${r.n} | ${r.mixer} | – | – | – | skipped: ${r.skipped} |`);
  else
    console.log(
      `| ${r.n} | ${r.mixer} | ${fmtMs(r.msMedian!)} | ${fmtMs(r.msMin!)}–${fmtMs(r.msMax!)}, ${r.samples} | ${r.peakMiB!.toFixed(1)} | |`,
    );
}
const env = {
  ...machine(),
  backend: (backend() as Backend).name,
  B,
  C,
  heads: NH,
  window: WINDOW,
  causal: true,
};
writeAtomic(
  join(resultsDir, 'attention-scaling.json'),
  JSON.stringify({ ...env, rows }, null, 2) + '\n',
);
const groups = (key: 'msMedian' | 'peakMiB', unit: string): Group[] =>
  SIZES.map((n) => ({
    label: `n = ${n}`,
    bars: rows
      .filter((r) => r.n === n)
      .map((r) => ({
        series: r.mixer,
        value: r[key] ?? null,
        text: r.skipped
          ? 'skipped (n×n > 2 GiB)'
          : `${key === 'msMedian' ? fmtMs(r[key]!) : r[key]!.toFixed(1)} ${unit}`,
      })),
  }));
writeAtomic(
  join(resultsDir, 'attention-scaling.svg'),
  barChartSvg(
    'attention forward+backward vs sequence length',
    [
      { title: 'median time', unit: 'ms', groups: groups('msMedian', 'ms'), log: true },
      {
        title: 'peak memory (arrayBuffers Δ)',
        unit: 'MiB',
        groups: groups('peakMiB', 'MiB'),
        log: true,
      },
    ],
    `B ${B}, C ${C}, ${NH} heads, causal, float32, ${env.cpu}, Node ${env.node}, backend '${env.backend}', ${env.date.slice(0, 10)}`,
  ),
);
console.log(`\nwrote ${join(resultsDir, 'attention-scaling.json')} and .svg`);
process.exit(0);
