// `attngrad train | eval | sample | exp`: the command-line entry. Bad flags or configs print one
// line and exit with code 2. Read next: flags.ts (flags → RunConfig), train.ts (the loop),
// sources.ts (the model's view of the data in data/), exp.ts (the experiments).

import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { initGpuBackend, noGrad, registerBackend, setBackend } from '../lib/index.ts';
import { loadCheckpoint, loadSafetensors, readCheckpointConfig } from '../nn/checkpoint.ts';
import { helpText, parseFlags, UsageError, type FlagSpec } from './args.ts';
import { corpusPath } from '../data/index.ts';
import {
  backendFlag,
  defaultRunName,
  runConfigFrom,
  savedRunConfig,
  trainFlags,
  type RunConfig,
} from './flags.ts';
import { makeSource } from './sources.ts';
import { buildModel } from './build.ts';
import { summarizeTime, train } from './train.ts';
import {
  checkLengths,
  evaluateLengths,
  lengthTable,
  parseLengths,
  SCORED_TARGETS,
} from './lengths.ts';
import { runExp } from './exp.ts';

const usage = `usage: attngrad train [flags]       train a model (default: seq2seq on 'reverse')
       attngrad eval --checkpoint F [--lengths 64,128,256,512 [--repeated]]   validate a saved
                                      model; for a char model, loss and accuracy per length
       attngrad sample --checkpoint F [--count N]   show what a saved model does
       attngrad exp --list | <name> [--full]   reproduce an article's finding (exp --help)
       attngrad --version`;

/** The package's version: package.json is one folder up from cli/, two from dist/cli/. */
function version(): string {
  for (const up of ['../package.json', '../../package.json']) {
    const file = new URL(up, import.meta.url);
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')).version;
  }
  return 'unknown';
}

const loadFlags = {
  checkpoint: { type: 'string', help: 'a checkpoint written by attngrad train' },
  count: { type: 'int', default: 8, min: 1, help: 'how many samples to show' },
  lengths: {
    type: 'string',
    help:
      'eval, char LM or MLM: loss and accuracy at these lengths on the same targets (the last ' +
      `${SCORED_TARGETS} positions of fixed validation windows), e.g. 64,128,256,512`,
  },
  repeated: {
    type: 'bool',
    default: false,
    help: 'eval --lengths: every window repeats its first half',
  },
  windows: { type: 'int', default: 32, min: 1, help: 'eval --lengths: windows per length' },
  backend: backendFlag,
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies Record<string, FlagSpec>;

/**
 * --backend: the TS kernels on every core or one; gpu: gpu.js kernels when a real adapter (or a
 * forced mode) is there, said in one line.
 */
async function useBackend(name: unknown): Promise<void> {
  if (name !== 'gpu') return setBackend(String(name));
  const gpu = await initGpuBackend();
  console.error(gpu.reason);
  if (gpu.backend) {
    registerBackend(gpu.backend);
    setBackend(gpu.backend.name);
  }
}

async function runTrain(argv: string[]): Promise<void> {
  const flags = parseFlags(argv, trainFlags);
  if (flags.help) return void process.stdout.write(helpText(usage, trainFlags));
  await useBackend(flags.backend);
  let config: RunConfig;
  if (flags.resume) {
    const resume = String(flags.resume);
    if (!existsSync(resume)) throw new UsageError(`--resume: no checkpoint at '${resume}'`);
    asUsage(() => loadSafetensors(resume)); // a corrupt file is the user's to fix: one line, exit 2
    config = savedRunConfig(asUsage(() => readCheckpointConfig(resume)) as RunConfig);
    if (argv.includes('--steps') || argv.some((a) => a.startsWith('--steps=')))
      config.steps = Number(flags.steps);
  } else {
    config = runConfigFrom(flags);
  }
  if (config.data && !existsSync(corpusPath(config.data))) {
    throw new UsageError(`--data: no file at '${config.data}'`);
  }
  const name = String(flags.name ?? defaultRunName(config));
  const runDir = join('runs', name);
  const checkpoint = String(flags.checkpoint ?? join(runDir, 'model.safetensors'));
  console.log(
    `training ${config.model} on ${config.task}: ${config.layers} layers, d ${config.dModel}, ` +
      `${config.heads} heads, ${config.steps} steps × batch ${config.batch}`,
  );
  const result = train(config, {
    runDir,
    checkpoint,
    resume: flags.resume as string | undefined,
    checkpointEvery: Number(flags.checkpointEvery),
  });
  console.log(`\nparameters: ${result.model.numParameters()}    time: ${summarizeTime(result)}`);
  printTable(result.final);
  console.log('\nsamples (held-out):');
  for (const line of result.source.samples(result.model, 6)) console.log(`  ${line}`);
  if (result.final.exactMatch !== undefined)
    console.log(`\nexact-match: ${(100 * result.final.exactMatch).toFixed(1)}%`);
  console.log(
    `\nrun folder: ${relative(process.cwd(), runDir)}/  (model.safetensors, loss.svg, ` +
      `metrics.jsonl)`,
  );
  console.log(`checkpoint: ${checkpoint}`);
}

async function loadRun(argv: string[]) {
  const flags = parseFlags(argv, loadFlags);
  await useBackend(flags.backend);
  if (flags.help) {
    process.stdout.write(helpText(usage, loadFlags));
    return null;
  }
  if (flags.lengths !== undefined) parseLengths(String(flags.lengths)); // before the files
  const path = flags.checkpoint as string | undefined;
  if (!path) throw new UsageError('--checkpoint <file> is required');
  if (!existsSync(path)) throw new UsageError(`--checkpoint: no file at '${path}'`);
  const config = savedRunConfig(asUsage(() => readCheckpointConfig(path)) as RunConfig);
  const source = asUsage(() => makeSource(config));
  const model = buildModel(config, source);
  asUsage(() => loadCheckpoint(path, { model }));
  return { model, source, config, flags, count: Number(flags.count) };
}

/** eval --lengths: the per-length table of a char model, or one line saying why not. */
function runLengths(run: NonNullable<Awaited<ReturnType<typeof loadRun>>>): void {
  const { config, model, flags } = run;
  const lengths = parseLengths(String(flags.lengths));
  checkLengths(config, model, lengths);
  const [windows, repeated] = [Number(flags.windows), flags.repeated === true];
  const rows = evaluateLengths(config, model, { lengths, windows, repeated });
  const text = repeated ? 'repeated text (second half = first half)' : 'normal text';
  const what = `${config.model} on ${config.data}, ${text}: ${windows} fixed validation windows`;
  console.log(lengthTable(rows, `${what}, the last ${SCORED_TARGETS} positions scored`));
}

/** Errors of the user's files (a corrupt checkpoint, unreadable data) are reported as one line. */
function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function printTable(values: Record<string, number>): void {
  const rows = Object.entries(values).map(([k, v]) => `| ${k} | ${v.toFixed(4)} |`);
  console.log(`\n| metric | value |\n|---|---|\n${rows.join('\n')}`);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'train') return runTrain(rest);
  if (command === 'eval') {
    const run = await loadRun(rest);
    if (run?.flags.repeated && run.flags.lengths === undefined) {
      throw new UsageError('--repeated only applies with --lengths');
    }
    if (run?.flags.lengths !== undefined) return runLengths(run);
    if (run) printTable(noGrad(() => run.source.validate(run.model)));
    return;
  }
  if (command === 'sample') {
    const run = await loadRun(rest);
    if (run) for (const line of run.source.samples(run.model, run.count)) console.log(line);
    return;
  }
  if (command === 'exp') return runExp(rest);
  if (command === '--version' || command === '-v') return void console.log(version());
  if (command === undefined || command === '--help' || command === 'help')
    return void console.log(usage);
  throw new UsageError(`unknown command '${command}' (train, eval, sample, exp)`);
}

try {
  await main(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  console.error(`attngrad: ${(e as Error).message}`);
  process.exit(2);
}
