// The CLI loses no run and fails in one line: a spawned `attngrad train` sent SIGINT mid-run
// finishes its step, saves checkpoint, metrics and plot, says how to resume and exits 130, and the
// resumed run continues metrics.jsonl with no step twice; a second signal right behind the first
// leaves the last complete checkpoint whole; metrics.jsonl grows while training runs; bad data
// files, a corrupt or truncated checkpoint and an unwritable folder print one line `attngrad: …`
// and exit 2 (the stack only with --debug); --version; train --help by topic; piped progress
// lines at least every quietSeconds.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, readCheckpointConfig } from '../nn/checkpoint.ts';
import { ProgressBar } from '../report/progress.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(repo, 'bin/attngrad.mjs');
const env = { ...process.env, ATTNGRAD_THREADS: '1' };
const small = ['--model', 'lm', '--task', 'text', '--block-size', '16', '--layers', '1'];
const tiny = [...small, '--d-model', '16', '--heads', '2', '--batch', '4', '--eval-size', '8'];

const cli = (cwd: string, ...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The metrics.jsonl lines of a run folder, parsed. */
const metricsOf = (dir: string) =>
  existsSync(join(dir, 'metrics.jsonl'))
    ? readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { step: number; loss?: number; valLoss?: number })
    : [];
const trainSteps = (dir: string) =>
  metricsOf(dir)
    .filter((m) => m.loss !== undefined)
    .map((m) => m.step);

/**
 * Start a long training run, wait until metrics.jsonl holds `steps` steps (it grows while the run
 * goes), send `signals`, and wait for the exit.
 */
async function interrupted(cwd: string, name: string, steps: number, signals: string[], more = []) {
  const child = spawn(
    process.execPath,
    [
      bin,
      'train',
      ...tiny,
      '--schedule',
      'constant',
      '--steps',
      '100000',
      '--eval-every',
      '20',
      '--name',
      name,
      ...more,
    ],
    { cwd, env },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<[number | null, string | null]>((r) =>
    child.on('exit', (code, signal) => r([code, signal])),
  );
  const started = Date.now();
  const runDir = join(cwd, 'runs', name);
  while (trainSteps(runDir).length < steps) {
    assert.ok(Date.now() - started < 60_000, `no ${steps} steps in 60 s: ${stderr}`);
    assert.is(child.exitCode, null, stderr);
    await sleep(50);
  }
  const seen = trainSteps(runDir).length; // appended while running: nothing was saved yet
  for (const s of signals) child.kill(s as NodeJS.Signals);
  const [code, signal] = await exited;
  return { code, signal, stderr, seen, runDir };
}

test('SIGINT mid-run: the step ends, checkpoint + metrics + plot saved, exit 130; resume continues', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'attngrad-sigint-'));
  const run = await interrupted(cwd, 'sig', 30, ['SIGINT']);
  assert.ok(run.seen >= 30, 'metrics.jsonl grew while training');
  assert.is(run.code, 130, run.stderr);
  const stopped = Number(/interrupted after step (\d+) of 100000/.exec(run.stderr)?.[1]);
  assert.ok(stopped >= 30, run.stderr);
  assert.match(
    run.stderr,
    'resume with: attngrad train --resume runs/sig/model.safetensors --name sig',
  );
  assert.not.match(run.stderr, /\n\s+at /, 'no stack trace');
  for (const f of ['model.safetensors', 'metrics.jsonl', 'loss.svg'])
    assert.ok(existsSync(join(run.runDir, f)), f);
  const steps = trainSteps(run.runDir);
  assert.equal(
    steps,
    Array.from({ length: stopped }, (_, i) => i + 1),
    'every step once',
  );
  assert.ok(metricsOf(run.runDir).some((m) => m.valLoss !== undefined && m.step === 20));
  const checkpoint = join(run.runDir, 'model.safetensors');
  assert.is((readCheckpointConfig(checkpoint) as { steps: number }).steps, 100000);

  const resumed = cli(
    cwd,
    'train',
    '--resume',
    'runs/sig/model.safetensors',
    '--name',
    'sig',
    '--steps',
    String(stopped + 10),
  );
  assert.is(resumed.status, 0, resumed.stderr);
  const after = trainSteps(run.runDir);
  assert.equal(
    after,
    Array.from({ length: stopped + 10 }, (_, i) => i + 1),
    'no step twice',
  );
  const evals = metricsOf(run.runDir)
    .filter((m) => m.valLoss !== undefined)
    .map((m) => m.step);
  assert.equal(evals, [...new Set(evals)], 'no validation twice');
  assert.is(evals[evals.length - 1], stopped + 10);
});

test('a second signal right behind the first exits at once; the last checkpoint is whole', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'attngrad-sigint2-'));
  const more = ['--checkpoint-every', '10'] as never[];
  const run = await interrupted(cwd, 'twice', 25, ['SIGINT', 'SIGINT'], more);
  assert.ok(run.code === 130 || run.signal === 'SIGINT', `${run.code} ${run.signal}`);
  const checkpoint = join(run.runDir, 'model.safetensors');
  assert.ok(existsSync(checkpoint));
  loadSafetensors(checkpoint); // whole: parses, every tensor in bounds
  const resumed = cli(cwd, 'train', '--resume', checkpoint, '--name', 'twice', '--steps', '40');
  assert.is(resumed.status, 0, resumed.stderr);
  // on busy cores the first signal's save can land before the second arrives: the checkpoint is
  // then past step 40 and the resumed run has nothing left to train
  const steps = trainSteps(run.runDir);
  assert.ok(steps.length >= 40, `${steps.length} steps`);
  assert.equal(
    steps,
    Array.from({ length: steps.length }, (_, i) => i + 1),
    'every step once, in order',
  );
});

test('bad data, a corrupt checkpoint, an unwritable folder: one line `attngrad: …`, exit 2', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'attngrad-errors-'));
  writeFileSync(join(cwd, 'empty.txt'), '');
  writeFileSync(join(cwd, 'short.txt'), 'To be, or not to be, that is the question.\n'.repeat(3));
  mkdirSync(join(cwd, 'folder'));
  writeFileSync(join(cwd, 'corrupt.safetensors'), 'not a checkpoint at all');
  // a real checkpoint cut in half
  const ok = cli(cwd, 'train', ...tiny, '--steps', '2', '--name', 'ok');
  assert.is(ok.status, 0, ok.stderr);
  const whole = readFileSync(join(cwd, 'runs/ok/model.safetensors'));
  writeFileSync(join(cwd, 'cut.safetensors'), whole.subarray(0, whole.length >> 1));
  const cases: [string[], RegExp][] = [
    [['train', ...tiny, '--data', 'empty.txt'], /^attngrad: --data: 'empty.txt' is empty$/],
    [['train', ...tiny, '--data', 'short.txt'], /^attngrad: --data: 'short.txt' is too short/],
    [['train', ...small, '--data', 'folder'], /^attngrad: --data: cannot read 'folder' \(EISDIR/],
    [['eval', '--checkpoint', 'corrupt.safetensors'], /^attngrad: .*corrupt\.safetensors/],
    [['eval', '--checkpoint', 'cut.safetensors'], /^attngrad: .*cut\.safetensors/],
    [['sample', '--checkpoint', 'folder'], /^attngrad: --checkpoint: no file at 'folder'/],
    [['train', '--resume', 'cut.safetensors'], /^attngrad: .*cut\.safetensors/],
    [
      ['train', ...tiny, '--steps', '2', '--checkpoint', 'empty.txt/model.safetensors'],
      /^attngrad: cannot write to 'empty.txt' \(/,
    ],
  ];
  for (const [args, expected] of cases) {
    const r = cli(cwd, ...args);
    const what = args.join(' ');
    assert.is(r.status, 2, `${what}: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1, `${what}: one line, got ${r.stderr}`);
    assert.match(r.stderr.trim(), expected, what);
  }
  mkdirSync(join(cwd, 'blocked'));
  writeFileSync(join(cwd, 'blocked/runs'), ''); // runs/ cannot be made here
  const blocked = cli(join(cwd, 'blocked'), 'train', ...tiny, '--steps', '2000', '--name', 'b');
  assert.is(blocked.status, 2, blocked.stderr);
  assert.match(blocked.stderr.trim(), /^attngrad: cannot write to 'runs\/b' \(ENOTDIR/);
  // refused before training: no header on stdout, no progress line beside the refusal
  assert.is(blocked.stdout, '');
  assert.is(blocked.stderr.trim().split('\n').length, 1, blocked.stderr);
  const debug = cli(cwd, 'eval', '--checkpoint', 'corrupt.safetensors', '--debug');
  assert.is(debug.status, 2);
  assert.match(debug.stderr, /\n\s+at /, '--debug prints the stack');
});

test('--version; train --help grouped by topic with defaults', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'attngrad-help-'));
  const version = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version;
  assert.is(cli(cwd, '--version').stdout.trim(), version);
  const help = cli(cwd, 'train', '--help');
  assert.is(help.status, 0);
  const titles = [...help.stdout.matchAll(/^(\w+):$/gm)].map((m) => m[1]);
  assert.equal(titles, ['model', 'attention', 'data', 'optimisation', 'run']);
  assert.match(help.stdout, /--steps +optimizer steps \[default: 700; mlm on text: 1500\]/);
  assert.match(help.stdout, /attention:\n {2}--attention /);
});

test('piped progress: a line every 5% of the steps and after quietSeconds without one', () => {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(s) } as never;
  const bar = new ProgressBar(1000, stream, 50, 0.05); // every 50 steps or 50 ms
  bar.update(1, 2, 10);
  assert.is(lines.length, 0, 'nothing yet');
  const until = Date.now() + 60;
  while (Date.now() < until); // 60 ms without a line
  bar.update(2, 2, 20);
  assert.is(lines.length, 1, 'a line after quietSeconds');
  bar.update(3, 2, 30);
  assert.is(lines.length, 1);
  bar.update(50, 2, 500);
  assert.is(lines.length, 2, 'a line at 5%');
  assert.match(lines[1], /^step 50\/1000 {2}loss 2.0000/);
});

test.run();
