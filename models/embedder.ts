// What every shell does at its two ends: token embedding plus absolute positions at the input,
// and the init of the weights, with a small output head so that the loss at init is ≈ ln V.
// BlockStack is the shape of the two single-stack shells. Read next: transformer.ts, masked-lm.ts.

import { crossEntropy, type Tensor } from '../lib/index.ts';
import { Dropout, Embedding, LayerNorm, Linear, ModuleList, init } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import { Block, type Trace } from './block.ts';
import { checkConfig, type TransformerConfig } from './config.ts';
import { variantOf } from './mixers.ts';
import { LearnedPositions, SinusoidalPositions } from './positions.ts';
import type { ModelOutput } from './transformer.ts';

/**
 * Token embedding (×√C with sinusoidal positions, as in the paper) plus positions, then dropout.
 */
export class Embedder extends Module {
  tokens: Embedding;
  positions: SinusoidalPositions | LearnedPositions | null;
  drop: Dropout;
  constructor(readonly config: Required<TransformerConfig>) {
    super();
    this.tokens = new Embedding(config.vocabSize, config.nEmbd);
    // absolute positions are added here; relative schemes (rope, alibi, ...) act inside attention,
    // and a variant that places positions in its layers (HWFA) asks for none
    const absolute = { sinusoidal: SinusoidalPositions, learned: LearnedPositions } as const;
    const P = variantOf(config).embedPositions
      ? absolute[config.position as keyof typeof absolute]
      : null;
    this.positions = P ? new P(config.blockSize, config.nEmbd) : null;
    this.drop = new Dropout(config.dropout);
  }
  forward(ids: Tensor, offset = 0): Tensor {
    const [, T] = ids.shape;
    let x = this.tokens.forward(ids); // (B, T, C)
    if (this.positions instanceof SinusoidalPositions) x = x.mul(Math.sqrt(this.config.nEmbd));
    if (this.positions) x = x.add(this.positions.forward(T, offset)); // (B, T, C) + (T, C)
    return this.drop.forward(x);
  }
}

/**
 * Xavier-uniform for the weights of every Linear and Embedding (as the reference PyTorch
 * Transformer does for its matrices); other tables (random mixing matrices) keep their own init.
 * The output head starts small (N(0, 0.02²), bias 0), so the loss at init is ≈ ln V: a uniform
 * guess.
 */
export function initWeights(model: Module, head: Linear): void {
  for (const [, sub] of model.namedModules()) {
    if (sub instanceof Linear || sub instanceof Embedding) init.xavierUniform(sub.weight);
  }
  init.normal(head.weight, 0.02);
  if (head.bias) init.zeros(head.bias);
}

/**
 * What the decoder-only LM and the masked LM share: the embedding, one stack of blocks, a final
 * LayerNorm for pre-norm stacks, and the output head. The subclass says how the blocks are called
 * (causally or not).
 */
export abstract class BlockStack extends Module {
  readonly config: Required<TransformerConfig>;
  embed: Embedder;
  blocks: ModuleList<Block>;
  finalNorm: LayerNorm | null;
  head: Linear;
  constructor(model: string, config: TransformerConfig) {
    super();
    const { nLayer, nEmbd, norm, vocabSize } = (this.config = checkConfig(model, config));
    this.embed = new Embedder(this.config);
    const blocks = Array.from({ length: nLayer }, (_, i) => new Block(this.config, i));
    this.blocks = new ModuleList(blocks);
    this.finalNorm = norm === 'pre' ? new LayerNorm(nEmbd) : null;
    this.head = new Linear(nEmbd, vocabSize);
    initWeights(this, this.head);
  }

  /** The stack's output x (B, T, C) → logits (B, T, V), the loss over targets ≠ −100, the trace. */
  protected outputOf(x: Tensor, targets?: Tensor, trace?: Trace): ModelOutput {
    const logits = this.head.forward(this.finalNorm ? this.finalNorm.forward(x) : x);
    return {
      logits,
      loss: targets ? crossEntropy(logits, targets) : null,
      ...(trace && { trace }),
    };
  }
}
