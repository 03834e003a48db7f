// The encoder-only masked language model (BERT's objective, Devlin et al. 2019): bidirectional
// blocks of any mixer over the whole input, and a head that predicts the tokens hidden behind the
// MASK token. The loss counts only the masked positions: targets are −100 everywhere else (the
// masking itself, 15% with the 80/10/10 rule, is data's job: data/masking.ts). Perturbed Masking
// reads its hidden states (forward with { inspect: true }).
//
// Glossary: B batch, T length, C channels (nEmbd), V vocabulary size.
// Read next: block.ts (the blocks), transformer.ts (the two other shells).

import { crossEntropy, type Tensor } from '../lib/index.ts';
import { LayerNorm, Linear, ModuleList } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import { Block, runBlocks } from './block.ts';
import { checkConfig, type TransformerConfig } from './config.ts';
import { Embedder, initWeights } from './embedder.ts';
import { traceIf, type ModelOutput } from './transformer.ts';

export interface MaskedLMOptions {
  keep?: Tensor | null; // (B, T) padding mask: 1 = real token
  inspect?: boolean; // return the trace: per block, its output and its attention weights
}

export class MaskedLM extends Module {
  readonly config: Required<TransformerConfig>;
  embed: Embedder;
  blocks: ModuleList<Block>;
  finalNorm: LayerNorm | null;
  head: Linear;
  constructor(config: TransformerConfig) {
    super();
    const { nLayer, nEmbd, norm, vocabSize } = (this.config = checkConfig('MaskedLM', config));
    this.embed = new Embedder(this.config);
    const blocks = Array.from({ length: nLayer }, (_, i) => new Block(this.config, i));
    this.blocks = new ModuleList(blocks);
    this.finalNorm = norm === 'pre' ? new LayerNorm(nEmbd) : null;
    this.head = new Linear(nEmbd, vocabSize);
    initWeights(this, this.head);
  }

  /** ids (B, T) with some tokens masked → logits (B, T, V); loss over targets ≠ −100. */
  forward(ids: Tensor, targets?: Tensor, options: MaskedLMOptions = {}): ModelOutput {
    const trace = traceIf(options.inspect);
    const keep = options.keep ?? null;
    const x = runBlocks(this.blocks.items, this.embed.forward(ids), () => ({ keep }), trace);
    const logits = this.head.forward(this.finalNorm ? this.finalNorm.forward(x) : x); // (B, T, V)
    return {
      logits,
      loss: targets ? crossEntropy(logits, targets) : null,
      ...(trace && { trace }),
    };
  }
}
