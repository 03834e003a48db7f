// Examples → padded tensors for the two model kinds: right-padded int32 ids and a float32 `keep`
// mask (1 = real token, 0 = padding), targets -100 where nothing is scored.
// Read next: stream.ts (which examples each training step gets), models/transformer.ts (the
// models that eat these batches).

import { tensor, type Tensor } from '../lib/index.ts';
import { BOS, EOS, IGNORE_INDEX, PAD, SEP, type Example } from './tokens.ts';

export interface Seq2SeqBatch {
  src: Tensor; // (B, S) input
  tgtIn: Tensor; // (B, T) BOS + output, what the decoder reads
  tgtOut: Tensor; // (B, T) output + EOS, what it must predict; -100 on padding
  srcKeep: Tensor; // (B, S) 1 = real token
  tgtKeep: Tensor; // (B, T)
  srcPad: Tensor; // srcKeep under its older name
  tgtPad: Tensor; // tgtKeep under its older name
}
export interface LMBatch {
  tokens: Tensor; // (B, L) input SEP output EOS (no SEP for a task without one)
  targets: Tensor; // (B, L) the next token where it belongs to the answer (output, EOS), else -100
  keep: Tensor; // (B, L) 1 = real token
  pad: Tensor; // keep under its older name
}

function padded(rows: number[][], fill: number): Tensor {
  const L = Math.max(...rows.map((r) => r.length));
  const data = new Int32Array(rows.length * L).fill(fill);
  rows.forEach((r, b) => data.set(r, b * L));
  return tensor(data, { shape: [rows.length, L] });
}

function keepMask(rows: number[][]): Tensor {
  const L = Math.max(...rows.map((r) => r.length));
  const data = new Float32Array(rows.length * L);
  rows.forEach((r, b) => data.fill(1, b * L, b * L + r.length));
  return tensor(data, { shape: [rows.length, L] });
}

function checkExamples(fn: string, examples: Example[]): void {
  if (!Array.isArray(examples) || examples.length === 0) {
    const got = examples?.length ?? examples;
    throw new Error(`${fn}: expected a non-empty array of examples, got ${got}`);
  }
  examples.forEach((e, i) => {
    if (!Array.isArray(e?.input) || !Array.isArray(e?.output)) {
      throw new Error(`${fn}: example ${i} needs input and output arrays`);
    }
    if (e.input.length === 0) throw new Error(`${fn}: example ${i} has an empty input`);
  });
}

export function seq2seqBatch(examples: Example[]): Seq2SeqBatch {
  checkExamples('seq2seqBatch', examples);
  const src = examples.map((e) => e.input);
  const tgtIn = examples.map((e) => [BOS, ...e.output]);
  const tgtOut = examples.map((e) => [...e.output, EOS]);
  const srcKeep = keepMask(src),
    tgtKeep = keepMask(tgtIn);
  return {
    src: padded(src, PAD),
    tgtIn: padded(tgtIn, PAD),
    tgtOut: padded(tgtOut, IGNORE_INDEX),
    srcKeep,
    tgtKeep,
    srcPad: srcKeep,
    tgtPad: tgtKeep,
  };
}

/**
 * Decoder-only rows `input SEP output EOS`, or `input output EOS` with `{ separator: false }` (a
 * task whose last input token is the query: Task.separator).
 */
export function lmBatch(examples: Example[], { separator = true } = {}): LMBatch {
  checkExamples('lmBatch', examples);
  const sep = separator ? [SEP] : [];
  const rows = examples.map((e) => [...e.input, ...sep, ...e.output, EOS]);
  // Position t predicts token t + 1; the answer starts at index input.length + sep.length, so the
  // first scored position is SEP's, or the last input token's without one. The final EOS has no
  // next token.
  const targets = rows.map((r, b) => {
    const first = examples[b].input.length + sep.length - 1;
    const answer = r.slice(1).map((tok, t) => (t >= first ? tok : IGNORE_INDEX));
    return [...answer, IGNORE_INDEX];
  });
  const keep = keepMask(rows);
  return { tokens: padded(rows, PAD), targets: padded(targets, IGNORE_INDEX), keep, pad: keep };
}
