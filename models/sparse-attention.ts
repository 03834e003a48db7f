// Sparse attention: each query attends to a fixed set of keys rather than to all of them.
// Child et al. 2019, "Generating Long Sequences with Sparse Transformers" (arXiv 1904.10509), and
// Su Jianlin, "From standard attention to sparse attention" (kexue.fm post 6853). For the query at
// position p and the key at position j (bidirectional forms; causal also requires j ≤ p):
//
//   local    |p − j| ≤ w                          a band (Su's Local), w = config.window
//   atrous   (p − j) mod k = 0                    dilated (Su's Atrous), k = config.rate
//   sparse   |p − j| ≤ w  or  (p − j) mod k = 0   Su's union: locally dense, remotely sparse
//   strided  |p − j| ≤ l  or  (p − j) mod l = 0   OpenAI strided A¹ ∪ A², l = config.rate
//   fixed    ⌊j/l⌋ = ⌊p/l⌋  or  j mod l ≥ l − m   OpenAI fixed: own block ∪ the last m cells of
//                                                 every block, m = ⌈l/4⌉ (Enwik8: l=128, m=32)
//
// The paper's strided and fixed are causal; their bidirectional forms follow Su. Every head uses
// the union of the pattern's parts (the paper's "merged" heads, §5.1), and a key is in a row once:
// an implementation that concatenates the parts' key lists scores a key that is in both (the
// diagonal, at least) twice, which doubles its weight in the softmax.
//
// A pattern is an index table (T, W): row t lists the keys of the query at p = S − T + t (a
// generation state holds the first S − T keys), padded keys (keep = 0) and the tail of short rows
// are −1. Rows are built in O(W) each from candidates that contain the row, filtered by the
// definition, so W is the widest row: local 2w+1 (causal w+1), atrous ⌈S/k⌉, sparse ≈ 2w + S/k,
// strided ≈ 2l + S/l, fixed ≈ l + m·S/l. Time and memory are O(T·W) (lib/ops/sparse.ts), never
// O(T·S); maskedDenseAttention is the O(T·S) reference built from the same definitions.
// SparseAttention keeps the tables of its last few shapes (training repeats one) and empties padded
// keys per call.
//
// Glossary: B batch, T query length, S key length, C channels (nEmbd), nh heads, hs = C / nh,
// W slots per query, w window, k rate, l stride (block), m summary cells per block.
// Read next: attention.ts (the dense mixer), ../lib/ops/sparse.ts (the primitives).

import { gatherApply, gatherScores, tensor, type Tensor } from '../lib/index.ts';
import { Dropout } from '../nn/index.ts';
import { appendKeysValues, HeadProjections } from './heads.ts';
import { keyValueState, stateOf } from './mixer.ts';
import type { KeyValueState, MixerOptions, TokenMixer } from './mixer.ts';

export type SparseKind = 'local' | 'atrous' | 'strided' | 'fixed' | 'sparse';
export interface SparsePattern {
  kind: SparseKind;
  window: number; // w: local, sparse
  rate: number; // k: atrous, sparse; l: strided, fixed
}
/** T queries (at positions S − T … S − 1) over S keys → the pattern as a table or a mask. */
type PatternBuilder = (
  pattern: SparsePattern,
  T: number,
  S: number,
  options?: PatternOptions,
) => Tensor;

export interface PatternOptions {
  causal?: boolean;
  keep?: Tensor | null; // (B, S) 1 = real key, 0 = padding
}

function checkPattern({ kind, window, rate }: SparsePattern): void {
  if (!['local', 'atrous', 'strided', 'fixed', 'sparse'].includes(kind))
    throw new Error(`sparse pattern: unknown kind '${kind}'`);
  if (!Number.isInteger(window) || window < 0)
    throw new Error(`sparse pattern: window must be an integer ≥ 0, got ${window}`);
  if (!Number.isInteger(rate) || rate < 1)
    throw new Error(`sparse pattern: rate must be a positive integer, got ${rate}`);
}

const summaryCells = (l: number) => Math.ceil(l / 4);

function batchesOf(keep: Tensor | null | undefined, S: number): number {
  if (keep && (keep.ndim !== 2 || keep.shape[1] !== S)) {
    throw new Error(
      `sparse pattern: keep must be (B, ${S}), one flag per key, got [${keep.shape}]`,
    );
  }
  return keep ? keep.shape[0] : 1;
}

/** The definition: may the query at p see the key at j (bidirectional form)? */
export function allowed(
  { kind, window: w, rate: k }: SparsePattern,
  p: number,
  j: number,
): boolean {
  const distance = Math.abs(p - j);
  switch (kind) {
    case 'local':
      return distance <= w;
    case 'atrous':
      return distance % k === 0;
    case 'sparse':
      return distance <= w || distance % k === 0;
    case 'strided':
      return distance <= k || distance % k === 0;
    case 'fixed':
      return Math.floor(j / k) === Math.floor(p / k) || j % k >= k - summaryCells(k);
  }
}

/** Visit keys in [0, S) worth testing for the query at p: a superset of its row, O(W) of them. */
function forCandidates(
  { kind, window: w, rate: k }: SparsePattern,
  p: number,
  S: number,
  visit: (j: number) => void,
): void {
  const run = (from: number, to: number) => {
    for (let j = Math.max(0, from); j < Math.min(S, to); j++) visit(j);
  };
  const lattice = () => {
    for (let j = p % k; j < S; j += k) visit(j);
  };
  switch (kind) {
    case 'local':
      return run(p - w, p + w + 1);
    case 'atrous':
      return lattice();
    case 'sparse':
      run(p - w, p + w + 1);
      return lattice();
    case 'strided':
      run(p - k, p + k + 1);
      return lattice();
    case 'fixed':
      run(p - (p % k), p - (p % k) + k); // own block
      // every block's summary cells
      for (let b = 0; b < S; b += k) run(b + k - summaryCells(k), b + k);
  }
}

/** The pattern as an index table: (T, W), or (B, T, W) when `keep` empties padded keys. */
export const patternIndex: PatternBuilder = (pattern, T, S, { causal = false, keep } = {}) => {
  checkPattern(pattern);
  const keys: number[] = []; // the rows one after another; row t ends at ends[t]
  const ends: number[] = [];
  // seen[j] = t: key j is in row t already (candidate lists overlap)
  const seen = new Int32Array(S).fill(-1);
  let W = 1;
  for (let t = 0; t < T; t++) {
    const p = S - T + t;
    forCandidates(pattern, p, S, (j) => {
      if (seen[j] === t || (causal && j > p) || !allowed(pattern, p, j)) return;
      seen[j] = t;
      keys.push(j);
    });
    ends.push(keys.length);
    W = Math.max(W, ends[t] - (ends[t - 1] ?? 0));
  }
  const data = new Int32Array(T * W).fill(-1);
  for (let t = 0; t < T; t++)
    data.set(Int32Array.from(keys.slice(ends[t - 1] ?? 0, ends[t])).sort(), t * W);
  const idx = tensor(data, { shape: [T, W] });
  return keep ? emptyPadded(idx, S, keep) : idx;
};

/**
 * A (T, W) table over S keys as (B, T, W), with the keys `keep` marks as padding emptied (−1) per
 * batch row.
 */
function emptyPadded(idx: Tensor, S: number, keep: Tensor): Tensor {
  const nb = batchesOf(keep, S);
  const size = idx.size; // T·W
  const data = new Int32Array(nb * size);
  for (let b = 0; b < nb; b++) {
    for (let i = 0; i < size; i++) {
      const j = idx.data[i];
      data[b * size + i] = j >= 0 && keep.data[b * S + j] ? j : -1;
    }
  }
  return tensor(data, { shape: [nb, ...idx.shape] });
}

/**
 * The same pattern as an additive (B or 1, 1, T, S) mask of 0 / −∞, tested pair by pair: O(T·S).
 */
export const patternMask: PatternBuilder = (pattern, T, S, { causal = false, keep } = {}) => {
  checkPattern(pattern);
  const nb = batchesOf(keep, S);
  const data = new Float64Array(nb * T * S);
  for (let b = 0; b < nb; b++) {
    for (let t = 0; t < T; t++) {
      const p = S - T + t;
      for (let j = 0; j < S; j++) {
        const ok =
          allowed(pattern, p, j) && (!causal || j <= p) && (!keep || keep.data[b * S + j] !== 0);
        data[(b * T + t) * S + j] = ok ? 0 : -Infinity;
      }
    }
  }
  return tensor(data, { shape: [nb, 1, T, S] });
};

/** O(T·W): scores of the listed keys only, softmax over the slots (empty ones score −∞). */
export function sparseAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  idx: Tensor,
  drop = (p: Tensor) => p,
): Tensor {
  const scores = gatherScores(q.mul(1 / Math.sqrt(q.shape[3])), k, idx, -Infinity); // (B, nh, T, W)
  return gatherApply(drop(scores.softmax(-1)), v, idx); // (B, nh, T, hs)
}

/** Weights per slot (B, nh, T, W) spread out over the S keys, (B, nh, T, S), for inspection. */
function slotsToKeys(probs: Tensor, idx: Tensor, S: number): Tensor {
  const [B, nh, T, W] = probs.shape;
  const perBatch = idx.ndim === 3; // (B, T, W) tables, else one (T, W) for every batch row
  const dense = new Float64Array(B * nh * T * S);
  for (let row = 0; row < B * nh * T; row++) {
    const table = (perBatch ? Math.floor(row / (nh * T)) * T : 0) + (row % T); // its row of idx
    for (let slot = 0; slot < W; slot++) {
      const key = idx.data[table * W + slot];
      if (key >= 0) dense[row * S + key] = probs.data[row * W + slot];
    }
  }
  return tensor(dense, { shape: [B, nh, T, S], dtype: probs.dtype });
}

/** The reference, O(T·S): dense scores, the pattern as an additive mask, softmax, values. */
export function maskedDenseAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  pattern: SparsePattern,
  options: PatternOptions = {},
): Tensor {
  const [, , T, hs] = q.shape;
  const mask = patternMask(pattern, T, k.shape[2], options).to(q.dtype); // (B or 1, 1, T, S)
  const att = q
    .matmul(k, { transB: true })
    .mul(1 / Math.sqrt(hs))
    .add(mask)
    .softmax(-1); // (B, nh, T, S)
  return att.matmul(v); // (B, nh, T, hs)
}

const TABLES_KEPT = 4;

/** Multi-head attention whose queries see only their pattern's keys. */
export class SparseAttention extends HeadProjections implements TokenMixer {
  attnDropout: Dropout;
  // (T, W) index tables of the last TABLES_KEPT shapes, by "T,S,causal": training repeats one shape
  readonly tables = new Map<string, Tensor>();
  constructor(
    nEmbd: number,
    nHead: number,
    readonly pattern: SparsePattern,
    dropout = 0,
  ) {
    checkPattern(pattern);
    super(nEmbd, nHead);
    this.attnDropout = new Dropout(dropout);
  }

  newState(): KeyValueState {
    return keyValueState();
  }

  /**
   * The (T, W) table for this shape: reused when recent, else built (the least recently used is
   * dropped).
   */
  private table(T: number, S: number, causal: boolean): Tensor {
    const key = `${T},${S},${causal}`;
    const idx = this.tables.get(key) ?? patternIndex(this.pattern, T, S, { causal });
    this.tables.delete(key);
    this.tables.set(key, idx); // a Map iterates in insertion order: the most recent is last
    if (this.tables.size > TABLES_KEPT) this.tables.delete(this.tables.keys().next().value!);
    return idx;
  }

  forward(x: Tensor, { causal = false, keep, state, memory, probe }: MixerOptions = {}): Tensor {
    const [, T] = x.shape;
    const who = `SparseAttention (${this.pattern.kind})`;
    if (memory) {
      throw new Error(
        `${who}: cross-attention is not supported; patterns relate positions of one sequence`,
      );
    }
    const [q, kNew, vNew] = this.project(x); // (B, nh, T, hs) each
    // the state keeps every key: atrous, strided and fixed reach back to position 0
    // (B, nh, S, hs)
    const [k, v] = appendKeysValues(stateOf(who, 'keys-values', state), kNew, vNew);
    const S = k.shape[2];
    const table = this.table(T, S, causal); // (T, W)
    const idx = keep ? emptyPadded(table, S, keep) : table; // (T, W) or (B, T, W)
    const drop = (probs: Tensor) => {
      if (probe) probe.weights = slotsToKeys(probs, idx, S); // (B, nh, T, S)
      return this.attnDropout.forward(probs);
    };
    return this.output(sparseAttention(q, k, v, idx, drop)); // (B, nh, T, hs) → (B, T, C)
  }
}
