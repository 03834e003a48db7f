// Central finite differences in float64 against a randomly weighted scalar loss sum(f(x) ⊙ r):
// a plain sum() would hide gradients that land on the wrong element. Also reports which
// primitives f's graph holds (walked before backward), so coverage is measured, not declared.

import { graphOps, manualSeed, rand, type Tensor } from '../../lib/index.ts';

export interface GradcheckResult {
  ok: boolean;
  worst: string;
  ops: string[]; // the primitives recorded in f's graph: the backward rules this check ran
}

export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  { eps = 1e-6, atol = 1e-6, rtol = 1e-5 } = {},
): GradcheckResult {
  for (const x of inputs) if (x.dtype === 'float64') x.requiresGrad_();
  const y0 = f(...inputs);
  const ops = [...graphOps(y0)]; // before backward releases the graph
  manualSeed(12345);
  const r = rand([...y0.shape], { dtype: 'float64' }).add(0.5); // weights in [0.5, 1.5)
  const loss = (): number =>
    f(...inputs)
      .mul(r)
      .sum()
      .item();
  y0.mul(r).sum().backward();
  let worst = '';
  let ok = true;
  inputs.forEach((x, k) => {
    if (x.dtype !== 'float64') return;
    for (let i = 0; i < x.size; i++) {
      const keep = x.data[i];
      x.data[i] = keep + eps;
      const up = loss();
      x.data[i] = keep - eps;
      const down = loss();
      x.data[i] = keep;
      const numeric = (up - down) / (2 * eps);
      const analytic = x.grad ? x.grad.data[i] : 0;
      if (!(Math.abs(numeric - analytic) <= atol + rtol * Math.abs(numeric))) {
        ok = false;
        worst ||= `input ${k} element ${i}: numeric ${numeric} vs analytic ${analytic}`;
      }
    }
  });
  return { ok, worst, ops };
}
