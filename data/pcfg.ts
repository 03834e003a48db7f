// A small probabilistic context-free grammar with gold trees, for unsupervised parsing (Perturbed
// Masking, ../docs/perturbed-masking.md). Its rules branch both ways — a subject NP on the left,
// NP → NP PP and VP → VP PP | VP Adv grow to the left, VP → V NP and PP → P NP to the right — so
// neither right- nor left-branching trees are right. Nonterminals carry a noun class (animate,
// food, place, tool) and a number, so words inside a constituent depend on each other (a
// determiner agrees with its noun, a verb or preposition selects its object's class) as heads and
// dependents do in a real language. Every word is one token; a tree is a nested list of words with
// unary nodes collapsed (every gold tree is binary). Sentences are drawn on a private seeded
// stream (rng.ts). Read next: ../analysis/parse.ts (trees from a masked LM, bracket F1).

import { random } from '../lib/random.ts';
import { seedStream, withStream } from './rng.ts';

/** A constituent: a word, or a list of constituents. */
export type Tree = string | Tree[];

export interface PcfgSentence {
  words: string[];
  tree: Tree;
}

type Rule = [probability: number, rhs: string[]];

const nounClasses = ['anim', 'food', 'place', 'tool'] as const;
const numbers = ['sg', 'pl'] as const;

/** Preterminal → its words (chosen uniformly). */
const lexicon: Record<string, string[]> = {
  Det_sg: ['a', 'the', 'this', 'every'],
  Det_pl: ['the', 'these', 'some', 'two'],
  N_anim_sg: ['dog', 'cat', 'man', 'woman', 'child', 'bird'],
  N_anim_pl: ['dogs', 'cats', 'men', 'women', 'children', 'birds'],
  N_food_sg: ['apple', 'cake', 'pie', 'banana'],
  N_food_pl: ['apples', 'cakes', 'pies', 'bananas'],
  N_place_sg: ['park', 'garden', 'house', 'river'],
  N_place_pl: ['parks', 'gardens', 'houses', 'rivers'],
  N_tool_sg: ['telescope', 'stick', 'knife', 'spoon'],
  N_tool_pl: ['telescopes', 'sticks', 'knives', 'spoons'],
  Adj_anim: ['old', 'young', 'happy', 'small'],
  Adj_food: ['fresh', 'sweet', 'ripe'],
  Adj_place: ['quiet', 'green', 'big'],
  Adj_tool: ['sharp', 'long', 'new'],
  V_anim: ['saw', 'chased', 'liked', 'followed'],
  V_food: ['ate', 'bought', 'cooked'],
  V_tool: ['used', 'found', 'dropped'],
  V_intr: ['slept', 'ran', 'sang', 'laughed'],
  Adv: ['quickly', 'slowly', 'today', 'again'],
  P_place: ['in', 'near', 'behind'],
  P_tool: ['with'],
};

/** Nonterminal → its rules; the probabilities of one nonterminal sum to 1. */
const rules: Record<string, Rule[]> = {
  S: [[1, ['NP_anim', 'VP']]],
  VP: [
    [0.3, ['V_anim', 'NP_anim']],
    [0.2, ['V_food', 'NP_food']],
    [0.1, ['V_tool', 'NP_tool']],
    [0.15, ['V_intr']],
    [0.17, ['VP', 'PP']],
    [0.08, ['VP', 'Adv']],
  ],
  PP: [
    [0.7, ['P_place', 'NP_place']],
    [0.3, ['P_tool', 'NP_tool']],
  ],
};
for (const c of nounClasses) {
  rules[`NP_${c}`] = [
    [0.6, [`NP_${c}_sg`]],
    [0.4, [`NP_${c}_pl`]],
  ];
  for (const n of numbers) {
    rules[`NP_${c}_${n}`] = [
      [0.85, [`Det_${n}`, `Nbar_${c}_${n}`]],
      [0.15, [`NP_${c}_${n}`, 'PP']],
    ];
    rules[`Nbar_${c}_${n}`] = [
      [0.3, [`Adj_${c}`, `Nbar_${c}_${n}`]],
      [0.7, [`N_${c}_${n}`]],
    ];
  }
}

/** Every word of the grammar, sorted. */
export const pcfgWords: readonly string[] = [...new Set(Object.values(lexicon).flat())].sort();

/** Expand `symbol` top-down on the current generator; unary nodes collapse into their child. */
function expand(symbol: string): Tree {
  const words = lexicon[symbol];
  if (words) return words[Math.floor(random() * words.length)];
  const options = rules[symbol];
  let u = random();
  const [, rhs] = options.find(([p]) => (u -= p) < 0) ?? options[options.length - 1];
  const children = rhs.map(expand);
  return children.length === 1 ? children[0] : children;
}

/** The words of a tree, left to right. */
export const treeWords = (tree: Tree): string[] =>
  typeof tree === 'string' ? [tree] : tree.flatMap(treeWords);

/**
 * `count` sentences of 3 … maxWords words with their gold trees, drawn on a stream seeded with
 * `seed` (longer draws are redrawn, so the same seed gives the same sentences).
 */
export function samplePcfg(
  count: number,
  { seed, maxWords = 24 }: { seed: number; maxWords?: number },
): PcfgSentence[] {
  if (!(Number.isInteger(count) && count >= 1)) {
    throw new Error(`samplePcfg: count must be a positive integer, got ${count}`);
  }
  if (!(Number.isInteger(maxWords) && maxWords >= 3)) {
    throw new Error(
      `samplePcfg: maxWords must be an integer ≥ 3 (the shortest sentence), got ${maxWords}`,
    );
  }
  const [sentences] = withStream(seedStream(seed), () => {
    const out: PcfgSentence[] = [];
    while (out.length < count) {
      const tree = expand('S');
      const words = treeWords(tree);
      if (words.length <= maxWords) out.push({ words, tree });
    }
    return out;
  });
  return sentences;
}

/** A tree in brackets, unlabeled: `((the dog) (saw (a cat)))`. */
export const formatTree = (tree: Tree): string =>
  typeof tree === 'string' ? tree : `(${tree.map(formatTree).join(' ')})`;

/** Read formatTree's brackets back; a malformed line throws an Error saying where. */
export function readTree(text: string): Tree {
  const tokens = text.match(/[()]|[^\s()]+/g) ?? [];
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`readTree: ${why} in '${text.trim()}'`);
  };
  const node = (): Tree => {
    const token = tokens[at++];
    if (token === undefined) return fail("a '(' is never closed");
    if (token === ')') return fail(`an unmatched ')' at token ${at}`);
    if (token !== '(') return token;
    const children: Tree[] = [];
    while (tokens[at] !== ')') {
      if (at >= tokens.length) fail("a '(' is never closed");
      children.push(node());
    }
    at++;
    if (children.length === 0) fail('an empty constituent ()');
    return children.length === 1 ? children[0] : children;
  };
  if (tokens.length === 0) fail('no tree');
  const tree = node();
  if (at < tokens.length) fail(`text after the tree ('${tokens[at]}')`);
  return tree;
}

/** The character a word is written as in the masked LM's corpus: one token per word. */
export function pcfgChar(word: string): string {
  const id = pcfgWords.indexOf(word);
  if (id < 0) throw new Error(`pcfgChar: '${word}' is not a word of the grammar`);
  return String.fromCodePoint(0x4e00 + id);
}

/** How many sentences `--task pcfg` trains on (≈ 170k tokens). */
export const PCFG_CORPUS_SENTENCES = 20000;

/**
 * The masked LM's training text: `count` sentences drawn with `seed`, every word one character
 * (pcfgChar), a newline after each sentence.
 */
export function pcfgCorpusText(count: number, seed: number): string {
  const lines = samplePcfg(count, { seed }).map((s) => s.words.map(pcfgChar).join(''));
  return `${lines.join('\n')}\n`;
}
