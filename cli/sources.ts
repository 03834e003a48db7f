// A run's data, seen from the model: a Source turns the config into the loss of training step s,
// validation metrics and a few samples. The batches themselves come from data/ in one call: a
// BatchStream (data/stream.ts) seeded with config.dataSeed, so the batch of step s is a pure
// function of (dataSeed, s) for toy tasks and text alike, and a resumed run sees exactly the
// batches an uninterrupted one would. Three sources: toy tasks (seq2seq or decoder-only), char
// text for the causal LM, and char text masked by BERT's rule for the masked LM (validated on
// masks drawn from a fixed seed, so runs compare); --task pcfg is char text whose characters are
// the words of data/pcfg.ts. Read next: data/index.ts, then train.ts (the loop).

import { readFileSync } from 'node:fs';
import { getRngState, noGrad, setRngState, tensor, type Tensor } from '../lib/index.ts';
import {
  BOS,
  CharDataset,
  EOS,
  IGNORE_INDEX,
  SEP,
  corpusPath,
  lmBatch,
  makeTask,
  maskTokens,
  maskedTextStream,
  pcfgCorpusText,
  PCFG_CORPUS_SENTENCES,
  seedStream,
  seq2seqBatch,
  taskStream,
  textStream,
  type Example,
  type MaskedBatch,
  type TaskName,
} from '../data/index.ts';
import { scoreTargets } from '../nn/index.ts';
import { MaskedLM, Seq2SeqTransformer, TransformerLM } from '../models/index.ts';
import type { RunConfig } from './flags.ts';
import { UsageError } from './args.ts';

export type Model = Seq2SeqTransformer | TransformerLM | MaskedLM;
const VAL_MASK_SEED = 0x3a5c; // the masked LM's validation masks: the same for every run

export interface Source {
  vocabSize: number;
  blockSize: number; // the longest sequence the model must handle
  /** The loss of training batch `step` (1-based) and how many tokens it holds. */
  batch(model: Model, step: number): { loss: Tensor; tokens: number };
  /** Validation metrics; never disturbs the global random stream. */
  validate(model: Model): Record<string, number>;
  /** A few lines showing what the model does, for people. */
  samples(model: Model, n: number): string[];
}

export function makeSource(config: RunConfig): Source {
  if (config.task !== 'text' && config.task !== 'pcfg') return taskSource(config);
  return config.model === 'mlm' ? maskedTextSource(config) : textSource(config);
}

/** The length text trains on: --train-block, or the model's --block-size. */
const trainWindow = (config: RunConfig) => config.trainBlock ?? config.blockSize;

/**
 * The --data corpus (--task pcfg: sentences of data/pcfg.ts drawn with the data seed, one
 * character a word), or one line saying why not: a file that cannot be read, an empty one, or one
 * whose train or validation split (the last 10%) is shorter than a window and its next character.
 */
export function loadCorpus(config: RunConfig): CharDataset {
  const name = config.task === 'pcfg' ? 'the PCFG corpus' : config.data!;
  let text: string;
  try {
    text =
      config.task === 'pcfg'
        ? pcfgCorpusText(PCFG_CORPUS_SENTENCES, config.dataSeed)
        : readFileSync(corpusPath(name), 'utf8');
  } catch (e) {
    throw new UsageError(`--data: cannot read '${name}' (${(e as Error).message})`);
  }
  if (text.length === 0) throw new UsageError(`--data: '${name}' is empty`);
  const data = CharDataset.fromText(text);
  const T = trainWindow(config);
  if (Math.min(data.train.length, data.val.length) < T + 1) {
    throw new UsageError(
      `--data: '${name}' is too short for windows of ${T}: ${text.length} characters split into ` +
        `${data.train.length} for training and ${data.val.length} for validation (the last ` +
        `10%), and each needs ≥ ${T + 1}; use a longer file or a smaller --block-size`,
    );
  }
  return data;
}

/** Run fn without grad, with the global generator's state saved and restored around it. */
function isolated<T>(fn: () => T): T {
  const state = getRngState();
  try {
    return noGrad(fn);
  } finally {
    setRngState(state);
  }
}

function taskSource(config: RunConfig): Source {
  const { minLen, maxLen, testMinLen, testMaxLen, pairs, symbols: numSymbols } = config;
  const options = { minLen, maxLen, testMinLen, testMaxLen, pairs, numSymbols };
  const seed = config.dataSeed;
  const task = makeTask(config.task as TaskName, { ...options, seed });
  const layout = { separator: task.separator }; // decoder-only: input SEP output, or no SEP
  const batches = taskStream(task, { seed, batchSize: config.batch });
  const heldOut = task.heldOut(config.evalSize);
  const lengths = heldOut.map((e) => e.input.length + e.output.length);
  const longest = Math.max(...lengths, 2 * maxLen) + 3;
  const show = (ids: number[]) => ids.map((t) => task.tokenNames[t] ?? '?').join(' ');

  const lossOf = (model: Model, examples: Example[]): Tensor => {
    if (model instanceof Seq2SeqTransformer) {
      const { src, tgtIn, tgtOut, srcKeep, tgtKeep } = seq2seqBatch(examples);
      return model.forward(src, tgtIn, { srcPad: srcKeep, tgtPad: tgtKeep, tgtOut }).loss!;
    }
    const b = lmBatch(examples, layout);
    return (model as TransformerLM).forward(b.tokens, b.targets).loss!;
  };
  const predict = (model: Model, examples: Example[]): number[][] => {
    if (model instanceof Seq2SeqTransformer) {
      const { src, srcKeep } = seq2seqBatch(examples);
      return model.generate(src, { srcPad: srcKeep, bos: BOS, eos: EOS, maxLen: maxLen * 2 + 2 });
    }
    // decoder-only: prompt = input SEP (or the input alone), one example at a time (prompts
    // differ in length)
    return examples.map((e) => {
      const ids = task.separator ? [...e.input, SEP] : e.input;
      const P = ids.length;
      const prompt = tensor(new Int32Array(ids), { shape: [1, P] });
      const lm = model as TransformerLM;
      const out = Array.from(lm.generate(prompt, e.output.length + 1).data.subarray(P));
      const end = out.indexOf(EOS);
      return end === -1 ? out : out.slice(0, end);
    });
  };
  const correct = (predicted: number[], e: Example) => predicted.join() === e.output.join();

  return {
    vocabSize: task.vocabSize,
    blockSize: longest,
    batch(model, step) {
      const examples = batches.at(step);
      const tokens = examples.reduce((n, e) => n + e.input.length + e.output.length + 1, 0);
      return { loss: lossOf(model, examples), tokens };
    },
    validate(model) {
      return isolated(() => {
        model.eval();
        let exact = 0,
          loss = 0;
        for (let i = 0; i < heldOut.length; i += 100) {
          const group = heldOut.slice(i, i + 100);
          loss += lossOf(model, group).item() * group.length;
          predict(model, group).forEach((p, k) => (exact += correct(p, group[k]) ? 1 : 0));
        }
        model.train();
        return { valLoss: loss / heldOut.length, exactMatch: exact / heldOut.length };
      });
    },
    samples(model, n) {
      return isolated(() => {
        model.eval();
        const examples = heldOut.slice(0, n);
        return predict(model, examples).map((p, i) => {
          const mark = correct(p, examples[i]) ? '✓' : '✗';
          return `${show(examples[i].input).padEnd(3 * maxLen)} → ${show(p)}  ${mark}`;
        });
      });
    },
  };
}

function textSource(config: RunConfig): Source {
  const data = loadCorpus(config);
  const T = trainWindow(config);
  const { dataSeed: seed, batch: batchSize, repeatFraction } = config;
  const batches = textStream(data, { seed, batchSize, blockSize: T, repeatFraction });
  const lm = (model: Model) => model as TransformerLM;
  return {
    vocabSize: data.vocabSize,
    blockSize: config.blockSize,
    batch(model, step) {
      const { x, y } = batches.at(step);
      return { loss: lm(model).forward(x, y).loss!, tokens: config.batch * T };
    },
    validate(model) {
      return isolated(() => {
        model.eval();
        const maxBatches = Math.max(1, Math.ceil(config.evalSize / 8 / config.batch));
        let sum = 0,
          count = 0;
        for (const { x, y } of data.evalBatches('val', config.batch, T, maxBatches)) {
          sum += lm(model).forward(x, y).loss!.item() * y.size;
          count += y.size;
        }
        model.train();
        return { valLoss: sum / count, unigramEntropy: data.unigramEntropy() };
      });
    },
    samples(model, n) {
      return isolated(() => {
        model.eval();
        const L = Math.min(16, T);
        const prompt = tensor(new Int32Array(data.val.subarray(0, L)), { shape: [1, L] });
        const out = lm(model).generate(prompt, 40 * n, { temperature: 0.8, topK: 10 });
        return data.decode(out.data).split('\n');
      });
    },
  };
}

function maskedTextSource(config: RunConfig): Source {
  const data = loadCorpus(config);
  const T = trainWindow(config);
  const { dataSeed: seed, batch: batchSize, repeatFraction } = config;
  const rate = config.maskRate ?? 0.15; // training only: validation masks 15% in every run
  const batches = maskedTextStream(data, { seed, batchSize, blockSize: T, repeatFraction, rate });
  const { maskId, maskedVocabSize: vocabSize } = data;
  // validation: consecutive val windows, masked on one stream from a fixed seed
  const maxBatches = Math.max(1, Math.ceil(config.evalSize / 8 / batchSize));
  let stream = seedStream(VAL_MASK_SEED);
  const valBatches: MaskedBatch[] = [];
  for (const { x } of data.evalBatches('val', batchSize, T, maxBatches)) {
    const masked = maskTokens(x, { stream, maskId, vocabSize });
    valBatches.push(masked);
    stream = masked.stream;
  }
  const mlm = (model: Model) => model as MaskedLM;
  const show = (ids: ArrayLike<number>) => data.decode(ids).replace(/\n/g, '↵');
  return {
    vocabSize,
    blockSize: config.blockSize,
    batch(model, step) {
      const { input, targets } = batches.at(step);
      return { loss: mlm(model).maskedLoss(input, targets), tokens: batchSize * T };
    },
    validate(model) {
      return isolated(() => {
        model.eval();
        let lossSum = 0,
          correct = 0,
          count = 0;
        for (const { input, targets } of valBatches) {
          const scored = scoreTargets(mlm(model).forward(input).logits, targets);
          [lossSum, correct, count] = [
            lossSum + scored.lossSum,
            correct + scored.correct,
            count + scored.count,
          ];
        }
        model.train();
        return { valLoss: lossSum / count, maskedAccuracy: correct / count };
      });
    },
    samples(model, n) {
      return isolated(() => {
        model.eval();
        const { input, targets } = valBatches[0];
        const rows = Math.min(n, input.shape[0]);
        const logits = mlm(model).forward(input.narrow(0, 0, rows)).logits; // (rows, T, V)
        const V = vocabSize;
        return Array.from({ length: rows }, (_, b) => b).flatMap((b) => {
          const masked = Array.from(input.data.subarray(b * T, (b + 1) * T));
          const truth = Array.from(targets.data.subarray(b * T, (b + 1) * T));
          const filled = masked.map((id, t) => {
            if (truth[t] === IGNORE_INDEX) return id;
            const row = logits.data.subarray((b * T + t) * V, (b * T + t + 1) * V);
            return row.indexOf(Math.max(...row));
          });
          const original = masked.map((id, t) => (truth[t] === IGNORE_INDEX ? id : truth[t]));
          const marks = truth
            .map((t, i) => (t === IGNORE_INDEX ? ' ' : filled[i] === t ? '^' : '✗'))
            .join('');
          return [
            `masked │ ${show(masked)}`,
            `model  │ ${show(filled)}`,
            `truth  │ ${show(original)}`,
            `       │ ${marks}`,
          ];
        });
      });
    },
  };
}
