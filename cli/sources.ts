// A run's data, seen from the model: a Source turns the config into the loss of training step s,
// validation metrics and a few samples. The batches themselves come from data/ in one call: a
// BatchStream (data/stream.ts) seeded with config.dataSeed, so the batch of step s is a pure
// function of (dataSeed, s) for toy tasks and text alike, and a resumed run sees exactly the
// batches an uninterrupted one would. Read next: data/index.ts, then train.ts (the loop).

import { getRngState, noGrad, setRngState, tensor, type Tensor } from '../lib/index.ts';
import {
  BOS,
  CharDataset,
  EOS,
  SEP,
  corpusPath,
  lmBatch,
  makeTask,
  seq2seqBatch,
  taskStream,
  textStream,
  type Example,
  type TaskName,
} from '../data/index.ts';
import { Seq2SeqTransformer, TransformerLM } from '../models/index.ts';
import type { RunConfig } from './flags.ts';

export type Model = Seq2SeqTransformer | TransformerLM;

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
  return config.task === 'text' ? textSource(config) : taskSource(config);
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
  const { minLen, maxLen, symbols: numSymbols, dataSeed: seed } = config;
  const task = makeTask(config.task as TaskName, { minLen, maxLen, numSymbols, seed });
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
    const b = lmBatch(examples);
    return model.forward(b.tokens, b.targets).loss!;
  };
  const predict = (model: Model, examples: Example[]): number[][] => {
    if (model instanceof Seq2SeqTransformer) {
      const { src, srcKeep } = seq2seqBatch(examples);
      return model.generate(src, { srcPad: srcKeep, bos: BOS, eos: EOS, maxLen: maxLen * 2 + 2 });
    }
    // decoder-only: prompt = input SEP, one example at a time (prompts differ in length)
    return examples.map((e) => {
      const P = e.input.length + 1;
      const prompt = tensor(new Int32Array([...e.input, SEP]), { shape: [1, P] });
      const out = Array.from(model.generate(prompt, e.output.length + 1).data.subarray(P));
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
  const data = CharDataset.fromFile(corpusPath(config.data!));
  const T = config.blockSize;
  const stream = { seed: config.dataSeed, batchSize: config.batch, blockSize: T };
  const batches = textStream(data, stream);
  const lm = (model: Model) => model as TransformerLM;
  return {
    vocabSize: data.vocabSize,
    blockSize: T,
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
