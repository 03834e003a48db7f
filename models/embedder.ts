// What every shell does at its two ends: token embedding plus absolute positions at the input,
// and the init of the weights, with a small output head so that the loss at init is ≈ ln V.
// Read next: transformer.ts, masked-lm.ts (the shells that use these).

import type { Tensor } from '../lib/index.ts';
import { Dropout, Embedding, Linear, init } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import type { TransformerConfig } from './config.ts';
import { variantOf } from './mixers.ts';
import { LearnedPositions, SinusoidalPositions } from './positions.ts';

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
