// Unsupervised parsing (analysis/parse.ts, data/pcfg.ts): the best-split tree on hand-made impact
// matrices, bracket F1 against hand-counted values, the baselines' trees, and the PCFG (its trees
// yield its sentences, are binary, read back from brackets, and branch both ways).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
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
import { parseFlags } from '../cli/args.ts';
import { runConfigFrom, trainFlags } from '../cli/flags.ts';
import { loadCorpus } from '../cli/sources.ts';

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

test.run();
