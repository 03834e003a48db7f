// Word segmentation (analysis/segment.ts, analysis/segment-score.ts, cli/segment.ts): the scorer
// against hand-counted P/R/F1, the cut rule (how many gaps, which ones), windows, random cuts and
// PMI; the word language's boundaries; the command end to end on a tiny model, and its errors.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seedStream, wordLanguage } from '../data/index.ts';
import {
  cutCount,
  lowestCuts,
  pmiScores,
  randomCuts,
  windowsOf,
  wordsOf,
} from '../analysis/segment.ts';
import { cutsOfWords, scoreCuts, scoreWords, sweep } from '../analysis/segment-score.ts';
import { UsageError } from '../cli/args.ts';
import { runSegment } from '../cli/segment.ts';

const near = (a: number, b: number) => Math.abs(a - b) < 1e-12;

test('scoreWords: word (SIGHAN) and boundary P/R/F1 counted by hand', () => {
  // line 1: gold ab|c|def, predicted a|bc|def: words right {def} of 3 and 3; cuts right {c|d}
  // line 2: gold xy|z, predicted xyz: no word right of 1 and 2; no cut of 0 and 1
  const s = scoreWords(
    [['a', 'bc', 'def'], ['xyz']],
    [
      ['ab', 'c', 'def'],
      ['xy', 'z'],
    ],
  );
  assert.ok(near(s.word.precision, 1 / 4) && near(s.word.recall, 1 / 5), JSON.stringify(s.word));
  assert.ok(near(s.word.f1, (2 * (1 / 4) * (1 / 5)) / (1 / 4 + 1 / 5)));
  assert.ok(near(s.boundary.precision, 1 / 2) && near(s.boundary.recall, 1 / 3));
  assert.ok(near(s.boundary.f1, 0.4));
  assert.ok(near(s.cutRate, 2 / 7));
  const perfect = scoreWords([['ab', 'c']], [['ab', 'c']]);
  assert.equal([perfect.word.f1, perfect.boundary.f1], [1, 1]);
  assert.throws(() => scoreWords([['abd']], [['ab', 'c']]), /line 1's characters differ/);
  assert.throws(() => scoreCuts([[true]], [[true], []]), /1 predicted lines for 2 gold/);
});

test('cutsOfWords and wordsOf are inverses; code points, not UTF-16 units', () => {
  const words = ['共同', '创造', '𠀋', 'a'];
  const { chars, cuts } = cutsOfWords(words);
  assert.is(chars.length, 6);
  assert.equal(cuts, [false, true, false, true, true]);
  assert.equal(wordsOf(chars, cuts), words);
  assert.throws(() => wordsOf(['a', 'b'], []), /2 characters need 1 cuts, got 0/);
});

test('cut rule: N/L − S of the N − S gaps, the lowest-scoring first', () => {
  // 16 characters in 2 lines (an empty one is no line), L = 2: 8 words, 6 cuts of 14 gaps
  assert.is(cutCount([10, 6, 0], 2), 6);
  assert.is(cutCount([3, 3], 1), 4, 'L = 1: every gap');
  assert.is(cutCount([3, 3], 100), 0, 'never fewer than no cut');
  assert.throws(() => cutCount([3], 0.5), /wordLength must be ≥ 1/);
  const scores = [Float64Array.from([3, 1, 2]), Float64Array.from([0.5]), Float64Array.from([1])];
  assert.equal(lowestCuts(scores, 2), [[false, true, false], [true], [false]], 'ties: earlier');
  assert.equal(lowestCuts(scores, 5), [[true, true, true], [true], [true]]);
  assert.throws(() => lowestCuts(scores, 6), /count must be an integer in \[0, 5\]/);
});

test('sweep: the rule at each fraction of gaps', () => {
  const scores = [Float64Array.from([0.9, 0.1, 0.8, 0.2])];
  const gold = [[false, true, false, true]];
  const [none, half, all] = sweep(scores, gold, [0, 0.5, 1]);
  assert.equal([none.boundary.f1, half.boundary.f1, half.word.f1], [0, 1, 1]);
  assert.is(all.boundary.precision, 0.5);
  assert.throws(() => sweep(scores, gold, [1.5]), /fraction must be in \[0, 1\]/);
});

test('windowsOf: overlapping windows cover every gap, each gap in its nearest-centred window', () => {
  assert.equal(windowsOf(5, 8).starts, [0]);
  for (const [T, W] of [
    [10, 4],
    [37, 8],
    [64, 64],
    [65, 64],
    [200, 9],
  ]) {
    const { starts, owner } = windowsOf(T, W);
    assert.is(starts[starts.length - 1] + W >= T, true, `T ${T} W ${W}: the end is covered`);
    owner.forEach((k, i) => {
      const s = starts[k];
      assert.ok(s <= i && i + 1 < s + W, `gap ${i} outside its window [${s}, ${s + W})`);
      if (T > W && i >= W / 2 && i < T - W / 2 - 1) {
        const margin = Math.min(i - s, s + W - 1 - (i + 1));
        assert.ok(margin >= Math.floor(W / 4) - 1, `gap ${i} of T ${T} W ${W}: margin ${margin}`);
      }
    });
  }
  assert.throws(() => windowsOf(5, 1), /W must be ≥ 2/);
});

test('randomCuts: seeded, at the rate; PMI by hand', () => {
  const a = randomCuts([200, 300], 0.3, seedStream(4));
  assert.equal(a, randomCuts([200, 300], 0.3, seedStream(4)));
  const rate = a.flat().filter(Boolean).length / 498;
  assert.ok(Math.abs(rate - 0.3) < 0.06, `rate ${rate}`);
  assert.equal(randomCuts([3], 0, seedStream(1)), [[false, false]]);
  // unigrams a 3, b 1, c 1 (5); bigrams ab, ba, ca (3): PMI(ab) = log((1/3) / (3/5 · 1/5))
  const [first, second] = pmiScores([
    ['a', 'b', 'a'],
    ['c', 'a'],
  ]);
  assert.ok(near(first[0], Math.log(25 / 9)) && near(first[1], Math.log(25 / 9)));
  assert.ok(near(second[0], Math.log(25 / 9)));
});

test('word language: seeded, Zipf, boundaries known, words from the lexicon', () => {
  const { lexicon, sentences } = wordLanguage(400, { seed: 3 });
  assert.equal(wordLanguage(400, { seed: 3 }).sentences, sentences);
  assert.not.equal(wordLanguage(400, { seed: 4 }).sentences, sentences);
  assert.is(new Set(lexicon).size, 400, 'distinct words');
  const counts = new Map<string, number>();
  for (const s of sentences) {
    assert.ok(s.length >= 4 && s.length <= 12, `${s.length} words`);
    for (const w of s) {
      assert.ok(/^[a-z]{1,4}$/.test(w), w);
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    const { chars, cuts } = cutsOfWords(s);
    assert.is(chars.join(''), s.join(''));
    assert.is(cuts.filter(Boolean).length, s.length - 1);
  }
  assert.ok((counts.get(lexicon[0]) ?? 0) > 5 * (counts.get(lexicon[99]) ?? 0), 'Zipf');
  assert.throws(() => wordLanguage(1, { words: 400, maxLength: 1 }), /do not fit/);
  assert.throws(() => wordLanguage(1, { minWords: 5, maxWords: 2 }), /minimum exceeds/);
});

test('segment: errors are UsageErrors of one line', async () => {
  const noBackend = async () => {};
  for (const [argv, message] of [
    [[], /nothing to segment/],
    [['--text', 'ab', '--input', 'x'], /one of --text and --input/],
    [['--text', 'ab', '--sweep', 'x.svg'], /--sweep needs --score/],
    [['--text', 'ab', '--compare', 'kl'], /--compare needs --score/],
    [['--text', 'ab', '--impact', 'dot'], /--impact must be one of hidden, cosine, kl, logprob/],
    [['--text', 'ab'], /--checkpoint <file> is required/],
    [['--text', 'ab', '--checkpoint', '/nonexistent.safetensors'], /no file at/],
    [['--score', '/nonexistent.txt', '--checkpoint', 'x'], /--score: no file at/],
    [['--word-language', '3'], /--word-language needs --output/],
    [['--word-length', '0.5', '--text', 'a'], /--word-length must be ≥ 1/],
  ] as const) {
    try {
      await runSegment([...argv], noBackend);
      assert.unreachable(`no error for ${argv.join(' ')}`);
    } catch (e) {
      assert.instance(e, UsageError, `${argv.join(' ')}: ${(e as Error).message}`);
      assert.match((e as Error).message, message);
      assert.not.match((e as Error).message, /\n/);
    }
  }
});

test('segment end to end: a tiny masked LM on the word language, scored beside the baselines', () => {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-segment-'));
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [join(repo, 'bin/attngrad.mjs'), ...args], {
      encoding: 'utf8',
      cwd: dir,
      env: { ...process.env, ATTNGRAD_THREADS: '1' },
    });
  const gold = join(dir, 'gold.txt');
  assert.is(cli('segment', '--word-language', '60', '--output', gold).status, 0);
  const text = readFileSync(gold, 'utf8');
  writeFileSync(join(dir, 'raw.txt'), text.replace(/ /g, ''));
  const model = ['--model', 'mlm', '--task', 'text', '--data', 'raw.txt', '--block-size', '16'];
  const small = ['--layers', '1', '--d-model', '16', '--heads', '2', '--batch', '4'];
  const trained = cli('train', ...model, ...small, '--steps', '3', '--eval-size', '8');
  assert.is(trained.status, 0, trained.stderr);
  const checkpoint = join(dir, 'runs/mlm-text-s0/model.safetensors');
  const lm = cli(
    'segment',
    '--checkpoint',
    checkpoint,
    '--score',
    gold,
    '--window',
    '8',
    '--sweep',
    's.svg',
  );
  assert.is(lm.status, 0, lm.stderr);
  for (const name of ['perturbed masking', 'bigram PMI', 'random', 'every character a word']) {
    assert.match(lm.stdout, new RegExp(`\\| ${name}[^|]* \\| \\d\\.\\d{3} \\|`));
  }
  assert.ok(existsSync(join(dir, 's.svg')));
  const measures = cli(
    ...['segment', '--checkpoint', checkpoint, '--score', gold, '--window', '8'],
    ...['--impact', 'logprob', '--compare', 'hidden'],
  );
  assert.is(measures.status, 0, measures.stderr);
  for (const name of ['logprob', 'hidden']) {
    assert.match(measures.stdout, new RegExp(`\\| perturbed masking \\(${name}\\) \\| \\d`));
  }
  const deep = cli('segment', '--checkpoint', checkpoint, '--text', 'ab', '--layer', '2');
  assert.match(deep.stderr, /attngrad: segment: layer must be an integer in \[1, 1\], got 2/);
  const crlf = cli(
    'segment',
    '--checkpoint',
    checkpoint,
    '--text',
    'ab cd\r\nef',
    '--window',
    '32',
  );
  assert.match(crlf.stderr, /attngrad: --window 32 exceeds the model's length 16/);
  const out = cli('segment', '--checkpoint', checkpoint, '--text', 'ab cd\r\nef');
  assert.is(out.stdout.split('\n').length, 3, 'two lines out');
  assert.equal(out.stdout.replace(/ /g, ''), 'abcd\nef\n');
});

test.run();
