// `npm run bench`: attngrad (1 thread, all threads, GPU.js modes when present) against tfjs-core on
// @tensorflow/tfjs-backend-cpu and @tensorflow/tfjs-backend-wasm, in one process, on the same
// seeded inputs: square matmuls, the matmul shapes of one training step, softmax / LayerNorm /
// attention forward+backward, and the reference train step (with its loss after 10 steps). Every
// result is checked against tfjs-cpu before it is timed; a mismatch (or train-step losses that
// disagree by more than 1e-3) exits non-zero without writing results.
// Prints a markdown table (times as ratios to each tfjs backend), writes bench/results/latest.json
// (an array of { case, impl, msMedian, gflops?, lossAfter10?, ... }), latest-env.json and
// latest.svg.
// Flags: --only REGEX (cases to run), --no-train (skip the train step).
// Read next: harness.ts (timing), cases.ts, train-step.ts, chart.ts.

import { join } from 'node:path';
import { loadavg } from 'node:os';
import {
  attngradImpls,
  flagValue,
  fmtMs,
  machine,
  relError,
  resultsDir,
  tfjsImpls,
  time,
  writeAtomic,
  type Impl,
  type Timing,
} from './harness.ts';
import { cases, type Case } from './cases.ts';
import { longAttention, longAttentionWhat } from './long-attention.ts';
import {
  LOSS_TOLERANCE,
  STEP_FLOP,
  STEPS,
  WARMUP_STEPS,
  initialWeights,
  makeBatches,
  trainWith,
  type TrainResult,
} from './train-step.ts';
import { barChartSvg, type Group } from './chart.ts';

export interface Row {
  case: string;
  impl: string; // attngrad, attngrad-1t, attngrad-gpu-<mode>, tfjs-cpu, tfjs-wasm
  msMedian: number;
  gflops?: number;
  lossAfter10?: number;
  peakMiB?: number; // long-attention cases: arrayBuffers high-water mark above the start
  msMin: number;
  msMax: number;
  samples: number;
  timer: Timing['timer'];
}

const CHECK_TOLERANCE = 1e-4; // max |Δ| / max |reference|, float32 against float32
const onlyText = flagValue('--only');
const only = onlyText === undefined ? null : new RegExp(onlyText);
const withTrain = !process.argv.includes('--no-train') && (!only || only.test('train-step'));

const rows: Row[] = [];
const failures: string[] = [];
const whats = new Map<string, string>();

function addRows(
  impl: Impl,
  c: string,
  t: Timing,
  extra: { gflops?: number; lossAfter10?: number },
): void {
  rows.push({
    case: c,
    impl: impl.id,
    msMedian: t.msMedian,
    ...extra,
    msMin: t.msMin,
    msMax: t.msMax,
    samples: t.samples,
    timer: t.timer,
  });
}

async function runCase(c: Case, impls: Impl[]): Promise<void> {
  whats.set(c.name, c.what);
  const outputs = new Map<string, Float32Array[]>();
  for (const impl of impls) {
    await impl.enter();
    const prepared = impl.framework === 'attngrad' ? c.attngrad() : c.tfjs();
    try {
      outputs.set(impl.id, prepared.outputs());
      const t = time(prepared.run);
      addRows(impl, c.name, t, c.flop ? { gflops: c.flop / t.msMedian / 1e6 } : {});
      process.stdout.write(
        `  ${c.name.padEnd(26)} ${impl.id.padEnd(12)} ${fmtMs(t.msMedian).padStart(8)} ms\n`,
      );
    } finally {
      prepared.dispose();
      await impl.leave();
    }
  }
  // Same inputs, same answers: every output against tfjs-cpu (the independent oracle).
  const ref = outputs.get('tfjs-cpu') ?? outputs.values().next().value!;
  for (const [id, outs] of outputs) {
    const err = Math.max(...outs.map((o, i) => relError(o, ref[i])));
    if (!(err <= CHECK_TOLERANCE))
      failures.push(
        `${c.name}: ${id} differs from tfjs-cpu (max rel. error ${err.toExponential(2)})`,
      );
  }
}

/** The attngrad-only long-sequence cases (long-attention.ts) on the all-threads engine. */
async function runLongAttention(impls: Impl[]): Promise<void> {
  const impl = impls.find((i) => i.id === 'attngrad');
  const names = Object.keys(longAttentionWhat).filter((c) => !only || only.test(c));
  if (!impl || names.length === 0) return;
  names.forEach((c) => whats.set(c, longAttentionWhat[c]));
  await impl.enter();
  try {
    const done = longAttention(impl.id, only);
    rows.push(...done.rows);
    failures.push(...done.failures);
  } finally {
    await impl.leave();
  }
}

async function runTrain(impls: Impl[]): Promise<void> {
  whats.set('train-step', `train step, ${(STEP_FLOP / 1e9).toFixed(2)} GFLOP`);
  const [init, batches] = [initialWeights(), makeBatches()];
  const results: [Impl, TrainResult][] = [];
  for (const impl of impls) {
    const r = await trainWith(impl, init, batches);
    results.push([impl, r]);
    addRows(impl, 'train-step', r.timing, {
      gflops: STEP_FLOP / r.timing.msMedian / 1e6,
      lossAfter10: r.lossAfter10,
    });
    process.stdout.write(
      `  ${'train-step'.padEnd(26)} ${impl.id.padEnd(12)} ${fmtMs(r.timing.msMedian).padStart(8)} ms  loss after ${STEPS} steps ${r.lossAfter10.toFixed(5)}\n`,
    );
  }
  const [refImpl, ref] = results[0];
  console.log(
    `\nloss after ${STEPS} Adam steps (on batch 0; initial loss ${ref.losses[0].toFixed(5)}, ln V = ${Math.log(64).toFixed(5)}):`,
  );
  for (const [impl, r] of results) {
    const worstStep = Math.max(...r.losses.map((l, i) => Math.abs(l - ref.losses[i])));
    const diff = Math.abs(r.lossAfter10 - ref.lossAfter10);
    console.log(
      `  ${impl.id.padEnd(12)} ${r.lossAfter10.toFixed(6)}  |Δ vs ${refImpl.id}| ${diff.toExponential(2)} (worst per-step loss Δ ${worstStep.toExponential(2)})`,
    );
    if (!(diff <= LOSS_TOLERANCE && worstStep <= LOSS_TOLERANCE)) {
      failures.push(
        `train-step: ${impl.id} loss after ${STEPS} steps ${r.lossAfter10} vs ${refImpl.id} ${ref.lossAfter10} (tolerance ${LOSS_TOLERANCE})`,
      );
    }
  }
}

function table(ids: string[]): string {
  const cpu = new Map(rows.filter((r) => r.impl === 'tfjs-cpu').map((r) => [r.case, r.msMedian]));
  const wasm = new Map(rows.filter((r) => r.impl === 'tfjs-wasm').map((r) => [r.case, r.msMedian]));
  const ratio = (ms: number, base: number | undefined) =>
    base ? `${(ms / base).toFixed(2)}×` : '–';
  const lines = [
    '| case | impl | median ms | spread ms (min–max, n) | GFLOP/s | loss after 10 | time ÷ tfjs-cpu | time ÷ tfjs-wasm |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  const order = [...new Set(rows.map((r) => r.case))];
  for (const c of order) {
    for (const r of rows
      .filter((x) => x.case === c)
      .sort((a, b) => ids.indexOf(a.impl) - ids.indexOf(b.impl))) {
      const spread = `${fmtMs(r.msMin)}–${fmtMs(r.msMax)}, ${r.samples}`;
      lines.push(
        `| ${c} | ${r.impl} | ${fmtMs(r.msMedian)} | ${spread} | ${r.gflops?.toFixed(2) ?? ''} | ${r.lossAfter10?.toFixed(5) ?? ''} | ${ratio(r.msMedian, cpu.get(c))} | ${ratio(r.msMedian, wasm.get(c))} |`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * Σ (times per step × median) over the step's matmul shapes, per impl: the matmul share of a step.
 */
function matmulShare(): string[] {
  const counts = new Map(cases.filter((c) => c.stepCount).map((c) => [c.name, c.stepCount!]));
  const byImpl = new Map<string, number>();
  for (const r of rows)
    if (counts.has(r.case))
      byImpl.set(r.impl, (byImpl.get(r.impl) ?? 0) + counts.get(r.case)! * r.msMedian);
  return [...byImpl].map(([impl, ms]) => {
    const step = rows.find((r) => r.case === 'train-step' && r.impl === impl);
    return (
      `  ${impl.padEnd(12)} ${fmtMs(ms)} ms of matmul kernels per step` +
      (step
        ? ` = ${((100 * ms) / step.msMedian).toFixed(0)}% of its ${fmtMs(step.msMedian)} ms train step`
        : '')
    );
  });
}

async function main(): Promise<void> {
  console.log('# attngrad vs tfjs-core\n');
  const notes: string[] = [];
  const impls = [...(await attngradImpls(notes)), ...(await tfjsImpls(notes))];
  const ids = impls.map((i) => i.id);
  for (const i of impls) console.log(`- ${i.id}: ${i.label}`);
  for (const n of notes) console.log(`- note: ${n}`);
  const env = {
    ...machine(),
    loadavgAtStart: loadavg().map((l) => +l.toFixed(2)),
    impls: impls.map((i) => ({ id: i.id, label: i.label })),
    notes,
  };
  console.log(
    `- ${env.cpu}, ${env.cores} cores, Node ${env.node}, load average ${env.loadavgAtStart.join(' ')}\n`,
  );

  const started = performance.now();
  for (const c of cases) if (!only || only.test(c.name)) await runCase(c, impls);
  await runLongAttention(impls);
  if (withTrain) await runTrain(impls);

  console.log(`\n${table(ids)}\n`);
  console.log(
    'time ÷ tfjs-x = this median / tfjs-x median (below 1: faster than tfjs-x). float32 everywhere;',
  );
  console.log(
    `kernels: warm-up, then Benchmark.js (calls under 30 ms) or one call per sample; train step: median of steps ${WARMUP_STEPS + 1}–${STEPS}.`,
  );
  const share = matmulShare();
  if (share.length) {
    console.log(
      '\nmatmul kernels of one train step, estimated as Σ count × median over the step-mm cases (kernels',
    );
    console.log(
      `timed alone; with threads under outside load the estimate can exceed the step):\n${share.join('\n')}`,
    );
  }
  console.log(
    `\ntotal ${((performance.now() - started) / 1e3).toFixed(0)} s, load average now ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );

  if (failures.length) {
    console.error(
      `\nFAILED — results not written (a fast wrong answer is not a result):\n${failures.map((f) => `  ${f}`).join('\n')}`,
    );
    process.exit(1);
  }
  const json = rows.map((r) =>
    Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)),
  );
  writeAtomic(join(resultsDir, 'latest.json'), JSON.stringify(json, null, 2) + '\n');
  writeAtomic(
    join(resultsDir, 'latest-env.json'),
    JSON.stringify({ ...env, loadavgAtEnd: loadavg(), cases: Object.fromEntries(whats) }, null, 2) +
      '\n',
  );
  const groups: Group[] = [...new Set(rows.map((r) => r.case))].map((c) => ({
    label: `${c}`,
    bars: rows
      .filter((r) => r.case === c)
      .map((r) => ({ series: r.impl, value: r.msMedian, text: `${fmtMs(r.msMedian)} ms` })),
  }));
  const svg = barChartSvg(
    'attngrad vs tfjs-core: median time per call (lower is faster)',
    [{ title: 'time', unit: 'ms', groups, log: true }],
    `${env.cpu}, ${env.cores} cores, Node ${env.node}, ${env.date.slice(0, 10)}; float32; backends in latest-env.json`,
  );
  writeAtomic(join(resultsDir, 'latest.svg'), svg);
  console.log(`wrote ${join(resultsDir, 'latest.json')}, latest-env.json, latest.svg`);
  process.exit(0); // worker-thread backends may keep the event loop alive
}

try {
  await main();
} catch (e) {
  // one readable line: tfjs-wasm's emscripten glue rethrows uncaught errors with its whole source
  console.error(`bench failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
}
