// The gpu.js kernels of the GPU backend, as JavaScript source text. Read next: runner.ts.
//
// Why source text and not TypeScript functions: gpu.js parses a kernel's source (fn.toString())
// and translates it to WGSL, GLSL, WebAssembly or plain JS. What toString() returns depends on the
// toolchain (tsx already strips whitespace; a minifier renames and rewrites), so a kernel written
// as a TS function can break when the build changes. Text is what gpu.js reads, whatever the build.
//
// Every kernel follows these rules, which work around gpu.js 2.24.1's silent wrong results
// (docs/gpujs.md lists the bugs and what was measured):
// - arguments are flat 1-D Float32Arrays and each kernel computes its own indices (2-D `Input`s are
//   indexed wrongly in cpu mode with dynamic arguments);
// - the output is 1-D (it comes back as one Float32Array) and every size is a compile-time
//   constant: a kernel is compiled once per shape (runner.ts caches it), so no dynamicOutput /
//   dynamicArguments flag is ever set, and an argument's length never changes under a kernel;
// - each loop has its own variable name (two `for (let j ...)` loops fail to compile in GLSL);
// - a flat index t is split as z = floor((t + 0.5) / n): GLSL computes in floats, and the +0.5
//   keeps a rounding error from pushing an exact multiple below the next integer. Indices stay
//   below 2^24 (gpu.ts only accepts such sizes), where float32 counts exactly.
// - −∞ (masked logits): WGSL lets a compiler assume no infinities reach arithmetic, so a value
//   below −3e38 is treated as "masked" by an explicit branch and never fed to exp().

/** A kernel as the runners take it: its source, and the sizes baked into one compiled instance. */
export interface KernelSpec {
  /** Cache key: kernel name plus every constant and argument length. */
  key: string;
  source: string;
  /** Length of the 1-D output. */
  output: number;
  constants: Record<string, number>;
}

/**
 * Batched matmul, one thread per output cell: out[z, i, j] = Σ_k op(A)[z, i, k] · op(B)[z, k, j].
 * A transposed operand only swaps its strides (rowA/colA, rowB/colB), as in the CPU kernel; the
 * batch offsets aOff[z], bOff[z] carry the broadcast of batch dims (0 stride for a size-1 dim).
 * gpu.js has no workgroup memory, so this is the plain dot-product scheme: each thread streams a
 * row of op(A) and a column of op(B), K multiply-adds in float32.
 */
export const matmulSource = String.raw`function matmul(a, b, aOff, bOff) {
  const t = this.thread.x;
  const z = Math.floor((t + 0.5) / this.constants.MN);
  const r = t - z * this.constants.MN;
  const i = Math.floor((r + 0.5) / this.constants.N);
  const j = r - i * this.constants.N;
  const ao = aOff[z] + i * this.constants.rowA;
  const bo = bOff[z] + j * this.constants.colB;
  let sum = 0;
  for (let k = 0; k < this.constants.K; k++) {
    sum += a[ao + k * this.constants.colA] * b[bo + k * this.constants.rowB];
  }
  return sum;
}`;

// The pass-1 kernels' shared first lines: thread t owns row (o, j) of x as (outer, n, inner),
// whose first element is at `base` (the others follow every `inner`).
const firstOfRow = `  const t = this.thread.x;
  const o = Math.floor((t + 0.5) / this.constants.inner);
  const base = o * this.constants.n * this.constants.inner + (t - o * this.constants.inner);`;

/**
 * Softmax pass 1, one thread per row in the (outer, n, inner) layout: lse = max + log Σ exp(x −
 * max). A fully masked row returns its max (−∞), which pass 2 recognises.
 */
export const rowLogSumExpSource = String.raw`function rowLogSumExp(x) {
${firstOfRow}
  let m = x[base];
  for (let i = 1; i < this.constants.n; i++) {
    const v = x[base + i * this.constants.inner];
    if (v > m) {
      m = v;
    }
  }
  if (m < -3.0e38) {
    return m;
  }
  let s = 0;
  for (let i2 = 0; i2 < this.constants.n; i2++) {
    const v2 = x[base + i2 * this.constants.inner];
    if (v2 > -3.0e38) {
      s += Math.exp(v2 - m);
    }
  }
  return m + Math.log(s);
}`;

// The pass-2 kernels' shared first lines: element t of `x` as (outer, n, inner) lies in row (o, j),
// whose statistic (lse, or s) is at o·inner + j; `v` is the element, `rowStat` its row's statistic.
const elementOfRow = (x: string, stats: string) => `  const t = this.thread.x;
  const o = Math.floor((t + 0.5) / this.constants.nInner);
  const r = t - o * this.constants.nInner;
  const j = r - Math.floor((r + 0.5) / this.constants.inner) * this.constants.inner;
  const v = ${x}[t];
  const rowStat = ${stats}[o * this.constants.inner + j];`;

/**
 * Softmax pass 2, one thread per element: y = exp(x − lse) (softmax) or x − lse (log-softmax, when
 * the constant `log` is 1). Masked entries give 0 / −∞, so a fully masked row gives zeros / −∞
 * (its lse is −∞, and −∞ − −∞ would be NaN: log-softmax returns the lse itself).
 */
export const softmaxApplySource = String.raw`function softmaxApply(x, lse) {
${elementOfRow('x', 'lse')}
  if (this.constants.log > 0.5) {
    if (rowStat < -3.0e38) {
      return rowStat;
    }
    return v - rowStat;
  }
  if (v < -3.0e38) {
    return 0;
  }
  return Math.exp(v - rowStat);
}`;

/**
 * Softmax backward pass 1, one thread per row: s = Σ dy ⊙ y (softmax) or Σ dy (log-softmax).
 */
export const rowDotSource = String.raw`function rowDot(y, dy) {
${firstOfRow}
  let s = 0;
  for (let i = 0; i < this.constants.n; i++) {
    const at = base + i * this.constants.inner;
    if (this.constants.log > 0.5) {
      s += dy[at];
    } else {
      s += dy[at] * y[at];
    }
  }
  return s;
}`;

/**
 * Softmax backward pass 2, one thread per element:
 *   softmax:      dx = y ⊙ (dy − s)
 *   log-softmax:  dx = dy − exp(y) · s      (exp(−∞) = 0: a masked entry passes dy through)
 */
export const softmaxBackwardApplySource = String.raw`function softmaxBackwardApply(y, dy, s) {
${elementOfRow('y', 's')}
  if (this.constants.log < 0.5) {
    return v * (dy[t] - rowStat);
  }
  if (v < -3.0e38) {
    return dy[t];
  }
  return dy[t] - Math.exp(v) * rowStat;
}`;
