// Absolute position encodings: sinusoidal (fixed, as in Attention is All You Need) and learned.
// Both map (T positions starting at `offset`) to (T, C) vectors added to the token embeddings.

import { noGrad, tensor, type Tensor } from '../lib/index.ts';
import { Embedding } from '../nn/index.ts';
import { Module } from '../nn/module.ts';

/**
 * PE(p, 2i) = sin(p / 10000^{2i/C}), PE(p, 2i+1) = cos(p / 10000^{2i/C}); a buffer, not trained.
 */
export class SinusoidalPositions extends Module {
  table: Tensor; // (blockSize, C)
  constructor(blockSize: number, C: number) {
    super();
    const data = new Float32Array(blockSize * C);
    for (let p = 0; p < blockSize; p++) {
      for (let i = 0; i < C; i += 2) {
        const angle = p / Math.pow(10000, i / C);
        data[p * C + i] = Math.sin(angle);
        if (i + 1 < C) data[p * C + i + 1] = Math.cos(angle);
      }
    }
    this.table = tensor(data, { shape: [blockSize, C] });
  }
  forward(T: number, offset = 0): Tensor {
    checkLength(T + offset, this.table.shape[0]);
    return noGrad(() => this.table.narrow(0, offset, T)); // (T, C)
  }
}

export class LearnedPositions extends Module {
  table: Embedding; // (blockSize, C), trained
  constructor(
    readonly blockSize: number,
    C: number,
  ) {
    super();
    this.table = new Embedding(blockSize, C);
  }
  forward(T: number, offset = 0): Tensor {
    checkLength(T + offset, this.blockSize);
    return this.table.weight.narrow(0, offset, T); // (T, C)
  }
}

function checkLength(needed: number, blockSize: number): void {
  if (needed > blockSize)
    throw new Error(`positions: sequence of length ${needed} exceeds blockSize ${blockSize}`);
}
