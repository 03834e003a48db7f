// How attention's cost grows with sequence length: time and peak memory of one forward+backward of
// a causal token mixer (B 1, C 64, 4 heads) for n = 256 … 4096 — softmax attention
// (models/attention.ts, O(n²) time and memory), and, when their files exist, local attention
// (models/sparse-attention.ts, window w: O(n·w)) and linear attention (models/linear-attention.ts,
// O(n·hs²)). Variants are built through models/mixers.ts from a config, imported dynamically: a
// missing one is skipped with a note.
//
// Memory: the peak of process.memoryUsage().arrayBuffers (every tensor lives in an ArrayBuffer)
// over the run, minus its value after a full GC just before. It is sampled inside the run by
// wrapping each kernel of the active backend, so a sample follows every allocation; the sampled run
// doubles as the warm-up and is not timed. The peak includes garbage not yet collected: what the
// process really held. Softmax is skipped where its n×n matrices would pass ~2 GiB: predicted from
// the peak measured at the previous n, scaled by n² (before any measurement: NXN_ALIVE tensors).
// Writes bench/results/attention-scaling.json and .svg, prints a markdown table.
// Usage: node --import tsx bench/attention-scaling.ts [--sizes 256,512] [--window 32]
// Read next: ../models/attention.ts, chart.ts.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { backend, manualSeed, randn, type Backend, type Tensor } from '../lib/index.ts';
import { MultiHeadAttention } from '../models/attention.ts';
import { checkConfig } from '../models/config.ts';
import type { TokenMixer } from '../models/mixer.ts';
import { barChartSvg, type Group } from './chart.ts';
import {
  countFlag,
  flagValue,
  fmtMs,
  machine,
  median,
  resultsDir,
  writeAtomic,
} from './harness.ts';

const SIZES = (flagValue('--sizes') ?? '256,512,1024,2048,4096').split(',').map(Number);
const [B, C, NH] = [1, 64, 4];
const WINDOW = countFlag('bench/attention-scaling', '--window', 32);
const GIB = 2 ** 30;
// (B, nh, n, n) float32 tensors' worth at the peak of softmax attention's forward+backward: scores,
// scaled, masked, probabilities (kept for backward), their gradients, the matmul's float64 scratch,
// garbage not yet collected. Measured here: ≈ 9.5 at n = 1024.
const NXN_ALIVE = 10;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Variant {
  name: string;
  make(n: number): TokenMixer | null; // null: not available (note says why)
  note?: string;
  skip?(n: number, previous?: Row): string | null; // a reason to skip this size
}

const here = dirname(fileURLToPath(import.meta.url));
const models = join(here, '..', 'models');

/** A mixer from models/mixers.ts by config name, if its file exists and the table knows it. */
async function fromMixers(
  name: string,
  file: string,
  extra: Record<string, unknown>,
): Promise<Variant> {
  const variant: Variant = { name, make: () => null };
  if (!existsSync(join(models, file)))
    return { ...variant, note: `models/${file} does not exist yet` };
  try {
    const path = '../models/mixers.ts'; // a variable: tsc must not require the variants to exist
    const { makeMixer } = (await import(path)) as {
      makeMixer: (config: ReturnType<typeof checkConfig>) => TokenMixer;
    };
    const config = (n: number) =>
      checkConfig('attention-scaling', {
        vocabSize: 2,
        blockSize: n,
        nLayer: 1,
        nHead: NH,
        nEmbd: C,
        ...extra,
      });
    makeMixer(config(256));
    return { ...variant, make: (n) => makeMixer(config(n)) };
  } catch (e) {
    return {
      ...variant,
      note: `models/${file} is present but its mixer did not build: ${(e as Error).message.split('\n')[0]}`,
    };
  }
}

const softmaxBytes = (n: number, prev?: Row) =>
  prev?.peakMiB ? prev.peakMiB * 2 ** 20 * (n / prev.n) ** 2 : NXN_ALIVE * B * NH * n * n * 4;
const variants: Variant[] = [
  {
    name: 'softmax',
    make: () => new MultiHeadAttention(C, NH),
    skip: (n, prev) => {
      const bytes = softmaxBytes(n, prev);
      return bytes > 2 * GIB
        ? `n×n matrices ≈ ${(bytes / GIB).toFixed(1)} GiB (predicted) > 2 GiB`
        : null;
    },
  },
  await fromMixers(`local (w ${WINDOW})`, 'sparse-attention.ts', {
    attention: 'local',
    window: WINDOW,
  }),
  await fromMixers('linear (elu+1)', 'linear-attention.ts', {
    attention: 'linear',
    featureMap: 'elu',
  }),
];

/** Wrap every kernel of the active backend to record the arrayBuffers high-water mark. */
async function sampling<T>(run: () => T): Promise<{ result: T; peakBytes: number }> {
  // V8 frees dead ArrayBuffers' memory in a sweeper that runs after the GC, concurrently: give it a
  // moment, or the baseline still counts the last run's garbage and the peak reads 0
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  const base = process.memoryUsage().arrayBuffers;
  let peak = base;
  const b = backend() as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  for (const [key, value] of Object.entries(b)) {
    if (typeof value !== 'function') continue;
    saved.set(key, value);
    b[key] = (...a: unknown[]) => {
      const out = (value as (...x: unknown[]) => unknown)(...a);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      return out;
    };
  }
  try {
    const result = run();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    return { result, peakBytes: peak - base };
  } finally {
    for (const [key, value] of saved) b[key] = value;
  }
}

interface Row {
  n: number;
  mixer: string;
  msMedian?: number;
  msMin?: number;
  msMax?: number;
  samples?: number;
  peakMiB?: number;
  skipped?: string;
}

async function measure(mixer: TokenMixer, n: number): Promise<Omit<Row, 'n' | 'mixer'>> {
  manualSeed(n);
  const x = randn([B, n, C], { requiresGrad: true });
  const dy = randn([B, n, C]);
  const step = () => {
    mixer.zeroGrad();
    x.grad = null;
    const y = mixer.forward(x, { causal: true }) as Tensor; // (B, n, C)
    y.backward(dy);
  };
  const { peakBytes } = await sampling(step); // also the warm-up
  const reps = n >= 2048 ? 3 : n >= 1024 ? 5 : 9;
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    step();
    ms.push(performance.now() - t);
  }
  return {
    msMedian: median(ms),
    msMin: Math.min(...ms),
    msMax: Math.max(...ms),
    samples: reps,
    peakMiB: peakBytes / 2 ** 20,
  };
}

const rows: Row[] = [];
console.log(
  `# attention forward+backward vs sequence length (B ${B}, C ${C}, ${NH} heads, causal, float32, backend '${backend().name}')\n`,
);
for (const v of variants) if (v.note) console.log(`- ${v.name}: skipped, ${v.note}`);
for (const n of SIZES) {
  for (const v of variants) {
    if (v.note) continue;
    const previous = rows.filter((r) => r.mixer === v.name && r.peakMiB !== undefined).at(-1);
    const reason = v.skip?.(n, previous);
    if (reason) {
      rows.push({ n, mixer: v.name, skipped: reason });
      continue;
    }
    const mixer = v.make(n)!;
    rows.push({ n, mixer: v.name, ...(await measure(mixer, n)) });
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
const notes = variants.filter((v) => v.note).map((v) => `${v.name}: ${v.note}`);

const env = {
  ...machine(),
  backend: (backend() as Backend).name,
  B,
  C,
  heads: NH,
  window: WINDOW,
  causal: true,
  notes,
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
