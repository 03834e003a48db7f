// The Transformer of "Attention is All You Need" (Vaswani et al., 2017), written to be read like
// nanoGPT's model.py: bottom-up, FeedForward → EncoderLayer / DecoderLayer → Seq2SeqTransformer,
// and the decoder-only TransformerLM. Post-norm (as in the paper) or pre-norm residuals.
//
// Glossary: B batch, T target/query length, S source/key length, C channels (nEmbd), nh heads,
// hs head size (C / nh), V vocabulary size, F feed-forward width (4C by default).
// Read next: attention.ts (the mixer), sampling.ts (generation).

import { crossEntropy, noGrad, tensor, type Tensor } from '../lib/index.ts';
import { Dropout, Embedding, LayerNorm, Linear, ModuleList, init } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import { hwfaLayerConfig, MultiHeadAttention } from './attention.ts';
import type { KVCache, TokenMixer } from './mixer.ts';
import { makeMixer } from './mixers.ts';
import { GAUBlock, makeGauBlock } from './gau.ts';
import { makeFlashBlock } from './flash.ts';
import { LearnedPositions, SinusoidalPositions } from './positions.ts';
import { sampleNext, type SampleOptions } from './sampling.ts';
import { checkConfig, type TransformerConfig } from './config.ts';

/** Position-wise FFN: W₂·act(W₁x + b₁) + b₂, applied to each position alone. */
export class FeedForward extends Module {
  up: Linear;
  down: Linear;
  constructor(C: number, F: number, readonly activation: 'relu' | 'gelu') {
    super();
    this.up = new Linear(C, F);
    this.down = new Linear(F, C);
  }
  forward(x: Tensor): Tensor {
    const h = this.up.forward(x); // (B, T, F)
    return this.down.forward(this.activation === 'relu' ? h.relu() : h.gelu()); // (B, T, C)
  }
}

/** One residual sublayer. Post-LN: x ← LN(x + F(x)). Pre-LN: x ← x + F(LN(x)). */
class Residual extends Module {
  norm: LayerNorm;
  drop: Dropout;
  constructor(C: number, dropout: number, readonly pre: boolean) {
    super();
    this.norm = new LayerNorm(C);
    this.drop = new Dropout(dropout);
  }
  forward(x: Tensor, f: (h: Tensor) => Tensor): Tensor {
    if (this.pre) return x.add(this.drop.forward(f(this.norm.forward(x))));
    return this.norm.forward(x.add(this.drop.forward(f(x))));
  }
}

export class EncoderLayer extends Module {
  attn: TokenMixer;
  ffn: FeedForward;
  sub1: Residual;
  sub2: Residual;
  constructor(c: Required<TransformerConfig>) {
    super();
    this.attn = makeMixer(c);
    this.ffn = new FeedForward(c.nEmbd, c.ffnHidden, c.activation);
    this.sub1 = new Residual(c.nEmbd, c.dropout, c.norm === 'pre');
    this.sub2 = new Residual(c.nEmbd, c.dropout, c.norm === 'pre');
  }
  forward(x: Tensor, keep: Tensor | null): Tensor {
    x = this.sub1.forward(x, (h) => this.attn.forward(h, { keep })); // (B, S, C), bidirectional
    return this.sub2.forward(x, (h) => this.ffn.forward(h)); // (B, S, C)
  }
}

/** Masked self-attention, then (for seq2seq) cross-attention to the encoder's output, then the FFN. */
export class DecoderLayer extends Module {
  selfAttn: TokenMixer;
  crossAttn: MultiHeadAttention | null;
  ffn: FeedForward;
  sub1: Residual;
  subCross: Residual | null;
  sub2: Residual;
  constructor(c: Required<TransformerConfig>, cross: boolean) {
    super();
    const pre = c.norm === 'pre';
    this.selfAttn = makeMixer(c);
    this.crossAttn = cross ? new MultiHeadAttention(c.nEmbd, c.nHead, c.dropout) : null;
    this.ffn = new FeedForward(c.nEmbd, c.ffnHidden, c.activation);
    this.sub1 = new Residual(c.nEmbd, c.dropout, pre);
    this.subCross = cross ? new Residual(c.nEmbd, c.dropout, pre) : null;
    this.sub2 = new Residual(c.nEmbd, c.dropout, pre);
  }
  forward(x: Tensor, o: { keep?: Tensor | null; memory?: Tensor; memoryKeep?: Tensor | null; cache?: LayerCache; inferenceWindow?: boolean } = {}): Tensor {
    x = this.sub1.forward(x, (h) => this.selfAttn.forward(h, { causal: true, keep: o.keep, cache: o.cache?.self, inferenceWindow: o.inferenceWindow })); // (B, T, C)
    const [cross, sub] = [this.crossAttn, this.subCross];
    if (cross && sub && o.memory) {
      x = sub.forward(x, (h) => cross.forward(h, { memory: o.memory, keep: o.memoryKeep, cache: o.cache?.cross })); // (B, T, C)
    }
    return this.sub2.forward(x, (h) => this.ffn.forward(h)); // (B, T, C)
  }
}

export interface LayerCache {
  self: KVCache;
  cross: KVCache;
}
const emptyCache = (): LayerCache => ({ self: { k: null, v: null }, cross: { k: null, v: null } });

/** Token embedding (×√C with sinusoidal positions, as in the paper) plus positions, then dropout. */
class Embedder extends Module {
  tokens: Embedding;
  positions: SinusoidalPositions | LearnedPositions | null;
  drop: Dropout;
  constructor(readonly c: Required<TransformerConfig>) {
    super();
    this.tokens = new Embedding(c.vocabSize, c.nEmbd);
    // absolute positions are added here; relative schemes (rope, alibi, ...) act inside attention
    // HWFA's layers set their own positions (hwfaLayerConfig), so its embedding adds none
    const P = c.attention === 'hwfa' ? null : c.position === 'sinusoidal' ? SinusoidalPositions : c.position === 'learned' ? LearnedPositions : null;
    this.positions = P && new P(c.blockSize, c.nEmbd);
    this.drop = new Dropout(c.dropout);
  }
  forward(ids: Tensor, offset = 0): Tensor {
    const [, T] = ids.shape;
    let x = this.tokens.forward(ids); // (B, T, C)
    if (this.positions instanceof SinusoidalPositions) x = x.mul(Math.sqrt(this.c.nEmbd));
    if (this.positions) x = x.add(this.positions.forward(T, offset)); // (B, T, C) + (T, C)
    return this.drop.forward(x);
  }
}

/**
 * Xavier-uniform for the weights of every Linear and Embedding (as the reference PyTorch Transformer
 * does for its matrices); other tables (a Synthesizer's random matrices) keep their own init. The
 * output head starts small (N(0, 0.02²), bias 0) so the loss at init is ≈ ln V, a uniform guess.
 */
function initWeights(m: Module, head: Linear): void {
  for (const [, sub] of m.namedModules()) if (sub instanceof Linear || sub instanceof Embedding) init.xavierUniform(sub.weight);
  init.normal(head.weight, 0.02);
  if (head.bias) init.zeros(head.bias);
}

export interface ModelOutput {
  logits: Tensor; // (B, T, V)
  loss: Tensor | null;
}

/** Encoder-decoder Transformer; source and target share the vocabulary and the embedding. */
export class Seq2SeqTransformer extends Module {
  readonly config: Required<TransformerConfig>;
  embed: Embedder;
  encoder: ModuleList<EncoderLayer>;
  decoder: ModuleList<DecoderLayer>;
  encoderNorm: LayerNorm | null; // pre-norm needs a final LN on each stack
  decoderNorm: LayerNorm | null;
  head: Linear;
  constructor(config: TransformerConfig) {
    super();
    const c = (this.config = checkConfig('Seq2SeqTransformer', config));
    if (c.attention === 'hwfa') throw new Error("Seq2SeqTransformer: attention 'hwfa' is a causal LM stack; use it in TransformerLM (--model lm)");
    if (c.attention === 'gau' || c.attention === 'flash') {
      throw new Error(`Seq2SeqTransformer: attention '${c.attention}' replaces whole blocks and has no cross-attention; use it in TransformerLM (--model lm)`);
    }
    this.embed = new Embedder(c);
    this.encoder = new ModuleList(Array.from({ length: c.nLayer }, () => new EncoderLayer(c)));
    this.decoder = new ModuleList(Array.from({ length: c.nLayer }, () => new DecoderLayer(c, true)));
    this.encoderNorm = c.norm === 'pre' ? new LayerNorm(c.nEmbd) : null;
    this.decoderNorm = c.norm === 'pre' ? new LayerNorm(c.nEmbd) : null;
    this.head = new Linear(c.nEmbd, c.vocabSize);
    initWeights(this, this.head);
  }

  /** src (B, S) → memory (B, S, C); srcPad (B, S) is 1 for real tokens, 0 for padding. */
  encode(src: Tensor, srcPad?: Tensor): { memory: Tensor; memoryKeep: Tensor | null } {
    const memoryKeep = srcPad ?? null; // (B, S)
    let x = this.embed.forward(src); // (B, S, C)
    for (const layer of this.encoder) x = layer.forward(x, memoryKeep);
    return { memory: this.encoderNorm ? this.encoderNorm.forward(x) : x, memoryKeep };
  }

  decode(tgtIn: Tensor, memory: Tensor, memoryKeep: Tensor | null, o: { tgtPad?: Tensor; caches?: LayerCache[]; offset?: number } = {}): Tensor {
    let x = this.embed.forward(tgtIn, o.offset ?? 0); // (B, T, C)
    this.decoder.items.forEach((layer, i) => (x = layer.forward(x, { keep: o.tgtPad, memory, memoryKeep, cache: o.caches?.[i] })));
    return this.head.forward(this.decoderNorm ? this.decoderNorm.forward(x) : x); // (B, T, V)
  }

  /** Teacher forcing: logits for every target position, and the loss if tgtOut is given (−100 = ignore). */
  forward(src: Tensor, tgtIn: Tensor, o: { srcPad?: Tensor; tgtPad?: Tensor; tgtOut?: Tensor } = {}): ModelOutput {
    const { memory, memoryKeep } = this.encode(src, o.srcPad);
    const logits = this.decode(tgtIn, memory, memoryKeep, { tgtPad: o.tgtPad });
    return { logits, loss: o.tgtOut ? crossEntropy(logits, o.tgtOut) : null };
  }

  /** Decode token by token with a KV cache; stops a row at `eos`. Returns the tokens after `bos`. */
  generate(src: Tensor, o: { srcPad?: Tensor; bos: number; eos: number; maxLen: number } & SampleOptions): number[][] {
    return noGrad(() => {
      const [B] = src.shape;
      const { memory, memoryKeep } = this.encode(src, o.srcPad);
      const caches = this.decoder.items.map(emptyCache);
      const out: number[][] = Array.from({ length: B }, () => []);
      const done = new Array<boolean>(B).fill(false);
      let next: Int32Array = new Int32Array(B).fill(o.bos);
      for (let t = 0; t < o.maxLen && !done.every(Boolean); t++) {
        const logits = this.decode(tensor(next, { shape: [B, 1] }), memory, memoryKeep, { caches, offset: t }); // (B, 1, V)
        next = sampleNext(logits.reshape([B, -1]), o);
        next.forEach((tok, b) => {
          if (done[b]) return;
          if (tok === o.eos) done[b] = true;
          else out[b].push(tok);
        });
      }
      return out;
    });
  }
}

/** A block of the LM: a Transformer layer (mixer + FFN), or a GAU / FLASH layer, which is both at once. */
type LMBlock = DecoderLayer | GAUBlock;
function makeLMBlock(c: Required<TransformerConfig>, layer: number): LMBlock {
  if (c.attention === 'hwfa') return new DecoderLayer(hwfaLayerConfig(c, layer), false);
  if (c.attention === 'gau') return makeGauBlock(c);
  if (c.attention === 'flash') return makeFlashBlock(c);
  return new DecoderLayer(c, false);
}

/** Decoder-only causal language model (GPT-style stack of masked self-attention blocks). */
export class TransformerLM extends Module {
  readonly config: Required<TransformerConfig>;
  embed: Embedder;
  blocks: ModuleList<LMBlock>;
  finalNorm: LayerNorm | null;
  head: Linear;
  constructor(config: TransformerConfig) {
    super();
    const c = (this.config = checkConfig('TransformerLM', config));
    this.embed = new Embedder(c);
    this.blocks = new ModuleList(Array.from({ length: c.nLayer }, (_, i) => makeLMBlock(c, i)));
    this.finalNorm = c.norm === 'pre' ? new LayerNorm(c.nEmbd) : null;
    this.head = new Linear(c.nEmbd, c.vocabSize);
    initWeights(this, this.head);
  }

  forward(idx: Tensor, targets?: Tensor, o: { caches?: LayerCache[]; offset?: number; inferenceWindow?: boolean } = {}): ModelOutput {
    let x = this.embed.forward(idx, o.offset ?? 0); // (B, T, C)
    for (const [i, block] of this.blocks.items.entries()) {
      x = block instanceof DecoderLayer ? block.forward(x, { cache: o.caches?.[i], inferenceWindow: o.inferenceWindow }) : block.forward(x, { causal: true });
    }
    const logits = this.head.forward(this.finalNorm ? this.finalNorm.forward(x) : x); // (B, T, V)
    return { logits, loss: targets ? crossEntropy(logits, targets) : null };
  }

  /**
   * Append maxNewTokens sampled tokens to idx (B, T). A KV cache holds the window's keys and values,
   * so each step feeds one token; when the window exceeds blockSize it restarts on the last blockSize.
   * GAU / FLASH blocks keep no cache: they recompute the window every step.
   */
  generate(idx: Tensor, maxNewTokens: number, o: SampleOptions = {}): Tensor {
    return noGrad(() => {
      const cacheable = this.blocks.items.every((b) => b instanceof DecoderLayer);
      const [B, T0] = idx.shape;
      const rows = Array.from({ length: B }, (_, b) => Array.from(idx.data.subarray(b * T0, (b + 1) * T0)));
      let caches = this.blocks.items.map(emptyCache);
      let base = 0; // row index of the window's position 0
      let cached = 0; // window positions already in the cache
      for (let n = 0; n < maxNewTokens; n++) {
        const len = rows[0].length;
        if (len - base > this.config.blockSize) {
          [base, cached, caches] = [len - this.config.blockSize, 0, this.blocks.items.map(emptyCache)];
        }
        const T = len - base - cached; // new tokens to feed
        const feed = rows.flatMap((r) => r.slice(base + cached));
        const { logits } = this.forward(tensor(new Int32Array(feed), { shape: [B, T] }), undefined, { caches, offset: cached });
        cached = cacheable ? len - base : 0;
        const next = sampleNext(logits.narrow(1, T - 1, 1).reshape([B, -1]), o); // from the last position, (B,)
        rows.forEach((r, b) => r.push(next[b]));
      }
      return tensor(new Int32Array(rows.flat()), { shape: [B, T0 + maxNewTokens] });
    });
  }
}
