// Training end to end: resuming from a checkpoint is bit-identical to an uninterrupted run, the CLI
// rejects bad flags with one line and exit code 2, a short char-LM run on the shipped
// tinyshakespeare (data/) gets its validation loss clearly below the unigram entropy, the masked
// LM trains from the CLI (and samples and evaluates), eval --lengths prints a row per length and
// refuses lengths past a position table, and --train-block trains short windows in a long model.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags } from '../cli/args.ts';
import { runConfigFrom, trainFlags, type RunConfig } from '../cli/flags.ts';
import { train } from '../cli/train.ts';
import { corpora } from '../data/index.ts';

/** 'a b c' → ['a', 'b', 'c']: the flags of a command line as written. */
const words = (line: string) => line.split(' ');

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
      ...words(
        '--layers 1 --d-model 16 --heads 2 --batch 8 --eval-every 40 --eval-size 20 --dropout 0.1',
      ),
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
  const small = words(
    '--model lm --layers 1 --d-model 16 --heads 2 --batch 4 --steps 2 --eval-every 0 --eval-size 20',
  );
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
  [['train', '--model', 'rnn'], /--model must be one of seq2seq, lm, mlm, got 'rnn'/],
  [
    ['train', '--task', 'text', '--model', 'lm', '--data', '/no/such/file.txt'],
    /--data: no file at '\/no\/such\/file.txt'/,
  ],
  [['train', '--steps', 'many'], /--steps must be an integer, got 'many'/],
  [['train', '--bogus'], /unknown flag --bogus/],
  [['eval', '--checkpoint', '/no/such.safetensors'], /--checkpoint: no file at/],
  [['fly'], /unknown command 'fly'/],
  [['train', '--model', 'mlm', '--task', 'copy'], /--model mlm trains on text: use --task text/],
  [['train', '--task', 'recall', '--pairs', '12'], /--pairs 12 needs --symbols ≥ 12/],
  [['train', '--task', 'even-pairs'], /--task even-pairs needs --min-len ≥ 2, got 1/],
  [['train', '--logn-base', '512'], /--logn-base only applies with --scale logn/],
  [['train', '--scale', 'logn', '--logn-clamp', 'no'], /--logn-clamp must be one of true, false/],
  [
    ['train', '--model', 'lm', '--task', 'text', '--train-block', '128'],
    /--train-block 128 exceeds --block-size 64/,
  ],
  [['eval', '--checkpoint', 'x', '--lengths', '32'], /--lengths must be integers ≥ 64/],
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
    ...words(
      '--model lm --task text --data shakespeare --layers 2 --d-model 48 --heads 4 --block-size 32 --batch 16 --steps 300 --lr 3e-3 --eval-every 0 --eval-size 2048 --norm pre',
    ),
  );
  const r = train(lm, { runDir: dir, checkpoint: join(dir, 'lm.safetensors'), quiet: true });
  const { valLoss, unigramEntropy } = r.final;
  assert.ok(
    valLoss < unigramEntropy - 0.5,
    `val loss ${valLoss} vs unigram entropy ${unigramEntropy}`,
  );
  assert.ok(readFileSync(join(dir, 'loss.svg'), 'utf8').startsWith('<svg'));
});

test('CLI: train --help lists the new flags with their defaults', () => {
  const help = cli('train', '--help').stdout;
  for (const flag of [
    '--pairs',
    '--train-block',
    '--repeat-fraction',
    '--logn-base',
    '--logn-clamp',
  ]) {
    assert.ok(help.includes(flag), `${flag} missing from --help`);
  }
  assert.match(help, /--model .*\(seq2seq \| lm \| mlm\) \[default: seq2seq\]/);
  assert.match(help, /\| recall1 \| even-pairs \| text \| pcfg\)/);
  assert.match(help, /--pairs .*\[default: 4\]/);
  assert.match(help, /--logn-clamp .*\[default: true; the article: false\]/);
  const evalHelp = cli('eval', '--help').stdout;
  assert.match(evalHelp, /--lengths/);
  assert.match(evalHelp, /--windows .*\[default: 32\]/);
});

// A corpus a one-layer masked LM learns in seconds: one sentence, over and over (29 symbols).
const foxCorpus = () => {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-mlm-'));
  const file = join(dir, 'fox.txt');
  writeFileSync(file, 'the quick brown fox jumps over the lazy dog. '.repeat(200));
  return { dir, file };
};

test('CLI: train --model mlm (15% masked, 80/10/10): masked loss falls from ln V to < 1.5', () => {
  const { dir, file } = foxCorpus();
  const checkpoint = join(dir, 'mlm.safetensors');
  const run = cli(
    ...words('train --model mlm --task text --data'),
    file,
    ...words(
      '--layers 1 --d-model 32 --heads 2 --block-size 32 --batch 16 --steps 120 --lr 1e-2 --norm pre --position rope --eval-every 0 --eval-size 256 --checkpoint',
    ),
    checkpoint,
    '--name',
    'mlm',
  );
  assert.is(run.status, 0, run.stderr);
  const metric = (name: string) =>
    Number(new RegExp(`\\| ${name} \\| ([0-9.]+) \\|`).exec(run.stdout)?.[1]);
  const [valLoss, accuracy] = [metric('valLoss'), metric('maskedAccuracy')];
  // V = 28 characters + MASK: ln V = 3.37 at init
  assert.ok(valLoss < 1.5, `masked-token validation loss ${valLoss}`);
  assert.ok(accuracy > 0.5, `accuracy on masked positions ${accuracy}`);
  assert.match(run.stdout, /masked │ .*█/, 'samples show the masked line');
  assert.match(run.stdout, /model  │ /);
  // sample, eval and eval --lengths on the MLM checkpoint
  const sample = cli('sample', '--checkpoint', checkpoint, '--count', '2');
  assert.is(sample.stdout.split('\n').filter((l) => l.startsWith('masked │')).length, 2);
  const evaluated = cli('eval', '--checkpoint', checkpoint);
  assert.match(
    evaluated.stdout,
    new RegExp(`\\| valLoss \\| ${valLoss.toFixed(4)} \\|`),
    'eval = train',
  );
  const lengths = cli('eval', '--checkpoint', checkpoint, '--lengths', '64,128', '--windows', '4');
  assert.is(lengths.status, 0, lengths.stderr);
  const rows = [...lengths.stdout.matchAll(/^\| (\d+) \| ([0-9.]+) \| ([0-9.]+) \| (\d+) \|$/gm)];
  assert.equal(
    rows.map((r) => Number(r[1])),
    [64, 128],
  );
  assert.ok(
    rows.every((r) => Number(r[4]) > 10 && r[4] === rows[0][4]),
    'the same masked targets',
  );
  // trained at 32 with RoPE: still good at 64 (its first 32 positions are context)
  assert.ok(Number(rows[0][2]) < 2.5, lengths.stdout);
});

test('eval --lengths: a row per length for a RoPE LM; a learned-position table refuses past it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-lengths-'));
  const tiny = words(
    '--model lm --task text --layers 1 --d-model 16 --heads 2 --batch 4 --steps 3 --eval-every 0 --eval-size 20',
  );
  const where = (name: string) => ({
    runDir: join(dir, name),
    checkpoint: join(dir, `${name}.safetensors`),
    quiet: true,
  });
  train(config(...tiny, '--position', 'rope', '--block-size', '16'), where('rope'));
  const rope = cli(
    'eval',
    '--checkpoint',
    join(dir, 'rope.safetensors'),
    '--lengths',
    '64,128,256',
    '--windows',
    '4',
  );
  assert.is(rope.status, 0, rope.stderr);
  const rows = [...rope.stdout.matchAll(/^\| (\d+) \| ([0-9.]+) \| ([0-9.]+) \| (\d+) \|$/gm)];
  assert.equal(
    rows.map((r) => [Number(r[1]), Number(r[4])]),
    [
      [64, 256],
      [128, 256],
      [256, 256],
    ],
  );
  // 3 steps from init: every loss is still ≈ ln 65 = 4.17
  assert.ok(
    rows.every((r) => Math.abs(Number(r[2]) - Math.log(65)) < 0.3),
    rope.stdout,
  );
  train(config(...tiny, '--position', 'learned', '--block-size', '32'), where('learned'));
  const refused = cli(
    'eval',
    '--checkpoint',
    join(dir, 'learned.safetensors'),
    '--lengths',
    '64,128',
  );
  assert.is(refused.status, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /--lengths: length 64 exceeds blockSize 32 \(its learned position table stops there\); train it with --block-size 128 --train-block N/,
  );
  assert.is(refused.stderr.trim().split('\n').length, 1);
});

test('--train-block: text trains on short windows while the model is built at --block-size', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-train-block-'));
  const run = train(
    config(
      ...words(
        '--model lm --task text --layers 1 --d-model 16 --heads 2 --batch 4 --steps 2 --eval-every 0 --eval-size 20 --block-size 128 --train-block 32 --position learned --scale logn',
      ),
    ),
    { runDir: dir, checkpoint: join(dir, 'm.safetensors'), quiet: true },
  );
  const model = run.model.config;
  assert.equal([model.blockSize, model.trainLen, model.lognBase], [128, 32, 32]);
  assert.is(run.source.batch(run.model, 1).tokens, 4 * 32, 'a training batch: 4 windows of 32');
});

test.run();
