// Runs one experiment: every part for every seed (the generator reseeded before each, so a part's
// numbers do not depend on the parts before it), then writes DIR/results.json (every row),
// DIR/table.md and an SVG per plotted metric, and returns the report to print. Read next:
// table.ts, index.ts (the registry), ../cli/exp.ts (the command).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { manualSeed } from '../lib/index.ts';
import { writeFileAtomic } from '../nn/atomic-write.ts';
import { lineChartSvg, PALETTE, type Series } from '../report/line-chart.ts';
import { ProgressBar } from '../report/progress.ts';
import type { Experiment, ExperimentOptions, ExperimentPart, PlotSpec, Row } from './experiment.ts';
import { aggregate, markdownTable } from './table.ts';
import { mean } from './stats.ts';

export interface ExperimentResult {
  rows: Row[];
  report: string; // markdown: a section per part, its table and its summary lines
  files: string[]; // what was written into options.out
  seconds: number;
}

/** progressStream: where the bar goes (a terminal redraws in place); null runs quietly. */
export function runExperiment(
  experiment: Experiment,
  options: ExperimentOptions,
  progressStream: NodeJS.WriteStream | null = process.stderr,
): ExperimentResult {
  const started = Date.now();
  const slots = experiment.parts.length * options.seeds;
  const bar = progressStream ? new ProgressBar(slots * 1000, progressStream) : null;
  const sections = [`## ${experiment.name}: ${experiment.claim}`];
  const rows: Row[] = [];
  const files: string[] = [];
  mkdirSync(options.out, { recursive: true });
  experiment.parts.forEach((part, partIndex) => {
    const partRows: Row[] = [];
    for (let s = 0; s < options.seeds; s++) {
      const seed = options.seed + s;
      const slot = partIndex * options.seeds + s;
      manualSeed(seed);
      const progress = (done: number, total: number, label: string) =>
        bar?.tick(
          slot * 1000 + Math.round((1000 * done) / total),
          `${part.id} seed ${seed}: ${label}`,
        );
      partRows.push(...checked(part.run({ options, seed, progress }), experiment.name, part));
    }
    rows.push(...partRows);
    for (const plot of part.plots) files.push(writePlot(options.out, plot, partRows, part));
    sections.push(partSection(part, partRows));
  });
  const report = sections.join('\n\n') + '\n';
  writeFileAtomic(join(options.out, 'results.json'), JSON.stringify(rows, null, 1) + '\n');
  writeFileAtomic(join(options.out, 'table.md'), report);
  files.push(join(options.out, 'results.json'), join(options.out, 'table.md'));
  return { rows, report, files, seconds: (Date.now() - started) / 1000 };
}

function partSection(part: ExperimentPart, rows: Row[]): string {
  const summary = part.summary?.(rows) ?? [];
  const table = markdownTable(rows, part.figures);
  const bullets = summary.map((line) => `- ${line}`).join('\n');
  return [`### ${part.id}: ${part.claim}`, table, bullets].filter(Boolean).join('\n\n');
}

/** A part's rows must be whole: the experiment's name, a finite value, a finite x when given. */
function checked(rows: Row[], experiment: string, part: ExperimentPart): Row[] {
  for (const row of rows) {
    const bad =
      row.experiment !== experiment ||
      !Number.isFinite(row.value) ||
      (row.x !== undefined && !Number.isFinite(row.x));
    if (bad) throw new Error(`${experiment} ${part.id}: malformed row ${JSON.stringify(row)}`);
  }
  return rows;
}

const DASHES = ['6 4', '2 3', '10 3 2 3'];

/**
 * Ours: a solid line per arm (mean over seeds); the article's figures: dashed in the arm's color,
 * a dash pattern per source (the article's formula, our notes' Monte Carlo, …).
 */
function writePlot(out: string, plot: PlotSpec, rows: Row[], part: ExperimentPart): string {
  const groups = aggregate(rows.filter((r) => r.metric === plot.metric && r.x !== undefined));
  const arms = [...new Set(groups.map((g) => g.arm))];
  const color = (arm: string) => PALETTE[arms.indexOf(arm) % PALETTE.length];
  const series: Series[] = arms.map((arm) => ({
    name: arm,
    color: color(arm),
    points: groups
      .filter((g) => g.arm === arm)
      .map((g): [number, number] => [g.x!, mean(g.values)]),
  }));
  const sources = [...new Set(part.figures.map((f) => f.source))];
  const dash = (source: string) => DASHES[sources.indexOf(source) % DASHES.length];
  for (const arm of arms) {
    const figures = part.figures.filter(
      (f) => f.arm === arm && f.metric === plot.metric && f.x !== undefined,
    );
    for (const source of new Set(figures.map((f) => f.source))) {
      const points = figures
        .filter((f) => f.source === source)
        .map((f): [number, number] => [f.x!, f.value]);
      // a lone point draws no line: such figures (a pass rule at one x) stay in the table
      if (points.length > 1)
        series.push({ name: `${arm} (${source})`, color: color(arm), dash: dash(source), points });
    }
  }
  const svg = lineChartSvg(plot.title, plot.xLabel, plot.yLabel, series, plot);
  const file = join(out, `${plot.metric}.svg`);
  writeFileAtomic(file, svg);
  return file;
}
