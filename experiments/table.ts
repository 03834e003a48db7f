// The markdown table of one part: a line per (arm, metric, x), ours as mean ± spread (sample
// standard deviation) over seeds, the article's figure beside it where it gives one. Read next:
// runner.ts.

import type { ArticleFigure, Row } from './experiment.ts';
import { mean, standardDeviation } from './stats.ts';

export interface AggregateRow {
  arm: string;
  metric: string;
  x?: number;
  values: number[]; // one per seed
}

/** Rows of every seed grouped by (arm, metric, x), in the order they were first measured. */
export function aggregate(rows: readonly Row[]): AggregateRow[] {
  const groups = new Map<string, AggregateRow>();
  for (const row of rows) {
    const key = `${row.arm}\u0000${row.metric}\u0000${row.x ?? ''}`;
    const group = groups.get(key) ?? { arm: row.arm, metric: row.metric, x: row.x, values: [] };
    group.values.push(row.value);
    groups.set(key, group);
  }
  return [...groups.values()];
}

export const formatNumber = (v: number) =>
  Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : v.toPrecision(3);

const formatX = (x: number) => String(Number(x.toPrecision(6)));

function formatOurs(values: number[]): string {
  const m = formatNumber(mean(values));
  return values.length > 1 ? `${m} ± ${standardDeviation(values).toPrecision(2)}` : m;
}

function articleCell(group: AggregateRow, figures: readonly ArticleFigure[]): string {
  return figures
    .filter((f) => f.arm === group.arm && f.metric === group.metric)
    .filter((f) => f.x === undefined || f.x === group.x)
    .map((f) => `${f.text ?? formatNumber(f.value)} (${f.source})`)
    .join('; ');
}

export function markdownTable(rows: readonly Row[], figures: readonly ArticleFigure[]): string {
  const seeds = new Set(rows.map((r) => r.seed)).size;
  const ours = seeds > 1 ? `ours (mean ± sd, ${seeds} seeds)` : 'ours';
  const lines = [`| arm | metric | x | ${ours} | article |`, '|---|---|---:|---:|---|'];
  for (const group of aggregate(rows)) {
    const x = group.x === undefined ? '' : formatX(group.x);
    const cells = [
      group.arm,
      group.metric,
      x,
      formatOurs(group.values),
      articleCell(group, figures),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
