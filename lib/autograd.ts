// Reverse-mode autograd: the graph node, the backward walk, noGrad, and functional grad.
// Each Tensor made by a primitive while grad is enabled keeps a GradFn: which primitive made it,
// from which inputs. backward() sorts the graph iteratively (no recursion, so a 50,000-op chain
// is fine), walks it from the output back, keeps intermediate gradients in a local Map, sums each
// input gradient back to the input's shape (the one place broadcasting is undone), and accumulates
// `.grad` on leaves only, as PyTorch does. The arrays the walk makes go back to the storage pool
// as soon as no pending gradient or leaf holds them (backward-arrays.ts). Read next:
// ops/primitive.ts.

import type { Tensor } from './tensor.ts';
import { onesLike, zerosLike } from './creation.ts';
import { sameShape, fmt, type Shape } from './shape.ts';
import { BackwardArrays } from './backward-arrays.ts';

export interface GradFn {
  name: string;
  inputs: Tensor[];
  attrs: unknown;
  /** Vector-Jacobian product: the gradient of each input given the output's gradient `dy`. */
  vjp: (dy: Tensor, inputs: Tensor[], y: Tensor, attrs: unknown) => (Tensor | null)[];
  released: boolean;
}

let gradEnabled = true;

export const isGradEnabled = (): boolean => gradEnabled;

/** Run `fn` without recording a graph (like `with torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  const before = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = before;
  }
}

/** Sum a full-shape gradient down to `shape`: over leading extra dims and over dims that were 1. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.shape.length - shape.length;
  const dims = g.shape
    .map((_, i) => i)
    .filter((i) => i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1));
  return g.sum(dims, true).reshape([...shape]);
}

/** Dependency order, outputs last, found with an explicit stack instead of recursion. */
function topoSort(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>([root]);
  const stack: [Tensor, number][] = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, next] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (next < inputs.length) {
      top[1]++;
      const child = inputs[next];
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

/** The names of the primitives recorded in root's graph: what backward would run (gradchecks). */
export function graphOps(root: Tensor): Set<string> {
  return new Set(topoSort(root).flatMap((t) => (t.gradFn ? [t.gradFn.name] : [])));
}

export interface BackwardOptions {
  retainGraph?: boolean;
}

export function backward(
  root: Tensor,
  seed?: Tensor,
  { retainGraph = false }: BackwardOptions = {},
): void {
  if (!root.requiresGrad) {
    throw new Error(
      'backward: tensor does not require grad (no input of the graph has requiresGrad: true)',
    );
  }
  if (!seed && root.size !== 1) {
    throw new Error(
      `backward: a gradient can be created implicitly only for a scalar output; got shape ` +
        `${fmt(root.shape)} (pass a seed gradient)`,
    );
  }
  if (seed && !sameShape(seed.shape, root.shape)) {
    throw new Error(
      `backward: seed gradient shape ${fmt(seed.shape)} does not match the output shape ` +
        `${fmt(root.shape)}`,
    );
  }
  const order = topoSort(root);
  const g0 = seed ?? onesLike(root);
  const grads = new Map<Tensor, Tensor>([[root, g0]]);
  const arrays = new BackwardArrays();
  arrays.hold(g0);
  noGrad(() => walk(order, grads, arrays, retainGraph));
}

/**
 * The walk from the output back: each node's vjp, its inputs' gradients summed and passed on; after
 * each node, the arrays nothing needs any more go back to the storage pool (backward-arrays.ts).
 */
function walk(
  order: Tensor[],
  grads: Map<Tensor, Tensor>,
  arrays: BackwardArrays,
  retainGraph: boolean,
): void {
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const g = grads.get(t);
    grads.delete(t);
    if (!g) continue;
    arrays.drop(g);
    arrays.step(() => {
      const fn = t.gradFn;
      if (!fn) {
        accumulateLeaf(t, g, arrays.owns(g));
        arrays.keep(t);
        return;
      }
      if (fn.released) {
        throw new Error(
          `backward: the graph through '${fn.name}' was freed by an earlier backward; call the ` +
            `first backward with {retainGraph: true}`,
        );
      }
      const inputGrads = fn.vjp(g, fn.inputs, t, fn.attrs);
      fn.inputs.forEach((x, k) => {
        const gx = inputGrads[k];
        if (!x.requiresGrad || !gx) return;
        const summed = sumToShape(gx, x.shape);
        const prev = grads.get(x);
        if (prev) arrays.drop(prev);
        const total = prev ? prev.add(summed) : summed;
        grads.set(x, total);
        arrays.hold(total);
      });
      if (!retainGraph) releaseGraph(fn);
    });
    arrays.sweep();
  }
}

// .grad is owned by the leaf: the gradient itself the first time where nothing else holds its
// array (else a copy), then added into in place.
function accumulateLeaf(t: Tensor, g: Tensor, owned: boolean): void {
  if (!t.grad) {
    t.grad = owned ? g : g.clone();
    return;
  }
  const acc = t.grad.data;
  for (let i = 0; i < acc.length; i++) acc[i] += g.data[i];
}

function releaseGraph(fn: GradFn): void {
  fn.inputs = [];
  fn.attrs = undefined;
  fn.released = true;
}

/**
 * Functional gradient: grad(f)(...xs) returns df/dx for each tensor argument, where f returns a
 * scalar tensor. The arguments are not modified; their copies are the leaves.
 */
export function grad(fn: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => Tensor[] {
  return (...xs) => valueAndGrad(fn)(...xs).grads;
}

export function valueAndGrad(fn: (...xs: Tensor[]) => Tensor) {
  return (...xs: Tensor[]): { value: Tensor; grads: Tensor[] } => {
    const leaves = xs.map((x) => x.detach().requiresGrad_());
    const value = fn(...leaves);
    if (value.size !== 1) {
      throw new Error(
        `valueAndGrad: the function must return a scalar, got shape ${fmt(value.shape)}`,
      );
    }
    value.backward();
    return { value: value.detach(), grads: leaves.map((l) => l.grad ?? zerosLike(l)) };
  };
}
