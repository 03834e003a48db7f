// The reference training step, end to end, in attngrad and in tfjs-core with identical initial
// weights and identical seeded batches: a pre-norm decoder-only Transformer (V 64, C 128, nh 4,
// 2 layers, FFN 512 with relu, learned positions, causal, T 64, B 16) trained with Adam
// (lr 1e-3, betas 0.9/0.999, eps 1e-8, no weight decay): ≈ 2.67 GFLOP per step.
// A speed claim is a correctness claim too, so each run also reports the loss on the first batch
// after 10 steps; the implementations must agree to 1e-3.
//
// The tfjs twin is written with tfjs-core ops: tf.variable per parameter (copied from attngrad's
// namedParameters() by name; every name must be used exactly once), moments-based LayerNorm, matMul
// with transposeB for the (out, in) weights, softmax, logSoftmax cross-entropy, tf.train.adam. The
// token embedding is a one-hot matmul in both tfjs backends: tfjs-backend-wasm has no gradient
// kernel for gather (UnsortedSegmentSum), and one formulation for both keeps the rows comparable.
//
// Standalone: node --import tsx bench/train-step.ts [--impl
// attngrad|attngrad-1t|tfjs-cpu|tfjs-wasm]
//   [--steps N] [--profile]    (--profile: re-runs an attngrad impl, default attngrad-1t, under
//   --cpu-prof and prints the top functions inside trainAttngrad). `--impl attngrad-cpu` runs the
//   reference 'cpu' backend, only when named: its loss after 10 steps must equal the others' bits.
// Read next: benchmark.ts.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as TF from '@tensorflow/tfjs-core';
import { backend, manualSeed, noGrad, setBackend, tensor, type Tensor } from '../lib/index.ts';
import { randomInt } from '../lib/random.ts';
import { Adam } from '../nn/index.ts';
import { TransformerLM } from '../models/transformer.ts';
import { tfLayerNorm } from './cases.ts';
import {
  attngradImpls,
  countFlag,
  flagValue,
  summarize,
  tf,
  tfjsImpls,
  type Impl,
  type Timing,
} from './harness.ts';
import { printProfile } from './cpu-profile.ts';

export const config = {
  vocabSize: 64,
  blockSize: 64,
  nLayer: 2,
  nHead: 4,
  nEmbd: 128,
  ffnHidden: 512,
  norm: 'pre',
  position: 'learned',
  activation: 'relu',
  dropout: 0,
} as const;
const [B, T, V, C, NH, L, F] = [
  16,
  64,
  config.vocabSize,
  config.nEmbd,
  config.nHead,
  config.nLayer,
  config.ffnHidden,
];
const HS = C / NH;
const ADAM = { lr: 1e-3, betas: [0.9, 0.999] as [number, number], eps: 1e-8 };
export const STEPS = 10;
export const WARMUP_STEPS = 2; // not in the median: first-call compilation and allocation
export const LOSS_TOLERANCE = 1e-3;

// forward: per layer 4 C×C projections, 2 FFN matmuls, Q·Kᵀ and P·V; then the head. Backward ≈ 2×
// forward.
const N = B * T;
const forwardFlop =
  L * (4 * 2 * N * C * C + 2 * 2 * N * C * F + 2 * 2 * B * NH * T * T * HS) + 2 * N * C * V;
export const STEP_FLOP = 3 * forwardFlop;

export interface Batch {
  idx: Int32Array; // (B, T)
  targets: Int32Array; // (B, T): the next token
}

/**
 * Seeded, learnable batches: each row is an arithmetic progression mod V (random start and stride
 * 1–7), so the next token is predictable from context and the loss visibly falls within 10 steps.
 */
export function makeBatches(count = STEPS, seed = 2024): Batch[] {
  manualSeed(seed);
  return Array.from({ length: count }, () => {
    const idx = new Int32Array(B * T),
      targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const start = randomInt(0, V),
        stride = randomInt(1, 8);
      for (let t = 0; t < T; t++) {
        idx[b * T + t] = (start + stride * t) % V;
        targets[b * T + t] = (start + stride * (t + 1)) % V;
      }
    }
    return { idx, targets };
  });
}

export type Weights = Map<string, { data: Float32Array; shape: number[] }>;

/** attngrad's initialisation (seeded), copied out by parameter name: the start of every run. */
export function initialWeights(seed = 1): Weights {
  manualSeed(seed);
  const model = new TransformerLM(config);
  return new Map(
    model
      .namedParameters()
      .map(([name, p]) => [name, { data: Float32Array.from(p.data), shape: [...p.shape] }]),
  );
}

export interface TrainResult {
  losses: number[]; // training loss of each step (before its update)
  lossAfter10: number; // loss on batches[0] after all steps
  timing: Timing; // per-step time, warm-up steps left out
}

function finish(losses: number[], stepMs: number[], lossAfter10: number): TrainResult {
  return { losses, lossAfter10, timing: summarize(stepMs.slice(WARMUP_STEPS), 'loop') };
}

// ---- attngrad ----
/**
 * `steps` steps over `batches` (cycled); `onStep(i, loss)` after each, e.g. to sample memory
 * (bench/memory.ts).
 */
export function trainAttngrad(
  init: Weights,
  batches: Batch[],
  {
    steps = batches.length,
    onStep,
  }: { steps?: number; onStep?: (step: number, loss: number) => void } = {},
): TrainResult {
  const model = new TransformerLM(config);
  model.loadStateDict(
    Object.fromEntries(
      [...init].map(([name, w]) => [name, tensor(w.data.slice(), { shape: w.shape })]),
    ),
  );
  model.train();
  const optimizer = new Adam(model.namedParameters(), { ...ADAM, weightDecay: 0 });
  const ids = (a: Int32Array) => tensor(a, { shape: [B, T] });
  const losses: number[] = [],
    stepMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    const batch = batches[i % batches.length],
      t0 = performance.now();
    const { loss } = model.forward(ids(batch.idx), ids(batch.targets));
    optimizer.zeroGrad();
    (loss as Tensor).backward();
    optimizer.step();
    losses.push((loss as Tensor).item());
    stepMs.push(performance.now() - t0);
    onStep?.(i, losses[i]);
  }
  const after = noGrad(() =>
    (model.forward(ids(batches[0].idx), ids(batches[0].targets)).loss as Tensor).item(),
  );
  return finish(losses, stepMs, after);
}

// ---- tfjs ----
type Tf = TF.Tensor;

/** The same model in tfjs-core ops; `P(name)` is the parameter attngrad calls `name`. */
function tfLoss(P: (name: string) => TF.Variable, ids1h: Tf, targets1h: Tf, mask: Tf): TF.Scalar {
  const linear = (x: Tf, name: string, out: number) => {
    const rows = tf.reshape(x, [N, -1]); // (N, in)
    return tf.reshape(
      tf.add(tf.matMul(rows, P(`${name}.weight`), false, true), P(`${name}.bias`)),
      [B, T, out],
    );
  };
  const norm = (x: Tf, name: string) =>
    tfLayerNorm(x, P(`${name}.weight`), P(`${name}.bias`), 1e-5);
  const heads = (x: Tf) => tf.transpose(tf.reshape(x, [B, T, NH, HS]), [0, 2, 1, 3]); // (B, nh, T, hs)
  const attention = (x: Tf, p: string) => {
    const [q, k, v] = ['query', 'key', 'value'].map((n) => heads(linear(x, `${p}.${n}`, C)));
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(HS)), mask); // (B, nh, T, T)
    const y = tf.matMul(tf.softmax(scores), v); // (B, nh, T, hs)
    return linear(tf.transpose(y, [0, 2, 1, 3]), `${p}.proj`, C); // (B, T, C)
  };
  const tokens = tf.reshape(tf.matMul(ids1h, P('embed.tokens.weight')), [B, T, C]); // one-hot (N, V)·(V, C)
  let x = tf.add(tokens, P('embed.positions.table.weight')); // T = blockSize: the whole table
  for (let l = 0; l < L; l++) {
    const p = `blocks.${l}`;
    x = tf.add(x, attention(norm(x, `${p}.sub1.norm`), `${p}.selfAttn`));
    x = tf.add(
      x,
      linear(tf.relu(linear(norm(x, `${p}.sub2.norm`), `${p}.ffn.up`, F)), `${p}.ffn.down`, C),
    );
  }
  const logits = tf.reshape(linear(norm(x, 'finalNorm'), 'head', V), [N, V]);
  return tf.neg(tf.mean(tf.sum(tf.mul(targets1h, tf.logSoftmax(logits)), -1)));
}

export function trainTfjs(init: Weights, batches: Batch[]): TrainResult {
  const vars = new Map(
    [...init].map(([name, w]) => [name, tf.variable(tf.tensor(w.data, w.shape))]),
  );
  const used = new Set<string>();
  const P = (name: string) => {
    const v = vars.get(name);
    if (!v) throw new Error(`train-step (tfjs): attngrad has no parameter '${name}'`);
    used.add(name);
    return v;
  };
  const maskData = new Float32Array(T * T).map((_, i) => (i % T <= Math.floor(i / T) ? 0 : -1e9));
  const mask = tf.tensor2d(maskData, [T, T]); // additive causal mask: key s ≤ query t
  // Built in JS: tfjs-backend-wasm 4.22's OneHot with dtype 'float32' writes integer bit patterns
  // (1 reads back as 1.4e-45), which silently zeroes the loss.
  const oneHot = (a: Int32Array) =>
    tf.tensor2d(
      new Float32Array(a.length * V).map((_, i) => +(a[Math.floor(i / V)] === i % V)),
      [a.length, V],
    );
  const optimizer = tf.train.adam(ADAM.lr, ADAM.betas[0], ADAM.betas[1], ADAM.eps);
  const varList = [...vars.values()];
  const losses: number[] = [],
    stepMs: number[] = [];
  let tensorsBefore = -1;
  for (const batch of batches) {
    const t0 = performance.now();
    const [ids1h, targets1h] = [oneHot(batch.idx), oneHot(batch.targets)];
    const loss = () => tfLoss(P, ids1h, targets1h, mask);
    const cost = optimizer.minimize(loss, true, varList) as TF.Scalar;
    losses.push(cost.dataSync()[0]); // the sync point: updates have run on these synchronous backends
    tf.dispose([cost, ids1h, targets1h]);
    stepMs.push(performance.now() - t0);
    if (tensorsBefore < 0) tensorsBefore = tf.memory().numTensors;
    else if (tf.memory().numTensors !== tensorsBefore)
      throw new Error('train-step (tfjs): tensors leak between steps');
  }
  const unused = [...vars.keys()].filter((n) => !used.has(n));
  if (unused.length)
    throw new Error(
      `train-step (tfjs): attngrad parameters not used by the tfjs model: ${unused.join(', ')}`,
    );
  const after = tf.tidy(() => {
    const [a, b] = [oneHot(batches[0].idx), oneHot(batches[0].targets)];
    return tfLoss(P, a, b, mask).dataSync()[0];
  });
  optimizer.dispose();
  tf.dispose([...varList, mask]);
  return finish(losses, stepMs, after);
}

export async function trainWith(impl: Impl, init: Weights, batches: Batch[]): Promise<TrainResult> {
  await impl.enter();
  try {
    return impl.framework === 'attngrad' ? trainAttngrad(init, batches) : trainTfjs(init, batches);
  } finally {
    await impl.leave();
  }
}

// ---- standalone ----
let home = 'cpu-threads';
/** The reference backend: the TypeScript kernels on one thread (slow; only when asked for). */
const referenceImpl: Impl = {
  id: 'attngrad-cpu',
  framework: 'attngrad',
  label: "attngrad 'cpu' backend (the reference)",
  enter: async () => {
    home = backend().name;
    setBackend('cpu');
  },
  leave: async () => setBackend(home),
};

async function main(): Promise<void> {
  const steps = countFlag('bench/train-step', '--steps', STEPS);
  if (process.argv.includes('--profile'))
    return profile(flagValue('--impl') ?? 'attngrad-1t', steps);
  const notes: string[] = [];
  const want = flagValue('--impl');
  const impls =
    want === referenceImpl.id
      ? [referenceImpl]
      : [...(await attngradImpls(notes)), ...(await tfjsImpls(notes))];
  const chosen = impls.filter((i) => !want || i.id === want);
  if (chosen.length === 0)
    throw new Error(`--impl ${want}: not one of ${impls.map((i) => i.id).join(', ')}`);
  const [init, batches] = [initialWeights(), makeBatches(steps)];
  for (const impl of chosen) {
    const r = await trainWith(impl, init, batches);
    const ms = r.timing.msMedian;
    console.log(
      `${impl.id.padEnd(12)} ${ms.toFixed(0)} ms/step (${(STEP_FLOP / ms / 1e6).toFixed(2)} GFLOP/s), ` +
        `losses ${r.losses.map((l) => l.toFixed(4)).join(' ')}, loss after ${batches.length} steps ${r.lossAfter10.toFixed(5)}`,
    );
  }
}

/**
 * An attngrad step under V8's sampling profiler, summarised by self time per function. Default
 * attngrad-1t: with the threaded backend the main thread's profile shows waits, not the work.
 */
function profile(impl: string, steps: number): void {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-prof-'));
  const self = fileURLToPath(import.meta.url);
  const run = spawnSync(
    process.execPath,
    [
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
      '--import',
      'tsx',
      self,
      '--impl',
      impl,
      '--steps',
      String(steps),
    ],
    { stdio: 'inherit' },
  );
  if (run.status !== 0) throw new Error(`profiled run failed (exit ${run.status})`);
  const file = readdirSync(dir)
    .sort()
    .find((f) => f.endsWith('.cpuprofile')); // the main thread's (first)
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  printProfile(join(dir, file), { top: 25, within: 'trainAttngrad' });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    await main();
    process.exit(0); // worker-thread backends may keep the event loop alive
  } catch (e) {
    // one readable error: tfjs-wasm's emscripten glue rethrows uncaught errors with its whole
    // source
    console.error(`train-step failed: ${(e as Error).stack ?? e}`);
    process.exit(1);
  }
}
