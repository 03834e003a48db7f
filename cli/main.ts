// `attngrad train | eval | sample | exp | viz`: the command-line entry. Every error (bad flags or
// configs, unreadable or short data, a corrupt checkpoint, an unwritable folder) prints one line
// `attngrad: …` and exits with code 2; `--debug` prints the stack instead. A first Ctrl-C (SIGINT
// or SIGTERM) during train finishes the step, saves and exits 130; a second ends it at once. Read next: flags.ts (flags → RunConfig), train.ts (the loop),
// sources.ts (the model's view of the data in data/), exp.ts (the experiments).

import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { initGpuBackend, noGrad, registerBackend, setBackend } from '../lib/index.ts';
import { loadCheckpoint, loadSafetensors, readCheckpointConfig } from '../nn/checkpoint.ts';
import { helpText, parseFlags, UsageError, type FlagSpec } from './args.ts';
import { corpusPath } from '../data/index.ts';
import {
  backendFlag,
  defaultRunName,
  runConfigFrom,
  savedRunConfig,
  trainFlagGroups,
  trainFlags,
  type RunConfig,
} from './flags.ts';
import { makeSource } from './sources.ts';
import { buildModel } from './build.ts';
import { summarizeTime, trainAsync } from './train.ts';
import {
  checkLengths,
  evaluateLengths,
  lengthTable,
  parseLengths,
  SCORED_TARGETS,
} from './lengths.ts';
import { runExp } from './exp.ts';
import { runViz } from './viz.ts';
import { runSegment } from './segment.ts';
import { runParse, runPcfg } from './parse.ts';
import { runServe } from './serve.ts';

const usage = `usage: attngrad train [flags]       train a model (default: seq2seq on 'reverse')
       attngrad eval --checkpoint F [--lengths 64,128,256,512 [--repeated]]   validate a saved
                                      model; for a char model, loss and accuracy per length
       attngrad sample --checkpoint F [--count N]   show what a saved model does
       attngrad exp --list | <name> [--full]   reproduce an article's finding (exp --help)
       attngrad viz --checkpoint F (--src "c j b e b" | --text "…") [--out FILE.svg]   attention
                                      maps of a saved model on one input (viz --help)
       attngrad segment --checkpoint F (--text "…" | --input FILE | --score GOLD)   words of a
                                      text from a masked LM's impacts (segment --help)
       attngrad parse --checkpoint F --input FILE [--output FILE] [--score GOLD]   trees of
                                      sentences from a masked LM's impacts (parse --help)
       attngrad pcfg --sentences FILE --trees FILE   PCFG sentences and gold trees
       attngrad serve [--port N] [--host H]   the playground and bench page in a browser
       attngrad --version
Any command with --debug prints the stack trace of an error instead of one line.`;

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
  if (flags.help) return void process.stdout.write(helpText(usage, trainFlags, trainFlagGroups));
  await useBackend(flags.backend);
  let config: RunConfig;
  if (flags.resume) {
    const resume = String(flags.resume);
    if (!isFile(resume)) throw new UsageError(`--resume: no checkpoint file at '${resume}'`);
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
  const source = makeSource(config); // a bad --data file ends here, before anything is written
  const name = String(flags.name ?? defaultRunName(config));
  const runDir = join('runs', name);
  const checkpoint = String(flags.checkpoint ?? join(runDir, 'model.safetensors'));
  for (const dir of [runDir, dirname(checkpoint)]) writable(dir); // before training, not after
  console.log(
    `training ${config.model} on ${config.task}: ${config.layers} layers, d ${config.dModel}, ` +
      `${config.heads} heads, ${config.steps} steps × batch ${config.batch}`,
  );
  // First signal: stop after this step and save (signals are handled while the loop yields
  // between steps); a second one with it exits at once. Once the loop takes the stop, the
  // handlers go, so during the save a signal's default action ends the process at once: files
  // are written atomically (temp, fsync, rename), so the last complete checkpoint stays whole.
  let stop = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop) process.exit(130);
    stop = true;
    console.error(`\nattngrad: ${signal}: saving after this step (again to quit at once)`);
  };
  const unhook = () => process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const result = await trainAsync(config, {
    runDir,
    checkpoint,
    resume: flags.resume as string | undefined,
    checkpointEvery: Number(flags.checkpointEvery),
    shouldStop: () => (stop && unhook(), stop),
    source,
  });
  unhook();
  if (result.stoppedAt !== undefined) {
    const where = relative(process.cwd(), runDir) || '.';
    const named = flags.name === undefined ? '' : ` --name ${flags.name}`;
    const other = flags.checkpoint === undefined ? '' : ` --checkpoint ${checkpoint}`;
    console.error(
      `attngrad: interrupted after step ${result.stoppedAt} of ${config.steps}; saved ` +
        `${checkpoint}, ${where}/metrics.jsonl, ${where}/loss.svg\n` +
        `resume with: attngrad train --resume ${checkpoint}${named}${other}`,
    );
    process.exit(130);
  }
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
  const { model, source, config } = loadModel(flags.checkpoint as string | undefined);
  return { model, source, config, flags, count: Number(flags.count) };
}

/** The model a checkpoint holds, built for its data source; a bad file is one line. */
function loadModel(path: string | undefined) {
  if (!path) throw new UsageError('--checkpoint <file> is required');
  if (!isFile(path)) throw new UsageError(`--checkpoint: no file at '${path}'`);
  const config = savedRunConfig(asUsage(() => readCheckpointConfig(path)) as RunConfig);
  const source = asUsage(() => makeSource(config));
  const model = buildModel(config, source);
  asUsage(() => loadCheckpoint(path, { model }));
  return { model, source, config };
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

const isFile = (path: string) => existsSync(path) && statSync(path).isFile();

/** A folder the run can write into, made if missing; else one line saying why not. */
function writable(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new UsageError(`cannot write to '${dir}' (${(e as Error).message})`);
  }
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
  if (command === 'viz') return runViz(rest, loadModel);
  if (command === 'segment') return runSegment(rest, useBackend);
  if (command === 'parse') return runParse(rest, loadModel);
  if (command === 'pcfg') return runPcfg(rest);
  if (command === 'serve') return void (await runServe(rest));
  if (command === '--version' || command === '-v') return void console.log(version());
  if (command === undefined || command === '--help' || command === 'help')
    return void console.log(usage);
  throw new UsageError(
    `unknown command '${command}' (train, eval, sample, exp, viz, segment, parse, pcfg, serve)`,
  );
}

const argv = process.argv.slice(2);
const debug = argv.includes('--debug');
try {
  await main(argv.filter((a) => a !== '--debug'));
} catch (e) {
  if (debug) console.error(e);
  else {
    // a usage error is the whole story; anything else (a full disk, a bug) says where to look
    const message = e instanceof Error ? e.message : String(e);
    const hint = e instanceof UsageError ? '' : ' (--debug shows the stack trace)';
    console.error(`attngrad: ${message.split('\n')[0]}${hint}`);
  }
  process.exit(2);
}
