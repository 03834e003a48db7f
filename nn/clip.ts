// clipGradNorm: rescale all gradients together so their joint norm is at most maxNorm, as
// torch.nn.utils.clip_grad_norm_. Call it between backward() and optimizer.step(). Read next:
// schedule.ts.

import type { Tensor } from '../lib/index.ts';

/**
 * total = (Σ |g|ᵖ over every gradient element)^(1/p), or max |g| for p = Infinity, summed in
 * doubles. When total > maxNorm every gradient is scaled in place by maxNorm / (total + 1e−6).
 * Returns the total before clipping (worth logging: spikes show instability; a non-finite total
 * means a bad step). Parameters whose grad is null are skipped.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number, normType = 2): number {
  if (!(maxNorm >= 0)) throw new Error(`clipGradNorm: maxNorm must be ≥ 0, got ${maxNorm}`);
  if (!(normType > 0))
    throw new Error(`clipGradNorm: normType must be > 0 (or Infinity), got ${normType}`);
  const grads = [...new Set(params)].flatMap((p) => (p.grad ? [p.grad.data] : []));
  let total = 0;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      const a = Math.abs(g[i]);
      total = normType === Infinity ? Math.max(total, a) : total + a ** normType;
    }
  }
  if (normType !== Infinity) total = total ** (1 / normType);
  const scale = maxNorm / (total + 1e-6);
  if (scale < 1) for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= scale;
  return total;
}
