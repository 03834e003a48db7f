// Positions that act inside attention, and the length-extrapolation tools around them: RoPE
// (rotates q and k), biases added to the logits before softmax (ALiBi, KERPLE-log, T5 buckets), the
// entropy-invariant log-n scale, and the Λ-shaped window mask (local window + first-k sinks).
//
//   RoPE    RoFormer (Su et al., 2021, arXiv 2104.09864): (R_i q)ᵀ(R_j k) = qᵀ R_{j−i} k
//   ALiBi   Train Short, Test Long (Press et al., 2022, arXiv 2108.12409): −m_h·|i − j|
//   KERPLE  Kernelized Relative Positional Embedding (Chi et al., 2022, arXiv 2205.09921), log form
//   T5      Exploring the Limits of Transfer Learning (Raffel et al., 2020, arXiv 1910.10683), §2.1
//   log n   Su, kexue.fm posts 8823 and 9948
//   window + sinks   Su, posts 9431 and 9948 (the "super baseline")
//
// Glossary: nh heads, T queries, S keys, hs head size. With a KV cache holding S − T earlier keys,
// query t sits at absolute position i = S − T + t and key s at j = s; every function here uses
// that.
// Read next: score-modifiers.ts, which hands these to attention.

import { cat, full, tensor, type DType, type Tensor } from '../lib/index.ts';
import { Module } from '../nn/module.ts';

/** |i − j| for every (query t, key s), i = S − T + t: a (T·S) row-major table. */
function distances(T: number, S: number): Float64Array {
  const d = new Float64Array(T * S);
  for (let t = 0; t < T; t++) for (let s = 0; s < S; s++) d[t * S + s] = Math.abs(S - T + t - s);
  return d;
}

/**
 * RoPE: rotate x (B, nh, T, hs) at positions offset … offset + T − 1 (offset = keys already
 * cached). Pair layout, one of the two in common use: half-split, x_i pairs with x_{i+hs/2}
 * (GPT-NeoX, lucidrains), rotated by p·θ_i with θ_i = 10000^(−2i/hs). The interleaved layout
 * (bert4keras) gives the same attention when q and k share it; half-split needs only two narrows.
 * cos/sin tables are made per call in x's dtype, so any length works (no blockSize limit, for
 * extrapolation tests). The rotation is orthogonal, so backward (through these ops) applies the
 * inverse rotation.
 */
export function rope(x: Tensor, offset: number): Tensor {
  const [, , T, hs] = x.shape;
  const half = hs / 2;
  const cosData = new Float64Array(T * half),
    sinData = new Float64Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = (offset + t) * Math.pow(10000, (-2 * i) / hs);
      cosData[t * half + i] = Math.cos(angle);
      sinData[t * half + i] = Math.sin(angle);
    }
  }
  const cos = tensor(cosData, { shape: [T, half], dtype: x.dtype }); // (T, hs/2)
  const sin = tensor(sinData, { shape: [T, half], dtype: x.dtype }); // (T, hs/2)
  const x1 = x.narrow(-1, 0, half),
    x2 = x.narrow(-1, half, half); // (B, nh, T, hs/2) each
  return cat([x1.mul(cos).sub(x2.mul(sin)), x1.mul(sin).add(x2.mul(cos))], -1); // (B, nh, T, hs)
}

/**
 * ALiBi slopes, the rule of the paper's code: for H a power of two, the geometric sequence
 * m_h = 2^(−8h/H), h = 1…H; otherwise the 2^k slopes of the largest power of two 2^k < H, then
 * every other slope of 2^(k+1) heads (2^(−4/2^k)·…), the first H − 2^k of them.
 */
export function alibiSlopes(H: number): number[] {
  const geometric = (n: number) => Array.from({ length: n }, (_, h) => 2 ** ((-8 * (h + 1)) / n));
  const pow2 = 2 ** Math.floor(Math.log2(H));
  if (pow2 === H) return geometric(H);
  return [
    ...geometric(pow2),
    ...geometric(2 * pow2)
      .filter((_, h) => h % 2 === 0)
      .slice(0, H - pow2),
  ];
}

/** A relative-position bias: (nh, T, S), added to the logits before softmax. */
export interface RelativeBias extends Module {
  forward(T: number, S: number, causal: boolean): Tensor;
}

/** ALiBi: −m_h·|i − j|, fixed (no parameters, no position embeddings anywhere). */
export class AlibiBias extends Module implements RelativeBias {
  readonly slopes: number[];
  constructor(readonly nHead: number) {
    super();
    this.slopes = alibiSlopes(nHead);
  }
  // causal keys have j ≤ i, so this is the paper's −m·(i − j); without a causal mask it is the
  // symmetric form, which cannot tell left from right (Su's criticism, post 9431)
  forward(T: number, S: number): Tensor {
    const d = distances(T, S);
    const data = new Float32Array(this.nHead * T * S);
    this.slopes.forEach((m, h) => d.forEach((dist, k) => (data[h * T * S + k] = -m * dist)));
    return tensor(data, { shape: [this.nHead, T, S] }); // (nh, T, S)
  }
}

/**
 * KERPLE-log: −r₁·log(1 + r₂·|i − j|) with r₁, r₂ > 0 learned per head (the log kernel; the paper
 * also has a power kernel −r₁|i − j|^r₂, which needs r₂ ≤ 2 kept too). Positivity by r = exp(ρ):
 * smooth, never stuck at a bound (the paper's code clamps, which zeroes the gradient there). ρ = 0
 * (r₁ = r₂ = 1) at init; the paper draws r at random, the heads' own q/k separate them anyway.
 */
export class KerpleLogBias extends Module implements RelativeBias {
  logR1: Tensor; // (nh), ρ₁
  logR2: Tensor; // (nh), ρ₂ — 1-d, so the shells' Xavier init (ndim ≥ 2) leaves them alone
  constructor(readonly nHead: number) {
    super();
    this.logR1 = full([nHead], 0, { requiresGrad: true });
    this.logR2 = full([nHead], 0, { requiresGrad: true });
  }
  forward(T: number, S: number): Tensor {
    const nh = this.nHead;
    const d = tensor(distances(T, S), { shape: [1, T, S], dtype: this.logR1.dtype }); // (1, T, S)
    const r1 = this.logR1.exp().reshape([nh, 1, 1]),
      r2 = this.logR2.exp().reshape([nh, 1, 1]); // (nh, 1, 1)
    return d.mul(r2).add(1).log().mul(r1).neg(); // (nh, T, S)
  }
}

/**
 * T5's bucket of the relative position rel = j − i (key minus query), as in its reference code.
 * Bidirectional: half the buckets for keys before the query, half for keys after. Causal: keys
 * after the query (masked anyway) share bucket 0. Within a half, distances below half of its
 * buckets get one bucket each; larger ones share log-spaced buckets up to maxDistance, and beyond
 * it the last.
 */
export function t5Bucket(
  rel: number,
  bidirectional: boolean,
  numBuckets = 32,
  maxDistance = 128,
): number {
  let n = -rel; // how far back the key is
  let bucket = 0;
  if (bidirectional) {
    numBuckets = Math.floor(numBuckets / 2);
    if (n < 0) bucket += numBuckets;
    n = Math.abs(n);
  } else {
    n = Math.max(n, 0);
  }
  const maxExact = Math.floor(numBuckets / 2);
  if (n < maxExact) return bucket + n;
  const logSpaced =
    maxExact +
    Math.floor(
      (Math.log(n / maxExact) / Math.log(maxDistance / maxExact)) * (numBuckets - maxExact),
    );
  return bucket + Math.min(logSpaced, numBuckets - 1);
}

/**
 * T5 relative bias: a learned scalar per (bucket, head), 32 buckets up to distance 128 (T5 and
 * FLASH-pytorch's values). Causal or bidirectional bucketing follows the call's `causal`, so one
 * class serves decoders and encoders. Zero at init: the model starts position-free.
 */
export class T5Bias extends Module implements RelativeBias {
  table: Tensor; // (numBuckets, nh)
  constructor(
    readonly nHead: number,
    readonly numBuckets = 32,
    readonly maxDistance = 128,
  ) {
    super();
    this.table = full([numBuckets, nHead], 0, { requiresGrad: true });
  }
  forward(T: number, S: number, causal: boolean): Tensor {
    const ids = new Int32Array(T * S);
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < S; s++)
        ids[t * S + s] = t5Bucket(s - (S - T + t), !causal, this.numBuckets, this.maxDistance);
    }
    const rows = this.table.indexSelect(0, tensor(ids)); // (T·S, nh)
    return rows.reshape([T, S, this.nHead]).permute([2, 0, 1]); // (nh, T, S)
  }
}

/**
 * The Λ-mask (T, S), additive: query i sees key j iff |i − j| ≤ window, or j < sinks (the first
 * tokens, which large LMs use as attention sinks); with `causal` also only j ≤ i. `window` is a
 * distance, as the config's `window` is for local attention: a causal query sees window + 1 recent
 * keys, so Su's "super baseline" for a model trained at length N is window = N − 1 (every distance
 * seen in training). Bidirectional, the band is a choice: window = N − 1 keeps every
 * trained distance (up to 2N − 1 keys), window = N/2 keeps about N keys; both are this one mask.
 */
export function windowMask(
  T: number,
  S: number,
  window: number,
  sinks: number,
  causal: boolean,
): Tensor {
  const data = new Float32Array(T * S);
  for (let t = 0; t < T; t++) {
    const i = S - T + t;
    for (let j = 0; j < S; j++) {
      const visible = (Math.abs(i - j) <= window || j < sinks) && (!causal || j <= i);
      data[t * S + j] = visible ? 0 : -Infinity;
    }
  }
  return tensor(data, { shape: [T, S] });
}

/**
 * Entropy-invariant scale factor per query, multiplying 1/√hs: λ = max(1, log n / log trainLen),
 * n = the keys that query sees, counted from the additive mask (causal: i + 1; windowed: at most
 * window + 1 plus the sinks; padding excluded). Of the forms in use we take Su's post 9948:
 * the max(1, ·) clamp makes n = 0 or 1 harmless and keeps the usual scale up to the training
 * length, so training at trainLen is unchanged and attention sharpens only on longer contexts.
 * (Post 8823's unclamped log_N n would flatten early causal rows; bert4keras clamps n at 16
 * instead.) Returns (…, T, 1) in `dtype`: (T, 1) for a (T, S) mask, (B, 1, T, 1) with padding.
 */
export function lognScale(
  mask: Tensor | null,
  S: number,
  trainLen: number,
  dtype: DType,
  clamp = true,
): Tensor {
  const n = mask ? mask.eq(0).sum(-1, true) : full([1, 1], S); // (…, T, 1) visible keys
  const kappa = n.log().div(Math.log(trainLen)); // (…, T, 1); a row with no keys: log 0 = −∞
  return kappa.maximum(clamp ? 1 : 0).to(dtype);
}
