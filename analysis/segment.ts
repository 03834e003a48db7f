// Unsupervised word segmentation (Su, kexue.fm 7476): a masked LM never trained on word boundaries
// scores each pair of adjacent characters by how much they matter to each other,
//   c_i = (f(i, i+1) + f(i+1, i)) / 2          (f: impact.ts)
// and the weakest pairs are cut. The cut rule needs no gold labels: a mean word length L is fixed
// in advance; a corpus of N characters in S lines then has about N/L words, so the N/L − S lowest-
// scoring of its N − S gaps are cut (one threshold for the whole corpus). The same rule cuts the
// character-bigram PMI baseline (low PMI = cut); the random baseline cuts each gap with the
// model's own cut rate, on a seeded stream.
// Lines longer than the window (the model's length) are scored in windows of W that overlap by
// half: each gap takes its score from the window whose centre is nearest, so it sees ≥ W/4
// characters of context on each side (fewer only at the line's ends).
// Read next: segment-score.ts (word and boundary P/R/F1, the threshold sweep).

import { random, type RngState } from '../lib/random.ts';
import { withStream } from '../data/index.ts';
import type { MaskedLM } from '../models/index.ts';
import { adjacentImpacts, type ImpactOptions } from './impact.ts';

export interface SegmentOptions extends ImpactOptions {
  window?: number; // characters per window [default: the model's blockSize]
}

/** The windows [start, start + W) that cover a line of T and the window each gap i scores in. */
export function windowsOf(T: number, W: number): { starts: number[]; owner: Int32Array } {
  if (!(Number.isInteger(W) && W >= 2)) throw new Error(`windowsOf: W must be ≥ 2, got ${W}`);
  if (T <= W) return { starts: [0], owner: new Int32Array(Math.max(0, T - 1)) };
  const stride = Math.floor(W / 2);
  const starts: number[] = [];
  for (let s = 0; s + W < T; s += stride) starts.push(s);
  starts.push(T - W);
  const owner = new Int32Array(T - 1);
  for (let i = 0; i + 1 < T; i++) {
    let best = 0;
    for (let k = 1; k < starts.length; k++) {
      const gap = (s: number) => Math.abs(s + W / 2 - (i + 1));
      if (gap(starts[k]) < gap(starts[best])) best = k;
    }
    owner[i] = best;
  }
  return { starts, owner };
}

/** c_i for each gap of one line (length T − 1), windowed when the line is longer than W. */
export function adjacentScores(
  model: MaskedLM,
  ids: readonly number[],
  options: SegmentOptions,
): Float64Array {
  const W = options.window ?? model.config.blockSize;
  if (!(Number.isInteger(W) && W >= 2 && W <= model.config.blockSize)) {
    const range = `[2, ${model.config.blockSize}] (the model's length)`;
    throw new Error(`adjacentScores: window must be an integer in ${range}, got ${W}`);
  }
  const T = ids.length;
  const scores = new Float64Array(Math.max(0, T - 1));
  if (T < 2) return scores;
  const { starts, owner } = windowsOf(T, W);
  starts.forEach((start, k) => {
    const end = Math.min(T, start + W);
    const { right, left } = adjacentImpacts(model, ids.slice(start, end), options);
    for (let i = start; i + 1 < end; i++) {
      if (owner[i] === k) scores[i] = (right[i - start] + left[i - start]) / 2;
    }
  });
  return scores;
}

/** How many gaps the rule cuts: N/L words in N characters over S lines → N/L − S of N − S gaps. */
export function cutCount(lengths: readonly number[], wordLength: number): number {
  if (!(wordLength >= 1)) throw new Error(`cutCount: wordLength must be ≥ 1, got ${wordLength}`);
  const lines = lengths.filter((n) => n > 0);
  const N = lines.reduce((a, n) => a + n, 0);
  const gaps = N - lines.length;
  return Math.max(0, Math.min(gaps, Math.round(N / wordLength - lines.length)));
}

/** Cut the `count` lowest-scoring gaps over all lines (ties: the earlier gap first). */
export function lowestCuts(scores: readonly Float64Array[], count: number): boolean[][] {
  const all = scores.flatMap((line, l) => Array.from(line, (s, i) => ({ s, l, i })));
  if (!(Number.isInteger(count) && count >= 0 && count <= all.length)) {
    throw new Error(`lowestCuts: count must be an integer in [0, ${all.length}], got ${count}`);
  }
  const cuts = scores.map((line) => Array<boolean>(line.length).fill(false));
  all.sort((a, b) => a.s - b.s || a.l - b.l || a.i - b.i);
  for (const { l, i } of all.slice(0, count)) cuts[l][i] = true;
  return cuts;
}

/** Each gap cut with probability `rate`, drawn on the stream (the random baseline). */
export function randomCuts(
  lengths: readonly number[],
  rate: number,
  stream: RngState,
): boolean[][] {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`randomCuts: rate must be in [0, 1], got ${rate}`);
  const gapsOf = (n: number) => Math.max(0, n - 1);
  return withStream(stream, () =>
    lengths.map((n) => Array.from({ length: gapsOf(n) }, () => random() < rate)),
  )[0];
}

/**
 * Character-bigram PMI of each gap, log p(ab) / (p(a) p(b)), with counts taken over the lines of
 * `counted` (by default the lines themselves; the CLI counts over the model's training text, so
 * both see the same unlabeled text). A character or pair never counted counts ½.
 */
export function pmiScores(
  lines: readonly (readonly string[])[],
  counted: readonly (readonly string[])[] = lines,
): Float64Array[] {
  const unigrams = new Map<string, number>(),
    bigrams = new Map<string, number>();
  let [nu, nb] = [0, 0];
  const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  for (const chars of counted) {
    chars.forEach((c, i) => {
      add(unigrams, c);
      nu++;
      if (i > 0) (add(bigrams, chars[i - 1] + '\u0000' + c), nb++);
    });
  }
  const p = (map: Map<string, number>, key: string, n: number) => (map.get(key) ?? 0.5) / n;
  return lines.map((chars) =>
    Float64Array.from({ length: Math.max(0, chars.length - 1) }, (_, i) => {
      const [a, b] = [chars[i], chars[i + 1]];
      const pab = p(bigrams, a + '\u0000' + b, nb);
      return Math.log(pab / (p(unigrams, a, nu) * p(unigrams, b, nu)));
    }),
  );
}

/** A line's characters and its cuts → its words. */
export function wordsOf(chars: readonly string[], cuts: readonly boolean[]): string[] {
  if (cuts.length !== Math.max(0, chars.length - 1)) {
    const want = Math.max(0, chars.length - 1);
    throw new Error(`wordsOf: ${chars.length} characters need ${want} cuts, got ${cuts.length}`);
  }
  const words: string[] = [];
  let word = '';
  chars.forEach((c, i) => {
    word += c;
    if (i === chars.length - 1 || cuts[i]) (words.push(word), (word = ''));
  });
  return words;
}
