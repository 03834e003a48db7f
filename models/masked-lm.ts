// The encoder-only masked language model (BERT's objective, Devlin et al. 2019): bidirectional
// blocks of any mixer over the whole input, and a head that predicts the tokens hidden behind the
// MASK token. The loss counts only the masked positions: targets are −100 everywhere else (the
// masking itself, 15% with the 80/10/10 rule, is data's job: data/masking.ts). Perturbed Masking
// reads the final hidden states (hidden). Training calls maskedLoss, which applies the head to the
// masked rows only: with a vocabulary of thousands of characters the head is most of the cost.
//
// Glossary: B batch, T length, C channels (nEmbd), V vocabulary size.
// Read next: block.ts (the blocks), transformer.ts (the two other shells).

import { crossEntropy, tensor, type Tensor } from '../lib/index.ts';
import { runBlocks } from './block.ts';
import type { TransformerConfig } from './config.ts';
import { BlockStack } from './embedder.ts';
import { traceIf, type ModelOutput } from './transformer.ts';

const IGNORE = -100; // the targets of unmasked positions

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

  /** The final hidden states (B, T, C): the last block's output after the final norm. */
  hidden(ids: Tensor, keep: Tensor | null = null): Tensor {
    const x = runBlocks(this.blocks.items, this.embed.forward(ids), () => ({ keep }));
    return this.finalNorm ? this.finalNorm.forward(x) : x; // (B, T, C)
  }

  /** forward's loss, with the head applied only to the rows whose target is not −100. */
  maskedLoss(ids: Tensor, targets: Tensor, keep: Tensor | null = null): Tensor {
    const [B, T] = ids.shape;
    if (targets.shape.length !== 2 || targets.shape[0] !== B || targets.shape[1] !== T) {
      throw new Error(`MaskedLM.maskedLoss: targets [${targets.shape}] must match ids [${B},${T}]`);
    }
    const rows: number[] = [];
    targets.data.forEach((t, i) => void (t !== IGNORE ? rows.push(i) : 0));
    if (rows.length === 0) throw new Error('MaskedLM.maskedLoss: no target is set (all are −100)');
    const index = tensor(Int32Array.from(rows), { shape: [rows.length] });
    const h = this.hidden(ids, keep)
      .reshape([B * T, this.config.nEmbd])
      .indexSelect(0, index);
    const chosen = tensor(
      Int32Array.from(rows, (i) => targets.data[i]),
      { shape: [rows.length] },
    );
    return crossEntropy(this.head.forward(h), chosen); // head on (N, C) rows: (N, V)
  }
}
