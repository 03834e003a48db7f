// Unsupervised constituency trees from an impact matrix (Perturbed Masking, Wu et al. ACL 2020;
// Su, kexue.fm 7476), the baselines they are compared with, and unlabeled bracket F1.
// The tree builder is Su's recursive best split: a span of n words with impact matrix F (F_ii = 0,
// F_ij = how much word j changes word i's representation) is cut before the k that maximises
//   score(k) = mean(F[<k,<k]) + mean(F[≥k,≥k]) − mean(F[<k,≥k]) − mean(F[≥k,<k]),   k = 1 … n−1,
// cohesion inside the two blocks minus coupling across them (a block's mean counts its zero
// diagonal, so a one-word block scores 0; ties go to the smallest k), and both halves are split
// again. Bracket F1: every constituent of ≥ 2 words except the whole sentence is a span; P, R and
// F1 count the spans of all sentences together (corpus level, unlabeled), so a sentence of ≤ 2
// words adds nothing. Read next: ../data/pcfg.ts (the gold trees), ../cli/parse.ts.

import { random } from '../lib/random.ts';
import { treeWords, type Tree } from '../data/pcfg.ts';

/** Mean of F over rows [r0, r1) × columns [c0, c1). */
function blockMean(F: number[][], r0: number, r1: number, c0: number, c1: number): number {
  let sum = 0;
  for (let i = r0; i < r1; i++) for (let j = c0; j < c1; j++) sum += F[i][j];
  return sum / ((r1 - r0) * (c1 - c0));
}

/** Su's split score of cutting span [lo, hi) before word k. */
export function splitScore(F: number[][], lo: number, hi: number, k: number): number {
  const within = blockMean(F, lo, k, lo, k) + blockMean(F, k, hi, k, hi);
  return within - blockMean(F, lo, k, k, hi) - blockMean(F, k, hi, lo, k);
}

/** Build a tree over words[lo, hi) by choosing each span's split with `choose(lo, hi)`. */
function splitTree(
  words: string[],
  lo: number,
  hi: number,
  choose: (lo: number, hi: number) => number,
): Tree {
  if (hi - lo === 1) return words[lo];
  const k = choose(lo, hi);
  return [splitTree(words, lo, k, choose), splitTree(words, k, hi, choose)];
}

function checkWords(fn: string, words: string[]): void {
  if (!Array.isArray(words) || words.length === 0) {
    throw new Error(`${fn}: expected a non-empty list of words, got ${JSON.stringify(words)}`);
  }
}

/** The recursive best-split tree of `words` from their impact matrix F (n × n). */
export function bestSplitTree(F: number[][], words: string[]): Tree {
  checkWords('bestSplitTree', words);
  const n = words.length;
  if (F.length !== n || F.some((row) => row.length !== n)) {
    const got = `${F.length} rows of lengths [${F.map((r) => r.length)}]`;
    throw new Error(
      `bestSplitTree: expected a ${n} × ${n} impact matrix for ${n} words, got ${got}`,
    );
  }
  return splitTree(words, 0, n, (lo, hi) => {
    let best = lo + 1;
    for (let k = lo + 2; k < hi; k++) {
      if (splitScore(F, lo, hi, k) > splitScore(F, lo, hi, best)) best = k;
    }
    return best;
  });
}

/** [w1 [w2 [… wn]]]: the right-branching baseline. */
export function rightBranching(words: string[]): Tree {
  checkWords('rightBranching', words);
  return splitTree(words, 0, words.length, (lo) => lo + 1);
}

/** [[[w1 w2] …] wn]: the left-branching baseline. */
export function leftBranching(words: string[]): Tree {
  checkWords('leftBranching', words);
  return splitTree(words, 0, words.length, (_, hi) => hi - 1);
}

/** Every span cut at a uniform random point, drawn on the current generator. */
export function randomSplit(words: string[]): Tree {
  checkWords('randomSplit', words);
  return splitTree(
    words,
    0,
    words.length,
    (lo, hi) => lo + 1 + Math.floor(random() * (hi - lo - 1)),
  );
}

/** The spans `start:end` of a tree's constituents of ≥ 2 words, the whole sentence left out. */
export function treeSpans(tree: Tree): Set<string> {
  const spans = new Set<string>();
  const walk = (node: Tree, start: number): number => {
    if (typeof node === 'string') return start + 1;
    const end = node.reduce((at: number, child) => walk(child, at), start);
    if (end - start >= 2) spans.add(`${start}:${end}`);
    return end;
  };
  const n = walk(tree, 0);
  spans.delete(`0:${n}`);
  return spans;
}

export interface BracketScore {
  precision: number;
  recall: number;
  f1: number;
  predicted: number; // spans in the predicted trees
  gold: number; // spans in the gold trees
  matched: number; // spans in both
}

/** Corpus-level unlabeled bracket P/R/F1 of predicted trees against gold trees of the same words. */
export function bracketScore(predicted: Tree[], gold: Tree[]): BracketScore {
  if (predicted.length !== gold.length) {
    const got = `${predicted.length} predicted and ${gold.length} gold trees`;
    throw new Error(`bracketScore: expected as many predicted trees as gold ones, got ${got}`);
  }
  let [nPred, nGold, matched] = [0, 0, 0];
  predicted.forEach((tree, s) => {
    const [a, b] = [treeWords(tree).join(' '), treeWords(gold[s]).join(' ')];
    if (a !== b) throw new Error(`bracketScore: sentence ${s + 1} differs: '${a}' vs gold '${b}'`);
    const [p, g] = [treeSpans(tree), treeSpans(gold[s])];
    nPred += p.size;
    nGold += g.size;
    for (const span of p) if (g.has(span)) matched++;
  });
  const precision = nPred === 0 ? 0 : matched / nPred;
  const recall = nGold === 0 ? 0 : matched / nGold;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1, predicted: nPred, gold: nGold, matched };
}
