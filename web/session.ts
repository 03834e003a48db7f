// One playground run, in the training worker: a decoder-only Transformer on a toy task (reverse,
// associative recall) or on the shipped corpus (char LM), AdamW steps, and what the page shows of
// it: the loss, the attention weights on an input the user types, greedy and sampled outputs, and
// checkpoints as safetensors bytes (the same bytes `attngrad train` writes to a file). Everything
// random goes through the engine's seeded generator: the same settings train the same numbers.
// Read next: train-worker.ts (the messages), playground.ts (the page).

import { getRngState, manualSeed, noGrad, setRngState, tensor, type Tensor } from '../lib/index.ts';
import { AdamW, checkpointBytes, clipGradNorm, loadCheckpointBytes } from '../nn/index.ts';
import { TransformerLM } from '../models/transformer.ts';
import type { AttentionName, PositionName, TransformerConfig } from '../models/config.ts';
import { makeTask } from '../data/toy-tasks.ts';
import { taskStream, textStream, type BatchStream } from '../data/stream.ts';
import { lmBatch } from '../data/batches.ts';
import { CharDataset } from '../data/char-text.ts';
import { EOS, SEP } from '../data/tokens.ts';

export type TaskChoice = 'reverse' | 'recall' | 'text';
export const taskChoices: TaskChoice[] = ['reverse', 'recall', 'text'];

export interface Settings {
  task: TaskChoice;
  attention: AttentionName;
  position: PositionName;
  layers: number;
  heads: number;
  width: number; // nEmbd
  batch: number;
  lr: number;
  seed: number;
  block: number; // text: the training window
}

export const defaultSettings: Settings = {
  task: 'reverse',
  attention: 'softmax',
  position: 'rope',
  layers: 2,
  heads: 2,
  width: 32,
  batch: 16,
  lr: 3e-3,
  seed: 0,
  block: 32,
};

/** One attention map: layer × head, T × T weights (queries × keys), row-major. */
export interface AttentionMap {
  layer: number;
  head: number;
  values: Float32Array;
}

/** The run's data as the model sees it: a batch per step, and tokens as words. */
interface Data {
  vocabSize: number;
  blockSize: number;
  batch(step: number): { x: Tensor; y: Tensor };
  names: string[]; // token id → what the page shows
  parse(text: string): number[]; // the user's input → a prompt
  answerLength: number; // tokens to generate after a prompt
  join: string; // between tokens when shown
}

function taskData(settings: Settings): Data {
  const task = makeTask(settings.task === 'recall' ? 'recall' : 'reverse', { seed: settings.seed });
  const stream = taskStream(task, { seed: settings.seed, batchSize: settings.batch });
  const ids = new Map(task.tokenNames.map((name, id) => [name, id]));
  return {
    vocabSize: task.vocabSize,
    blockSize: 64,
    batch: (step) => {
      const b = lmBatch(stream.at(step), { separator: task.separator });
      return { x: b.tokens, y: b.targets };
    },
    names: task.tokenNames,
    parse: (text) => {
      const words = text.trim().split(/\s+/).filter(Boolean);
      const unknown = words.find((w) => !ids.has(w) || ids.get(w)! < SEP + 1);
      if (unknown !== undefined || words.length === 0)
        throw new Error(
          `input: tokens of ${task.name} are ${task.tokenNames.slice(SEP + 1).join(' ')}` +
            (unknown === undefined ? '' : `, not '${unknown}'`),
        );
      return [...words.map((w) => ids.get(w)!), ...(task.separator ? [SEP] : [])];
    },
    answerLength: 10,
    join: ' ',
  };
}

function textData(settings: Settings, corpus: string): Data {
  const data = CharDataset.fromText(corpus);
  const stream: BatchStream<{ x: Tensor; y: Tensor }> = textStream(data, {
    seed: settings.seed,
    batchSize: settings.batch,
    blockSize: settings.block,
  });
  return {
    vocabSize: data.vocabSize,
    blockSize: settings.block,
    batch: (step) => stream.at(step),
    names: data.chars,
    parse: (text) => {
      const chars = Array.from(text);
      const unknown = chars.find((c) => !data.chars.includes(c));
      if (unknown !== undefined || chars.length === 0)
        throw new Error(`input: '${unknown ?? ''}' is not a character of the corpus`);
      return chars.map((c) => data.chars.indexOf(c));
    },
    answerLength: 40,
    join: '',
  };
}

/** Check what a page sends: every size a positive integer, the rates positive. */
function checkSettings(s: Settings): void {
  for (const key of ['layers', 'heads', 'width', 'batch', 'block'] as const) {
    if (!Number.isInteger(s[key]) || s[key] < 1)
      throw new Error(`settings: ${key} must be a positive integer, got ${s[key]}`);
  }
  if (!(s.lr > 0)) throw new Error(`settings: lr must be > 0, got ${s.lr}`);
  if (!Number.isInteger(s.seed))
    throw new Error(`settings: seed must be an integer, got ${s.seed}`);
}

export class Session {
  readonly model: TransformerLM;
  readonly data: Data;
  private optimizer: AdamW;
  step = 0;

  /** `corpus`: the shipped text, for the char-LM task. */
  constructor(
    readonly settings: Settings,
    corpus?: string,
  ) {
    checkSettings(settings);
    if (settings.task === 'text' && corpus === undefined)
      throw new Error('Session: the text task needs the corpus');
    manualSeed(settings.seed);
    this.data = settings.task === 'text' ? textData(settings, corpus!) : taskData(settings);
    this.model = new TransformerLM(this.modelConfig());
    this.optimizer = new AdamW(this.model.namedParameters(), { lr: settings.lr });
  }

  modelConfig(): TransformerConfig {
    const { layers, heads, width, attention, position } = this.settings;
    const { vocabSize, blockSize } = this.data;
    return {
      vocabSize,
      blockSize,
      nLayer: layers,
      nHead: heads,
      nEmbd: width,
      attention,
      position,
    };
  }

  /** One AdamW step on the next batch; its loss. */
  trainStep(): number {
    this.step++;
    const { x, y } = this.data.batch(this.step);
    this.optimizer.zeroGrad();
    const loss = this.model.forward(x, y).loss!;
    loss.backward();
    clipGradNorm(this.model.parameters(), 1);
    this.optimizer.step();
    return loss.item();
  }

  /** Logits (1, T, V) of the model on `text`, without grad and in eval mode. */
  logits(text: string): Float32Array {
    const ids = this.data.parse(text);
    return this.quietly(() => this.model.forward(row(ids)).logits.data as Float32Array);
  }

  /**
   * The prompt and its greedy continuation, with every layer × head attention map on them (null
   * for a mixer that forms no weights), and a sampled continuation (temperature 1).
   */
  inspect(text: string): {
    tokens: string[];
    maps: AttentionMap[] | null;
    greedy: string;
    sampled: string;
  } {
    const prompt = this.data.parse(text);
    return this.quietly(() => {
      const continued = (temperature: number) => {
        const out = this.model.generate(row(prompt), this.data.answerLength, { temperature });
        const ids = Array.from(out.data.subarray(prompt.length));
        const end = this.settings.task === 'text' ? -1 : ids.indexOf(EOS);
        return end === -1 ? ids : ids.slice(0, end + 1);
      };
      const greedy = continued(0);
      const sampled = continued(1);
      const shown = [...prompt, ...greedy].slice(0, this.data.blockSize);
      const { trace } = this.model.forward(row(shown), undefined, { inspect: true });
      const weights = trace!.attention;
      const T = shown.length;
      const maps = weights.some((w) => w === null)
        ? null
        : weights.flatMap((w, layer) =>
            Array.from({ length: w!.shape[1] }, (_, head) => ({
              layer,
              head,
              values: w!.data.slice(head * T * T, (head + 1) * T * T) as Float32Array,
            })),
          );
      const words = (ids: number[]) => ids.map((t) => this.data.names[t]).join(this.data.join);
      return {
        tokens: shown.map((t) => this.data.names[t]),
        maps,
        greedy: words(greedy),
        sampled: words(sampled),
      };
    });
  }

  /** The model, optimizer and step as safetensors bytes. */
  save(): Uint8Array<ArrayBuffer> {
    const { model, optimizer, step, settings } = this;
    return checkpointBytes({ model, optimizer, step, config: { settings } });
  }

  /** Load bytes that save() wrote for these settings (the page rebuilds the session first). */
  load(bytes: ArrayBuffer | Uint8Array): void {
    const { step } = loadCheckpointBytes(bytes, { model: this.model, optimizer: this.optimizer });
    this.step = step;
  }

  /** fn in eval mode without grad, the global generator left where it was (training resumes). */
  private quietly<T>(fn: () => T): T {
    const state = getRngState();
    this.model.eval();
    try {
      return noGrad(fn);
    } finally {
      this.model.train();
      setRngState(state);
    }
  }
}

const row = (ids: number[]) => tensor(new Int32Array(ids), { shape: [1, ids.length] });
