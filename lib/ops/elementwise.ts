// Elementwise primitives. Binary ops broadcast by NumPy rules; their backward rules return
// gradients of the broadcast output shape and the engine sums them back (autograd.ts, sumToShape).
// Read next: reduce.ts.

import { backend, type BinaryOp, type UnaryOp } from '../backend/backend.ts';
import { broadcastShapes, fmt } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { primitive, type Op } from './primitive.ts';
import { zerosLike } from '../creation.ts';

type UnaryGrad = (dy: Tensor, x: Tensor, y: Tensor, p: number) => Tensor;

function unaryPrimitive(op: UnaryOp, grad: UnaryGrad | null) {
  return primitive<number>({
    name: op,
    forward: ([x], p) => new Tensor(backend().unary(op, x.data, p), x.shape),
    backward: grad && ((dy, [x], y, p) => [grad(dy, x, y, p)]),
  });
}

export const neg = unaryPrimitive('neg', (dy) => dy.neg()); // d(−x) = −1
export const exp = unaryPrimitive('exp', (dy, _x, y) => dy.mul(y)); // d eˣ = eˣ
export const log = unaryPrimitive('log', (dy, x) => dy.div(x)); // d ln x = 1/x
export const sqrt = unaryPrimitive('sqrt', (dy, _x, y) => dy.div(y.mul(2))); // d √x = 1/(2√x)
// d x^−½ = −½ x^−³ᐟ²
export const rsqrt = unaryPrimitive('rsqrt', (dy, _x, y) => dy.mul(y.pow(3)).mul(-0.5));
export const abs = unaryPrimitive('abs', (dy, x) => dy.mul(x.sign())); // d|x| = sign(x)
export const sign = unaryPrimitive('sign', null);
export const relu = unaryPrimitive('relu', (dy, x) => reluGrad(dy, x)); // d relu = [x > 0]

/** dy ⊙ [x > 0] in one kernel (relu's and a fused Linear's backward; not itself differentiable). */
export const reluGrad = (dy: Tensor, x: Tensor): Tensor =>
  new Tensor(backend().reluBackward(dy.data, x.data), dy.shape);
// σ(1−σ)
export const sigmoid = unaryPrimitive('sigmoid', (dy, _x, y) => dy.mul(y).mul(y.neg().add(1)));
// 1 − tanh²
export const tanh = unaryPrimitive('tanh', (dy, _x, y) => dy.mul(y.square().neg().add(1)));
// d erf x = 2/√π · e^{−x²}
export const erf = unaryPrimitive('erf', (dy, x) =>
  dy.mul(
    x
      .square()
      .neg()
      .exp()
      .mul(2 / Math.sqrt(Math.PI)),
  ),
);
// d xᵖ = p·x^{p−1}
export const pow = unaryPrimitive('pow', (dy, x, _y, p) => dy.mul(x.pow(p - 1).mul(p)));

export function checkSameDtype(op: string, a: Tensor, b: Tensor): void {
  if (a.dtype !== b.dtype) {
    throw new Error(
      `${op}: dtype mismatch (${a.dtype} ${fmt(a.shape)} vs ${b.dtype} ${fmt(b.shape)})`,
    );
  }
}

/** One input's gradient; binaryPrimitive calls it only where that input requires grad. */
type InputGrad = (dy: Tensor, a: Tensor, b: Tensor, y: Tensor) => Tensor;

function binaryPrimitive(op: BinaryOp, grads: [InputGrad, InputGrad] | null) {
  return primitive({
    name: op,
    forward: ([a, b]) => {
      checkSameDtype(op, a, b);
      const shape = broadcastShapes(op, a.shape, b.shape);
      return new Tensor(backend().binary(op, a.data, a.shape, b.data, b.shape, shape), shape);
    },
    // x·scale with a constant scale: dy·x, the scale's gradient, is never computed
    backward:
      grads &&
      ((dy, [a, b], y) => [
        a.requiresGrad ? grads[0](dy, a, b, y) : null,
        b.requiresGrad ? grads[1](dy, a, b, y) : null,
      ]),
  });
}

export const add = binaryPrimitive('add', [(dy) => dy, (dy) => dy]);
export const sub = binaryPrimitive('sub', [(dy) => dy, (dy) => dy.neg()]);
// d(ab) = b da + a db
export const mul = binaryPrimitive('mul', [(dy, _a, b) => dy.mul(b), (dy, a) => dy.mul(a)]);
// d(a/b) = da/b − (a/b²) db = da/b − y/b db
export const div = binaryPrimitive('div', [
  (dy, _a, b) => dy.div(b),
  (dy, _a, b, y) => dy.mul(y).div(b).neg(),
]);
// max(a, b) routes the gradient to the larger input; ties split it in half (as PyTorch does)
const toLarger = (a: Tensor, b: Tensor) => a.gt(b).add(a.eq(b).mul(0.5)); // a's share
export const maximum = binaryPrimitive('maximum', [
  (dy, a, b) => dy.mul(toLarger(a, b)),
  (dy, a, b) => dy.mul(toLarger(a, b).neg().add(1)),
]);
// min(a, b) = −max(−a, −b)
export const minimum = binaryPrimitive('minimum', [
  (dy, a, b) => dy.mul(toLarger(a.neg(), b.neg())),
  (dy, a, b) => dy.mul(toLarger(a.neg(), b.neg()).neg().add(1)),
]);
export const gt = binaryPrimitive('gt', null);
export const ge = binaryPrimitive('ge', null);
export const lt = binaryPrimitive('lt', null);
export const le = binaryPrimitive('le', null);
export const eq = binaryPrimitive('eq', null);
export const ne = binaryPrimitive('ne', null);

// where(c, a, b): the gradient goes to a where c holds, to b elsewhere
export const where: Op<undefined> = primitive({
  name: 'where',
  forward: ([cond, a, b]) => {
    checkSameDtype('where', a, b);
    const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
    const data = backend().where(cond.data, cond.shape, a.data, a.shape, b.data, b.shape, shape);
    return new Tensor(data, shape);
  },
  backward: (dy, [cond]) => {
    const zero = zerosLike(dy);
    return [null, whereOf(cond, dy, zero), whereOf(cond, zero, dy)];
  },
});
const whereOf = (cond: Tensor, a: Tensor, b: Tensor): Tensor => where([cond, a, b], undefined);
