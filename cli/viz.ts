// `attngrad viz --checkpoint F (--src "…" | --text "…") [--out FILE.svg]`: the attention maps of a
// saved model on one input, as an SVG grid with one heatmap per layer × head (self-attention, and
// cross-attention for the encoder-decoder). The input is written in the model's own tokens: toy
// tasks space-separated, as `attngrad sample` prints them; char models plain text. A seq2seq model
// decodes the target side greedily, a toy-task LM continues its prompt greedily to the answer.
// Every mixer that forms weights is drawn (linear attention: the weights it applies implicitly,
// φ(q)·φ(k)/Σ); FLASH forms none and is named in one line. Read next: ../report/heatmap.ts.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { noGrad, tensor, type Tensor } from '../lib/index.ts';
import { writeFileAtomic } from '../nn/atomic-write.ts';
import {
  BOS,
  EOS,
  MASK_SYMBOL,
  MaskedLM,
  PAD,
  SEP,
  Seq2SeqTransformer,
  makeTask,
  type Task,
  type TaskName,
  type Trace,
} from '../models/index.ts';
import { heatmapGridSvg, type Heatmap } from '../report/heatmap.ts';
import { helpText, parseFlags, UsageError, type FlagSpec } from './args.ts';
import { lengthLimit } from './build.ts';
import type { RunConfig } from './flags.ts';
import { loadCorpus, type Model } from './sources.ts';

export const vizUsage = `usage: attngrad viz --checkpoint F (--src "c j b e b" | --text "To be") [--out FILE.svg]
  one heatmap per layer × head of a saved model's attention on one input`;

export const vizFlags = {
  checkpoint: { type: 'string', help: 'a checkpoint written by attngrad train' },
  src: {
    type: 'string',
    help: "the input in the model's tokens: toy tasks space-separated (as sample prints them)",
  },
  text: { type: 'string', help: 'the same as --src; char models read it as plain text' },
  out: {
    type: 'string',
    help: 'the SVG to write [default: attention-map.svg beside the checkpoint]',
  },
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies Record<string, FlagSpec>;

/** How a model's ids are written: a toy task's symbol names, or a corpus's characters. */
export interface Vocabulary {
  names: string[]; // id → how the input writes it
  chars: boolean; // plain text, one id per character; else space-separated names
  task: Task | null; // toy tasks: their layout (the decoder-only separator)
  source: string; // the task or corpus, for messages
}

/** The vocabulary a run's config implies (the corpus is read again for char models). */
export function vocabularyOf(config: RunConfig): Vocabulary {
  if (config.task === 'text') {
    const names = [...loadCorpus(config).chars];
    if (config.model === 'mlm') names.push(MASK_SYMBOL); // --text "to █e": a masked position
    return { names, chars: true, task: null, source: String(config.data) };
  }
  const { minLen, maxLen, testMinLen, testMaxLen, pairs, symbols: numSymbols } = config;
  const options = { minLen, maxLen, testMinLen, testMaxLen, pairs, numSymbols };
  const task = makeTask(config.task as TaskName, { ...options, seed: config.dataSeed });
  return { names: task.tokenNames, chars: false, task, source: `the ${config.task} task` };
}

/** The input as ids; a token (or character) outside the vocabulary is a one-line UsageError. */
export function parseInput(vocab: Vocabulary, input: string, flag: string): number[] {
  const tokens = vocab.chars ? Array.from(input) : input.split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw new UsageError(`--${flag}: the input is empty`);
  const ids = new Map(vocab.names.map((name, id) => [name, id]));
  const unknown = tokens.find((t) => !ids.has(t));
  if (unknown !== undefined) {
    const known = vocab.chars
      ? `${vocab.names.length} characters of ${vocab.source}`
      : `${vocab.source}: ${vocab.names.join(' ')}`;
    throw new UsageError(
      `--${flag}: ${JSON.stringify(unknown)} is not in the model's vocabulary (${known})`,
    );
  }
  return tokens.map((t) => ids.get(t)!);
}

/** One head's weights, (T × S) row-major, with the cells the model's masks exclude. */
export interface AttentionMap {
  title: string; // e.g. 'enc layer 1 head 2 self'
  queries: string[]; // T labels
  keys: string[]; // S labels
  weights: Float64Array; // T × S
  masked: Uint8Array; // T × S: 1 = excluded by the causal or the padding mask
  distribution: boolean; // each unmasked row sums to 1 (not GAU's relu²/n)
}

/** What attentionMaps read off a model: the maps, the lines for what it cannot draw, the input. */
export interface Maps {
  maps: AttentionMap[][]; // one row per layer and kind, one map per head
  undrawable: string[];
  input: string; // how the run's sequence(s) read, for the picture's notes
}

const WHY_NOT: Partial<Record<string, string>> = {
  flash:
    'FLASH forms no n×n weights (quadratic attention inside chunks, linear attention across ' +
    'them, neither materialised as one map)',
};

/** One line naming the stacks whose self-attention cannot be drawn, and why; none if none. */
function cannotDraw(attention: string, stacks: string[]): string[] {
  if (stacks.length === 0) return [];
  const why = WHY_NOT[attention] ?? 'its mixer leaves no weights';
  return [`cannot draw ${stacks.join(' and ')} self-attention (${attention}): ${why}`];
}

const VISIBLE: Partial<Record<string, string>> = { ' ': '␣', '\n': '↵', '\t': '⇥' };

/** A label per id: characters made visible (space, newline, tab), names as they are. */
const labelsOf = (vocab: Vocabulary, ids: number[]) =>
  ids.map((id) => {
    const name = vocab.names[id] ?? `#${id}`;
    return (vocab.chars && VISIBLE[name]) || name;
  });

interface StackView {
  stack: string; // 'encoder', 'decoder' or 'model', for messages
  prefix: string; // of the panel titles: '' or 'enc ' / 'dec '
  kind: 'self' | 'cross';
  queries: number[];
  keys: number[];
  causal: boolean;
  padded: boolean; // the model was given the keys' padding mask (PAD ids)
  distribution: boolean;
}

/** The maps of one stack's trace: one row per layer, one map per head. */
function rowsOf(weights: (Tensor | null)[], view: StackView, vocab: Vocabulary): AttentionMap[][] {
  const [T, S] = [view.queries.length, view.keys.length];
  const pad = (ids: number[], i: number) => view.padded && ids[i] === PAD;
  const masked = new Uint8Array(T * S).map((_, k) => {
    const [t, s] = [Math.floor(k / S), k % S];
    const hidden = (view.causal && s > t) || pad(view.keys, s);
    return hidden || (view.kind === 'self' && pad(view.queries, t)) ? 1 : 0;
  });
  return weights.flatMap((w, layer) => {
    if (!w) return [];
    const [, nh] = w.shape; // (1, nh, T, S)
    return [
      Array.from({ length: nh }, (_, h) => ({
        title: `${view.prefix}layer ${layer + 1} head ${h + 1} ${view.kind}`,
        queries: labelsOf(vocab, view.queries),
        keys: labelsOf(vocab, view.keys),
        weights: Float64Array.from(w.data.subarray(h * T * S, (h + 1) * T * S)),
        masked,
        distribution: view.distribution,
      })),
    ];
  });
}

const row = (ids: number[]) => tensor(new Int32Array(ids), { shape: [1, ids.length] });

/** The longest input the model takes, checked (absolute position tables, synthesizers). */
function checkLength(model: Model, n: number, flag: string): void {
  const limit = lengthLimit(model);
  if (limit && n > limit.blockSize) {
    throw new UsageError(
      `--${flag}: ${n} tokens, but the model takes at most ${limit.blockSize} (${limit.why})`,
    );
  }
}

/** The attention maps of `model` on the input ids (eval mode, no grad). */
export function attentionMaps(model: Model, vocab: Vocabulary, ids: number[], flag = 'src'): Maps {
  const { attention, blockSize } = model.config;
  const selfDistribution = attention !== 'gau';
  const read = (seq: number[]) =>
    vocab.chars
      ? JSON.stringify(seq.map((id) => vocab.names[id]).join(''))
      : labelsOf(vocab, seq).join(' ');
  checkLength(model, ids.length, flag);
  model.eval();
  return noGrad(() => {
    const blank: string[] = []; // the stacks whose mixer left no weights
    const selfRows = (trace: Trace, view: Omit<StackView, 'kind' | 'distribution'>) => {
      if (trace.attention.some((w) => w === null)) blank.push(`the ${view.stack}'s`);
      const full = { ...view, kind: 'self' as const, distribution: selfDistribution };
      return rowsOf(trace.attention, full, vocab);
    };
    if (model instanceof Seq2SeqTransformer) {
      const padded = ids.includes(PAD);
      const srcKeep = padded ? row(ids.map((id) => (id === PAD ? 0 : 1))) : undefined;
      const src = row(ids);
      const [out] = model.generate(src, { srcKeep, bos: BOS, eos: EOS, maxLen: blockSize - 1 });
      const tgt = [BOS, ...out];
      const { trace, encoderTrace } = model.forward(src, row(tgt), { srcKeep, inspect: true });
      const enc = {
        stack: 'encoder',
        prefix: 'enc ',
        queries: ids,
        keys: ids,
        causal: false,
        padded,
      };
      const dec = {
        stack: 'decoder',
        prefix: 'dec ',
        queries: tgt,
        keys: tgt,
        causal: true,
        padded: false,
      };
      const crossView = { ...dec, kind: 'cross' as const, keys: ids, causal: false, padded };
      const crossRows = rowsOf(trace!.crossAttention, { ...crossView, distribution: true }, vocab);
      const [encRows, decRows] = [selfRows(encoderTrace!, enc), selfRows(trace!, dec)];
      const decoder = decRows.length ? decRows.flatMap((r, i) => [r, crossRows[i]]) : crossRows;
      const maps = [...encRows, ...decoder];
      const input = `source ${read(ids)} → decoded greedily: ${read(out)}`;
      return { maps, undrawable: cannotDraw(attention, blank), input };
    }
    let sequence = ids;
    let input = read(ids);
    if (!(model instanceof MaskedLM) && vocab.task) {
      // a toy-task LM: the prompt (input SEP) continued greedily to EOS, as `sample` does
      const prompt = vocab.task.separator ? [...ids, SEP] : ids;
      const room = Math.max(0, blockSize - prompt.length);
      const all = Array.from(model.generate(row(prompt), room).data);
      const end = all.indexOf(EOS, prompt.length);
      sequence = all.slice(0, end === -1 ? all.length : end);
      input = `prompt ${read(prompt)} → continued greedily: ${read(sequence.slice(prompt.length))}`;
    }
    const causal = !(model instanceof MaskedLM);
    const { trace } = model.forward(row(sequence), undefined, { inspect: true });
    const view = {
      stack: 'model',
      prefix: '',
      queries: sequence,
      keys: sequence,
      causal,
      padded: false,
    };
    const maps = selfRows(trace!, view);
    return { maps, undrawable: cannotDraw(attention, blank), input };
  });
}

/** The maps as one SVG grid with a title, the input and how to read it. */
export function mapsSvg(config: RunConfig, maps: Maps): string {
  const all = maps.maps.flat();
  const normalised = all.every((m) => m.distribution);
  const what = config.task === 'text' ? config.data : `the ${config.task} task`;
  const notes = [
    maps.input,
    'rows: queries, columns: keys' +
      (normalised ? '; every row sums to 1' : '') +
      '; hatched: excluded by the causal or padding mask',
  ];
  if (config.attention === 'linear') {
    notes.push('linear attention forms no n×n map: drawn are the weights it applies, φ(q)·φ(k)/Σ');
  }
  if (!normalised) {
    notes.push(
      "GAU's relu²/n weights need not sum to 1: each GAU panel is scaled to its largest weight " +
        '(in its title), the others to 1',
    );
  }
  const heatmaps: Heatmap[][] = maps.maps.map((r) =>
    r.map((m) => {
      const own = m.distribution ? undefined : Math.max(1e-9, ...m.weights);
      const title = own === undefined ? m.title : `${m.title} (max ${Number(own.toPrecision(3))})`;
      return {
        title,
        rows: m.queries,
        cols: m.keys,
        values: m.weights,
        masked: m.masked,
        max: own,
      };
    }),
  );
  const title =
    `attention maps: ${config.model} (${config.attention}, ${config.layers} layers × ` +
    `${config.heads} heads) on ${what}`;
  const maxLabel = all.some((m) => m.distribution) ? '1' : "the panel's max";
  const maskedLabel = 'masked (causal or padding)';
  return heatmapGridSvg(title, heatmaps, { notes, max: 1, maxLabel, maskedLabel });
}

/** The command: load, read the input, draw, write; lines for what cannot be drawn on stderr. */
export function runViz(
  argv: string[],
  load: (path: string | undefined) => { model: Model; config: RunConfig },
): void {
  const flags = parseFlags(argv, vizFlags);
  if (flags.help) return void process.stdout.write(helpText(vizUsage, vizFlags));
  if ((flags.src === undefined) === (flags.text === undefined)) {
    throw new UsageError('viz: give the input with --src "…" or --text "…" (one of them)');
  }
  const flag = flags.src === undefined ? 'text' : 'src';
  const { model, config } = load(flags.checkpoint as string | undefined);
  const vocab = vocabularyOf(config);
  const ids = parseInput(vocab, String(flags[flag]), flag);
  const maps = attentionMaps(model, vocab, ids, flag);
  if (maps.maps.length === 0) throw new UsageError(maps.undrawable.join('; '));
  for (const line of maps.undrawable) console.error(`attngrad viz: ${line}`);
  const out = String(flags.out ?? join(dirname(String(flags.checkpoint)), 'attention-map.svg'));
  try {
    mkdirSync(dirname(out), { recursive: true });
    writeFileAtomic(out, mapsSvg(config, maps));
  } catch (e) {
    throw new UsageError(`--out: cannot write '${out}' (${(e as Error).message})`);
  }
  const panels = maps.maps.flat().length;
  console.log(`${maps.input}\nwrote ${out} (${panels} maps, ${maps.maps.length} rows)`);
}
