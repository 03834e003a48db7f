// What an experiment is: a named claim from an article, split into parts (D1, D2, …) that each
// measure rows of numbers, with the article's own figures to print beside ours. The runner
// (runner.ts) seeds the generator, runs every part for every seed, and writes results.json, the
// table and the plots. Read next: runner.ts, then an experiment, e.g. attention-focus.ts.

/** One measured number. `x` is the swept variable (n, ‖q‖, a test length); absent for a summary. */
export interface Row {
  experiment: string;
  arm: string;
  metric: string;
  x?: number;
  value: number;
  seed: number;
}

/** Rows of one experiment: rowOf(arm, metric, x, value, seed). */
export const rowMaker =
  (experiment: string) =>
  (arm: string, metric: string, x: number, value: number, seed: number): Row => ({
    experiment,
    arm,
    metric,
    x,
    value,
    seed,
  });

/** What `attngrad exp` was asked for. smoke: tiny sizes, seconds (the tests); full: the large setting. */
export interface ExperimentOptions {
  full: boolean;
  smoke: boolean;
  seed: number; // the first seed; seeds run seed, seed + 1, …
  seeds: number;
  out: string; // the folder results.json, table.md and the plots go to
}

/**
 * What a part's run() gets. The runner has called manualSeed(seed) just before, so every random
 * draw (randn, rand, model init) is reproducible; a part that needs a second stream (batches apart
 * from weight init) derives it from `seed`. progress(done, total, label) drives the bar.
 */
export interface PartContext {
  options: ExperimentOptions;
  seed: number;
  progress: (done: number, total: number, label: string) => void;
}

/** A number from the article (or our notes' own check of it) to print beside ours. */
export interface ArticleFigure {
  arm: string;
  metric: string;
  x?: number; // absent: the figure holds for every x of this arm and metric
  value: number;
  text?: string; // how to print it when the bare number would mislead, e.g. '≥ 0.8'
  source: string; // 'article', 'article, n → ∞', 'notes MC', …
}

/** One SVG: a metric against x, a line per arm, the article's figures dashed beside them. */
export interface PlotSpec {
  metric: string;
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
}

export interface ExperimentPart {
  id: string; // the finding's id: D1, E1, … (docs/experiments.md)
  claim: string;
  figures: ArticleFigure[];
  plots: PlotSpec[];
  run(context: PartContext): Row[];
  /** Lines printed under the table: the verdict on the claim, from the rows of every seed. */
  summary?(rows: Row[]): string[];
}

export interface Experiment {
  name: string;
  claim: string; // one line
  /** The settings and their measured times on the 2-core machine (default, --full). */
  description: string;
  parts: ExperimentPart[];
}
