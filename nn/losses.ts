// Losses: crossEntropy (lib's fused, numerically stable one, re-exported) and mean squared error.
// Both give a 0-d tensor under the default 'mean' reduction. Read next: ../models/transformer.ts.

import type { Tensor } from '../lib/index.ts';

export { crossEntropy, type CrossEntropyOptions } from '../lib/index.ts';

export type Reduction = 'mean' | 'sum' | 'none';

/**
 * mse = mean((input − target)²), as torch.nn.functional.mse_loss. The shapes must match exactly:
 * broadcasting (B, 1) against (B,) would silently average a (B, B) matrix of differences.
 */
export function mse(
  input: Tensor,
  target: Tensor,
  { reduction = 'mean' }: { reduction?: Reduction } = {},
): Tensor {
  if (input.shape.join() !== target.shape.join() || input.ndim !== target.ndim) {
    throw new Error(
      `mse: input [${input.shape}] and target [${target.shape}] must have the same shape`,
    );
  }
  const squared = input.sub(target).square();
  if (reduction === 'none') return squared;
  if (reduction === 'sum') return squared.sum();
  if (reduction === 'mean') return squared.mean();
  throw new Error(`mse: reduction must be 'mean', 'sum' or 'none', got '${reduction}'`);
}
