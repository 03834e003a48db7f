// `attngrad segment`: unsupervised word segmentation with a trained masked LM (Perturbed
// Masking, analysis/segment.ts). Reads one sentence a line (LF or CRLF; spaces ignored), writes
// the same lines with words separated by single spaces. With --score GOLD (gold words separated
// by spaces) it segments the gold's text unless --input/--text is given, and prints word and
// boundary P/R/F1 beside three baselines cut by the same rule (every character a word, random
// cuts at the model's rate, character-bigram PMI counted over the model's training text); --sweep
// draws F1 over every cut rate. --impact picks the measure of analysis/impact.ts (by default
// logprob, the drop in log p(xᵢ) when xⱼ is masked too; `hidden` is the article's Euclidean),
// --layer the block it reads, --compare scores a second measure beside it.
// --word-language N writes N gold sentences of the generated word language instead.
// Read next: ../analysis/segment.ts, ../docs/perturbed-masking.md.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { noGrad } from '../lib/index.ts';
import { loadCheckpoint, readCheckpointConfig } from '../nn/checkpoint.ts';
import { writeFileAtomic } from '../nn/atomic-write.ts';
import { seedStream, wordLanguage, type CharDataset } from '../data/index.ts';
import type { MaskedLM } from '../models/index.ts';
import { ProgressBar, formatSeconds } from '../report/progress.ts';
import { lineChartSvg, PALETTE, type Series } from '../report/line-chart.ts';
import {
  adjacentScores,
  cutCount,
  lowestCuts,
  pmiScores,
  randomCuts,
  wordsOf,
} from '../analysis/segment.ts';
import { checkMeasure, IMPACT_MEASURES, type ImpactMeasure } from '../analysis/impact.ts';
import { cutsOfWords, scoreCuts, sweep, type SegmentScores } from '../analysis/segment-score.ts';
import { helpText, parseFlags, UsageError, type FlagSpec } from './args.ts';
import { backendFlag, savedRunConfig, type RunConfig } from './flags.ts';
import { loadCorpus, makeSource } from './sources.ts';
import { buildModel } from './build.ts';

const usage = `usage: attngrad segment --checkpoint F (--text "…" | --input FILE | --score GOLD) [--output FILE]
       attngrad segment --word-language N --output FILE   (N gold sentences of the word language)`;

export const segmentFlags = {
  checkpoint: { type: 'string', help: 'a masked LM written by attngrad train --model mlm' },
  text: { type: 'string', help: 'the text to segment (one sentence a line)' },
  input: { type: 'string', help: 'a UTF-8 file to segment, one sentence a line' },
  output: { type: 'string', help: 'write the segmented lines here [default: stdout]' },
  score: {
    type: 'string',
    help: 'gold words separated by spaces: segment its text, print P/R/F1 beside the baselines',
  },
  'word-length': {
    type: 'float',
    default: 1.6,
    min: 1,
    help: 'the mean word length assumed in advance: cut N/L − lines of the lowest-scoring gaps',
  },
  window: { type: 'int', min: 2, help: 'characters per window [default: the model length]' },
  impact: {
    type: 'string',
    default: 'logprob',
    choices: IMPACT_MEASURES,
    help: 'logprob or kl: the head’s distribution at i; hidden: the article’s ‖ΔH‖; cosine',
  },
  layer: { type: 'int', min: 1, help: 'read the states after this block [default: the last]' },
  compare: {
    type: 'string',
    choices: IMPACT_MEASURES,
    help: 'with --score: also score this measure (last layer), in the table and the sweep',
  },
  lines: { type: 'int', min: 1, help: 'only the first N lines' },
  sweep: { type: 'string', help: 'with --score: an SVG of F1 over every cut rate' },
  seed: { type: 'int', default: 0, min: 0, help: 'the random baseline (and --word-language)' },
  batch: { type: 'int', default: 64, min: 1, help: 'masked copies per forward pass' },
  'word-language': { type: 'int', min: 1, help: 'write N sentences of the word language' },
  backend: backendFlag,
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies Record<string, FlagSpec>;

const isFile = (path: string) => existsSync(path) && statSync(path).isFile();

function read(flag: string, path: string): string {
  if (!isFile(path)) throw new UsageError(`--${flag}: no file at '${path}'`);
  return readFileSync(path, 'utf8');
}

/** Lines (LF or CRLF), a trailing newline not making an empty last line. */
const linesOf = (text: string) => text.replace(/\r?\n$/, '').split(/\r?\n/);

/** The masked LM of a checkpoint and the vocabulary it was trained with; one line if not. */
function loadMaskedLM(path: string): { model: MaskedLM; data: CharDataset } {
  if (!isFile(path)) throw new UsageError(`--checkpoint: no file at '${path}'`);
  const one = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  };
  const config = savedRunConfig(one(() => readCheckpointConfig(path)) as RunConfig);
  if (config.model !== 'mlm') {
    throw new UsageError(
      `segment needs a masked LM (--model mlm), '${path}' is --model ${config.model}`,
    );
  }
  const data = one(() => loadCorpus(config));
  const model = buildModel(
    config,
    one(() => makeSource(config)),
  ) as MaskedLM;
  one(() => loadCheckpoint(path, { model }));
  return { model, data };
}

/** Each line's characters as ids; a character the model never saw reads as MASK. */
function encode(data: CharDataset, lines: string[][]): { ids: number[][]; unknown: number } {
  let unknown = 0;
  const known = new Set(data.chars);
  const ids = lines.map((chars) =>
    chars.map((c) => (known.has(c) ? data.encode(c)[0] : (unknown++, data.maskId))),
  );
  return { ids, unknown };
}

const row = (name: string, s: SegmentScores) =>
  `| ${name} | ${s.cutRate.toFixed(3)} | ${[s.word, s.boundary]
    .flatMap((m) => [m.precision, m.recall, m.f1])
    .map((v) => v.toFixed(3))
    .join(' | ')} |`;

function sweepSvg(
  title: string,
  scores: Record<string, Float64Array[]>,
  gold: boolean[][],
  rule: number,
): string {
  const fractions = Array.from({ length: 20 }, (_, k) => (k + 1) / 20);
  const series: Series[] = Object.entries(scores).flatMap(([name, s], k) => {
    const points = sweep(s, gold, fractions);
    const best = points.reduce((a, b) => (b.word.f1 > a.word.f1 ? b : a));
    const at = `cutting ${best.fraction.toFixed(2)} of the gaps`;
    console.log(`sweep: ${name}'s best word F1 ${best.word.f1.toFixed(3)}, ${at} (reads the gold)`);
    const color = PALETTE[k];
    return [
      { name: `${name}: word F1`, points: points.map((p) => [p.fraction, p.word.f1]), color },
      {
        name: `${name}: boundary F1`,
        points: points.map((p) => [p.fraction, p.boundary.f1]),
        color,
        dash: '5 4',
      },
    ];
  });
  const ruleLine: Series = {
    name: 'the rule’s rate',
    points: [
      [rule, 0],
      [rule, 1],
    ],
    color: '#888',
    dash: '2 3',
  };
  return lineChartSvg(title, 'fraction of gaps cut (the lowest-scoring first)', 'F1', [
    ...series,
    ruleLine,
  ]);
}

export async function runSegment(argv: string[], useBackend: (name: unknown) => Promise<void>) {
  const flags = parseFlags(argv, segmentFlags);
  if (flags.help) return void process.stdout.write(helpText(usage, segmentFlags));
  const output = flags.output as string | undefined;
  if (flags.wordLanguage !== undefined) {
    if (!output) throw new UsageError('--word-language needs --output FILE');
    const { sentences } = wordLanguage(Number(flags.wordLanguage), { seed: Number(flags.seed) });
    return writeFileAtomic(output, sentences.map((s) => s.join(' ') + '\n').join(''));
  }
  const sources = ['text', 'input'].filter((k) => flags[k] !== undefined);
  if (sources.length > 1) throw new UsageError('give one of --text and --input, not both');
  if (sources.length === 0 && flags.score === undefined) {
    throw new UsageError('nothing to segment: give --text, --input or --score GOLD');
  }
  for (const flag of ['sweep', 'compare']) {
    if (flags[flag] !== undefined && flags.score === undefined) {
      throw new UsageError(`--${flag} needs --score GOLD`);
    }
  }
  if (!flags.checkpoint) throw new UsageError('--checkpoint <file> is required');
  const goldText = flags.score === undefined ? undefined : read('score', String(flags.score));
  const raw =
    flags.text !== undefined
      ? String(flags.text)
      : flags.input !== undefined
        ? read('input', String(flags.input))
        : goldText!;
  const limit = flags.lines === undefined ? Infinity : Number(flags.lines);
  const lines = linesOf(raw)
    .slice(0, limit)
    .map((line) => Array.from(line.replace(/\s+/g, '')));
  const gold =
    goldText === undefined
      ? undefined
      : linesOf(goldText)
          .slice(0, limit)
          .map((l) => l.split(/\s+/).filter(Boolean));
  if (gold && gold.length !== lines.length) {
    throw new UsageError(`--score: ${gold.length} gold lines for ${lines.length} lines to segment`);
  }
  const goldCuts = gold?.map((words, l) => {
    const { chars, cuts } = cutsOfWords(words);
    if (chars.join('') !== lines[l].join('')) {
      throw new UsageError(`--score: line ${l + 1}'s characters differ from the gold line's`);
    }
    return cuts;
  });
  await useBackend(flags.backend);
  const { model, data } = loadMaskedLM(String(flags.checkpoint));
  const window = flags.window === undefined ? model.config.blockSize : Number(flags.window);
  if (window > model.config.blockSize) {
    throw new UsageError(`--window ${window} exceeds the model's length ${model.config.blockSize}`);
  }
  const { ids, unknown } = encode(data, lines);
  if (unknown > 0)
    console.error(`${unknown} characters not in the model's vocabulary read as MASK`);

  const options = {
    maskId: data.maskId,
    window,
    batchSize: Number(flags.batch),
    measure: flags.impact as ImpactMeasure,
    layer: flags.layer === undefined ? undefined : Number(flags.layer),
  };
  try {
    checkMeasure('segment', model, options);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const characters = lines.reduce((n, l) => n + l.length, 0);
  /** Every line's gap scores under one measure, with a progress bar and the time taken. */
  const scoresOf = (measure: ImpactMeasure, layer: number | undefined) => {
    const started = Date.now();
    const bar = new ProgressBar(lines.length);
    const scores = ids.map((line, l) => {
      const s = noGrad(() => adjacentScores(model, line, { ...options, measure, layer }));
      bar.tick(l + 1, `line ${l + 1}/${lines.length}`);
      return s;
    });
    const took = formatSeconds((Date.now() - started) / 1000);
    console.error(
      `${measure}: segmented ${lines.length} lines (${characters} characters) in ${took}`,
    );
    return scores;
  };
  const layerName = flags.layer === undefined ? '' : `, layer ${options.layer}`;
  const methodName = `${options.measure}${layerName}`;
  const scores = scoresOf(options.measure, options.layer);

  const wordLength = Number(flags.wordLength);
  const count = cutCount(
    lines.map((l) => l.length),
    wordLength,
  );
  const cuts = lowestCuts(scores, count);
  const text = lines.map((chars, l) => wordsOf(chars, cuts[l]).join(' ') + '\n').join('');
  if (output) writeFileAtomic(output, text);
  else if (!goldCuts) process.stdout.write(text);
  if (!goldCuts) return;

  const ours = scoreCuts(cuts, goldCuts);
  const corpus = data.decode(Int32Array.from([...data.train, ...data.val])); // what the model saw
  const pmi = pmiScores(
    lines,
    linesOf(corpus).map((line) => Array.from(line.replace(/\s+/g, ''))),
  );
  const stream = seedStream(Number(flags.seed));
  const lengths = lines.map((l) => l.length);
  const compared = flags.compare === undefined ? [] : [flags.compare as ImpactMeasure];
  const goldWords = gold!.reduce((n, w) => n + w.length, 0);
  console.log(
    `${lines.length} lines, ${characters} characters; the rule (mean word length ${wordLength} ` +
      `fixed in advance) cuts ${count} gaps. Gold, not used: mean word length ` +
      `${(characters / goldWords).toFixed(3)}\n`,
  );
  console.log(
    '| method | cut rate | word P | word R | word F1 | boundary P | boundary R | boundary F1 |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  console.log(row(`perturbed masking (${methodName})`, ours));
  const more: Record<string, Float64Array[]> = {};
  for (const measure of compared) {
    more[measure] = scoresOf(measure, undefined);
    const theirs = scoreCuts(lowestCuts(more[measure], count), goldCuts);
    console.log(row(`perturbed masking (${measure})`, theirs));
  }
  console.log(row('bigram PMI, same rule', scoreCuts(lowestCuts(pmi, count), goldCuts)));
  console.log(
    row('random, the model’s rate', scoreCuts(randomCuts(lengths, ours.cutRate, stream), goldCuts)),
  );
  const everyCharacter = lengths.map((n) => Array<boolean>(Math.max(0, n - 1)).fill(true));
  console.log(row('every character a word', scoreCuts(everyCharacter, goldCuts)));
  if (flags.sweep !== undefined) {
    const title = `segmentation F1 against the cut rate: ${String(flags.score).split('/').pop()}`;
    const curves = { [methodName]: scores, ...more, PMI: pmi };
    const svg = sweepSvg(title, curves, goldCuts, ours.cutRate);
    writeFileAtomic(String(flags.sweep), svg);
  }
}
