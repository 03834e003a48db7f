// One block shape for every variant: a token mixer, optionally cross-attention to an encoder's
// output, optionally a position-wise FFN, each as a residual sublayer with its norm. Encoder blocks
// call it bidirectionally, decoder and LM blocks causally; the mixer comes from the registry
// (mixers.ts), so this file names no variant.
//
// Glossary: B batch, T length, S source length, C channels (nEmbd), F feed-forward width.
// Read next: transformer.ts (the shells that stack blocks).

import type { Tensor } from '../lib/index.ts';
import { Dropout, LayerNorm, Linear } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import { MultiHeadAttention } from './attention.ts';
import type { TransformerConfig } from './config.ts';
import type { AttentionProbe, MixerState, TokenMixer } from './mixer.ts';
import { variantOf } from './mixers.ts';

/** Position-wise FFN: W₂·act(W₁x + b₁) + b₂, applied to each position alone. */
export class FeedForward extends Module {
  up: Linear;
  down: Linear;
  constructor(
    C: number,
    F: number,
    readonly activation: 'relu' | 'gelu',
  ) {
    super();
    this.up = new Linear(C, F);
    this.down = new Linear(F, C);
  }
  forward(x: Tensor): Tensor {
    const relu = this.activation === 'relu'; // fused into the first Linear
    const h = this.up.forward(x, relu ? 'relu' : 'none'); // (B, T, F)
    return this.down.forward(relu ? h : h.gelu()); // (B, T, C)
  }
}

/** One residual sublayer. Post-LN: x ← LN(x + F(x)). Pre-LN: x ← x + F(LN(x)). */
export class Residual extends Module {
  norm: LayerNorm;
  drop: Dropout;
  constructor(
    C: number,
    dropout: number,
    readonly pre: boolean,
  ) {
    super();
    this.norm = new LayerNorm(C);
    this.drop = new Dropout(dropout);
  }
  forward(x: Tensor, f: (h: Tensor) => Tensor): Tensor {
    if (this.pre) return x.add(this.drop.forward(f(this.norm.forward(x))));
    return this.norm.forward(x.add(this.drop.forward(f(x))));
  }
}

export interface BlockOptions {
  causal?: boolean; // decoder / LM self-attention
  keep?: Tensor | null; // (B, T) padding mask of the block's own tokens
  memory?: Tensor; // (B, S, C) the encoder's output, for cross-attention
  memoryKeep?: Tensor | null; // (B, S) padding mask of the memory
  state?: BlockState; // generation: what the mixers carry between steps
  inferenceWindow?: boolean;
  probe?: AttentionProbe; // introspection: the mixer's attention weights land here
  crossProbe?: AttentionProbe; // introspection: the cross-attention's weights land here
}

/** A block's generation state: its mixer's, and its cross-attention's (the memory's keys). */
export interface BlockState {
  self: MixerState;
  cross: MixerState | null;
}

export class Block extends Module {
  selfAttn: TokenMixer;
  crossAttn: MultiHeadAttention | null;
  ffn: FeedForward | null;
  sub1: Residual;
  subCross: Residual | null;
  sub2: Residual | null;
  constructor(config: Required<TransformerConfig>, layer: number, { cross = false } = {}) {
    super();
    const { nEmbd: C, dropout } = config;
    const pre = config.norm === 'pre';
    const variant = variantOf(config);
    this.selfAttn = variant.mixer(config, layer);
    // cross-attention stays the paper's softmax attention, with no positions
    this.crossAttn = cross ? new MultiHeadAttention(C, config.nHead, dropout) : null;
    this.ffn = variant.ffn ? new FeedForward(C, config.ffnHidden, config.activation) : null;
    this.sub1 = new Residual(C, dropout, pre);
    this.subCross = cross ? new Residual(C, dropout, pre) : null;
    this.sub2 = variant.ffn ? new Residual(C, dropout, pre) : null;
  }

  forward(x: Tensor, options: BlockOptions = {}): Tensor {
    const {
      causal = false,
      keep = null,
      memory,
      state,
      inferenceWindow,
      probe,
      crossProbe,
    } = options;
    const self = { causal, keep, state: state?.self, inferenceWindow, probe };
    x = this.sub1.forward(x, (h) => this.selfAttn.forward(h, self)); // (B, T, C)
    const [cross, subCross] = [this.crossAttn, this.subCross];
    if (cross && subCross && memory) {
      const attend = {
        memory,
        keep: options.memoryKeep,
        state: state?.cross ?? undefined,
        probe: crossProbe,
      };
      x = subCross.forward(x, (h) => cross.forward(h, attend)); // (B, T, C)
    }
    const [ffn, sub2] = [this.ffn, this.sub2];
    return ffn && sub2 ? sub2.forward(x, (h) => ffn.forward(h)) : x; // (B, T, C)
  }

  /** An empty generation state; null when the mixer keeps none (the caller recomputes instead). */
  newState(): BlockState | null {
    const self = this.selfAttn.newState();
    return self && { self, cross: this.crossAttn?.newState() ?? null };
  }
}

/** An encoder block (bidirectional self-attention, no cross-attention): the name the paper uses. */
export class EncoderLayer extends Block {
  constructor(config: Required<TransformerConfig>, layer = 0) {
    super(config, layer);
  }
}

/** A decoder block: causal self-attention, then cross-attention when `cross`, then the FFN. */
export class DecoderLayer extends Block {
  constructor(config: Required<TransformerConfig>, cross: boolean, layer = 0) {
    super(config, layer, { cross });
  }
  forward(x: Tensor, options: BlockOptions = {}): Tensor {
    return super.forward(x, { causal: true, ...options });
  }
}

/** What a forward shows of its insides when asked: per block, its output and its attention. */
export interface Trace {
  hidden: Tensor[]; // (B, T, C) after each block
  attention: (Tensor | null)[]; // (B, nh, T, S) weights of each block's mixer, null if it forms none
  crossAttention: (Tensor | null)[]; // (B, nh, T, S) weights of each block's cross-attention, if any
}

/** x through the blocks in turn, block i with optionsOf(i); each block's insides into `trace`. */
export function runBlocks(
  blocks: readonly Block[],
  x: Tensor,
  optionsOf: (i: number) => BlockOptions,
  trace?: Trace,
): Tensor {
  blocks.forEach((block, i) => {
    const [probe, crossProbe]: (AttentionProbe | undefined)[] = trace
      ? [{ weights: null }, { weights: null }]
      : [];
    x = block.forward(x, { ...optionsOf(i), probe, crossProbe }); // (B, T, C)
    if (trace && probe && crossProbe) {
      [trace.hidden[i], trace.attention[i]] = [x, probe.weights];
      trace.crossAttention[i] = crossProbe.weights;
    }
  });
  return x;
}
