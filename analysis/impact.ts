// Perturbed Masking (Wu et al., ACL 2020; Su, kexue.fm 7476): how much one token matters to
// another, read off a masked LM that was never trained for it. Mask token i, then mask i and j,
// and compare what the model makes of position i in the two copies. The article's measure
// (`hidden`) is the distance between the final hidden states (H = MaskedLM.hidden, after the
// final norm):
//   f(i, j) = ‖H(x∖{i})ᵢ − H(x∖{i,j})ᵢ‖₂
// Other measures of the same two copies (`measure`):
//   cosine    1 − cos(H(x∖{i})ᵢ, H(x∖{i,j})ᵢ)
//   kl        KL(p(·|x∖{i})ᵢ ‖ p(·|x∖{i,j})ᵢ), p the MLM head's distribution at i
//   logprob   log p(xᵢ|x∖{i}) − log p(xᵢ|x∖{i,j}): how much xⱼ helped predict xᵢ, an MLM
//             estimate of the pointwise mutual information of xᵢ and xⱼ given the rest
// `layer` (1 … nLayer, default nLayer) reads the states after that block instead of the final
// ones (the residual stream, no norm; the paper reads every layer); kl and logprob need the last.
// For spans (a word of several tokens) every token of both spans is masked and span a's vectors
// are averaged (kl and logprob: the per-token measures averaged):
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

import { noGrad, tensor, type Tensor } from '../lib/index.ts';
import type { MaskedLM } from '../models/index.ts';

export type Span = readonly [number, number];

export const IMPACT_MEASURES = ['hidden', 'cosine', 'kl', 'logprob'] as const;
export type ImpactMeasure = (typeof IMPACT_MEASURES)[number];

export interface ImpactOptions {
  maskId: number; // the MASK token
  batchSize?: number; // masked copies per forward pass (default 64)
  measure?: ImpactMeasure; // default 'hidden' (the article's)
  layer?: number; // read the states after this block, 1 … nLayer (default nLayer: the final ones)
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

/** The measure and the layer, checked: kl and logprob read the head, so the last layer. */
export function checkMeasure(fn: string, model: MaskedLM, options: ImpactOptions) {
  const { measure = 'hidden', layer = model.config.nLayer } = options;
  const L = model.config.nLayer;
  if (!IMPACT_MEASURES.includes(measure)) {
    throw new Error(`${fn}: measure must be one of ${IMPACT_MEASURES.join(', ')}, got ${measure}`);
  }
  if (!(Number.isInteger(layer) && layer >= 1 && layer <= L)) {
    throw new Error(`${fn}: layer must be an integer in [1, ${L}], got ${layer}`);
  }
  if ((measure === 'kl' || measure === 'logprob') && layer !== L) {
    const why = `reads the head, so the last layer ${L} (hidden and cosine read any)`;
    throw new Error(`${fn}: measure ${measure} ${why}, got layer ${layer}`);
  }
  return { measure, layer };
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

/** The distinct masked copies of one line and, once run, their hidden states at one layer. */
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

  /** The states after block `layer` (the last: after the final norm), one batch at a time. */
  private statesOf(ids: Tensor, layer: number): Tensor {
    if (layer === this.model.config.nLayer) return this.model.hidden(ids); // (rows, T, C)
    let x = this.model.embed.forward(ids); // (rows, T, C)
    for (const block of this.model.blocks.items.slice(0, layer)) x = block.forward(x);
    return x; // (rows, T, C)
  }

  /** Every copy through the model, batchSize rows at a time, in eval mode and without grad. */
  run({ maskId, batchSize = 64 }: ImpactOptions, layer: number): void {
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
        const h = noGrad(() => this.statesOf(ids, layer)); // (rows, T, C)
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

  /** The head's log-probabilities at each (copy, position): one (V) row each, in double. */
  logProbs(rows: readonly (readonly [number, number])[]): Float64Array[] {
    const T = this.ids.length,
      C = this.model.config.nEmbd,
      V = this.model.config.vocabSize;
    const h = new Float32Array(rows.length * C);
    rows.forEach(([copy, t], r) =>
      h.set(this.states.subarray((copy * T + t) * C, (copy * T + t + 1) * C), r * C),
    );
    const logits = noGrad(() => this.model.head.forward(tensor(h, { shape: [rows.length, C] })));
    return rows.map((_, r) => {
      const z = logits.data.subarray(r * V, (r + 1) * V);
      let max = -Infinity;
      for (const v of z) max = Math.max(max, v);
      let sum = 0;
      for (const v of z) sum += Math.exp(v - max);
      const logZ = max + Math.log(sum);
      return Float64Array.from(z, (v) => v - logZ);
    });
  }
}

const positionsOf = ([start, end]: Span) =>
  Array.from({ length: end - start }, (_, k) => start + k);

function euclidean(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let c = 0; c < a.length; c++) sum += (a[c] - b[c]) ** 2;
  return Math.sqrt(sum);
}

function cosineDistance(a: Float64Array, b: Float64Array): number {
  let [ab, aa, bb] = [0, 0, 0];
  for (let c = 0; c < a.length; c++)
    [ab, aa, bb] = [ab + a[c] * b[c], aa + a[c] ** 2, bb + b[c] ** 2];
  return aa > 0 && bb > 0 ? 1 - ab / Math.sqrt(aa * bb) : 0;
}

/** KL(p ‖ q) = Σ p (log p − log q) from log-probabilities. */
function kl(logP: Float64Array, logQ: Float64Array): number {
  let sum = 0;
  for (let v = 0; v < logP.length; v++) sum += Math.exp(logP[v]) * (logP[v] - logQ[v]);
  return sum;
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
  const { measure, layer } = checkMeasure(fn, model, options);
  const copies = new MaskedCopies(model, ids);
  const plan = pairs.map(([a, b]) => {
    checkSpan(fn, a, ids.length);
    checkSpan(fn, b, ids.length);
    if (a[0] < b[1] && b[0] < a[1]) throw new Error(`${fn}: spans [${a}] and [${b}] overlap`);
    const [pa, pb] = [positionsOf(a), positionsOf(b)];
    return { a, alone: copies.add(pa), both: copies.add([...pa, ...pb]) };
  });
  copies.run(options, layer);
  if (measure === 'hidden' || measure === 'cosine') {
    const d = measure === 'hidden' ? euclidean : cosineDistance;
    const f = Float64Array.from(plan, ({ a, alone, both }) =>
      d(copies.meanOver(alone, a), copies.meanOver(both, a)),
    );
    return { f, copies: copies.count };
  }
  // kl, logprob: the head's distribution at each position of span a in both copies, averaged
  const rows = plan.flatMap(({ a, alone, both }) =>
    positionsOf(a).flatMap((t) => [[alone, t] as const, [both, t] as const]),
  );
  const logP = copies.logProbs(rows);
  let r = 0;
  const f = Float64Array.from(plan, ({ a }) => {
    let sum = 0;
    for (const t of positionsOf(a)) {
      const [p, q] = [logP[r++], logP[r++]];
      sum += measure === 'kl' ? kl(p, q) : p[ids[t]] - q[ids[t]];
    }
    return sum / (a[1] - a[0]);
  });
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
