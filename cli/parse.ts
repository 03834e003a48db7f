// `attngrad parse` and `attngrad pcfg`: unsupervised constituency parsing with a trained masked LM
// (Perturbed Masking; ../analysis/parse.ts has the math and the F1 convention) and the PCFG test
// sets it is scored on. parse reads one sentence a line (tokens separated by spaces: the grammar's
// words for a --task pcfg checkpoint, single characters for a --task text one), frames each line
// with the line break the corpus puts between sentences (so the model sees a sentence as it did in
// training), computes the token impact matrix, builds the best-split tree and writes the trees in
// brackets; with --score it prints bracket P/R/F1 beside the right-branching, left-branching and
// random-split baselines. Read next: ../analysis/impact.ts (the impact matrix).

import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  formatTree,
  pcfgChar,
  readTree,
  samplePcfg,
  seedStream,
  treeWords,
  withStream,
  type CharDataset,
  type Tree,
} from '../data/index.ts';
import { writeFileAtomic } from '../nn/atomic-write.ts';
import type { MaskedLM } from '../models/index.ts';
import { heatmapGridSvg } from '../report/heatmap.ts';
import { IMPACT_MEASURES, impactMatrix, type ImpactMeasure } from '../analysis/impact.ts';
import {
  bestSplitTree,
  bracketScore,
  leftBranching,
  randomSplit,
  rightBranching,
  type BracketScore,
} from '../analysis/parse.ts';
import { formatSeconds, ProgressBar } from '../report/progress.ts';
import { helpText, parseFlags, UsageError, type FlagSpec } from './args.ts';
import type { RunConfig } from './flags.ts';
import { loadCorpus, type Model } from './sources.ts';

const parseUsage = `usage: attngrad parse --checkpoint F --input FILE [--output FILE] [--score GOLD]
  one sentence a line, tokens separated by spaces → one bracketed tree a line`;

const PICTURE_LINES = 4; // --picture draws this many lines

export const parseFlagSpecs = {
  checkpoint: { type: 'string', help: 'a masked LM: attngrad train --model mlm' },
  input: { type: 'string', help: 'sentences, one a line, tokens separated by spaces' },
  output: { type: 'string', help: 'where the trees go [default: standard output]' },
  score: { type: 'string', help: 'gold trees in brackets, one a line: print bracket F1' },
  picture: {
    type: 'string',
    help: `an SVG of the first ${PICTURE_LINES} lines' impact matrices and their trees`,
  },
  seed: { type: 'int', default: 0, help: 'the random-split baseline’s seed' },
  batch: { type: 'int', default: 64, min: 1, help: 'masked copies per forward pass' },
  impact: {
    type: 'string',
    default: 'hidden',
    choices: IMPACT_MEASURES,
    help: 'the impact measure of analysis/impact.ts (hidden: the article’s)',
  },
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies Record<string, FlagSpec>;

const pcfgUsage = `usage: attngrad pcfg --sentences FILE --trees FILE [--count N] [--seed S]
  sentences of data/pcfg.ts (one a line) and their gold trees, for attngrad parse`;

export const pcfgFlagSpecs = {
  sentences: { type: 'string', help: 'where the sentences go' },
  trees: { type: 'string', help: 'where the gold trees go' },
  count: { type: 'int', default: 300, min: 1, help: 'how many sentences' },
  seed: { type: 'int', default: 1000, help: 'their stream (not a training data seed)' },
  'max-words': { type: 'int', default: 24, min: 3, help: 'the longest sentence' },
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies Record<string, FlagSpec>;

/** Write text to a file atomically, its folder made if missing; else one line saying why not. */
function writeText(flag: string, path: string, text: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, text);
  } catch (e) {
    throw new UsageError(`${flag}: cannot write '${path}' (${(e as Error).message})`);
  }
}

const linesText = (lines: string[]) => `${lines.join('\n')}\n`;

/** A file's lines without the final empty one (LF or CRLF), or one line saying why not. */
function readLines(flag: string, path: string): string[] {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new UsageError(`${flag}: no file at '${path}'`);
  }
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new UsageError(`${flag}: '${path}' is empty`);
  return lines;
}

/** Loads a checkpoint's model and run config; a bad file is one line (main.ts loadModel). */
export type ModelLoader = (path: string | undefined) => { model: Model; config: RunConfig };

/** The masked LM of a checkpoint, its run config, and the corpus that gives its vocabulary. */
function loadMaskedLM(load: ModelLoader, path: string | undefined) {
  const { model, config } = load(path);
  if (config.model !== 'mlm') {
    const got = `got --model ${config.model}`;
    throw new UsageError(`--checkpoint: parse needs a masked LM (--model mlm), ${got}`);
  }
  return { model: model as MaskedLM, config, data: loadCorpus(config) };
}

/** Score every tree set against gold: the model's, then the baselines'. */
function scoreTable(rows: [string, BracketScore][], gold: number): string {
  const pct = (x: number) => (100 * x).toFixed(1);
  const lines = rows.map(
    ([name, s]) => `| ${name} | ${pct(s.precision)} | ${pct(s.recall)} | ${pct(s.f1)} |`,
  );
  const head = `unlabeled bracket F1 (%), ${gold} gold spans of ≥ 2 words, whole sentences left out`;
  return `${head}\n\n| trees | P | R | F1 |\n|---|---|---|---|\n${lines.join('\n')}`;
}

/**
 * Every line's tokens as ids, framed by the line break the corpus puts between sentences (when
 * its vocabulary has one); every line is checked before any is parsed. frame: tokens before a line.
 */
function encodeLines(
  inputWords: string[][],
  model: MaskedLM,
  config: RunConfig,
  data: CharDataset,
) {
  const frame = config.task === 'text' && !data.chars.includes('\n') ? [] : data.encode('\n');
  const limit = model.embed.positions ? model.config.blockSize - 2 * frame.length : Infinity;
  const sentences = inputWords.map((words, l) => {
    const where = `--input line ${l + 1}`;
    if (words.length === 0) throw new UsageError(`${where} has no tokens`);
    if (words.length > limit) {
      const why = `the model takes ${limit} (block size ${model.config.blockSize} less the frame)`;
      throw new UsageError(`${where} has ${words.length} tokens; ${why}`);
    }
    const ids = words.map((w) => {
      const char = config.task === 'pcfg' ? pcfgWordChar(w) : w;
      if (char === null || Array.from(char).length !== 1 || !data.chars.includes(char)) {
        const hint = config.task === 'pcfg' ? 'a word of data/pcfg.ts' : 'one character';
        throw new UsageError(`${where}: '${w}' is not a token of the model's vocabulary (${hint})`);
      }
      return data.encode(char)[0];
    });
    return { words, ids: [...frame, ...ids, ...frame] };
  });
  return { frame: frame.length, sentences };
}

/** The impact matrices of the first lines as heatmaps, each line's trees written under them. */
function impactPicture(
  parsed: { words: string[]; F: number[][]; tree: Tree }[],
  gold: Tree[] | null,
) {
  const shown = parsed.slice(0, PICTURE_LINES);
  const panels = shown.map(({ words, F }, l) => ({
    title: `line ${l + 1}`,
    rows: words,
    cols: words,
    values: F.flat(),
    masked: F.flatMap((row, i) => row.map((_, j) => (i === j ? 1 : 0))), // f(i, i) is not measured
    max: Math.max(...F.flat()),
  }));
  const notes = shown.flatMap(({ tree }, l) => [
    `line ${l + 1}: ${formatTree(tree)}`,
    ...(gold ? [`gold: ${formatTree(gold[l])}`] : []),
  ]);
  const title = 'Perturbed Masking: the impact f(i, j) of word j (column) on word i (row)';
  notes.push('each panel is scaled to its own largest impact');
  return heatmapGridSvg(title, [panels], { notes, maxLabel: 'max', maskedLabel: 'i = j' });
}

export function runParse(argv: string[], load: ModelLoader): void {
  const flags = parseFlags(argv, parseFlagSpecs);
  if (flags.help) return void process.stdout.write(helpText(parseUsage, parseFlagSpecs));
  if (!flags.input) throw new UsageError('parse: --input <file> is required');
  const lines = readLines('--input', String(flags.input));
  const inputWords = lines.map((line) => line.split(' ').filter((w) => w !== ''));
  const gold = flags.score === undefined ? null : readGold(String(flags.score), inputWords);
  const { model, config, data } = loadMaskedLM(load, flags.checkpoint as string | undefined);

  const { frame, sentences } = encodeLines(inputWords, model, config, data);
  const started = Date.now();
  const bar = new ProgressBar(sentences.length);
  const measure = flags.impact as ImpactMeasure;
  const options = { maskId: data.maskId, batchSize: Number(flags.batch), measure };
  const parsed = sentences.map(({ words, ids }, l) => {
    const spans = words.map((_, i) => [frame + i, frame + i + 1] as const);
    const F = impactMatrix(model, ids, spans, options); // (n, n): F[i][j] = f(word i, word j)
    bar.tick(l + 1, `line ${l + 1}/${sentences.length}`);
    return { words, F, tree: bestSplitTree(F, words) };
  });
  const trees = parsed.map((p) => p.tree);
  const text = linesText(trees.map(formatTree));
  if (flags.output === undefined) process.stdout.write(text);
  else writeText('--output', String(flags.output), text);
  const seconds = (Date.now() - started) / 1000;
  console.error(`parsed ${lines.length} lines in ${formatSeconds(seconds)}`);
  if (flags.picture !== undefined) {
    writeText('--picture', String(flags.picture), impactPicture(parsed, gold));
  }
  if (!gold) return;

  const score = (predicted: Tree[]) => bracketScore(predicted, gold);
  const seed = Number(flags.seed);
  const [random] = withStream(seedStream(seed), () => inputWords.map(randomSplit));
  const rows: [string, BracketScore][] = [
    ['perturbed masking', score(trees)],
    ['right-branching', score(inputWords.map(rightBranching))],
    ['left-branching', score(inputWords.map(leftBranching))],
    [`random split (seed ${seed})`, score(random)],
  ];
  console.log(scoreTable(rows, rows[0][1].gold));
}

/** The grammar's character for a word, or null when the word is not the grammar's. */
function pcfgWordChar(word: string): string | null {
  try {
    return pcfgChar(word);
  } catch {
    return null;
  }
}

/** Gold trees, one a line, over the same words as the input's lines. */
function readGold(path: string, inputWords: string[][]): Tree[] {
  const lines = readLines('--score', path);
  const count = inputWords.length;
  if (lines.length !== count) {
    throw new UsageError(`--score: '${path}' has ${lines.length} trees for ${count} input lines`);
  }
  return lines.map((line, l) => {
    let tree: Tree;
    try {
      tree = readTree(line);
    } catch (e) {
      throw new UsageError(`--score line ${l + 1}: ${(e as Error).message}`);
    }
    const [a, b] = [treeWords(tree).join(' '), inputWords[l].join(' ')];
    if (a !== b)
      throw new UsageError(
        `--score line ${l + 1}: the tree's words '${a}' are not --input's '${b}'`,
      );
    return tree;
  });
}

export function runPcfg(argv: string[]): void {
  const flags = parseFlags(argv, pcfgFlagSpecs);
  if (flags.help) return void process.stdout.write(helpText(pcfgUsage, pcfgFlagSpecs));
  if (!flags.sentences || !flags.trees) {
    throw new UsageError('pcfg: --sentences <file> and --trees <file> are required');
  }
  const drawn = samplePcfg(Number(flags.count), {
    seed: Number(flags.seed),
    maxWords: Number(flags.maxWords),
  });
  const [sentences, trees] = [String(flags.sentences), String(flags.trees)];
  const [lines, gold] = [drawn.map((s) => s.words.join(' ')), drawn.map((s) => formatTree(s.tree))];
  writeText('--sentences', sentences, linesText(lines));
  writeText('--trees', trees, linesText(gold));
  console.log(`${drawn.length} sentences → ${sentences}, their trees → ${trees}`);
}
