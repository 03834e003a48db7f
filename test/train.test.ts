// Training end to end: resuming from a checkpoint is bit-identical to an uninterrupted run, the CLI
// rejects bad flags with one line and exit code 2, and a short char-LM run on the shipped
// tinyshakespeare (data/) gets its validation loss clearly below the unigram entropy.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags } from '../cli/args.ts';
import { runConfigFrom, trainFlags, type RunConfig } from '../cli/flags.ts';
import { train } from '../cli/train.ts';
import { corpora } from '../data/index.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const config = (...argv: string[]): RunConfig => runConfigFrom(parseFlags(argv, trainFlags));
const losses = (metrics: { loss?: number }[]) =>
  metrics.filter((m) => m.loss !== undefined).map((m) => m.loss);

const textFlags = ['--task', 'text', '--data', 'shakespeare', '--block-size', '16'];
const runs: [string, string[]][] = [
  ['seq2seq', []],
  ['lm', []],
  ['lm', textFlags],
];
for (const [model, data] of runs) {
  const what = data.length ? `${model} on text` : model;
  test(`${what}: 50 steps, save, resume 50 more = 100 uninterrupted steps, bit for bit`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'attngrad-resume-'));
    const small = [
      '--model',
      model,
      '--layers',
      '1',
      '--d-model',
      '16',
      '--heads',
      '2',
      '--batch',
      '8',
      '--eval-every',
      '40',
      '--eval-size',
      '20',
      '--dropout',
      '0.1',
      ...data,
    ];
    const straight = train(config(...small, '--steps', '100'), {
      runDir: join(dir, 'a'),
      checkpoint: join(dir, 'a.safetensors'),
      quiet: true,
    });
    const half = config(...small, '--steps', '100');
    // stop after 50: run the same config with 50 steps of a 100-step schedule is not the same run,
    // so the first leg saves a mid-run checkpoint and the second resumes from it
    train(half, {
      runDir: join(dir, 'b'),
      checkpoint: join(dir, 'b.safetensors'),
      checkpointEvery: 50,
      quiet: true,
      stopAfter: 50,
    });
    const resumed = train(half, {
      runDir: join(dir, 'b'),
      checkpoint: join(dir, 'b.safetensors'),
      resume: join(dir, 'b.safetensors'),
      quiet: true,
    });
    assert.equal(losses(resumed.metrics), losses(straight.metrics));
    assert.equal(resumed.final, straight.final);
  });
}

test('--data-seed moves the batches and leaves weight init alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-data-seed-'));
  const small = [
    '--model',
    'lm',
    '--layers',
    '1',
    '--d-model',
    '16',
    '--heads',
    '2',
    '--batch',
    '4',
    '--steps',
    '2',
    '--eval-every',
    '0',
    '--eval-size',
    '20',
  ];
  const where = { runDir: dir, checkpoint: join(dir, 'm.safetensors'), quiet: true };
  const run = (...flags: string[]) => train(config(...small, ...flags), where);
  const runs = [run(), run('--data-seed', '0'), run('--data-seed', '1')];
  const [base, same, moved] = runs.map((r) => losses(r.metrics));
  assert.equal(same, base, '--data-seed defaults to --seed');
  assert.not.equal(moved[0], base[0], 'another data seed, another first batch');
  // lr 0: the weights after training are the initial ones
  const initial = (dataSeed: string) =>
    Array.from(
      run('--lr', '0', '--weight-decay', '0', '--data-seed', dataSeed).model.parameters()[0].data,
    );
  assert.equal(initial('1'), initial('2'), 'the same initial weights');
});

const cli = (...args: string[]) =>
  spawnSync(process.execPath, [join(repo, 'bin/attngrad.mjs'), ...args], {
    encoding: 'utf8',
    cwd: mkdtempSync(join(tmpdir(), 'attngrad-cli-')),
  });

const badFlags: [string[], RegExp][] = [
  [['train', '--d-model', '30', '--heads', '4'], /--d-model 30 is not divisible by --heads 4/],
  [['train', '--model', 'rnn'], /--model must be one of seq2seq, lm, got 'rnn'/],
  [
    ['train', '--task', 'text', '--model', 'lm', '--data', '/no/such/file.txt'],
    /--data: no file at '\/no\/such\/file.txt'/,
  ],
  [['train', '--steps', 'many'], /--steps must be an integer, got 'many'/],
  [['train', '--bogus'], /unknown flag --bogus/],
  [['eval', '--checkpoint', '/no/such.safetensors'], /--checkpoint: no file at/],
  [['fly'], /unknown command 'fly'/],
];
for (const [args, message] of badFlags) {
  test(`CLI: ${args.join(' ')} → one line, exit code 2`, () => {
    const run = cli(...args);
    assert.is(run.status, 2, run.stderr);
    assert.ok(message.test(run.stderr), run.stderr);
    assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  });
}

test('CLI: a corrupt checkpoint gives one clear line and exit code 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-corrupt-'));
  const file = join(dir, 'bad.safetensors');
  spawnSync('sh', ['-c', `printf 'not a checkpoint' > ${file}`]);
  const run = cli('eval', '--checkpoint', file);
  assert.is(run.status, 2, run.stderr);
  assert.match(
    run.stderr,
    /Safetensors\w*: .*bad\.safetensors: the header length \d+ is larger than the rest of the file/,
  );
});

const shakespeare = corpora.shakespeare; // data/tinyshakespeare.txt, shipped with the repo
const text = existsSync(shakespeare) ? test : test.skip;
text('char LM on tinyshakespeare: validation loss clearly below the unigram entropy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-text-'));
  const lm = config(
    '--model',
    'lm',
    '--task',
    'text',
    '--data',
    'shakespeare',
    '--layers',
    '2',
    '--d-model',
    '48',
    '--heads',
    '4',
    '--block-size',
    '32',
    '--batch',
    '16',
    '--steps',
    '300',
    '--lr',
    '3e-3',
    '--eval-every',
    '0',
    '--eval-size',
    '2048',
    '--norm',
    'pre',
  );
  const r = train(lm, { runDir: dir, checkpoint: join(dir, 'lm.safetensors'), quiet: true });
  const { valLoss, unigramEntropy } = r.final;
  assert.ok(
    valLoss < unigramEntropy - 0.5,
    `val loss ${valLoss} vs unigram entropy ${unigramEntropy}`,
  );
  assert.ok(readFileSync(join(dir, 'loss.svg'), 'utf8').startsWith('<svg'));
});

test.run();
