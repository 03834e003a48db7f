// Optimizers as in torch.optim: SGD (momentum, Nesterov, weight decay), Adam (weight decay as L2
// added to the gradient) and AdamW (decoupled weight decay). Each update is a plain loop over a
// parameter's typed arrays, outside the graph: nothing here records autograd history.
// Read next: clip.ts, schedule.ts.
//
// State lives in Float64Array buffers whatever the parameter's dtype. JS arithmetic is in doubles
// anyway, so keeping the moments in doubles saves a rounding per step and keeps g² from
// underflowing (g = 1e−23 squares below float32's smallest number); the cost is 8 bytes per moment,
// and results differ from torch's float32 state by float32 rounding (~1e−7 relative).
// Buffers are keyed `<kind>.<paramName>` (`exp_avg.blocks.0.attn.weight`), so a checkpoint can save
// them as tensors and the rest of stateDict() as JSON. `step.<paramName>` (length 1) is the
// parameter's own update count, as in torch: a parameter skipped (grad null) is not counted.

import type { Tensor, TypedArray } from '../lib/index.ts';
import { simdAdamUpdate, type AdamConstants } from './adam-simd.ts';

/** A plain list, or `model.namedParameters()` so the state is saved under parameter names. */
export type Params = Tensor[] | [string, Tensor][];

type Hyper = { lr: number; [key: string]: number | boolean | number[] };

export interface OptimizerState {
  step: number;
  hyper: Record<string, number | boolean | number[]>;
  buffers: Record<string, Float32Array | Float64Array>;
}

function check(who: string, key: string, value: unknown, ok: boolean, need: string): void {
  if (!ok) throw new Error(`${who}: ${key} must be ${need}, got ${JSON.stringify(value)}`);
}
const nonNegative = (who: string, key: string, v: number) =>
  check(who, key, v, v >= 0 && Number.isFinite(v), 'a finite number ≥ 0');
const unitInterval = (who: string, key: string, v: number) =>
  check(who, key, v, v >= 0 && v < 1, 'in [0, 1)');

function named(who: string, params: Params): [string, Tensor][] {
  const list = params.map((p, i): [string, Tensor] => (Array.isArray(p) ? p : [String(i), p]));
  if (list.length === 0) throw new Error(`${who}: got an empty parameter list`);
  for (const [name, p] of list) {
    if (!p.requiresGrad || !p.isLeaf)
      throw new Error(`${who}: parameter '${name}' must be a leaf tensor that requires grad`);
  }
  if (new Set(list.map(([n]) => n)).size !== list.length)
    throw new Error(`${who}: parameter names must be unique`);
  if (new Set(list.map(([, p]) => p)).size !== list.length)
    throw new Error(`${who}: a parameter appears twice`);
  return list;
}

export abstract class Optimizer<H extends Hyper = Hyper> {
  readonly params: [string, Tensor][];
  hyper: H;
  /** Number of step() calls so far. */
  stepCount = 0;
  /** Per-parameter state by `<kind>.<paramName>`, made at a parameter's first update. */
  protected state = new Map<string, Float64Array>();
  /** The buffer kinds this optimizer keeps, for loadStateDict's checks. */
  protected abstract readonly kinds: string[];

  constructor(params: Params, hyper: H) {
    this.params = named(new.target.name, params);
    this.validate(hyper);
    this.hyper = hyper;
  }

  /** Throws, naming the optimizer and the value, when a hyperparameter is out of range. */
  protected abstract validate(hyper: H): void;
  /** Update one parameter in place from its gradient. */
  protected abstract update(name: string, p: TypedArray, g: TypedArray): void;

  get lr(): number {
    return this.hyper.lr;
  }
  /** Set by a schedule before each step; checked here so a bad value fails where it is made. */
  set lr(lr: number) {
    this.validate({ ...this.hyper, lr });
    this.hyper.lr = lr;
  }

  step(): void {
    this.stepCount++;
    for (const [name, p] of this.params) if (p.grad) this.update(name, p.data, p.grad.data);
  }

  zeroGrad(): void {
    for (const [, p] of this.params) p.grad = null;
  }

  /** The named buffer, created as zeros on first use; `step` buffers hold one number. */
  protected buffer(kind: string, name: string, length: number): Float64Array {
    const key = `${kind}.${name}`;
    let b = this.state.get(key);
    if (!b) this.state.set(key, (b = new Float64Array(length)));
    return b;
  }

  /** Copies of everything needed to continue bit-identically. */
  stateDict(): OptimizerState {
    const buffers = Object.fromEntries([...this.state].map(([k, v]) => [k, v.slice()]));
    return { step: this.stepCount, hyper: structuredClone(this.hyper), buffers };
  }

  /**
   * Checks every name, length and hyperparameter first, so a bad state leaves the optimizer as it
   * was.
   */
  loadStateDict(state: OptimizerState): void {
    const who = `${this.constructor.name}.loadStateDict`;
    check(
      who,
      'step',
      state.step,
      Number.isInteger(state.step) && state.step >= 0,
      'an integer ≥ 0',
    );
    const want = Object.keys(this.hyper).sort().join(', '),
      got = Object.keys(state.hyper).sort().join(', ');
    if (want !== got)
      throw new Error(`${who}: hyperparameters {${got}} do not match this optimizer's {${want}}`);
    const hyper = structuredClone(state.hyper) as H;
    this.validate(hyper);
    const byName = new Map(this.params);
    const stepped = new Set<string>();
    for (const [key, values] of Object.entries(state.buffers)) {
      const dot = key.indexOf('.');
      const kind = key.slice(0, dot),
        p = byName.get(key.slice(dot + 1));
      if (dot < 0 || !this.kinds.includes(kind) || !p) {
        throw new Error(
          `${who}: unexpected buffer '${key}' (expected <${this.kinds.join('|')}>.<parameter ` +
            `name>)`,
        );
      }
      const length = kind === 'step' ? 1 : p.size;
      if (values.length !== length)
        throw new Error(`${who}: buffer '${key}' has length ${values.length}, expected ${length}`);
      stepped.add(key.slice(dot + 1));
    }
    for (const name of stepped) {
      for (const kind of this.kinds) {
        if (!(`${kind}.${name}` in state.buffers))
          throw new Error(`${who}: missing buffer '${kind}.${name}'`);
      }
    }
    this.hyper = hyper;
    this.stepCount = state.step;
    this.state = new Map(Object.entries(state.buffers).map(([k, v]) => [k, Float64Array.from(v)]));
  }
}

type SGDHyper = {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
};
export type SGDOptions = Partial<SGDHyper>;

export class SGD extends Optimizer<SGDHyper> {
  protected readonly kinds = ['momentum'];

  constructor(
    params: Params,
    { lr = 1e-3, momentum = 0, dampening = 0, weightDecay = 0, nesterov = false }: SGDOptions = {},
  ) {
    super(params, { lr, momentum, dampening, weightDecay, nesterov });
  }

  protected validate(h: SGDHyper): void {
    for (const key of ['lr', 'momentum', 'dampening', 'weightDecay'] as const)
      nonNegative('SGD', key, h[key]);
    check(
      'SGD',
      'nesterov',
      h.nesterov,
      !h.nesterov || (h.momentum > 0 && h.dampening === 0),
      'false unless momentum > 0 and dampening = 0',
    );
  }

  // d = g + wd·p;  b ← μ·b + (1 − dampening)·d  (b = d at the first step);
  // p ← p − lr·(d + μ·b) with Nesterov, p ← p − lr·b without
  protected update(name: string, p: TypedArray, g: TypedArray): void {
    const { lr, momentum: mu, dampening, weightDecay: wd, nesterov } = this.hyper;
    const first = !this.state.has(`momentum.${name}`);
    const b = mu > 0 ? this.buffer('momentum', name, p.length) : null;
    for (let i = 0; i < p.length; i++) {
      let d = g[i] + wd * p[i];
      if (b) {
        b[i] = first ? d : mu * b[i] + (1 - dampening) * d;
        d = nesterov ? d + mu * b[i] : b[i];
      }
      p[i] -= lr * d;
    }
  }
}

type AdamHyper = { lr: number; betas: [number, number]; eps: number; weightDecay: number };
export type AdamOptions = Partial<AdamHyper>;

/** Adam; its weightDecay is L2 added to the gradient (g + wd·p), as torch.optim.Adam. */
export class Adam extends Optimizer<AdamHyper> {
  protected readonly kinds = ['step', 'exp_avg', 'exp_avg_sq'];
  /** AdamW: the names of the parameters to decay, decoupled from the gradient. Null for Adam. */
  protected decoupled: Set<string> | null = null;

  constructor(
    params: Params,
    { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0 }: AdamOptions = {},
  ) {
    super(params, { lr, betas: [...betas], eps, weightDecay });
  }

  protected validate(h: AdamHyper): void {
    const who = this.constructor.name;
    for (const key of ['lr', 'eps', 'weightDecay'] as const) nonNegative(who, key, h[key]);
    check(
      who,
      'betas',
      h.betas,
      Array.isArray(h.betas) && h.betas.length === 2,
      'a pair [beta1, beta2]',
    );
    h.betas.forEach((b, i) => unitInterval(who, `betas[${i}]`, b));
  }

  // t ← t + 1;  g ← g + wd·p (Adam);  p ← p·(1 − lr·wd) (AdamW, decayed parameters only)
  // m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²
  // p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)      (torch's bias correction, eps
  // outside)
  protected update(name: string, p: TypedArray, g: TypedArray): void {
    const {
      lr,
      betas: [b1, b2],
      eps,
      weightDecay: wd,
    } = this.hyper;
    const t = ++this.buffer('step', name, 1)[0];
    const m = this.buffer('exp_avg', name, p.length),
      v = this.buffer('exp_avg_sq', name, p.length);
    const l2 = this.decoupled ? 0 : wd;
    const shrink = this.decoupled?.has(name) ? 1 - lr * wd : 1;
    const k = {
      l2,
      b1,
      b2,
      shrink,
      stepSize: lr / (1 - b1 ** t),
      bc2Sqrt: Math.sqrt(1 - b2 ** t),
      eps,
    };
    const simd = p instanceof Float32Array && g instanceof Float32Array;
    if (!simd || !simdAdamUpdate(p, g, m, v, k)) adamUpdate(p, g, m, v, k);
  }
}

/** Adam's update of p from g with moments m, v, in place: the reference of adam-simd.ts. */
export function adamUpdate(
  p: TypedArray,
  g: TypedArray,
  m: Float64Array,
  v: Float64Array,
  { l2, b1, b2, shrink, stepSize, bc2Sqrt, eps }: AdamConstants,
): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + l2 * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    p[i] = p[i] * shrink - (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + eps);
  }
}

export interface AdamWOptions extends AdamOptions {
  /**
   * Which parameters to decay; by default those with ndim ≥ 2 (weights, not biases or norm gains).
   */
  decayFilter?: (name: string, p: Tensor) => boolean;
}

/**
 * Adam with decoupled weight decay p ← p − lr·wd·p (Loshchilov & Hutter, 2019), wd = 0.01 by
 * default.
 */
export class AdamW extends Adam {
  constructor(
    params: Params,
    { decayFilter = (_name, p) => p.ndim >= 2, ...options }: AdamWOptions = {},
  ) {
    super(params, { ...options, weightDecay: options.weightDecay ?? 0.01 });
    this.decoupled = new Set(
      this.params.filter(([name, p]) => decayFilter(name, p)).map(([name]) => name),
    );
  }
}
