// LayerNorm and RMSNorm on the pool, each chunk running ../cpu/norm.ts's own loops on its share (or
// their SIMD form, same bits), so every number is the CPU kernel's. Forward: bands of rows
// (normRows). Backward: bands of rows for dx (normBackwardRows without the affine sums), then
// bands of columns for dγ and dβ (normAffineGrads: every row, in row order, as the CPU kernel
// sums them). Only calls on the TypeScript loops split (float64 tensors, or 'float64' matmul
// precision): the SIMD rows gain nothing from it (MIN_ELEMENTS).
// The arena holds one dtype and the row statistics are doubles, so they travel as raw 32-bit
// words: the forward writes each row's mean and rstd after y as an Int32Array view of their bits
// (4 words a row), and the backward gets them in its params. Read next: ../threads.ts.

import type { TypedArray } from '../../dtype.ts';
import type { Shape } from '../../shape.ts';
import type { NormResult } from '../backend.ts';
import { normAffineGrads, normLanes, rowsOf } from '../cpu/norm.ts';
import { scratch } from '../cpu/scratch.ts';
import type { Split } from '../threads.ts';
import { fastNormBackwardRows, fastNormRows } from '../wasm/norm-kernel.ts';
import { getNumThreads } from './pool.ts';

// Elements from which a call on the TypeScript loops splits. A norm costs ~5 ns an element (fwd
// and bwd each, one thread), and a split adds ~1 ns an element of copies into and out of the
// arena plus ~0.1 ms a job: at the train step's 2^17 (1024 × 128) the best case is ~1.3×, and
// under contention (a busy second core) splits measured slower, so they start above it.
// The SIMD rows (../wasm/norm-kernel.ts: float32 at 'float32' precision, normLanes) cost ~1.3 ns
// an element forward and ~2.2 backward, about what the arena's copies cost, so those calls never
// split. Measured under contention (2 cores, load 2.8-3.5), medians of 41 calls, fwd / bwd ms:
//   SIMD       1 thread      2 threads, split
//   2048×128   0.40 / 0.58   0.65 / 2.1
//   4096×512   3.4 / 4.8     10.6 / 18
//   8192×1024  30 / 40       43 / 90
//   TS ('float64' precision)
//   2048×128   2.0 / 3.0     2.1 / 2.4-3.8
//   4096×512   14.5 / 22.4   10.5-17.7 / 18.5
const MIN_ELEMENTS = 1 << 18;
const CHUNKS_PER_THREAD = 2; // as threads.ts's: a thread slowed by another process sheds work

export interface Sizes {
  rows: number;
  n: number;
  chunkRows: number; // rows a row chunk; chunk c < rowChunks is rows [c·chunkRows, …)
  rowChunks: number;
}

const accepts = (x: TypedArray, shape: Shape) =>
  !normLanes(x) && x.length >= MIN_ELEMENTS && rowsOf(x, shape)[0] > 1;

function sizes(x: TypedArray, shape: Shape): Sizes {
  const [rows, n] = rowsOf(x, shape);
  const chunkRows = Math.ceil(rows / (getNumThreads() * CHUNKS_PER_THREAD));
  return { rows, n, chunkRows, rowChunks: Math.ceil(rows / chunkRows) };
}

const rowRange = ({ rows, chunkRows }: Sizes, c: number) =>
  [c * chunkRows, Math.min(rows, (c + 1) * chunkRows)] as const;

/** The 4·rows words after the rows·n outputs of `out`: means' bits, then rstds'. */
const statWords = (out: TypedArray, { rows, n }: Sizes) =>
  new Int32Array(out.buffer, out.byteOffset + rows * n * out.BYTES_PER_ELEMENT, 4 * rows);

/** Doubles `lo..hi` of `from` (a Float64Array) copied bit for bit into words from 2·lo on. */
const copyBits = (from: Float64Array, to: Int32Array, lo: number, hi: number) =>
  to.set(new Int32Array(from.buffer, from.byteOffset + 8 * lo, 2 * (hi - lo)), 2 * lo);

// `lanes`: the calling thread's choice of sum order (normLanes; a worker's precision may differ),
// so the chunks compute the CPU kernel's numbers whatever `accepts` lets through
export type NormParams = Sizes & {
  eps: number;
  rms: boolean;
  lanes: boolean;
  hasGamma: boolean;
  hasBeta: boolean;
};
export type BackwardParams = Sizes &
  Omit<NormResult, 'y'> & {
    rms: boolean;
    lanes: boolean;
    hasGamma: boolean;
    hasBeta: boolean;
    chunkCols: number;
    colChunks: number;
  };

export const normSplits = {
  norm: {
    accepts: (x, shape) => accepts(x, shape),
    plan: (x, shape, gamma, beta, eps, rms) => {
      const s = sizes(x, shape);
      return {
        params: { ...s, eps, rms, lanes: normLanes(x), hasGamma: !!gamma, hasBeta: !!beta },
        chunks: s.rowChunks,
        inputs: [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])],
        outLength: s.rows * s.n + (16 * s.rows) / x.BYTES_PER_ELEMENT,
      };
    },
    chunk: (p, [x, ...rest]) => {
      const gamma = p.hasGamma ? rest[0] : null,
        beta = p.hasBeta ? rest[rest.length - 2] : null;
      const out = rest[rest.length - 1],
        words = statWords(out, p);
      return (c) => {
        const [lo, hi] = rowRange(p, c);
        const mean = scratch('norm mean', p.rows),
          rstd = scratch('norm rstd', p.rows);
        fastNormRows(x, p.n, gamma, beta, p.eps, p.rms, p.lanes, { y: out, mean, rstd }, lo, hi);
        copyBits(mean, words, lo, hi);
        copyBits(rstd, words.subarray(2 * p.rows), lo, hi);
      };
    },
    // y is a view of the job's output (its statistics' words sit after it, in the same buffer)
    result: (out, x, shape) => {
      const s = sizes(x, shape),
        words = statWords(out, s);
      const [mean, rstd] = [0, 1].map((k) => {
        const stat = new Float64Array(s.rows);
        new Int32Array(stat.buffer).set(words.subarray(2 * k * s.rows, 2 * (k + 1) * s.rows));
        return stat;
      });
      return { y: out.subarray(0, s.rows * s.n), mean, rstd };
    },
  } satisfies Split<'norm', NormParams>,
  normBackward: {
    accepts: (_dy, x, shape) => accepts(x, shape),
    plan: (dy, x, shape, gamma, hasBeta, { mean, rstd }, rms) => {
      const s = sizes(x, shape);
      const chunkCols = Math.ceil(s.n / getNumThreads()),
        colChunks = gamma || hasBeta ? Math.ceil(s.n / chunkCols) : 0;
      const affine = (gamma ? s.n : 0) + (hasBeta ? s.n : 0),
        lanes = normLanes(x);
      return {
        params: { ...s, mean, rstd, rms, lanes, hasGamma: !!gamma, hasBeta, chunkCols, colChunks },
        chunks: s.rowChunks + colChunks,
        inputs: [dy, x, ...(gamma ? [gamma] : [])],
        outLength: s.rows * s.n + affine,
      };
    },
    chunk: (p, [dy, x, ...rest]) => {
      const gamma = p.hasGamma ? rest[0] : null,
        out = rest[rest.length - 1];
      const size = p.rows * p.n;
      const dgamma = p.hasGamma ? out.subarray(size, size + p.n) : null;
      const dbeta = p.hasBeta ? out.subarray(size + (p.hasGamma ? p.n : 0)) : null;
      return (c) => {
        if (c < p.rowChunks) {
          const [lo, hi] = rowRange(p, c);
          fastNormBackwardRows(dy, x, p.n, gamma, p, p.rms, p.lanes, out, null, null, lo, hi);
        } else {
          const j0 = (c - p.rowChunks) * p.chunkCols;
          normAffineGrads(
            dy,
            x,
            p.n,
            p.rows,
            p,
            dgamma,
            dbeta,
            j0,
            Math.min(p.n, j0 + p.chunkCols),
          );
        }
      };
    },
    result: (out, _dy, x, shape, gamma, hasBeta) => {
      const [rows, n] = rowsOf(x, shape);
      const size = rows * n,
        at = size + (gamma ? n : 0);
      return {
        dx: out.subarray(0, size),
        dgamma: gamma ? out.slice(size, size + n) : null,
        dbeta: hasBeta ? out.slice(at, at + n) : null,
      };
    },
  } satisfies Split<'normBackward', BackwardParams>,
};
