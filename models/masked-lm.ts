// The encoder-only masked language model (BERT's objective, Devlin et al. 2019): bidirectional
// blocks of any mixer over the whole input, and a head that predicts the tokens hidden behind the
// MASK token. The loss counts only the masked positions: targets are −100 everywhere else (the
// masking itself, 15% with the 80/10/10 rule, is data's job: data/masking.ts). Perturbed Masking
// reads its hidden states (forward with { inspect: true }).
//
// Glossary: B batch, T length, C channels (nEmbd), V vocabulary size.
// Read next: block.ts (the blocks), transformer.ts (the two other shells).

import type { Tensor } from '../lib/index.ts';
import { runBlocks } from './block.ts';
import type { TransformerConfig } from './config.ts';
import { BlockStack } from './embedder.ts';
import { traceIf, type ModelOutput } from './transformer.ts';

export interface MaskedLMOptions {
  keep?: Tensor | null; // (B, T) padding mask: 1 = real token
  inspect?: boolean; // return the trace: per block, its output and its attention weights
}

export class MaskedLM extends BlockStack {
  constructor(config: TransformerConfig) {
    super('MaskedLM', config);
  }

  /** ids (B, T) with some tokens masked → logits (B, T, V); loss over targets ≠ −100. */
  forward(ids: Tensor, targets?: Tensor, options: MaskedLMOptions = {}): ModelOutput {
    const trace = traceIf(options.inspect);
    const keep = options.keep ?? null;
    const x = runBlocks(this.blocks.items, this.embed.forward(ids), () => ({ keep }), trace);
    return this.outputOf(x, targets, trace); // logits (B, T, V)
  }
}
