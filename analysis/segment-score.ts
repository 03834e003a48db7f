// Scoring a segmentation against gold words, line by line. Word P/R/F1 is the SIGHAN bakeoff's:
// a predicted word counts when both its ends are gold word ends. Boundary P/R/F1 counts the cuts
// inside lines (a line's two ends are always boundaries and are not counted). A segmentation is a
// line's cuts: cuts[i] says whether a word ends after character i (length T − 1).
// The sweep scores every fraction of cut gaps for a scorer, so a threshold rule can be seen
// against all thresholds. Read next: ../cli/segment.ts (the command).

import { lowestCuts } from './segment.ts';

export interface PRF {
  precision: number;
  recall: number;
  f1: number;
}

export interface SegmentScores {
  word: PRF;
  boundary: PRF;
  cutRate: number; // the fraction of gaps cut
}

const prf = (correct: number, predicted: number, gold: number): PRF => {
  const [precision, recall] = [predicted ? correct / predicted : 0, gold ? correct / gold : 0];
  return {
    precision,
    recall,
    f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
  };
};

/** A gold line's words (its characters joined) → its characters and cuts. */
export function cutsOfWords(words: readonly string[]): { chars: string[]; cuts: boolean[] } {
  const chars: string[] = [],
    cuts: boolean[] = [];
  for (const word of words) {
    const w = Array.from(word);
    if (w.length === 0) throw new Error('cutsOfWords: a word is empty');
    if (chars.length > 0) cuts.push(true);
    w.forEach((c, k) => (chars.push(c), k > 0 && cuts.push(false)));
  }
  return { chars, cuts };
}

/** Word and boundary P/R/F1 of predicted cuts against gold cuts, over lines of equal lengths. */
export function scoreCuts(
  predicted: readonly (readonly boolean[])[],
  gold: readonly (readonly boolean[])[],
): SegmentScores {
  if (predicted.length !== gold.length) {
    throw new Error(`scoreCuts: ${predicted.length} predicted lines for ${gold.length} gold lines`);
  }
  let [words, goldWords, rightWords, cuts, goldCuts, rightCuts, gaps] = [0, 0, 0, 0, 0, 0, 0];
  predicted.forEach((p, l) => {
    const g = gold[l];
    if (p.length !== g.length) {
      throw new Error(
        `scoreCuts: line ${l + 1} has ${p.length + 1} characters, gold ${g.length + 1}`,
      );
    }
    // a word [start, i] is right when it starts where both start and ends where both end
    let together = true; // both segmentations started a word at the same place
    for (let i = 0; i <= p.length; i++) {
      const [pe, ge] = i === p.length ? [true, true] : [p[i], g[i]];
      if (pe && ge && together) rightWords++;
      if (pe || ge) together = pe === ge;
      words += pe ? 1 : 0;
      goldWords += ge ? 1 : 0;
      if (i < p.length)
        [cuts, goldCuts, rightCuts] = [cuts + +pe, goldCuts + +ge, rightCuts + +(pe && ge)];
    }
    gaps += p.length;
  });
  return {
    word: prf(rightWords, words, goldWords),
    boundary: prf(rightCuts, cuts, goldCuts),
    cutRate: gaps ? cuts / gaps : 0,
  };
}

/** Word and boundary P/R/F1 of predicted words against gold words (the same characters per line). */
export function scoreWords(
  predicted: readonly (readonly string[])[],
  gold: readonly (readonly string[])[],
): SegmentScores {
  if (predicted.length !== gold.length) {
    throw new Error(
      `scoreWords: ${predicted.length} predicted lines for ${gold.length} gold lines`,
    );
  }
  const [p, g] = [predicted.map(cutsOfWords), gold.map(cutsOfWords)];
  p.forEach((line, l) => {
    if (line.chars.join('') !== g[l].chars.join('')) {
      throw new Error(`scoreWords: line ${l + 1}'s characters differ from the gold line's`);
    }
  });
  return scoreCuts(
    p.map((line) => line.cuts),
    g.map((line) => line.cuts),
  );
}

/** Scores when the lowest-scoring fraction q of gaps is cut, for each q of `fractions`. */
export function sweep(
  scores: readonly Float64Array[],
  gold: readonly (readonly boolean[])[],
  fractions: readonly number[],
): (SegmentScores & { fraction: number })[] {
  const gaps = scores.reduce((n, line) => n + line.length, 0);
  return fractions.map((fraction) => {
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new Error(`sweep: a fraction must be in [0, 1], got ${fraction}`);
    }
    return { fraction, ...scoreCuts(lowestCuts(scores, Math.round(fraction * gaps)), gold) };
  });
}
