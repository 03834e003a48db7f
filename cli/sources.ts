// Where training batches and validation numbers come from: a toy task (for a seq2seq model or a
// decoder-only LM) or a text file (char LM). Each source knows how to compute a batch's loss for
// its model and how to validate it. Batches of toy tasks are a pure function of (seed, step), so a
// resumed run sees exactly the batches an uninterrupted one would.

import { getRngState, noGrad, setRngState, tensor, type Tensor } from '../lib/index.ts';
import {
  BOS, EOS, SEP, CharDataset, lmBatch, makeTask, seq2seqBatch, type Example, type TaskName,
} from '../models/data.ts';
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

export function makeSource(c: RunConfig): Source {
  return c.task === 'text' ? textSource(c) : taskSource(c);
}

/** Run fn with the global generator's state saved and restored around it. */
function isolated<T>(fn: () => T): T {
  const state = getRngState();
  try {
    return noGrad(fn);
  } finally {
    setRngState(state);
  }
}

function taskSource(c: RunConfig): Source {
  const options = { minLen: c.minLen, maxLen: c.maxLen, numSymbols: c.symbols };
  const task = makeTask(c.task as TaskName, { ...options, seed: c.seed });
  const heldOut = task.heldOut(c.evalSize);
  const longest = Math.max(...heldOut.map((e) => e.input.length + e.output.length), 2 * c.maxLen) + 3;
  const show = (ids: number[]) => ids.map((t) => task.tokenNames[t] ?? '?').join(' ');

  const lossOf = (model: Model, examples: Example[]): Tensor => {
    if (model instanceof Seq2SeqTransformer) {
      const b = seq2seqBatch(examples);
      return model.forward(b.src, b.tgtIn, { srcPad: b.srcPad, tgtPad: b.tgtPad, tgtOut: b.tgtOut }).loss!;
    }
    const b = lmBatch(examples);
    return model.forward(b.tokens, b.targets).loss!;
  };
  const predict = (model: Model, examples: Example[]): number[][] => {
    if (model instanceof Seq2SeqTransformer) {
      const b = seq2seqBatch(examples);
      return model.generate(b.src, { srcPad: b.srcPad, bos: BOS, eos: EOS, maxLen: c.maxLen * 2 + 2 });
    }
    // decoder-only: prompt = input SEP, one example at a time (prompts differ in length)
    return examples.map((e) => {
      const prompt = tensor(new Int32Array([...e.input, SEP]), { shape: [1, e.input.length + 1] });
      const out = Array.from(model.generate(prompt, e.output.length + 1).data.subarray(e.input.length + 1));
      const end = out.indexOf(EOS);
      return end === -1 ? out : out.slice(0, end);
    });
  };

  return {
    vocabSize: task.vocabSize,
    blockSize: longest,
    batch(model, step) {
      // the examples of step s come from their own stream, seeded by (seed, s)
      const stepTask = makeTask(c.task as TaskName, { ...options, seed: c.seed * 1_000_003 + step });
      const examples = Array.from({ length: c.batch }, () => stepTask.sample('train'));
      const tokens = examples.reduce((n, e) => n + e.input.length + e.output.length + 1, 0);
      return { loss: lossOf(model, examples), tokens };
    },
    validate(model) {
      return isolated(() => {
        model.eval();
        let exact = 0, loss = 0;
        for (let i = 0; i < heldOut.length; i += 100) {
          const chunk = heldOut.slice(i, i + 100);
          loss += lossOf(model, chunk).item() * chunk.length;
          predict(model, chunk).forEach((p, k) => (exact += p.join() === chunk[k].output.join() ? 1 : 0));
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
          const ok = p.join() === examples[i].output.join() ? '✓' : '✗';
          return `${show(examples[i].input).padEnd(3 * c.maxLen)} → ${show(p)}  ${ok}`;
        });
      });
    },
  };
}

function textSource(c: RunConfig): Source {
  const data = CharDataset.fromFile(c.data!);
  const T = c.blockSize;
  return {
    vocabSize: data.vocabSize,
    blockSize: T,
    // windows come from the global generator, whose state a checkpoint saves
    batch(model) {
      const { x, y } = data.batch('train', c.batch, T);
      return { loss: (model as TransformerLM).forward(x, y).loss!, tokens: c.batch * T };
    },
    validate(model) {
      return isolated(() => {
        model.eval();
        let sum = 0, count = 0;
        for (const { x, y } of data.evalBatches('val', c.batch, T, Math.max(1, Math.ceil(c.evalSize / 8 / c.batch)))) {
          sum += (model as TransformerLM).forward(x, y).loss!.item() * y.size;
          count += y.size;
        }
        model.train();
        return { valLoss: sum / count, unigramEntropy: data.unigramEntropy() };
      });
    },
    samples(model, n) {
      return isolated(() => {
        model.eval();
        const prompt = tensor(new Int32Array(data.val.subarray(0, Math.min(16, T))), { shape: [1, Math.min(16, T)] });
        const out = (model as TransformerLM).generate(prompt, 40 * n, { temperature: 0.8, topK: 10 });
        return data.decode(out.data).split('\n');
      });
    },
  };
}
