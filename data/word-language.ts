// A generated word language with known boundaries, for unsupervised segmentation: a lexicon of
// distinct words (letters a–z, lengths minLength…maxLength, shorter words the more frequent ones),
// Zipf unigram frequencies p(rank r) ∝ r^−zipf, and bigrams: each word prefers `successors`
// followers (Zipf over a random choice of them), taken with probability `stickiness`, else the
// next word is drawn from the unigrams. A sentence is minWords…maxWords words; written without
// separators it is the text to segment, with single spaces it is the gold. Every draw is on a
// stream seeded with `seed` (rng.ts), so one seed gives one language and one corpus.
// Read next: ../analysis/segment.ts (what segments it).

import { random, randomInt } from '../lib/random.ts';
import { seedStream, withStream } from './rng.ts';

export interface WordLanguageOptions {
  words?: number; // lexicon size (default 400)
  minLength?: number; // letters per word (default 1 … 4)
  maxLength?: number;
  zipf?: number; // unigram exponent (default 1)
  successors?: number; // preferred followers of each word (default 8)
  stickiness?: number; // the chance the next word is a preferred follower (default 0.5)
  minWords?: number; // words per sentence (default 4 … 12)
  maxWords?: number;
  seed?: number; // default 0
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const capacity = (n: number) => Math.floor(26 ** n / 2); // words of n letters at most

/** Draw an index with probability ∝ weights[i] (cumulative weights, ascending). */
function pick(cumulative: Float64Array): number {
  const u = random() * cumulative[cumulative.length - 1];
  let [lo, hi] = [0, cumulative.length - 1];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const zipfCumulative = (n: number, s: number) => {
  const c = new Float64Array(n);
  for (let r = 0, sum = 0; r < n; r++) c[r] = sum += (r + 1) ** -s;
  return c;
};

function check(o: Required<WordLanguageOptions>): void {
  const ints = ['words', 'minLength', 'maxLength', 'successors', 'minWords', 'maxWords'] as const;
  for (const key of ints) {
    if (!(Number.isInteger(o[key]) && o[key] >= 1)) {
      throw new Error(`wordLanguage: ${key} must be a positive integer, got ${o[key]}`);
    }
  }
  if (o.minLength > o.maxLength || o.minWords > o.maxWords) {
    const got = `lengths ${o.minLength}…${o.maxLength}, words ${o.minWords}…${o.maxWords}`;
    throw new Error(`wordLanguage: a minimum exceeds its maximum (${got})`);
  }
  const room = Array.from({ length: o.maxLength - o.minLength + 1 }, (_, k) =>
    capacity(o.minLength + k),
  );
  if (o.words > room.reduce((a, b) => a + b, 0)) {
    throw new Error(
      `wordLanguage: ${o.words} words do not fit lengths ${o.minLength}…${o.maxLength}`,
    );
  }
  if (!(o.zipf >= 0) || !(o.stickiness >= 0 && o.stickiness <= 1)) {
    throw new Error(
      `wordLanguage: zipf must be ≥ 0 and stickiness in [0, 1], got ${o.zipf}, ${o.stickiness}`,
    );
  }
}

/** A seeded word language: its lexicon (by frequency rank) and `count` sentences of words. */
export function wordLanguage(
  count: number,
  options: WordLanguageOptions = {},
): { lexicon: string[]; sentences: string[][] } {
  const o: Required<WordLanguageOptions> = {
    words: 400,
    minLength: 1,
    maxLength: 4,
    zipf: 1,
    successors: 8,
    stickiness: 0.5,
    minWords: 4,
    maxWords: 12,
    seed: 0,
    ...options,
  };
  check(o);
  if (!(Number.isInteger(count) && count >= 0)) {
    throw new Error(`wordLanguage: count must be a non-negative integer, got ${count}`);
  }
  return withStream(seedStream(o.seed), () => {
    // a length whose half-full share of the 26^n strings is taken passes its word on (sparse
    // lengths keep words apart); check() made sure the lengths hold them all
    const used = new Map<number, number>();
    const lengths = Array.from({ length: o.words }, () => {
      let n = randomInt(o.minLength, o.maxLength + 1);
      while ((used.get(n) ?? 0) >= capacity(n)) n = n < o.maxLength ? n + 1 : o.minLength;
      used.set(n, (used.get(n) ?? 0) + 1);
      return n;
    });
    lengths.sort((a, b) => a - b); // the frequent ranks get the short words
    const seen = new Set<string>();
    const lexicon = lengths.map((n) => {
      let word: string;
      do word = Array.from({ length: n }, () => LETTERS[randomInt(0, 26)]).join('');
      while (seen.has(word));
      seen.add(word);
      return word;
    });
    const unigram = zipfCumulative(o.words, o.zipf);
    const followerWeights = zipfCumulative(o.successors, o.zipf);
    const followers = lexicon.map(() => Array.from({ length: o.successors }, () => pick(unigram)));
    const sentences = Array.from({ length: count }, () => {
      const n = randomInt(o.minWords, o.maxWords + 1);
      const ranks = [pick(unigram)];
      while (ranks.length < n) {
        const last = ranks[ranks.length - 1];
        ranks.push(
          random() < o.stickiness ? followers[last][pick(followerWeights)] : pick(unigram),
        );
      }
      return ranks.map((r) => lexicon[r]);
    });
    return { lexicon, sentences };
  })[0];
}
