// Tensor: a contiguous row-major typed array plus a shape and a dtype, and the graph link (gradFn)
// that backward follows. Methods follow PyTorch's names and positional arguments in camelCase, so
// model code can be read side by side with PyTorch code. Every method is a thin call into ops/
// (primitives with gradients) or functional.ts (composites built from them).
// Read next: autograd.ts.

import { backward, type BackwardOptions, type GradFn } from './autograd.ts';
import { allocate, castArray, dtypeOf, isFloat, type DType, type TypedArray } from './dtype.ts';
import * as F from './functional.ts';
import * as E from './ops/elementwise.ts';
import { matmul, type MatmulOptions } from './ops/matmul.ts';
import { gather, indexAdd, indexSelect, scatterAdd } from './ops/indexing.ts';
import { logSoftmax, softmax } from './ops/softmax.ts';
import { fmt, sizeOf, type Shape } from './shape.ts';

export type Scalar = number;
export type TensorLike = Tensor | Scalar;
type Dims = number | number[];

export class Tensor {
  readonly data: TypedArray;
  readonly shape: readonly number[];
  readonly dtype: DType;
  requiresGrad = false;
  /**
   * Accumulated gradient, on leaves only (tensors that require grad and were not made by an op).
   */
  grad: Tensor | null = null;
  /** The primitive that made this tensor, null for leaves and for tensors made without grad. */
  gradFn: GradFn | null = null;

  constructor(data: TypedArray, shape: Shape) {
    if (sizeOf(shape) !== data.length) {
      throw new Error(
        `Tensor: shape ${fmt(shape)} needs ${sizeOf(shape)} elements, data has ${data.length}`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtypeOf(data);
  }

  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return this.data.length;
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  // ---- autograd ----
  backward(grad?: Tensor, options?: BackwardOptions): void {
    backward(this, grad, options);
  }
  /** Same data, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }
  requiresGrad_(requiresGrad = true): this {
    if (!this.isLeaf)
      throw new Error(
        'requiresGrad_: only leaf tensors can change requiresGrad (use detach() first)',
      );
    if (requiresGrad && !isFloat(this.dtype))
      throw new Error(`requiresGrad_: only float tensors can require grad, got ${this.dtype}`);
    this.requiresGrad = requiresGrad;
    return this;
  }

  // ---- reading values ----
  item(): number {
    if (this.size !== 1)
      throw new Error(
        `item: only a one-element tensor converts to a number, got shape ${fmt(this.shape)}`,
      );
    return this.data[0];
  }
  /** Nested JS arrays (a number for a 0-d tensor). */
  toArray(): number | unknown[] {
    const build = (dim: number, offset: number): number | unknown[] => {
      if (dim === this.ndim) return this.data[offset];
      const step = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * step));
    };
    return build(0, 0);
  }
  toString(): string {
    const values =
      this.size <= 64
        ? JSON.stringify(this.toArray())
        : `[${fmt(this.shape)}: ${Array.from(this.data.subarray(0, 6)).join(', ')}, ...]`;
    return (
      `tensor(${values}, ` + `dtype=${this.dtype}${this.requiresGrad ? ', requiresGrad=true' : ''})`
    );
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  // ---- dtype ----
  /** A copy in another dtype; the gradient flows back cast to the original dtype. */
  to(dtype: DType): Tensor {
    return dtype === this.dtype ? this : F.cast([this], dtype);
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  /** A copy whose gradient is the identity. */
  clone(): Tensor {
    return F.clone(this);
  }
  contiguous(): Tensor {
    return this; // every tensor is contiguous: movement ops copy, reshape shares
  }

  // ---- elementwise ----
  add(other: TensorLike): Tensor {
    return E.add([this, this.lift(other)], undefined);
  }
  sub(other: TensorLike): Tensor {
    return E.sub([this, this.lift(other)], undefined);
  }
  mul(other: TensorLike): Tensor {
    return E.mul([this, this.lift(other)], undefined);
  }
  div(other: TensorLike): Tensor {
    return E.div([this, this.lift(other)], undefined);
  }
  maximum(other: TensorLike): Tensor {
    return E.maximum([this, this.lift(other)], undefined);
  }
  minimum(other: TensorLike): Tensor {
    return E.minimum([this, this.lift(other)], undefined);
  }
  gt(other: TensorLike): Tensor {
    return E.gt([this, this.lift(other)], undefined);
  }
  ge(other: TensorLike): Tensor {
    return E.ge([this, this.lift(other)], undefined);
  }
  lt(other: TensorLike): Tensor {
    return E.lt([this, this.lift(other)], undefined);
  }
  le(other: TensorLike): Tensor {
    return E.le([this, this.lift(other)], undefined);
  }
  eq(other: TensorLike): Tensor {
    return E.eq([this, this.lift(other)], undefined);
  }
  ne(other: TensorLike): Tensor {
    return E.ne([this, this.lift(other)], undefined);
  }
  neg(): Tensor {
    return E.neg([this], 0);
  }
  exp(): Tensor {
    return E.exp([this], 0);
  }
  log(): Tensor {
    return E.log([this], 0);
  }
  sqrt(): Tensor {
    return E.sqrt([this], 0);
  }
  rsqrt(): Tensor {
    return E.rsqrt([this], 0);
  }
  abs(): Tensor {
    return E.abs([this], 0);
  }
  sign(): Tensor {
    return E.sign([this], 0);
  }
  relu(): Tensor {
    return E.relu([this], 0);
  }
  sigmoid(): Tensor {
    return E.sigmoid([this], 0);
  }
  tanh(): Tensor {
    return E.tanh([this], 0);
  }
  erf(): Tensor {
    return E.erf([this], 0);
  }
  pow(exponent: number): Tensor {
    if (typeof exponent !== 'number')
      throw new Error(`pow: the exponent must be a number, got ${typeof exponent}`);
    return E.pow([this], exponent);
  }
  square(): Tensor {
    return this.mul(this);
  }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return F.gelu(this, approximate);
  }
  silu(): Tensor {
    return F.silu(this);
  }
  elu(alpha = 1): Tensor {
    return F.elu(this, alpha);
  }
  clamp(min?: number, max?: number): Tensor {
    return F.clamp(this, min, max);
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return F.maskedFill(this, mask, value);
  }

  // ---- reductions ----
  sum(dim?: Dims, keepdim = false): Tensor {
    return F.sum(this, dim, keepdim);
  }
  mean(dim?: Dims, keepdim = false): Tensor {
    return F.mean(this, dim, keepdim);
  }
  max(dim?: Dims, keepdim = false): Tensor {
    return F.max(this, dim, keepdim);
  }
  min(dim?: Dims, keepdim = false): Tensor {
    return F.min(this, dim, keepdim);
  }
  /** Variance with Bessel's correction by default (correction = 1), as torch.var. */
  var(dim?: Dims, keepdim = false, correction = 1): Tensor {
    return F.variance(this, dim, keepdim, correction);
  }
  logsumexp(dim: Dims, keepdim = false): Tensor {
    return F.logsumexp(this, dim, keepdim);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return F.argmax(this, dim, keepdim);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return F.argmin(this, dim, keepdim);
  }

  // ---- linear algebra and normalisation ----
  matmul(other: Tensor, options?: MatmulOptions): Tensor {
    return matmul(this, other, options);
  }
  softmax(dim: number): Tensor {
    return softmax(this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return logSoftmax(this, dim);
  }

  // ---- shape and movement ----
  reshape(shape: readonly number[]): Tensor {
    return F.reshape(this, shape);
  }
  view(shape: readonly number[]): Tensor {
    return F.reshape(this, shape);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return F.flatten(this, startDim, endDim);
  }
  permute(dims: readonly number[]): Tensor {
    return F.permute(this, dims);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return F.transpose(this, dim0, dim1);
  }
  get T(): Tensor {
    return F.transpose(this, -2, -1);
  }
  unsqueeze(dim: number): Tensor {
    return F.unsqueeze(this, dim);
  }
  squeeze(dim?: number): Tensor {
    return F.squeeze(this, dim);
  }
  expand(shape: readonly number[]): Tensor {
    return F.expand(this, shape);
  }
  slice(dim: number, start?: number, end?: number, step?: number): Tensor {
    return F.slice(this, dim, start, end, step);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return F.narrow(this, dim, start, length);
  }
  split(splitSize: number | number[], dim = 0): Tensor[] {
    return F.split(this, splitSize, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return F.chunk(this, chunks, dim);
  }
  gather(dim: number, index: Tensor): Tensor {
    return gather(this, dim, index);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return indexSelect(this, dim, index);
  }
  // the adjoints, out of place like torch's scatter_add / index_add / slice_scatter
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return scatterAdd(this, dim, index, src);
  }
  indexAdd(dim: number, index: Tensor, source: Tensor): Tensor {
    return indexAdd(this, dim, index, source);
  }
  sliceScatter(src: Tensor, dim?: number, start?: number, end?: number, step?: number): Tensor {
    return F.sliceScatter(this, src, dim, start, end, step);
  }
  cumsum(dim: number): Tensor {
    return F.cumsum(this, dim);
  }
  tril(diagonal = 0): Tensor {
    return F.tril(this, diagonal);
  }
  triu(diagonal = 0): Tensor {
    return F.triu(this, diagonal);
  }

  /**
   * A number becomes a 0-d tensor of this tensor's dtype, so `x.mul(2)` stays float64 in
   * gradchecks.
   */
  private lift(other: TensorLike): Tensor {
    if (other instanceof Tensor) return other;
    if (typeof other !== 'number')
      throw new Error(`expected a Tensor or a number, got ${typeof other}`);
    const data = allocate(this.dtype, 1);
    data[0] = other;
    return new Tensor(data, []);
  }
}

/** Wrap existing values without copying when they already are a typed array of the dtype. */
export function fromTyped(values: ArrayLike<number>, shape: Shape, dtype: DType): Tensor {
  const data =
    ArrayBuffer.isView(values) && dtypeOf(values as TypedArray) === dtype
      ? (values as TypedArray)
      : castArray(values, dtype);
  return new Tensor(data, shape);
}
