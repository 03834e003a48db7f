// Unsupervised parsing (analysis/parse.ts, data/pcfg.ts, cli/parse.ts): the best-split tree on
// hand-made impact matrices, bracket F1 against hand-counted values, the baselines' trees, the PCFG
// (its trees yield its sentences, are binary, read back from brackets, and branch both ways), and
// `attngrad pcfg` / `attngrad parse` on a tiny trained masked LM, with their one-line errors.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bestSplitTree,
  bracketScore,
  leftBranching,
  randomSplit,
  rightBranching,
  splitScore,
  treeSpans,
} from '../analysis/parse.ts';
import {
  formatTree,
  pcfgChar,
  pcfgCorpusText,
  pcfgWords,
  readTree,
  samplePcfg,
  treeWords,
  type Tree,
} from '../data/pcfg.ts';
import { seedStream, withStream } from '../data/rng.ts';
import { parseFlags, UsageError } from '../cli/args.ts';
import { runConfigFrom, savedRunConfig, trainFlags, type RunConfig } from '../cli/flags.ts';
import { loadCorpus, makeSource } from '../cli/sources.ts';
import { buildModel } from '../cli/build.ts';
import { runParse, runPcfg } from '../cli/parse.ts';
import { loadCheckpoint, readCheckpointConfig } from '../nn/checkpoint.ts';

const words = (text: string) => text.split(' ');
const trees = (...lines: string[]) => lines.map(readTree);

test('splitScore: hand-computed cohesion minus coupling of a 3-word matrix', () => {
  const F = [
    [0, 4, 1],
    [4, 0, 1],
    [1, 1, 0],
  ];
  // k=1: 0 + mean([[0,1],[1,0]]) − mean([4,1]) − mean([4,1]) = 0.5 − 5 = −4.5
  assert.is(splitScore(F, 0, 3, 1), -4.5);
  // k=2: mean([[0,4],[4,0]]) + 0 − mean([1,1]) − mean([1,1]) = 2 − 2 = 0
  assert.is(splitScore(F, 0, 3, 2), 0);
  assert.is(formatTree(bestSplitTree(F, words('a b c'))), '((a b) c)');
});

test('bestSplitTree: two coupled pairs split in the middle, then each pair', () => {
  const F = [
    [0, 5, 1, 0],
    [5, 0, 0, 1],
    [1, 0, 0, 5],
    [0, 1, 5, 0],
  ];
  assert.is(formatTree(bestSplitTree(F, words('a b c d'))), '((a b) (c d))');
  // a word coupled to the last pair only: the first cut isolates the first word
  const G = [
    [0, 1, 1, 1],
    [1, 0, 6, 6],
    [1, 6, 0, 6],
    [1, 6, 6, 0],
  ];
  assert.is(formatTree(bestSplitTree(G, words('a b c d'))), '(a (b (c d)))');
  assert.throws(() => bestSplitTree(F, words('a b c')), /expected a 3 × 3 impact matrix/);
});

test('baselines: right- and left-branching trees, random splits from the seeded stream', () => {
  assert.is(formatTree(rightBranching(words('a b c d'))), '(a (b (c d)))');
  assert.is(formatTree(leftBranching(words('a b c d'))), '(((a b) c) d)');
  assert.is(formatTree(rightBranching(['a'])), 'a');
  const draw = (seed: number) =>
    withStream(seedStream(seed), () =>
      Array.from({ length: 200 }, () => formatTree(randomSplit(words('a b c')))),
    )[0];
  const first = draw(7);
  assert.equal(draw(7), first);
  const left = first.filter((t) => t === '((a b) c)').length;
  const right = first.filter((t) => t === '(a (b c))').length;
  assert.is(left + right, 200);
  assert.ok(left > 70 && right > 70, `both splits of 3 words, about half each: ${left}/${right}`);
  assert.throws(() => randomSplit([]), /non-empty list of words/);
});

test('treeSpans: constituents of ≥ 2 words, the whole sentence left out', () => {
  assert.equal([...treeSpans(readTree('((a b) (c (d e)))'))].sort(), ['0:2', '2:5', '3:5']);
  assert.equal([...treeSpans(readTree('(a b c)'))], []);
});

test('bracketScore: corpus-level P/R/F1 against hand-counted spans', () => {
  const predicted = trees('(((a b) c) d)', '((x y) z)', '(p q)');
  const gold = trees('((a b) (c d))', '(x y z)', '(p q)');
  // predicted spans {0:2, 0:3} + {0:2} + {} = 3; gold {0:2, 2:4} + {} + {} = 2; matched: 0:2 once
  const s = bracketScore(predicted, gold);
  assert.equal([s.predicted, s.gold, s.matched], [3, 2, 1]);
  assert.ok(Math.abs(s.precision - 1 / 3) < 1e-12);
  assert.ok(Math.abs(s.recall - 1 / 2) < 1e-12);
  assert.ok(Math.abs(s.f1 - 0.4) < 1e-12); // 2·(1/3)(1/2) / (1/3 + 1/2)
  assert.throws(() => bracketScore(trees('(a b)'), trees('(a c)')), /sentence 1 differs/);
  assert.throws(() => bracketScore(trees('(a b)'), []), /as many predicted trees/);
});

test('readTree: brackets back to trees, malformed lines rejected with the reason', () => {
  const tree: Tree = [
    ['the', 'dog'],
    ['saw', ['a', 'cat']],
  ];
  assert.equal(readTree(formatTree(tree)), tree);
  assert.throws(() => readTree('((a b)'), /never closed/);
  assert.throws(() => readTree('(a b))'), /text after the tree/);
  assert.throws(() => readTree(')a('), /unmatched '\)'/);
  assert.throws(() => readTree('(a ())'), /empty constituent/);
  assert.throws(() => readTree('   '), /no tree/);
});

test('PCFG: trees yield their sentences, are binary, and the same seed draws the same', () => {
  const sentences = samplePcfg(300, { seed: 3, maxWords: 12 });
  const binary = (t: Tree): boolean => typeof t === 'string' || (t.length === 2 && t.every(binary));
  for (const { words: w, tree } of sentences) {
    assert.equal(treeWords(tree), w);
    assert.ok(binary(tree), formatTree(tree));
    assert.ok(w.length >= 3 && w.length <= 12, `length ${w.length}`);
    assert.equal(readTree(formatTree(tree)), tree);
    for (const word of w) assert.ok(pcfgWords.includes(word), word);
  }
  assert.equal(samplePcfg(20, { seed: 3, maxWords: 12 }), sentences.slice(0, 20));
  assert.not.equal(samplePcfg(20, { seed: 4 }), samplePcfg(20, { seed: 3 }));
  assert.throws(() => samplePcfg(5, { seed: 0, maxWords: 2 }), /maxWords must be an integer ≥ 3/);
});

test('PCFG: rules branch both ways, so neither branching baseline is right', () => {
  const sentences = samplePcfg(500, { seed: 1 });
  const gold = sentences.map((s) => s.tree);
  const right = bracketScore(
    sentences.map((s) => rightBranching(s.words)),
    gold,
  ).f1;
  const left = bracketScore(
    sentences.map((s) => leftBranching(s.words)),
    gold,
  ).f1;
  assert.ok(right > 0.2 && right < 0.8, `right-branching F1 ${right}`);
  assert.ok(left > 0.05 && left < 0.5, `left-branching F1 ${left}`);
});

test('PCFG corpus: one character per word, one sentence per line', () => {
  const text = pcfgCorpusText(50, 2);
  const lines = text.split('\n');
  assert.is(lines.pop(), '');
  const sentences = samplePcfg(50, { seed: 2 });
  assert.equal(
    lines,
    sentences.map((s) => s.words.map(pcfgChar).join('')),
  );
  assert.is(Array.from(lines[0]).length, sentences[0].words.length);
  assert.is(new Set(pcfgWords.map(pcfgChar)).size, pcfgWords.length);
  assert.throws(() => pcfgChar('zebra'), /'zebra' is not a word of the grammar/);
});

test('--task pcfg: the masked LM reads the grammar’s sentences, a character a word', () => {
  const config = runConfigFrom(
    parseFlags(words('--model mlm --task pcfg --data-seed 5'), trainFlags),
  );
  const data = loadCorpus(config);
  assert.equal(data.chars, [...pcfgWords.map(pcfgChar), '\n'].sort());
  assert.is(data.maskedVocabSize, pcfgWords.length + 2); // the words, the line break, MASK
  const first = samplePcfg(1, { seed: 5 })[0].words;
  assert.is(data.decode(data.train.subarray(0, first.length)), first.map(pcfgChar).join(''));
  const seq2seq = parseFlags(words('--model seq2seq --task pcfg'), trainFlags);
  assert.throws(() => runConfigFrom(seq2seq), /--task pcfg trains a language model/);
});

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = (cwd: string, args: string) => {
  const env = { ...process.env, ATTNGRAD_THREADS: '1' };
  const r = spawnSync(process.execPath, [join(repo, 'bin/attngrad.mjs'), ...words(args)], {
    encoding: 'utf8',
    cwd,
    env,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
/** What main.ts's loadModel does, in process. */
const load = (path: string | undefined) => {
  const config = savedRunConfig(readCheckpointConfig(path!) as RunConfig);
  const model = buildModel(config, makeSource(config));
  loadCheckpoint(path!, { model });
  return { model, config };
};

test('attngrad pcfg and parse: trees of the input’s words, F1 beside the baselines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attngrad-parse-'));
  const tiny = '--layers 1 --d-model 16 --heads 2 --batch 4 --eval-size 8 --block-size 32';
  const trained = cli(dir, `train --model mlm --task pcfg ${tiny} --steps 2 --checkpoint m.st`);
  assert.is(trained.status, 0, trained.stderr);
  runPcfg(
    words(
      `--sentences ${join(dir, 'set/s.txt')} --trees ${join(dir, 'set/t.txt')} --count 12 --seed 4`,
    ),
  );
  const sentences = samplePcfg(12, { seed: 4 });
  assert.is(
    readFileSync(join(dir, 'set/t.txt'), 'utf8'),
    sentences.map((x) => formatTree(x.tree)).join('\n') + '\n',
  );
  const parsed = cli(
    dir,
    'parse --checkpoint m.st --input set/s.txt --score set/t.txt --output out/p.txt --picture p.svg',
  );
  assert.is(parsed.status, 0, parsed.stderr);
  const trees = readFileSync(join(dir, 'out/p.txt'), 'utf8').trim().split('\n').map(readTree);
  assert.equal(
    trees.map(treeWords),
    sentences.map((x) => x.words),
  );
  // the picture: the first 4 lines' matrices, each line's tree and its gold tree under the title
  const svg = readFileSync(join(dir, 'p.svg'), 'utf8');
  assert.ok(svg.startsWith('<svg') && svg.includes('>line 4<') && !svg.includes('>line 5<'));
  assert.ok(svg.includes(`line 2: ${formatTree(trees[1])}`));
  assert.ok(svg.includes(`gold: ${formatTree(sentences[1].tree)}`));
  const row = (name: string) => parsed.stdout.split('\n').find((l) => l.startsWith(`| ${name}`));
  const gold = sentences.map((x) => x.tree);
  const f1 = (t: Tree[]) => (100 * bracketScore(t, gold).f1).toFixed(1);
  assert.ok(row('perturbed masking')?.endsWith(`| ${f1(trees)} |`), parsed.stdout);
  assert.ok(
    row('right-branching')?.endsWith(`| ${f1(sentences.map((x) => rightBranching(x.words)))} |`),
  );
  assert.ok(row('random split (seed 0)'), parsed.stdout);
  const kl = cli(dir, 'parse --checkpoint m.st --input set/s.txt --score set/t.txt --impact kl');
  assert.is(kl.status, 0, kl.stderr);
  assert.match(kl.stdout, /\| perturbed masking \| \d+\.\d \|/);

  const oov = join(dir, 'oov.txt');
  writeFileSync(oov, 'the dog slept\nthe zebra slept\n');
  const bad = cli(dir, 'parse --checkpoint m.st --input oov.txt');
  assert.is(bad.status, 2);
  assert.is(
    bad.stderr,
    "attngrad: --input line 2: 'zebra' is not a token of the model's vocabulary (a word of data/pcfg.ts)\n",
  );

  // the other errors, in process: each is one UsageError saying what is wrong where
  const file = (name: string, text: string) => (
    writeFileSync(join(dir, name), text),
    join(dir, name)
  );
  const fails = (args: string, message: RegExp) =>
    assert.throws(
      () => runParse(words(`--checkpoint ${join(dir, 'm.st')} ${args}`), load),
      (e: Error) => e instanceof UsageError && message.test(e.message),
    );
  const input = file('one.txt', 'the dog slept\r\n');
  fails(`--input ${join(dir, 'none.txt')}`, /^--input: no file at/);
  fails(`--input ${input} --impact dot`, /^--impact must be one of hidden, cosine, kl, logprob/);
  fails(`--input ${file('empty.txt', '')}`, /^--input: '.*' is empty/);
  fails(`--input ${file('blank.txt', 'the dog slept\n \n')}`, /^--input line 2 has no tokens/);
  const long = Array(31).fill('dog').join(' ');
  fails(`--input ${file('long.txt', long)}`, /^--input line 1 has 31 tokens; the model takes 30/);
  fails(
    `--input ${input} --score ${file('g1.txt', '((the dog) slept\n')}`,
    /^--score line 1: readTree: a '\(' is never closed/,
  );
  fails(
    `--input ${input} --score ${file('g2.txt', '((the cat) slept)\n')}`,
    /^--score line 1: the tree's words 'the cat slept' are not --input's 'the dog slept'/,
  );
  fails(
    `--input ${input} --score ${file('g3.txt', '(a b)\n(c d)\n')}`,
    /^--score: .* has 2 trees for 1 input lines/,
  );
});

test.run();
