// The training loop behind `attngrad train`: build the data source (sources.ts, over data/) and the
// model from a RunConfig, optionally resume from a checkpoint, then step AdamW with a schedule and
// gradient clipping, validating every --eval-every steps. Writes runs/<name>/: model.safetensors,
// metrics.jsonl (appended as training goes), loss.svg. Same seeds ⇒ same losses; a resumed run
// continues bit-identically: step s's batch depends on (dataSeed, s) only, and the checkpoint
// restores the global generator that weight init and dropout draw from. `trainAsync` yields to the
// event loop between steps, so a signal handler can ask the run to stop (`shouldStop`): it then
// saves after the step in progress. Read next: sources.ts.

import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { manualSeed } from '../lib/index.ts';
import { AdamW, clipGradNorm, makeSchedule } from '../nn/index.ts';
import { writeFileAtomic } from '../nn/atomic-write.ts';
import { loadCheckpoint, saveCheckpoint } from '../nn/checkpoint.ts';
import { buildModel } from './build.ts';
import { lineChartSvg } from '../report/line-chart.ts';
import { ProgressBar, formatSeconds } from '../report/progress.ts';
import { makeSource, type Model, type Source } from './sources.ts';
import type { RunConfig } from './flags.ts';

export interface Metric {
  step: number;
  loss?: number;
  lr?: number;
  tokPerSec?: number;
  valLoss?: number;
  exactMatch?: number;
}

export interface TrainResult {
  model: Model;
  source: Source;
  metrics: Metric[];
  final: Record<string, number>;
  tokensPerSecond: number;
  seconds: number;
  stoppedAt?: number; // set when shouldStop ended the run: the step saved
}

export interface TrainOptions {
  runDir: string;
  checkpoint: string;
  checkpointEvery?: number;
  resume?: string;
  quiet?: boolean; // no progress output (tests)
  stopAfter?: number; // end early at this step, as an interrupted run would (tests of --resume)
  metricsEvery?: number; // append metrics.jsonl every N steps (and at every eval and save); 10
  shouldStop?: () => boolean; // asked after every step: true saves the run there and ends it
  source?: Source; // makeSource(config), when the caller has made it already (to check the data)
}

/** Train to the end (or `stopAfter`), synchronously. */
export function train(config: RunConfig, options: TrainOptions): TrainResult {
  const steps = trainSteps(config, options);
  for (let r = steps.next(); ; r = steps.next()) if (r.done) return r.value;
}

/** The same run, yielding to the event loop after every step so signals reach `shouldStop`. */
export async function trainAsync(config: RunConfig, options: TrainOptions): Promise<TrainResult> {
  const steps = trainSteps(config, options);
  for (let r = steps.next(); ; r = steps.next()) {
    if (r.done) return r.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The loop, one yield (the step just done) between steps. */
function* trainSteps(config: RunConfig, options: TrainOptions): Generator<number, TrainResult> {
  manualSeed(config.seed);
  const source = options.source ?? makeSource(config); // data never draws from the generator
  const model = buildModel(config, source);
  const { lr, weightDecay, warmup: warmupSteps, steps: totalSteps, dModel } = config;
  const optimizer = new AdamW(model.namedParameters(), { lr, weightDecay });
  const schedule = makeSchedule(config.schedule, { lr, warmupSteps, totalSteps, dModel });
  let metrics: Metric[] = [];
  let start = 0;
  if (options.resume) {
    const loaded = loadCheckpoint(options.resume, { model, optimizer });
    start = loaded.step;
    metrics = ((loaded.extra as { metrics?: Metric[] }).metrics ?? []).filter(
      (m) => m.step <= start,
    );
  }
  mkdirSync(options.runDir, { recursive: true });
  // metrics.jsonl starts as the history up to the checkpoint's step (lines a killed run wrote past
  // its last checkpoint are dropped, so no step appears twice), then grows as training goes
  const metricsFile = join(options.runDir, 'metrics.jsonl');
  const lines = (ms: Metric[]) => ms.map((m) => `${JSON.stringify(m)}\n`).join('');
  writeFileAtomic(metricsFile, lines(metrics));
  let written = metrics.length;
  const flush = () => {
    if (written < metrics.length) appendFileSync(metricsFile, lines(metrics.slice(written)));
    written = metrics.length;
  };
  const save = (step: number) => {
    flush();
    mkdirSync(dirname(options.checkpoint), { recursive: true });
    saveCheckpoint(options.checkpoint, { model, optimizer, step, config, extra: { metrics } });
    writePlot(options.runDir, metrics);
  };
  const metricsEvery = options.metricsEvery ?? 10;

  const bar = new ProgressBar(config.steps, options.quiet ? undefined : process.stderr);
  const started = Date.now();
  let tokens = 0;
  model.train();
  const last = Math.min(config.steps, options.stopAfter ?? config.steps);
  for (let step = start + 1; step <= last; step++) {
    optimizer.lr = schedule(step);
    optimizer.zeroGrad();
    const batch = source.batch(model, step);
    batch.loss.backward();
    if (config.clip > 0) clipGradNorm(model.parameters(), config.clip);
    optimizer.step();
    tokens += batch.tokens;
    const seconds = (Date.now() - started) / 1000;
    const loss = batch.loss.item();
    metrics.push({ step, loss, lr: optimizer.lr, tokPerSec: tokens / Math.max(seconds, 1e-9) });
    if (!options.quiet) bar.update(step - start, loss, tokens);
    if ((config.evalEvery > 0 && step % config.evalEvery === 0) || step === config.steps) {
      const v = source.validate(model);
      metrics.push({ step, ...v });
      const line = Object.entries(v)
        .map(([k, x]) => `${k} ${x.toFixed(4)}`)
        .join('  ');
      if (!options.quiet) bar.log(`step ${step}: ${line}`);
      flush();
    }
    if (step % metricsEvery === 0) flush();
    const every = options.checkpointEvery;
    if (every && step % every === 0 && step < config.steps) save(step);
    if (step < last) {
      yield step;
      if (options.shouldStop?.()) {
        save(step);
        return { ...result(), stoppedAt: step };
      }
    }
  }
  if (last < config.steps) {
    flush();
    return { model, source, metrics, final: {}, tokensPerSecond: 0, seconds: 0 };
  }
  save(config.steps);
  return result();

  function result(): TrainResult {
    const seconds = (Date.now() - started) / 1000;
    const evals = metrics.filter((m) => m.valLoss !== undefined);
    const { step: _, ...final } = evals[evals.length - 1] ?? { step: 0 };
    return {
      model,
      source,
      metrics,
      final: final as Record<string, number>,
      tokensPerSecond: tokens / Math.max(seconds, 1e-9),
      seconds,
    };
  }
}

/** loss.svg: training loss (smoothed) and validation loss by step. */
function writePlot(runDir: string, metrics: Metric[]): void {
  const trainPoints = metrics
    .filter((m) => m.loss !== undefined)
    .map((m): [number, number] => [m.step, m.loss!]);
  const valPoints = metrics
    .filter((m) => m.valLoss !== undefined)
    .map((m): [number, number] => [m.step, m.valLoss!]);
  const svg = lineChartSvg('loss', 'step', 'cross-entropy (nats)', [
    { name: 'train', points: smooth(trainPoints, 20), color: '#1f77b4' },
    { name: 'validation', points: valPoints, color: '#d62728' },
  ]);
  writeFileAtomic(join(runDir, 'loss.svg'), svg);
}

/** Moving average over `k` points, so the training curve is readable. */
function smooth(points: [number, number][], k: number): [number, number][] {
  return points.map(([x], i) => {
    const window = points.slice(Math.max(0, i - k + 1), i + 1);
    return [x, window.reduce((s, [, y]) => s + y, 0) / window.length];
  });
}

export const summarizeTime = (r: TrainResult) =>
  `${formatSeconds(r.seconds)}, ${Math.round(r.tokensPerSecond)} tokens/s`;
