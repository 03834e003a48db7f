// `attngrad exp --list` and `attngrad exp <name> [--full] [--seed N] [--seeds K] [--out DIR]`: runs
// one experiment of experiments/ with a progress bar, prints its table (the article's figures
// beside ours) and writes results.json, table.md and the plots into DIR. Read next:
// ../experiments/index.ts, ../experiments/runner.ts.

import { join } from 'node:path';
import { experiments, findExperiment, runExperiment } from '../experiments/index.ts';
import { formatSeconds } from '../report/progress.ts';
import { helpText, parseFlags, UsageError } from './args.ts';
import { expFlags } from './flags.ts';

const usage = `usage: attngrad exp --list                  the experiments and their claims
       attngrad exp <name> [flags]         run one: a table, results.json and plots`;

function listText(): string {
  const entries = experiments.map(
    (e) =>
      `${e.name}\n  ${e.claim}\n  parts: ${e.parts.map((p) => p.id).join(', ')}. ${e.description}`,
  );
  return `${entries.join('\n\n')}\n`;
}

export function runExp(argv: string[]): void {
  const name = argv[0] !== undefined && !argv[0].startsWith('--') ? argv[0] : undefined;
  const flags = parseFlags(name === undefined ? argv : argv.slice(1), expFlags);
  if (flags.help) return void process.stdout.write(helpText(usage, expFlags));
  if (flags.list) return void process.stdout.write(listText());
  const names = experiments.map((e) => e.name).join(', ');
  if (name === undefined) throw new UsageError(`exp: name an experiment (${names}) or --list`);
  const experiment = findExperiment(name);
  if (!experiment) throw new UsageError(`exp: unknown experiment '${name}' (${names})`);
  if (flags.full && flags.smoke) throw new UsageError('exp: --full and --smoke exclude each other');
  const out = String(flags.out ?? join('runs', `exp-${name}`));
  const options = {
    full: Boolean(flags.full),
    smoke: Boolean(flags.smoke),
    seed: Number(flags.seed),
    seeds: Number(flags.seeds ?? (flags.full ? 3 : 1)),
    out,
  };
  const setting = options.full ? 'full' : options.smoke ? 'smoke' : 'default';
  console.log(
    `${name} (${setting} setting, seeds ${options.seed}…${options.seed + options.seeds - 1})`,
  );
  const result = runExperiment(experiment, options);
  console.log(`\n${result.report}`);
  console.log(`time: ${formatSeconds(result.seconds)}`);
  console.log(`written: ${result.files.join(', ')}`);
}
