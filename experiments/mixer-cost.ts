// What one forward+backward of a token mixer costs at sequence length n: wall-clock time (median
// of a few timed runs after a warm-up) and peak memory. Shared by the sparse experiment's cost
// curve (sparse.ts) and bench/attention-scaling.ts.
//
// Memory: the peak of process.memoryUsage().arrayBuffers (every tensor lives in an ArrayBuffer)
// over the run, minus its value after a full GC just before. It is sampled inside the run by
// wrapping each kernel of the active backend, so a sample follows every allocation; the sampled run
// doubles as the warm-up and is not timed. The peak includes garbage not yet collected: what the
// process really held. Softmax attention's peak grows as n², so a caller skips it past a memory cap
// by predicting its peak (quadraticPeakBytes) before running it. Read next: sparse.ts.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { backend, clearStoragePool, manualSeed, randn, type Tensor } from '../lib/index.ts';
import {
  checkConfig,
  makeMixer,
  type TokenMixer,
  type TransformerConfig,
} from '../models/index.ts';
import { median } from './stats.ts';

let gc: (() => void) | null = null;
/** V8's gc(), exposed on first use (not at import: importing the experiments changes no flag). */
function exposedGc(): () => void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  return gc;
}
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * The storage pool emptied, then a full GC, twice. V8 frees dead ArrayBuffers' memory in a sweeper that runs after the GC,
 * concurrently: a short wait lets it finish, or the baseline still counts the last run's garbage.
 */
function collect(): void {
  clearStoragePool(); // arrays kept for reuse by an earlier run would count in the baseline
  for (let i = 0; i < 2; i++) {
    exposedGc()();
    Atomics.wait(pause, 0, 0, 30); // a synchronous 30 ms sleep: the sweeper runs on its own thread
  }
}

/** Run `run` with every kernel of the active backend wrapped to record the arrayBuffers peak. */
export function peakBytesOf<T>(run: () => T): { result: T; peakBytes: number } {
  collect();
  const base = process.memoryUsage().arrayBuffers;
  let peak = base;
  const kernels = backend() as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  for (const [key, value] of Object.entries(kernels)) {
    if (typeof value !== 'function') continue;
    saved.set(key, value);
    kernels[key] = (...args: unknown[]) => {
      const out = (value as (...a: unknown[]) => unknown)(...args);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      return out;
    };
  }
  try {
    const result = run();
    peak = Math.max(peak, process.memoryUsage().arrayBuffers);
    return { result, peakBytes: peak - base };
  } finally {
    for (const [key, value] of saved) kernels[key] = value;
  }
}

export interface CostShape {
  batch: number;
  channels: number;
  heads: number;
}

/** A causal mixer of one layer for length n, built by the registry from a config (mixers.ts). */
export function costMixer(
  config: Partial<TransformerConfig>,
  n: number,
  { channels, heads }: CostShape,
): TokenMixer {
  const full = { vocabSize: 2, blockSize: n, nLayer: 1, nHead: heads, nEmbd: channels, ...config };
  return makeMixer(checkConfig('costMixer', full));
}

export interface MixerCost {
  msMedian: number;
  msMin: number;
  msMax: number;
  samples: number;
  peakMiB: number;
}

/** Timed runs per size: fewer where one run is long. */
export const timedRuns = (n: number) => (n >= 8192 ? 2 : n >= 2048 ? 3 : n >= 1024 ? 5 : 9);

/** Time and peak memory of forward+backward of `mixer` on a random (batch, n, channels) input. */
export function mixerCost(mixer: TokenMixer, n: number, { batch, channels }: CostShape): MixerCost {
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`mixerCost: n must be ≥ 1, got ${n}`);
  manualSeed(n);
  const x = randn([batch, n, channels], { requiresGrad: true });
  const dy = randn([batch, n, channels]);
  const step = () => {
    mixer.zeroGrad();
    x.grad = null;
    const y = mixer.forward(x, { causal: true }) as Tensor; // (B, n, C)
    y.backward(dy);
  };
  const { peakBytes } = peakBytesOf(step); // also the warm-up
  const ms: number[] = [];
  for (let i = 0; i < timedRuns(n); i++) {
    const t = performance.now();
    step();
    ms.push(performance.now() - t);
  }
  return {
    msMedian: median(ms),
    msMin: Math.min(...ms),
    msMax: Math.max(...ms),
    samples: ms.length,
    peakMiB: peakBytes / 2 ** 20,
  };
}

// (B, nh, n, n) float32 tensors' worth at the peak of softmax attention's forward+backward: scores,
// scaled, masked, probabilities (kept for backward), their gradients, the matmul's float64 scratch,
// garbage not yet collected. Measured: ≈ 9.5 at n = 1024.
const NXN_ALIVE = 10;

/**
 * Softmax attention's predicted peak at n: the peak measured at a smaller n scaled by n², or,
 * before any measurement, NXN_ALIVE n×n matrices per head.
 */
export function quadraticPeakBytes(
  n: number,
  { batch, heads }: CostShape,
  measured?: { n: number; peakMiB: number },
): number {
  return measured
    ? measured.peakMiB * 2 ** 20 * (n / measured.n) ** 2
    : NXN_ALIVE * batch * heads * n * n * 4;
}
