// Shape arithmetic: sizes, strides, broadcasting and dim normalisation, with errors that name the
// op.

export type Shape = readonly number[];

export const fmt = (shape: Shape): string => `[${shape.join(',')}]`;

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides: the last dim moves fastest. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function checkShape(op: string, shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(
      `${op}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  return [...shape];
}

/** NumPy broadcasting: align from the right; each pair of dims must be equal or one of them 1. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(
        `${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast (${da} vs ${db} at dim ` +
          `${i - n})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Map a possibly negative dim into [0, ndim). */
export function normDim(op: string, dim: number, ndim: number): number {
  if (!Number.isInteger(dim) || dim < -ndim || dim >= Math.max(ndim, 1)) {
    throw new Error(`${op}: dim ${dim} is out of range for a tensor of ${ndim} dims`);
  }
  return dim < 0 ? dim + ndim : dim;
}

/** Normalise `dim` (undefined = all dims, number, or list) to a sorted list of distinct dims. */
export function normDims(
  op: string,
  dim: number | readonly number[] | undefined,
  ndim: number,
): number[] {
  if (dim === undefined) return [...Array(ndim).keys()];
  const list = (typeof dim === 'number' ? [dim] : [...dim]).map((d) => normDim(op, d, ndim));
  if (new Set(list).size !== list.length)
    throw new Error(`${op}: dims ${JSON.stringify(dim)} repeat a dim`);
  return list.sort((x, y) => x - y);
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Split a shape around `dim` into (outer, n, inner) sizes, the layout of every per-dim kernel. */
export function aroundDim(shape: Shape, dim: number): [number, number, number] {
  return [sizeOf(shape.slice(0, dim)), shape[dim], sizeOf(shape.slice(dim + 1))];
}
