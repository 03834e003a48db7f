// The kernel-level cases of `npm run bench`, each written once for attngrad and once for tfjs-core
// (run on whichever tfjs backend is active): square matmuls, every matmul shape of one reference
// training step (with the transposed forms backward uses), softmax and LayerNorm forward+backward,
// and scaled dot-product attention forward+backward. Inputs come from a per-case seed, so every
// implementation sees the same numbers; `outputs()` feeds the correctness check before timing.
// Read next: train-step.ts (the end-to-end case), benchmark.ts (the driver).

import { backend, layerNorm, manualSeed, softmax, tensor, type Tensor } from '../lib/index.ts';
import type { MatmulArgs } from '../lib/backend/backend.ts';
import type * as TF from '@tensorflow/tfjs-core';
import { tf, uniform } from './harness.ts';

export interface Prepared {
  run(): void; // the timed work, synchronised (tfjs: dataSync of every output)
  outputs(): Float32Array[]; // one more run, its results copied out
  dispose(): void;
}

export interface Case {
  name: string; // the id in latest.json
  what: string; // for the table
  flop?: number; // for GFLOP/s (matmul-bound cases only)
  stepCount?: number; // how often a training step runs this shape
  attngrad(): Prepared;
  tfjs(): Prepared;
}

// A float32 copy for the check. (Float32Array.from walks an iterator: far too slow to time with.)
const f32 = (x: ArrayLike<number>) =>
  x instanceof Float32Array ? x.slice() : new Float32Array(x as ArrayLike<number>);

/**
 * Run tfjs ops in a tidy scope and read every result back with dataSync (the sync point). The data
 * leaves the scope through a closure: tidy walks whatever it returns looking for tensors, and a
 * returned 1M-element Float32Array costs it hundreds of ms.
 */
function synced(f: () => TF.Tensor[]): TF.TypedArray[] {
  let data: TF.TypedArray[] = [];
  tf.tidy(() => {
    data = f().map((t) => t.dataSync());
  });
  return data;
}

// ---- matmul: out = op(A)·op(B), batched over a leading dim when batch > 1 ----
interface MatmulShape {
  m: number;
  k: number;
  n: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
}

function matmulCase(
  name: string,
  what: string,
  s: MatmulShape,
  seed: number,
  stepCount?: number,
): Case {
  const { m, k, n, transA = false, transB = false, batch = 1 } = s;
  const lead = batch > 1 ? [batch] : [];
  const aShape = [...lead, ...(transA ? [k, m] : [m, k])];
  const bShape = [...lead, ...(transB ? [n, k] : [k, n])];
  const inputs = () => {
    manualSeed(seed);
    return [uniform(batch * m * k), uniform(batch * k * n)];
  };
  return {
    name,
    what,
    stepCount,
    flop: 2 * batch * m * k * n,
    attngrad() {
      const [a, b] = inputs();
      // The kernel through the active backend: what linear() and attention call, minus the graph.
      const args: MatmulArgs = { a, b, aShape, bShape, transA, transB, outShape: [...lead, m, n] };
      return {
        run: () => void backend().matmul(args),
        outputs: () => [f32(backend().matmul(args))],
        dispose() {},
      };
    },
    tfjs() {
      const [a, b] = inputs();
      const ta = tf.tensor(a, aShape),
        tb = tf.tensor(b, bShape);
      const go = () => synced(() => [tf.matMul(ta, tb, transA, transB)])[0];
      return {
        run: () => void go(),
        outputs: () => [f32(go())],
        dispose: () => tf.dispose([ta, tb]),
      };
    },
  };
}

const square = [128, 512, 1024].map((n) =>
  matmulCase(`matmul-${n}`, `${n}³`, { m: n, k: n, n }, 42 + n),
);

// One reference train step (B·T = 1024 rows, C 128, F 512, V 64, nh 4, hs 32, 2 layers). Linear
// layers store W as (out, in): forward x·Wᵀ (NT), backward dX = dY·W (NN) and dW = dYᵀ·X (TN).
// Attention per (B·nh = 64) head: S = Q·Kᵀ (NT), Y = P·V (NN); backward dP = dY·Vᵀ (NT, same
// shape as S), dQ = dS·K (NN, same as P·V), dK = dSᵀ·Q and dV = Pᵀ·dY (TN).
const N = 1024,
  C = 128,
  F = 512,
  V = 64,
  T = 64,
  HS = 32,
  BH = 64;
const stepShapes: [string, string, MatmulShape, number][] = [
  ['nt-1024x128x128', 'q/k/v/proj fwd x·Wᵀ', { m: N, k: C, n: C, transB: true }, 8],
  ['nt-1024x128x512', 'ffn up fwd', { m: N, k: C, n: F, transB: true }, 2],
  ['nt-1024x512x128', 'ffn down fwd', { m: N, k: F, n: C, transB: true }, 2],
  ['nt-1024x128x64', 'head fwd', { m: N, k: C, n: V, transB: true }, 1],
  ['nn-1024x128x128', 'q/k/v/proj dX = dY·W', { m: N, k: C, n: C }, 8],
  ['nn-1024x512x128', 'ffn up dX', { m: N, k: F, n: C }, 2],
  ['nn-1024x128x512', 'ffn down dX', { m: N, k: C, n: F }, 2],
  ['nn-1024x64x128', 'head dX', { m: N, k: V, n: C }, 1],
  ['tn-128x1024x128', 'q/k/v/proj dW = dYᵀ·X', { m: C, k: N, n: C, transA: true }, 8],
  ['tn-512x1024x128', 'ffn up dW', { m: F, k: N, n: C, transA: true }, 2],
  ['tn-128x1024x512', 'ffn down dW', { m: C, k: N, n: F, transA: true }, 2],
  ['tn-64x1024x128', 'head dW', { m: V, k: N, n: C, transA: true }, 1],
  [
    'nt-64x64x32x64',
    'attn Q·Kᵀ fwd, dP = dY·Vᵀ (64 heads)',
    { m: T, k: HS, n: T, transB: true, batch: BH },
    4,
  ],
  ['nn-64x64x64x32', 'attn P·V fwd, dQ = dS·K (64 heads)', { m: T, k: T, n: HS, batch: BH }, 4],
  [
    'tn-64x64x64x32',
    'attn dK = dSᵀ·Q, dV = Pᵀ·dY (64 heads)',
    { m: T, k: T, n: HS, transA: true, batch: BH },
    4,
  ],
];
const step = stepShapes.map(([id, what, s, count], i) =>
  matmulCase(`step-mm-${id}`, what, s, 7 + i, count),
);

// ---- softmax and LayerNorm over the last dim of [4096, 512], forward + backward ----
const R = 4096,
  D = 512;

function softmaxCase(): Case {
  const inputs = () => {
    manualSeed(3);
    return [uniform(R * D, 4), uniform(R * D)]; // x, upstream gradient dy
  };
  return {
    name: 'softmax-4096x512',
    what: 'softmax fwd+bwd, last dim',
    attngrad() {
      const [xd, dyd] = inputs();
      const x = tensor(xd, { shape: [R, D], requiresGrad: true }),
        dy = tensor(dyd, { shape: [R, D] });
      const go = () => {
        x.grad = null;
        const y = softmax(x, -1);
        y.backward(dy);
        return [y.data, x.grad!.data];
      };
      return { run: () => void go(), outputs: () => go().map(f32), dispose() {} };
    },
    tfjs() {
      const [xd, dyd] = inputs();
      const x = tf.tensor2d(xd, [R, D]),
        dy = tf.tensor2d(dyd, [R, D]);
      const vg = tf.valueAndGrad((t: typeof x) => tf.softmax(t, -1));
      const go = () =>
        synced(() => {
          const { value, grad } = vg(x, dy);
          return [value, grad];
        });
      return {
        run: () => void go(),
        outputs: () => go().map(f32),
        dispose: () => tf.dispose([x, dy]),
      };
    },
  };
}

function layerNormCase(): Case {
  const inputs = () => {
    manualSeed(5);
    return [uniform(R * D, 2), uniform(D, 1), uniform(D, 1), uniform(R * D)]; // x, gamma, beta, dy
  };
  return {
    name: 'layernorm-4096x512',
    what: 'layerNorm fwd+bwd (x, γ, β grads)',
    attngrad() {
      const [xd, gd, bd, dyd] = inputs();
      const x = tensor(xd, { shape: [R, D], requiresGrad: true }),
        dy = tensor(dyd, { shape: [R, D] });
      const g = tensor(gd, { requiresGrad: true }),
        b = tensor(bd, { requiresGrad: true });
      const go = () => {
        for (const p of [x, g, b]) p.grad = null;
        const y = layerNorm(x, g, b, 1e-5);
        y.backward(dy);
        return [y.data, ...[x, g, b].map((p) => p.grad!.data)];
      };
      return { run: () => void go(), outputs: () => go().map(f32), dispose() {} };
    },
    tfjs() {
      const [xd, gd, bd, dyd] = inputs();
      const x = tf.tensor2d(xd, [R, D]),
        g = tf.tensor1d(gd),
        b = tf.tensor1d(bd),
        dy = tf.tensor2d(dyd, [R, D]);
      const vg = tf.valueAndGrads((xs: TF.Tensor, gs: TF.Tensor, bs: TF.Tensor) =>
        tfLayerNorm(xs, gs, bs, 1e-5),
      );
      const go = () =>
        synced(() => {
          const { value, grads } = vg([x, g, b], dy);
          return [value, ...grads];
        });
      return {
        run: () => void go(),
        outputs: () => go().map(f32),
        dispose: () => tf.dispose([x, g, b, dy]),
      };
    },
  };
}

/** LayerNorm from tfjs-core ops (tfjs has no fused one): (x − μ)·rsqrt(σ² + eps)·γ + β. */
export function tfLayerNorm(x: TF.Tensor, g: TF.Tensor, b: TF.Tensor, eps: number): TF.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
}

// ---- attention: softmax(Q·Kᵀ/√d)·V, no mask, forward + backward for Q, K, V ----
function attentionCase(): Case {
  const [B, H, n, d] = [8, 4, 256, 64];
  const shape = [B, H, n, d];
  const size = B * H * n * d;
  const inputs = () => {
    manualSeed(11);
    return [uniform(size), uniform(size), uniform(size), uniform(size)]; // q, k, v, dy
  };
  const scale = 1 / Math.sqrt(d);
  return {
    name: 'attention-256',
    what: `attention fwd+bwd B${B} h${H} n${n} d${d}`,
    flop: 6 * 2 * B * H * n * n * d,
    attngrad() {
      const [qd, kd, vd, dyd] = inputs();
      const [q, k, v] = [qd, kd, vd].map((t) => tensor(t, { shape, requiresGrad: true }));
      const dy = tensor(dyd, { shape });
      const go = () => {
        for (const p of [q, k, v]) p.grad = null;
        // written as models/attention.ts writes it
        const y = q.matmul(k, { transB: true }).mul(scale).softmax(-1).matmul(v); // (B, h, n, d)
        y.backward(dy);
        return [y.data, ...[q, k, v].map((p) => (p.grad as Tensor).data)];
      };
      return { run: () => void go(), outputs: () => go().map(f32), dispose() {} };
    },
    tfjs() {
      const [qd, kd, vd, dyd] = inputs();
      const [q, k, v, dy] = [qd, kd, vd, dyd].map((t) => tf.tensor(t, shape));
      const vg = tf.valueAndGrads((qs: TF.Tensor, ks: TF.Tensor, vs: TF.Tensor) =>
        tf.matMul(tf.softmax(tf.mul(tf.matMul(qs, ks, false, true), scale)), vs),
      );
      const go = () =>
        synced(() => {
          const { value, grads } = vg([q, k, v], dy);
          return [value, ...grads];
        });
      return {
        run: () => void go(),
        outputs: () => go().map(f32),
        dispose: () => tf.dispose([q, k, v, dy]),
      };
    },
  };
}

export const cases: Case[] = [...square, ...step, softmaxCase(), layerNormCase(), attentionCase()];
