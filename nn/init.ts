// Weight initialisers, in place on a tensor's buffer, drawing from the project's seeded generator.
// fan_in / fan_out follow PyTorch: for a weight of shape (out, in, ...), fan_in = in·receptive
// field.

import { noGrad, rand, randn, type Tensor } from '../lib/index.ts';

function fans(t: Tensor): [number, number] {
  if (t.ndim < 2)
    throw new Error(`init: fan in/out need a tensor of at least 2 dims, got shape [${t.shape}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1] * receptive, t.shape[0] * receptive];
}

function fill(t: Tensor, values: Tensor): Tensor {
  noGrad(() => t.data.set(values.data));
  return t;
}

export const uniform = (t: Tensor, low: number, high: number) =>
  fill(
    t,
    rand([...t.shape])
      .mul(high - low)
      .add(low),
  );
export const normal = (t: Tensor, std = 1, mean = 0) =>
  fill(
    t,
    randn([...t.shape])
      .mul(std)
      .add(mean),
  );
export const zeros = (t: Tensor) => (t.data.fill(0), t);
export const ones = (t: Tensor) => (t.data.fill(1), t);

/** Glorot: U(−a, a), a = gain·√(6/(fan_in + fan_out)). */
export function xavierUniform(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = fans(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -a, a);
}

/** Glorot: N(0, σ²), σ = gain·√(2/(fan_in + fan_out)). */
export function xavierNormal(t: Tensor, gain = 1): Tensor {
  const [fanIn, fanOut] = fans(t);
  return normal(t, gain * Math.sqrt(2 / (fanIn + fanOut)));
}

/** He: U(−b, b), b = √(6/((1 + a²)·fan_in)); a = √5 is what torch.nn.Linear uses. */
export function kaimingUniform(t: Tensor, a = 0): Tensor {
  const [fanIn] = fans(t);
  const bound = Math.sqrt(6 / ((1 + a * a) * fanIn));
  return uniform(t, -bound, bound);
}

/** N(mean, std²) redrawn until inside [mean + a·std, mean + b·std] (a = −2, b = 2 by default). */
export function truncNormal(t: Tensor, std = 1, mean = 0, a = -2, b = 2): Tensor {
  const values = randn([...t.shape]);
  const out = values.data;
  for (let i = 0; i < out.length; i++) {
    while (out[i] < a || out[i] > b) out[i] = randn([1]).data[0];
    out[i] = mean + std * out[i];
  }
  return fill(t, values);
}
