// Perturbed Masking (Wu et al., ACL 2020; Su, kexue.fm 7476): how much one token matters to
// another, read off a masked LM that was never trained for it. Mask token i, then mask i and j,
// and compare the final hidden state at i (H = MaskedLM.hidden, after the final norm):
//   f(i, j) = ‖H(x∖{i})ᵢ − H(x∖{i,j})ᵢ‖₂
// For spans (a word of several tokens) every token of both spans is masked and span a's vectors
// are averaged:
//   f(a, b) = ‖mean_{t∈a} H(x∖a)_t − mean_{t∈a} H(x∖(a∪b))_t‖₂
// Every distinct masked copy of the line is run once, in batches of `batchSize` rows: the
// adjacent pairs need only 2T − 1 copies (T with one token masked, T − 1 with a neighbouring two),
// a full matrix over n spans n + n(n − 1)/2.
//
// API (ids: one line's token ids, at most the model's length when it has a position table;
// a span is [start, end), half-open; maskId: the MASK token, CharDataset.maskId):
//   spanImpacts(model, ids, pairs, options)   f(a, b) for each pair [a, b] of spans
//   tokenImpacts(model, ids, pairs, options)  f(i, j) for each pair [i, j] of positions
//   impactMatrix(model, ids, spans, options)  F[a][b] = f(a, b) for every pair, F[a][a] = 0
//   adjacentImpacts(model, ids, options)      f(i, i+1) and f(i+1, i) for i < T − 1
// Read next: segment.ts (word segmentation from the adjacent scores).

import { noGrad, tensor } from '../lib/index.ts';
import type { MaskedLM } from '../models/index.ts';

export type Span = readonly [number, number];

export interface ImpactOptions {
  maskId: number; // the MASK token
  batchSize?: number; // masked copies per forward pass (default 64)
}

/** f(i, i+1) (`right`: the next token's impact on i) and f(i+1, i) (`left`), for i < T − 1. */
export interface AdjacentImpacts {
  right: Float64Array;
  left: Float64Array;
  copies: number; // masked copies run: 2T − 1 (none for a single token)
}

function checkLine(fn: string, model: MaskedLM, ids: readonly number[], maskId: number): void {
  const { vocabSize, blockSize } = model.config;
  if (ids.length === 0) throw new Error(`${fn}: ids must hold at least one token, got none`);
  if (model.embed.positions && ids.length > blockSize) {
    const why = `the model's position table holds ${blockSize}`;
    throw new Error(`${fn}: ${ids.length} tokens are too many (${why}; window the line)`);
  }
  const bad = ids.findIndex((id) => !(Number.isInteger(id) && id >= 0 && id < vocabSize));
  if (bad !== -1) {
    throw new Error(`${fn}: ids[${bad}] = ${ids[bad]} is not a token id in [0, ${vocabSize})`);
  }
  if (!(Number.isInteger(maskId) && maskId >= 0 && maskId < vocabSize)) {
    throw new Error(`${fn}: maskId must be a token id in [0, ${vocabSize}), got ${maskId}`);
  }
}

function checkSpan(fn: string, span: Span, T: number): void {
  const [start, end] = span;
  if (!(
    Number.isInteger(start) &&
    Number.isInteger(end) &&
    start >= 0 &&
    start < end &&
    end <= T
  )) {
    throw new Error(`${fn}: span [${span}] must be [start, end) with 0 ≤ start < end ≤ ${T}`);
  }
}

/** The distinct masked copies of one line and, once run, their final hidden states. */
class MaskedCopies {
  private index = new Map<string, number>();
  private masks: number[][] = [];
  private states: Float32Array = new Float32Array(0); // (copies, T, C)

  constructor(
    private model: MaskedLM,
    private ids: readonly number[],
  ) {}

  /** The copy with these positions masked (added once). */
  add(positions: number[]): number {
    const key = [...positions].sort((a, b) => a - b).join(',');
    let at = this.index.get(key);
    if (at === undefined) this.index.set(key, (at = this.masks.push(positions) - 1));
    return at;
  }

  get count(): number {
    return this.masks.length;
  }

  /** Every copy through the model, batchSize rows at a time, in eval mode and without grad. */
  run({ maskId, batchSize = 64 }: ImpactOptions): void {
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
      throw new Error(`perturbed masking: batchSize must be a positive integer, got ${batchSize}`);
    }
    const T = this.ids.length,
      C = this.model.config.nEmbd;
    this.states = new Float32Array(this.count * T * C);
    const training = this.model.training;
    this.model.eval();
    try {
      for (let first = 0; first < this.count; first += batchSize) {
        const rows = Math.min(batchSize, this.count - first);
        const input = new Int32Array(rows * T);
        for (let r = 0; r < rows; r++) {
          input.set(this.ids, r * T);
          for (const t of this.masks[first + r]) input[r * T + t] = maskId;
        }
        const ids = tensor(input, { shape: [rows, T] });
        const h = noGrad(() => this.model.hidden(ids)); // (rows, T, C)
        this.states.set(h.data, first * T * C);
      }
    } finally {
      this.model.train(training);
    }
  }

  /** The mean over the span's positions of a copy's hidden states: (C). */
  meanOver(copy: number, [start, end]: Span): Float64Array {
    const T = this.ids.length,
      C = this.model.config.nEmbd;
    const mean = new Float64Array(C);
    for (let t = start; t < end; t++) {
      const row = (copy * T + t) * C;
      for (let c = 0; c < C; c++) mean[c] += this.states[row + c] / (end - start);
    }
    return mean;
  }
}

const positionsOf = ([start, end]: Span) =>
  Array.from({ length: end - start }, (_, k) => start + k);

function distance(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let c = 0; c < a.length; c++) sum += (a[c] - b[c]) ** 2;
  return Math.sqrt(sum);
}

/** f(a, b) for each pair, and how many masked copies were run for them. */
function impactsOf(
  fn: string,
  model: MaskedLM,
  ids: readonly number[],
  pairs: readonly (readonly [Span, Span])[],
  options: ImpactOptions,
): { f: Float64Array; copies: number } {
  checkLine(fn, model, ids, options.maskId);
  const copies = new MaskedCopies(model, ids);
  const plan = pairs.map(([a, b]) => {
    checkSpan(fn, a, ids.length);
    checkSpan(fn, b, ids.length);
    if (a[0] < b[1] && b[0] < a[1]) throw new Error(`${fn}: spans [${a}] and [${b}] overlap`);
    const [pa, pb] = [positionsOf(a), positionsOf(b)];
    return { a, alone: copies.add(pa), both: copies.add([...pa, ...pb]) };
  });
  copies.run(options);
  const f = Float64Array.from(plan, ({ a, alone, both }) =>
    distance(copies.meanOver(alone, a), copies.meanOver(both, a)),
  );
  return { f, copies: copies.count };
}

/** f(a, b) for each pair [a, b] of disjoint spans of one line. */
export const spanImpacts = (
  model: MaskedLM,
  ids: readonly number[],
  pairs: readonly (readonly [Span, Span])[],
  options: ImpactOptions,
): Float64Array => impactsOf('spanImpacts', model, ids, pairs, options).f;

/** f(i, j) for each pair [i, j] of distinct positions of one line. */
export function tokenImpacts(
  model: MaskedLM,
  ids: readonly number[],
  pairs: readonly (readonly [number, number])[],
  options: ImpactOptions,
): Float64Array {
  const spans = pairs.map(([i, j]) => [[i, i + 1] as Span, [j, j + 1] as Span] as const);
  return spanImpacts(model, ids, spans, options);
}

/** The full impact matrix over disjoint spans (tokens: [[0, 1], [1, 2], …]); F[a][a] = 0. */
export function impactMatrix(
  model: MaskedLM,
  ids: readonly number[],
  spans: readonly Span[],
  options: ImpactOptions,
): number[][] {
  const n = spans.length;
  const pairs: [Span, Span][] = [];
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++) if (a !== b) pairs.push([spans[a], spans[b]]);
  const f = spanImpacts(model, ids, pairs, options);
  let k = 0;
  return spans.map((_, a) => spans.map((_, b) => (a === b ? 0 : f[k++])));
}

/** The adjacent pairs of one line from its 2T − 1 masked copies. */
export function adjacentImpacts(
  model: MaskedLM,
  ids: readonly number[],
  options: ImpactOptions,
): AdjacentImpacts {
  const T = ids.length;
  const pairs: [Span, Span][] = [];
  for (let i = 0; i + 1 < T; i++) {
    pairs.push([
      [i, i + 1],
      [i + 1, i + 2],
    ]);
    pairs.push([
      [i + 1, i + 2],
      [i, i + 1],
    ]);
  }
  const { f, copies } = impactsOf('adjacentImpacts', model, ids, pairs, options);
  const right = new Float64Array(Math.max(0, T - 1)),
    left = new Float64Array(Math.max(0, T - 1));
  for (let i = 0; i + 1 < T; i++) [right[i], left[i]] = [f[2 * i], f[2 * i + 1]];
  return { right, left, copies };
}
