// The training loop the LM tests share, and a one-block causal LM around any token mixer for the
// "it learns" tests of linear-attention, synthesizer and sparse tests.

import { arange, crossEntropy, type Tensor } from '../../lib/index.ts';
import { Embedding, LayerNorm, Linear, Module, type Optimizer } from '../../nn/index.ts';
import { lmBatch, type LMBatch, type Task } from '../../data/index.ts';
import type { TokenMixer } from '../../models/mixer.ts';

/** `steps` updates on batches of 16 examples drawn from `task`; the loss of every step. */
export function trainSteps(
  task: Task,
  optimizer: Optimizer,
  steps: number,
  lossOf: (batch: LMBatch) => Tensor,
): number[] {
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const batch = lmBatch(Array.from({ length: 16 }, () => task.sample()));
    optimizer.zeroGrad();
    const loss = lossOf(batch);
    loss.backward();
    optimizer.step();
    losses.push(loss.item());
  }
  return losses;
}

/** Token + learned position embeddings, one pre-LN residual block with the mixer, then the head. */
export class TinyLM extends Module {
  tokens: Embedding;
  positions: Embedding;
  norm: LayerNorm;
  mixer: TokenMixer;
  finalNorm: LayerNorm;
  head: Linear;
  constructor(vocabSize: number, blockSize: number, nEmbd: number, makeMixer: () => TokenMixer) {
    super();
    this.tokens = new Embedding(vocabSize, nEmbd);
    this.positions = new Embedding(blockSize, nEmbd);
    this.norm = new LayerNorm(nEmbd);
    this.mixer = makeMixer(); // built here, in layer order, so the weights come from the seed in that order
    this.finalNorm = new LayerNorm(nEmbd);
    this.head = new Linear(nEmbd, vocabSize);
  }
  loss(ids: Tensor, targets: Tensor, keep: Tensor): Tensor {
    const [, T] = ids.shape;
    let x = this.tokens.forward(ids).add(this.positions.forward(arange(T))); // (B, T, C)
    x = x.add(this.mixer.forward(this.norm.forward(x), { causal: true, keep })); // (B, T, C)
    return crossEntropy(this.head.forward(this.finalNorm.forward(x)), targets); // logits (B, T, V)
  }
}

/** Train a TinyLM; the first loss and the mean loss of the last 10 steps. */
export function trainTinyLM(
  model: TinyLM,
  task: Task,
  optimizer: Optimizer,
  steps: number,
): { first: number; last: number } {
  const losses = trainSteps(task, optimizer, steps, ({ tokens, targets, keep }) =>
    model.loss(tokens, targets, keep),
  );
  return { first: losses[0], last: losses.slice(-10).reduce((a, b) => a + b) / 10 };
}
