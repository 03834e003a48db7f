// The Transformer of "Attention is All You Need" (Vaswani et al., 2017), written to be read like
// nanoGPT's model.py: the shells that stack blocks (block.ts) — the encoder-decoder
// Seq2SeqTransformer and the decoder-only TransformerLM. Post-norm (as in the paper) or pre-norm.
// Every attention variant fits both: the blocks take their mixer from the registry (mixers.ts).
//
// Glossary: B batch, T target/query length, S source/key length, C channels (nEmbd), nh heads,
// hs head size (C / nh), V vocabulary size, F feed-forward width (4C by default).
// Read next: block.ts (a block), attention.ts (the mixer), sampling.ts (generation).

import { crossEntropy, noGrad, tensor, type Tensor } from '../lib/index.ts';
import { LayerNorm, Linear, ModuleList } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import { Block, runBlocks, type BlockState, type Trace } from './block.ts';
import { BlockStack, Embedder, initWeights } from './embedder.ts';
import { sampleNext, type SampleOptions } from './sampling.ts';
import { checkConfig, type TransformerConfig } from './config.ts';

export { FeedForward, EncoderLayer, DecoderLayer } from './block.ts';

export interface ModelOutput {
  logits: Tensor; // (B, T, V)
  loss: Tensor | null;
  trace?: Trace; // with { inspect: true }: per block of the stack that made the logits
  encoderTrace?: Trace; // the same for the encoder of an encoder-decoder
}

/** An empty trace when asked for one. */
export const traceIf = (inspect: boolean | undefined): Trace | undefined =>
  inspect ? { hidden: [], attention: [], crossAttention: [] } : undefined;

/** Encoder-decoder Transformer; source and target share the vocabulary and the embedding. */
export class Seq2SeqTransformer extends Module {
  readonly config: Required<TransformerConfig>;
  embed: Embedder;
  encoder: ModuleList<Block>;
  decoder: ModuleList<Block>;
  encoderNorm: LayerNorm | null; // pre-norm needs a final LN on each stack
  decoderNorm: LayerNorm | null;
  head: Linear;
  constructor(config: TransformerConfig) {
    super();
    const { nLayer, nEmbd, norm, vocabSize } = (this.config = checkConfig(
      'Seq2SeqTransformer',
      config,
    ));
    const stack = (cross: boolean) =>
      Array.from({ length: nLayer }, (_, i) => new Block(this.config, i, { cross }));
    this.embed = new Embedder(this.config);
    this.encoder = new ModuleList(stack(false));
    this.decoder = new ModuleList(stack(true));
    this.encoderNorm = norm === 'pre' ? new LayerNorm(nEmbd) : null;
    this.decoderNorm = norm === 'pre' ? new LayerNorm(nEmbd) : null;
    this.head = new Linear(nEmbd, vocabSize);
    initWeights(this, this.head);
  }

  /**
   * src (B, S) → memory (B, S, C); srcKeep (B, S) is the padding mask (1 real token, 0 padding).
   */
  encode(
    src: Tensor,
    srcKeep?: Tensor,
    trace?: Trace,
  ): { memory: Tensor; memoryKeep: Tensor | null } {
    const memoryKeep = srcKeep ?? null; // (B, S)
    const embedded = this.embed.forward(src); // (B, S, C)
    const x = runBlocks(this.encoder.items, embedded, () => ({ keep: memoryKeep }), trace);
    return { memory: this.encoderNorm ? this.encoderNorm.forward(x) : x, memoryKeep };
  }

  /** tgtIn (B, T) → logits (B, T, V); with `states`, tgtIn continues from position `offset`. */
  decode(
    tgtIn: Tensor,
    memory: Tensor,
    memoryKeep: Tensor | null,
    options: DecodeOptions = {},
  ): Tensor {
    const { tgtKeep: keep, states, trace } = options;
    const embedded = this.embed.forward(tgtIn, options.offset ?? 0); // (B, T, C)
    const optionsOf = (i: number) => ({
      causal: true,
      keep,
      memory,
      memoryKeep,
      state: states?.[i],
    });
    const x = runBlocks(this.decoder.items, embedded, optionsOf, trace); // (B, T, C)
    return this.head.forward(this.decoderNorm ? this.decoderNorm.forward(x) : x); // (B, T, V)
  }

  /**
   * Teacher forcing: logits for every target position, and the loss if tgtOut is given (−100 =
   * ignore).
   */
  forward(src: Tensor, tgtIn: Tensor, options: Seq2SeqForwardOptions = {}): ModelOutput {
    const [encoderTrace, trace] = [traceIf(options.inspect), traceIf(options.inspect)];
    const srcKeep = options.srcKeep ?? options.srcPad;
    const { memory, memoryKeep } = this.encode(src, srcKeep, encoderTrace);
    const tgtKeep = options.tgtKeep ?? options.tgtPad;
    const logits = this.decode(tgtIn, memory, memoryKeep, { tgtKeep, trace });
    const loss = options.tgtOut ? crossEntropy(logits, options.tgtOut) : null;
    return { logits, loss, ...(options.inspect && { trace, encoderTrace }) };
  }

  /**
   * Decode token by token; stops a row at `eos`. Returns the tokens after `bos`. Each step feeds
   * the new token when every block keeps a generation state, else the whole prefix again.
   */
  generate(src: Tensor, options: Padding & GenerateOptions & SampleOptions): number[][] {
    return noGrad(() => {
      const [B] = src.shape;
      const { memory, memoryKeep } = this.encode(src, options.srcKeep ?? options.srcPad);
      const states = statesOf(this.decoder.items);
      const fed: number[][] = Array.from({ length: B }, () => [options.bos]); // every row's prefix
      const out: number[][] = Array.from({ length: B }, () => []);
      const done = new Array<boolean>(B).fill(false);
      for (let t = 0; t < options.maxLen && !done.every(Boolean); t++) {
        const feed = fed.map((row) => (states ? row.slice(t) : row)); // (B, 1) or (B, t + 1)
        const ids = tensor(new Int32Array(feed.flat()), { shape: [B, feed[0].length] });
        const offset = states ? t : 0;
        const logits = this.decode(ids, memory, memoryKeep, { states, offset }); // (B, ·, V)
        const next = sampleNext(lastPosition(logits), options);
        next.forEach((tok, b) => {
          fed[b].push(tok);
          if (done[b]) return;
          if (tok === options.eos) done[b] = true;
          else out[b].push(tok);
        });
      }
      return out;
    });
  }
}

/** Padding masks, 1 = real token: srcKeep (B, S), tgtKeep (B, T); srcPad, tgtPad: older names. */
interface Padding {
  srcKeep?: Tensor;
  tgtKeep?: Tensor;
  srcPad?: Tensor;
  tgtPad?: Tensor;
}

interface GenerateOptions {
  bos: number; // the first token fed to the decoder
  eos: number; // a row stops when it produces this
  maxLen: number; // the most tokens a row gets
}

interface Seq2SeqForwardOptions extends Padding {
  tgtOut?: Tensor; // (B, T) the targets, −100 = ignore
  inspect?: boolean; // return the traces of both stacks
}

interface DecodeOptions {
  tgtKeep?: Tensor; // (B, T) padding mask of the target
  states?: BlockState[] | null; // one per block, from statesOf
  offset?: number; // the position of tgtIn's first token
  trace?: Trace; // introspection: fill with the decoder's insides
}

/** Every block's empty generation state, or null when one of them keeps none. */
function statesOf(blocks: Block[]): BlockState[] | null {
  const states = blocks.map((b) => b.newState());
  return states.every((s) => s !== null) ? (states as BlockState[]) : null;
}

/** logits (B, T, V) → the last position's (B, V) */
function lastPosition(logits: Tensor): Tensor {
  const [B, T] = logits.shape;
  return logits.narrow(1, T - 1, 1).reshape([B, -1]);
}

/** Decoder-only causal language model (GPT-style stack of masked self-attention blocks). */
export class TransformerLM extends BlockStack {
  constructor(config: TransformerConfig) {
    super('TransformerLM', config);
  }

  forward(idx: Tensor, targets?: Tensor, options: LMForwardOptions = {}): ModelOutput {
    const { states, inferenceWindow } = options;
    const trace = traceIf(options.inspect);
    const embedded = this.embed.forward(idx, options.offset ?? 0); // (B, T, C)
    const optionsOf = (i: number) => ({ causal: true, state: states?.[i], inferenceWindow });
    const x = runBlocks(this.blocks.items, embedded, optionsOf, trace); // (B, T, C)
    return this.outputOf(x, targets, trace); // logits (B, T, V)
  }

  /**
   * Append maxNewTokens sampled tokens to idx (B, T). The blocks' generation states hold the
   * window so far, so each step feeds one token; when the window exceeds blockSize it restarts on
   * the last blockSize. When a block's mixer keeps no state, every step recomputes the window.
   */
  generate(idx: Tensor, maxNewTokens: number, options: SampleOptions = {}): Tensor {
    return noGrad(() => {
      const [B, T0] = idx.shape;
      const rows = Array.from({ length: B }, (_, b) =>
        Array.from(idx.data.subarray(b * T0, (b + 1) * T0)),
      );
      let states = statesOf(this.blocks.items);
      let base = 0; // row index of the window's position 0
      let fedSoFar = 0; // window positions already in the states
      for (let n = 0; n < maxNewTokens; n++) {
        const len = rows[0].length;
        if (len - base > this.config.blockSize) {
          [base, fedSoFar, states] = [len - this.config.blockSize, 0, statesOf(this.blocks.items)];
        }
        const T = len - base - fedSoFar; // new tokens to feed
        const feed = rows.flatMap((r) => r.slice(base + fedSoFar));
        const ids = tensor(new Int32Array(feed), { shape: [B, T] });
        const { logits } = this.forward(ids, undefined, { states, offset: fedSoFar });
        fedSoFar = states ? len - base : 0;
        const next = sampleNext(lastPosition(logits), options); // (B,)
        rows.forEach((r, b) => r.push(next[b]));
      }
      return tensor(new Int32Array(rows.flat()), { shape: [B, T0 + maxNewTokens] });
    });
  }
}

interface LMForwardOptions {
  states?: BlockState[] | null; // generation: one per block (statesOf), continuing at `offset`
  offset?: number;
  inferenceWindow?: boolean; // softmax attention: the Λ-shaped window of config.window + sinks
  inspect?: boolean; // return the trace: per block, its output and its attention weights
}
