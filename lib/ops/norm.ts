// LayerNorm and RMSNorm over the last dim as fused primitives: one kernel forward, one backward
// (formulas in backend/cpu/norm.ts). Read next: movement.ts.

import { backend, type NormResult } from '../backend/backend.ts';
import { fmt } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { checkSameDtype } from './elementwise.ts';
import { primitive } from './primitive.ts';

interface NormAttrs {
  eps: number;
  rms: boolean;
  hasGamma: boolean;
  hasBeta: boolean;
  stats?: NormResult; // row statistics, saved by forward for backward
}

const normP = primitive<NormAttrs>({
  name: 'norm',
  forward: ([x, ...affine], attrs) => {
    const gamma = attrs.hasGamma ? affine[0] : null;
    const beta = attrs.hasBeta ? affine[affine.length - 1] : null;
    attrs.stats = backend().norm(
      x.data,
      x.shape,
      gamma?.data ?? null,
      beta?.data ?? null,
      attrs.eps,
      attrs.rms,
    );
    return new Tensor(attrs.stats.y, x.shape);
  },
  backward: (dy, [x, ...affine], _y, attrs) => {
    const gamma = attrs.hasGamma ? affine[0] : null;
    const g = backend().normBackward(
      dy.data,
      x.data,
      x.shape,
      gamma?.data ?? null,
      attrs.hasBeta,
      attrs.stats!,
      attrs.rms,
    );
    const [C] = x.shape.slice(-1);
    const affineGrads = [g.dgamma, g.dbeta]
      .filter((d) => d !== null)
      .map((d) => new Tensor(d, [C]));
    return [new Tensor(g.dx, x.shape), ...affineGrads];
  },
});

function normalize(
  op: string,
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
  rms: boolean,
): Tensor {
  if (x.ndim === 0) throw new Error(`${op}: input needs at least 1 dim, got a scalar`);
  const C = x.shape[x.ndim - 1];
  for (const [name, t] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (!t) continue;
    if (t.ndim !== 1 || t.shape[0] !== C) {
      throw new Error(
        `${op}: ${name} must have shape [${C}] (the last dim of input ${fmt(x.shape)}), got ` +
          `${fmt(t.shape)}`,
      );
    }
    checkSameDtype(op, x, t);
  }
  if (!(eps >= 0)) throw new Error(`${op}: eps must be ≥ 0, got ${eps}`);
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  return normP(inputs, { eps, rms, hasGamma: weight !== null, hasBeta: bias !== null });
}

/** y = γ ⊙ (x − mean)/√(var + eps) + β over the last dim (biased variance, as in PyTorch). */
export const layerNorm = (
  x: Tensor,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
) => normalize('layerNorm', x, weight, bias, eps, false);

/** y = γ ⊙ x/√(mean(x²) + eps) over the last dim. */
export const rmsNorm = (x: Tensor, weight: Tensor | null = null, eps = 1e-6) =>
  normalize('rmsNorm', x, weight, null, eps, true);
