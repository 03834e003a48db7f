// Making tensors: from nested arrays or typed arrays, constants, ranges, and seeded random draws
// (every draw goes through random.ts). Read next: index.ts for the public surface.

import { allocate, castArray, isDType, isFloat, type DType, type TypedArray } from './dtype.ts';
import { random, randomInt, randomNormal } from './random.ts';
import { checkShape, fmt, sizeOf } from './shape.ts';
import { fromTyped, Tensor } from './tensor.ts';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export type NestedArray = number | readonly NestedArray[];

function finish(t: Tensor, op: string, options: TensorOptions): Tensor {
  if (options.requiresGrad) {
    if (!isFloat(t.dtype))
      throw new Error(`${op}: only float tensors can require grad, got ${t.dtype}`);
    t.requiresGrad = true;
  }
  return t;
}

function dtypeOption(op: string, options: TensorOptions, fallback: DType): DType {
  const dtype = options.dtype ?? fallback;
  if (!isDType(dtype))
    throw new Error(`${op}: unknown dtype '${dtype}' (float32, float64 or int32)`);
  return dtype;
}

/** Infer the shape of a nested array, rejecting ragged rows. */
function nestedShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = values;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0] as NestedArray;
  }
  return shape;
}

/** tensor([[1, 2], [3, 4]]), tensor(typedArray, {shape}), tensor(3.5): a new leaf tensor. */
export function tensor(
  values: NestedArray | TypedArray,
  options: TensorOptions & { shape?: number[] } = {},
): Tensor {
  if (ArrayBuffer.isView(values)) {
    const typed = values as TypedArray;
    const fallback =
      typed instanceof Float64Array ? 'float64' : typed instanceof Int32Array ? 'int32' : 'float32';
    const shape = checkShape('tensor', options.shape ?? [typed.length]);
    if (sizeOf(shape) !== typed.length) {
      throw new Error(
        `tensor: shape ${fmt(shape)} needs ${sizeOf(shape)} elements, got ${typed.length}`,
      );
    }
    return finish(
      new Tensor(castArray(typed, dtypeOption('tensor', options, fallback)), shape),
      'tensor',
      options,
    );
  }
  const shape = nestedShape(values);
  const flat = (
    Array.isArray(values) ? (values as unknown[]).flat(Infinity) : [values]
  ) as unknown[];
  if (flat.length !== sizeOf(shape) || flat.some((v) => typeof v !== 'number')) {
    throw new Error(
      `tensor: expected a rectangular nested array of numbers of shape ${fmt(shape)}`,
    );
  }
  checkRectangular(values, shape, 0);
  const t = fromTyped(
    flat as number[],
    options.shape ? checkShape('tensor', options.shape) : shape,
    dtypeOption('tensor', options, 'float32'),
  );
  return finish(t, 'tensor', options);
}

function checkRectangular(values: NestedArray, shape: number[], dim: number): void {
  if (dim === shape.length) return;
  if (!Array.isArray(values) || values.length !== shape[dim]) {
    throw new Error(`tensor: ragged nested array: expected ${shape[dim]} entries at depth ${dim}`);
  }
  for (const v of values) checkRectangular(v, shape, dim + 1);
}

function filled(
  op: string,
  shape: readonly number[],
  options: TensorOptions,
  fill: (i: number) => number,
  fallback: DType = 'float32',
): Tensor {
  const s = checkShape(op, shape);
  const data = allocate(dtypeOption(op, options, fallback), sizeOf(s));
  for (let i = 0; i < data.length; i++) data[i] = fill(i);
  return finish(new Tensor(data, s), op, options);
}

export const zeros = (shape: readonly number[], options: TensorOptions = {}) =>
  filled('zeros', shape, options, () => 0);
export const ones = (shape: readonly number[], options: TensorOptions = {}) =>
  filled('ones', shape, options, () => 1);
export const full = (shape: readonly number[], value: number, options: TensorOptions = {}) =>
  filled('full', shape, options, () => value);
export const zerosLike = (x: Tensor, options: TensorOptions = {}) =>
  zeros(x.shape, { dtype: x.dtype, ...options });
export const onesLike = (x: Tensor, options: TensorOptions = {}) =>
  ones(x.shape, { dtype: x.dtype, ...options });

/** arange(end) or arange(start, end, step); int32 when all three are integers, else float32. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(start) || !Number.isFinite(end) || !Number.isFinite(step)) {
    throw new Error(
      `arange: need finite start, end and a non-zero step, got (${start}, ${end}, ${step})`,
    );
  }
  const n = Math.max(0, Math.ceil((end - start) / step));
  const allInts = [start, end, step].every(Number.isInteger);
  return filled('arange', [n], options, (i) => start + i * step, allInts ? 'int32' : 'float32');
}

/** Identity matrix n × m (m defaults to n). */
export const eye = (n: number, m = n, options: TensorOptions = {}) =>
  filled('eye', [n, m], options, (i) => (Math.floor(i / m) === i % m ? 1 : 0));

/** Standard normal draws from the seeded generator. */
export const randn = (shape: readonly number[], options: TensorOptions = {}) =>
  filled('randn', shape, options, randomNormal);
/** Uniform [0, 1) draws from the seeded generator. */
export const rand = (shape: readonly number[], options: TensorOptions = {}) =>
  filled('rand', shape, options, random);

/** Integers uniform in [low, high), int32. */
export function randint(
  low: number,
  high: number,
  shape: readonly number[],
  options: TensorOptions = {},
): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new Error(`randint: need integers low < high, got low=${low}, high=${high}`);
  }
  return filled('randint', shape, options, () => randomInt(low, high), 'int32');
}
