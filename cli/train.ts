// The training loop behind `attngrad train`: build the data source (sources.ts, over data/) and the
// model from a RunConfig, optionally resume from a checkpoint, then step AdamW with a schedule and
// gradient clipping, validating every --eval-every steps. Writes runs/<name>/: model.safetensors,
// metrics.jsonl, loss.svg. Same seeds ⇒ same losses; a resumed run continues bit-identically:
// step s's batch depends on (dataSeed, s) only, and the checkpoint restores the global generator
// that weight init and dropout draw from. Read next: sources.ts.

import { mkdirSync } from 'node:fs';
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
}

export interface TrainOptions {
  runDir: string;
  checkpoint: string;
  checkpointEvery?: number;
  resume?: string;
  quiet?: boolean; // no progress output (tests)
  stopAfter?: number; // end early at this step, as an interrupted run would (tests of --resume)
}

export function train(config: RunConfig, options: TrainOptions): TrainResult {
  manualSeed(config.seed);
  const source = makeSource(config);
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
  const save = (step: number) => {
    mkdirSync(dirname(options.checkpoint), { recursive: true });
    saveCheckpoint(options.checkpoint, { model, optimizer, step, config, extra: { metrics } });
    writeReports(options.runDir, metrics);
  };

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
    }
    const every = options.checkpointEvery;
    if (every && step % every === 0 && step < config.steps) save(step);
  }
  if (last < config.steps) {
    return { model, source, metrics, final: {}, tokensPerSecond: 0, seconds: 0 };
  }
  save(config.steps);
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

/**
 * metrics.jsonl (one JSON object a line) and loss.svg (training loss and validation loss by step).
 */
function writeReports(runDir: string, metrics: Metric[]): void {
  writeFileAtomic(
    join(runDir, 'metrics.jsonl'),
    metrics.map((m) => JSON.stringify(m)).join('\n') + '\n',
  );
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
