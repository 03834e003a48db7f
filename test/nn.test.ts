// nn: optimizers against hand-computed steps, state dict round trips, clipping, schedules against
// their formulas, losses, and every layer's input and parameter gradients checked in float64.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { manualSeed, noGrad, rand, randint, randn, tensor, type Tensor } from '../lib/index.ts';
import {
  Adam,
  AdamW,
  clipGradNorm,
  constantLr,
  cosineWithWarmup,
  Dropout,
  Embedding,
  init,
  inverseSqrt,
  LayerNorm,
  Linear,
  linearWarmup,
  makeSchedule,
  Module,
  ModuleList,
  mse,
  RMSNorm,
  Sequential,
  SGD,
  type Optimizer,
  type Params,
} from '../nn/index.ts';
import { gradcheck } from './helpers/gradcheck.ts';

const f64 = { dtype: 'float64' } as const;
const param = (values: number[]) => tensor(values, { ...f64, requiresGrad: true });
const setGrad = (p: Tensor, values: number[]) =>
  (p.grad = tensor(values, { ...f64, shape: [...p.shape] }));

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-6, what = ''): void {
  const bad = expected.findIndex((e, i) => !(Math.abs(actual[i] - e) <= tol));
  if (bad >= 0 || actual.length !== expected.length) {
    assert.unreachable(
      `${what}: got [${Array.from(actual)}], expected [${expected}] (first difference at ${bad})`,
    );
  }
}

// ---- optimizers against hand computation ----

test('SGD: momentum, Nesterov, dampening and weight decay match hand-computed steps', () => {
  // lr 0.1, μ 0.9, p = [1, −2], g₁ = [0.5, 1], g₂ = [−0.25, 0.5]
  const run = (options: ConstructorParameters<typeof SGD>[1]) => {
    const p = param([1, -2]);
    const opt = new SGD([p], { lr: 0.1, ...options });
    const after: number[][] = [];
    for (const g of [
      [0.5, 1],
      [-0.25, 0.5],
    ]) {
      setGrad(p, g);
      opt.step();
      after.push(Array.from(p.data));
    }
    return after;
  };
  // b₁ = g₁ = [0.5, 1], p = [0.95, −2.1];  b₂ = 0.9·b₁ + g₂ = [0.2, 1.4], p = [0.93, −2.24]
  const momentum = run({ momentum: 0.9 });
  close(momentum[0], [0.95, -2.1], 1e-12, 'momentum step 1');
  close(momentum[1], [0.93, -2.24], 1e-12, 'momentum step 2');
  // Nesterov steps along g + μ·b: [0.95, 1.9] then [−0.25 + 0.18, 0.5 + 1.26] = [−0.07, 1.76]
  const nesterov = run({ momentum: 0.9, nesterov: true });
  close(nesterov[0], [0.905, -2.19], 1e-12, 'nesterov step 1');
  close(nesterov[1], [0.912, -2.366], 1e-12, 'nesterov step 2');
  // dampening 0.5: b₁ = g₁ (no dampening on the first step), b₂ = 0.9·0.5 + 0.5·(−0.25) = 0.325
  close([run({ momentum: 0.9, dampening: 0.5 })[1][0]], [0.95 - 0.0325], 1e-12, 'dampening');
  // weight decay 0.1, no momentum: d₁ = 0.5 + 0.1 = 0.6 → 0.94; d₂ = −0.25 + 0.094 = −0.156 →
  // 0.9556
  close(
    [run({ weightDecay: 0.1 })[0][0], run({ weightDecay: 0.1 })[1][0]],
    [0.94, 0.9556],
    1e-12,
    'weight decay',
  );
});

/**
 * Adam by the paper's formulas, one scalar: 'l2' adds wd·p to g (Adam), 'decoupled' shrinks p
 * (AdamW).
 */
function adamRef(
  p: number,
  grads: number[],
  lr: number,
  wd: number,
  mode: 'l2' | 'decoupled' | 'none',
): number[] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  let m = 0,
    v = 0;
  return grads.map((g0, k) => {
    const t = k + 1;
    const g = mode === 'l2' ? g0 + wd * p : g0;
    if (mode === 'decoupled') p -= lr * wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    p -= (lr * (m / (1 - b1 ** t))) / (Math.sqrt(v / (1 - b2 ** t)) + eps);
    return p;
  });
}

test('Adam with weight decay (L2 in the gradient) matches hand computation', () => {
  const p = param([1, -2]);
  const opt = new Adam([p], { lr: 0.1, weightDecay: 0.1 });
  setGrad(p, [0.5, 1]);
  opt.step();
  // g' = 0.5 + 0.1·1 = 0.6; m̂ = 0.6, v̂ = 0.36: the first step moves lr·sign(g') → 0.9
  close([p.data[0]], [0.9], 1e-6, 'step 1');
  setGrad(p, [-0.25, 0.5]);
  opt.step();
  // g' = −0.25 + 0.1·0.9 = −0.16; m = 0.038, v = 0.00038524; m̂ = 0.2, v̂ = 0.19271636
  close([p.data[0]], [0.8544413658], 1e-8, 'step 2'); // 1e−8: step 1 left p = 0.9 + 1.7e−9 (ε)
  close([p.data[1]], [adamRef(-2, [1, 0.5], 0.1, 0.1, 'l2')[1]], 1e-12, 'element 1');
});

test('AdamW: first two steps on a 2×2 weight and a bias match hand computation; the bias is not decayed', () => {
  const layer = new Linear(2, 2).to('float64');
  layer.weight.data.set([1, -2, 0.5, 3]);
  layer.bias!.data.set([0.1, -0.2]);
  const opt = new AdamW(layer.namedParameters(), { lr: 0.1, weightDecay: 0.1 });
  const gw = [
      [0.1, -0.2, 0.3, 0.4],
      [-0.1, 0.2, 0, 0.1],
    ],
    gb = [
      [0.5, -0.5],
      [0.25, 0.3],
    ];
  const want = (p0: number[], g: number[][], mode: 'decoupled' | 'none', t: number) =>
    p0.map(
      (p, i) =>
        adamRef(
          p,
          g.map((gs) => gs[i]),
          0.1,
          0.1,
          mode,
        )[t],
    );
  for (let t = 0; t < 2; t++) {
    setGrad(layer.weight, gw[t]);
    setGrad(layer.bias!, gb[t]);
    opt.step();
    close(
      layer.weight.data,
      want([1, -2, 0.5, 3], gw, 'decoupled', t),
      1e-12,
      `weight step ${t + 1}`,
    );
    close(layer.bias!.data, want([0.1, -0.2], gb, 'none', t), 1e-12, `bias step ${t + 1}`);
  }
  // step 1 by hand: w = 1·(1 − 0.1·0.1) − 0.1·sign(0.1) = 0.89; b = 0.1 − 0.1·sign(0.5) = 0 (no
  // decay)
  const again = new Linear(2, 2).to('float64');
  again.weight.data.set([1, -2, 0.5, 3]);
  again.bias!.data.set([0.1, -0.2]);
  const opt2 = new AdamW(again.namedParameters(), { lr: 0.1, weightDecay: 0.1 });
  setGrad(again.weight, gw[0]);
  setGrad(again.bias!, gb[0]);
  opt2.step();
  close(again.weight.data, [0.89, -1.88, 0.395, 2.87], 1e-6, 'weight by hand');
  close(again.bias!.data, [0, -0.1], 1e-6, 'bias by hand');
});

test('parameters with grad null are skipped and get no state', () => {
  const [a, b] = [param([1]), param([2])];
  const opt = new AdamW(
    [
      ['a', a],
      ['b', b],
    ],
    { lr: 0.1 },
  );
  setGrad(a, [1]);
  opt.step();
  assert.is(b.data[0], 2);
  assert.equal(Object.keys(opt.stateDict().buffers).sort(), [
    'exp_avg.a',
    'exp_avg_sq.a',
    'step.a',
  ]);
});

// ---- state dicts ----

function roundTrip(make: (params: Params) => Optimizer): void {
  manualSeed(3);
  const models = [new Linear(3, 2), new Linear(3, 2), new Linear(3, 2)];
  models.slice(1).forEach((m) => m.loadStateDict(models[0].stateDict()));
  const x = randn([4, 3]),
    y = randn([4, 2]);
  const opts = models.map((m) => make(m.namedParameters()));
  const train = (k: number) => {
    opts[k].zeroGrad();
    mse(models[k].forward(x), y).backward();
    opts[k].step();
  };
  for (let s = 0; s < 3; s++) [0, 1, 2].forEach(train);
  const saved = opts[1].stateDict();
  const json = JSON.parse(JSON.stringify({ step: saved.step, hyper: saved.hyper }));
  opts[1] = make(models[1].namedParameters());
  opts[1].loadStateDict({ ...json, buffers: saved.buffers });
  opts[2] = make(models[2].namedParameters()); // fresh state, no load: must drift
  for (let s = 0; s < 3; s++) [0, 1, 2].forEach(train);
  assert.equal(Array.from(models[1].weight.data), Array.from(models[0].weight.data));
  assert.equal(Array.from(models[1].bias!.data), Array.from(models[0].bias!.data));
  assert.not.equal(Array.from(models[2].weight.data), Array.from(models[0].weight.data));
  assert.is(opts[1].stepCount, 6);
}

test('stateDict round trip continues bit-identically (AdamW, Adam, SGD with momentum)', () => {
  roundTrip((p) => new AdamW(p, { lr: 0.05 }));
  roundTrip((p) => new Adam(p, { lr: 0.05, weightDecay: 0.01 }));
  roundTrip((p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true }));
});

test('stateDict copies; loadStateDict checks names, lengths and hyperparameters before changing anything', () => {
  const layer = new Linear(2, 2);
  const opt = new AdamW(layer.namedParameters(), { lr: 0.1 });
  mse(layer.forward(randn([3, 2])), randn([3, 2])).backward();
  opt.step();
  const state = opt.stateDict();
  assert.ok(state.buffers['exp_avg.weight'] instanceof Float64Array);
  state.buffers['exp_avg.weight'][0] = 123;
  assert.is.not(opt.stateDict().buffers['exp_avg.weight'][0], 123);
  const bad = (change: (s: typeof state) => void, message: RegExp) => {
    const s = opt.stateDict();
    change(s);
    opt.lr = 0.5;
    assert.throws(() => opt.loadStateDict({ ...s, hyper: { ...s.hyper, lr: 0.01 } }), message);
    assert.is(opt.lr, 0.5); // unchanged
  };
  bad(
    (s) => (s.buffers['exp_avg.weight'] = new Float64Array(3)),
    /buffer 'exp_avg\.weight' has length 3, expected 4/,
  );
  bad(
    (s) => (s.buffers['exp_avg.nope'] = new Float64Array(4)),
    /unexpected buffer 'exp_avg\.nope'/,
  );
  bad((s) => delete s.buffers['step.bias'], /missing buffer 'step\.bias'/);
  bad((s) => (s.hyper.betas = [1, 0.9]), /AdamW: betas\[0\] must be in \[0, 1\), got 1/);
  const sgd = new SGD(layer.parameters(), { lr: 0.1, momentum: 0.9 });
  assert.throws(
    () => sgd.loadStateDict(opt.stateDict()),
    /SGD\.loadStateDict: hyperparameters .* do not match/,
  );
});

test('optimizers reject bad hyperparameters and parameter lists, naming the optimizer and the value', () => {
  const p = () => [param([1])];
  assert.throws(() => new SGD(p(), { lr: -0.1 }), /SGD: lr must be a finite number ≥ 0, got -0\.1/);
  assert.throws(
    () => new SGD(p(), { nesterov: true }),
    /SGD: nesterov must be false unless momentum > 0/,
  );
  assert.throws(
    () => new Adam(p(), { betas: [0.9, 1] }),
    /Adam: betas\[1\] must be in \[0, 1\), got 1/,
  );
  assert.throws(() => new AdamW(p(), { eps: -1 }), /AdamW: eps must be/);
  assert.throws(() => new Adam([]), /Adam: got an empty parameter list/);
  assert.throws(
    () => new Adam([tensor([1])]),
    /Adam: parameter '0' must be a leaf tensor that requires grad/,
  );
  const q = param([1]);
  assert.throws(() => new SGD([q, q]), /SGD: a parameter appears twice/);
  const opt = new AdamW(p());
  assert.throws(() => (opt.lr = -1), /AdamW: lr must be a finite number ≥ 0, got -1/);
  assert.throws(() => (opt.lr = NaN), /AdamW: lr/);
});

// ---- clipping, schedules, losses ----

test('clipGradNorm returns the pre-clip norm and scales the gradients to maxNorm', () => {
  const [a, b, unused] = [param([0, 0]), param([0]), param([0])];
  const reset = () => (setGrad(a, [3, 4]), setGrad(b, [12]));
  reset();
  assert.ok(Math.abs(clipGradNorm([a, b, unused], 6.5) - 13) < 1e-12); // √(9 + 16 + 144) = 13
  close([...a.grad!.data, ...b.grad!.data], [1.5, 2, 6], 1e-6, 'clipped');
  reset();
  assert.is(clipGradNorm([a, b], 20), 13);
  close([...a.grad!.data, ...b.grad!.data], [3, 4, 12], 0, 'below maxNorm: unchanged');
  assert.is(clipGradNorm([a, b], 6, Infinity), 12);
  close(b.grad!.data, [6], 1e-6, 'inf norm');
  assert.throws(() => clipGradNorm([a], -1), /maxNorm must be ≥ 0, got -1/);
});

test('schedules equal their formulas; noam peaks at warmup', () => {
  assert.is(constantLr(3e-4)(17), 3e-4);
  const warm = linearWarmup(1e-3, 10);
  close([1, 5, 10, 50].map(warm), [1e-4, 5e-4, 1e-3, 1e-3], 1e-15, 'linearWarmup');
  // warmup to 1 over 10 steps, then cosine to 0.1 at step 110: the midpoint (60) is 0.1 + 0.9·½
  const cos = cosineWithWarmup(1, 10, 110, 0.1);
  close([5, 10, 60, 110, 500].map(cos), [0.5, 1, 0.55, 0.1, 0.1], 1e-12, 'cosine');
  close([cos(35)], [0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4))], 1e-12, 'cosine at a quarter');
  const noam = inverseSqrt(512, 4000);
  const formula = (t: number) => 512 ** -0.5 * Math.min(t ** -0.5, t * 4000 ** -1.5);
  close([1, 100, 4000, 16000].map(noam), [1, 100, 4000, 16000].map(formula), 1e-15, 'noam');
  assert.ok(noam(4000) > noam(3999) && noam(4000) > noam(4001));
  close([noam(4000)], [1 / Math.sqrt(512 * 4000)], 1e-15, 'noam peak');
  close([inverseSqrt(512, 4000, 2)(123)], [2 * formula(123)], 1e-15, 'noam factor');
  close(
    [makeSchedule('noam', { dModel: 512, warmupSteps: 4000 })(77)],
    [formula(77)],
    0,
    'makeSchedule noam',
  );
  close(
    [makeSchedule('cosine', { lr: 1, warmupSteps: 10, totalSteps: 110, minLr: 0.1 })(60)],
    [0.55],
    1e-12,
    'makeSchedule cosine',
  );
  close(
    [makeSchedule('warmup', { lr: 1, warmupSteps: 4 })(1), makeSchedule('constant', { lr: 2 })(9)],
    [0.25, 2],
    0,
    'makeSchedule',
  );
});

test('schedules reject bad arguments', () => {
  assert.throws(
    () => makeSchedule('bogus', { lr: 1 }),
    /unknown schedule 'bogus' \(expected one of constant, warmup, cosine, noam\)/,
  );
  assert.throws(
    () => makeSchedule('cosine', { lr: 1 }),
    /the 'cosine' schedule needs the option totalSteps/,
  );
  assert.throws(() => linearWarmup(1, 10)(0), /step must be an integer ≥ 1/);
  assert.throws(() => cosineWithWarmup(1, 10, 10), /totalSteps must be an integer ≥ 11, got 10/);
  assert.throws(() => constantLr(-1), /constantLr: lr must be/);
  assert.throws(() => inverseSqrt(512, 0), /warmupSteps must be an integer ≥ 1, got 0/);
});

test('mse matches its formula, with reductions, and refuses mismatched shapes', () => {
  const x = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      f64,
    ),
    y = tensor(
      [
        [0, 2],
        [5, 3],
      ],
      f64,
    );
  assert.is(mse(x, y).item(), (1 + 0 + 4 + 1) / 4);
  assert.is(mse(x, y, { reduction: 'sum' }).item(), 6);
  assert.equal(mse(x, y, { reduction: 'none' }).toArray(), [
    [1, 0],
    [4, 1],
  ]);
  assert.throws(
    () => mse(tensor([[1], [2]]), tensor([1, 2])),
    /mse: input \[2,1\] and target \[2\] must have the same shape/,
  );
  assert.ok(gradcheck((a, b) => mse(a, b), [randn([3, 2], f64), randn([3, 2], f64)]).ok);
});

// ---- layers: input and parameter gradients in float64 ----

/** Central differences of sum(f() ⊙ r) against every parameter's .grad; '' when all agree. */
function paramGradcheck(
  module: Module,
  f: () => Tensor,
  { eps = 1e-6, atol = 1e-6, rtol = 1e-5 } = {},
): string {
  if (module.numParameters() === 0) return '';
  manualSeed(99);
  const r = rand([...f().shape], f64).add(0.5);
  const loss = () => f().mul(r).sum();
  module.zeroGrad();
  loss().backward();
  for (const [name, p] of module.namedParameters()) {
    for (let i = 0; i < p.size; i++) {
      const keep = p.data[i];
      p.data[i] = keep + eps;
      const up = noGrad(() => loss().item());
      p.data[i] = keep - eps;
      const down = noGrad(() => loss().item());
      p.data[i] = keep;
      const numeric = (up - down) / (2 * eps),
        analytic = p.grad ? p.grad.data[i] : 0;
      if (!(Math.abs(numeric - analytic) <= atol + rtol * Math.abs(numeric)))
        return `${name}[${i}]: numeric ${numeric} vs analytic ${analytic}`;
    }
  }
  return '';
}

function checkLayer(
  layer: Module & { forward(x: Tensor): Tensor },
  shape: number[],
  f = (x: Tensor) => layer.forward(x),
): void {
  manualSeed(1);
  const x = randn(shape, f64);
  const inputs = gradcheck(f, [x]);
  assert.ok(inputs.ok, inputs.worst);
  assert.is(
    paramGradcheck(layer, () => f(x.detach())),
    '',
  );
}

test('Linear gradchecks: with and without bias, 2-D and 3-D input', () => {
  checkLayer(new Linear(3, 4).to('float64'), [2, 3]);
  checkLayer(new Linear(3, 4).to('float64'), [2, 5, 3]);
  const noBias = new Linear(3, 4, { bias: false }).to('float64');
  assert.equal(
    noBias.namedParameters().map(([n]) => n),
    ['weight'],
  );
  checkLayer(noBias, [2, 5, 3]);
});

test('LayerNorm and RMSNorm gradcheck with non-trivial gains (and LayerNorm without affine)', () => {
  const ln = new LayerNorm(4).to('float64');
  init.normal(ln.weight!);
  init.normal(ln.bias!);
  checkLayer(ln, [2, 3, 4]);
  checkLayer(new LayerNorm(4, 1e-5, { elementwiseAffine: false }).to('float64'), [3, 4]);
  const rms = new RMSNorm(4).to('float64');
  init.normal(rms.weight!);
  checkLayer(rms, [2, 3, 4]);
});

test('Embedding: gradient only to looked-up rows, repeated ids accumulate, gradcheck', () => {
  const emb = new Embedding(5, 3).to('float64');
  const ids = tensor(new Int32Array([1, 3, 1, 0, 1, 4]), { shape: [2, 3] });
  assert.equal(emb.forward(ids).shape, [2, 3, 3]);
  emb.forward(ids).sum().backward();
  // row k of the gradient = (times id k appears)·1: id 1 three times, id 2 never
  assert.equal(emb.weight.grad!.toArray(), [
    [1, 1, 1],
    [3, 3, 3],
    [0, 0, 0],
    [1, 1, 1],
    [1, 1, 1],
  ]);
  assert.is(
    paramGradcheck(emb, () => emb.forward(ids)),
    '',
  );
  manualSeed(2);
  const big = randint(0, 5, [4, 7]);
  assert.is(
    paramGradcheck(emb, () => emb.forward(big)),
    '',
  );
});

test('Dropout: eval is the identity; train zeroes ≈p, scales by 1/(1−p), is seeded; gradcheck', () => {
  const drop = new Dropout(0.3);
  const x = rand([20000], f64).add(1);
  assert.is(drop.eval().forward(x), x);
  drop.train();
  manualSeed(5);
  const y = drop.forward(x);
  const zeros = y.data.filter((v) => v === 0).length / x.size;
  assert.ok(Math.abs(zeros - 0.3) < 0.015, `zero fraction ${zeros}`);
  assert.ok(y.data.every((v, i) => v === 0 || Math.abs(v - x.data[i] / 0.7) < 1e-12));
  manualSeed(5);
  assert.equal(Array.from(drop.forward(x).data), Array.from(y.data));
  manualSeed(6);
  assert.not.equal(Array.from(drop.forward(x).data), Array.from(y.data));
  checkLayer(drop, [3, 4], (h) => (manualSeed(7), drop.forward(h)));
  assert.throws(() => new Dropout(1), /Dropout: p must be in \[0, 1\), got 1/);
});

test('Sequential and ModuleList name parameters by position; the stack gradchecks', () => {
  const seq = new Sequential(new Linear(3, 4), new LayerNorm(4), new Linear(4, 2));
  assert.equal(
    seq.namedParameters().map(([n]) => n),
    ['0.weight', '0.bias', '1.weight', '1.bias', '2.weight', '2.bias'],
  );
  class Net extends Module {
    blocks = new ModuleList([new Linear(2, 2), new RMSNorm(2)]);
    heads = [new Linear(2, 1, { bias: false })];
  }
  const net = new Net();
  assert.equal(
    net.namedParameters().map(([n]) => n),
    ['blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'heads.0.weight'],
  );
  assert.is(net.blocks.length, 2);
  assert.equal(
    net
      .eval()
      .namedModules()
      .map(([n, m]) => `${n}:${m.training}`),
    ['', 'blocks', 'blocks.0', 'blocks.1', 'heads.0'].map((n) => `${n}:false`),
  );
  checkLayer(seq.to('float64'), [2, 3]);
});

test.run();
