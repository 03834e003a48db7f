// A primitive is one table entry: a name, a forward that calls kernels, and a backward (the
// vector-Jacobian product) written with Tensor ops, so it runs on every backend. primitive() wraps
// an entry into a function that records the graph node when grad is on. Read next: elementwise.ts.

import { isGradEnabled } from '../autograd.ts';
import type { Tensor } from '../tensor.ts';

export interface PrimitiveDef<A> {
  name: string;
  forward: (inputs: Tensor[], attrs: A) => Tensor;
  /** null for ops with no gradient (comparisons, argmax, oneHot). */
  backward: ((dy: Tensor, inputs: Tensor[], y: Tensor, attrs: A) => (Tensor | null)[]) | null;
}

/** Every primitive by name: the gradient-coverage test walks this table. */
export const primitives = new Map<string, PrimitiveDef<never>>();

/** A recorded op: call it with its inputs and its attributes. */
export type Op<A> = (inputs: Tensor[], attrs: A) => Tensor;

export function primitive<A = undefined>(def: PrimitiveDef<A>): Op<A> {
  primitives.set(def.name, def as PrimitiveDef<never>);
  return (inputs, attrs) => {
    const y = def.forward(inputs, attrs);
    if (def.backward && isGradEnabled() && inputs.some((x) => x.requiresGrad)) {
      y.requiresGrad = true;
      y.gradFn = {
        name: def.name,
        inputs,
        attrs,
        vjp: def.backward as (
          dy: Tensor,
          inputs: Tensor[],
          y: Tensor,
          attrs: unknown,
        ) => (Tensor | null)[],
        released: false,
      };
    }
    return y;
  };
}
