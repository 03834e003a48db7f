// What every multi-head mixer shares: splitting channels into heads and merging them back, the
// q/k/v/output projections, and appending new keys and values to a generation state.
// Glossary: B batch, L length, C channels (nEmbd), nh heads, hs = C / nh head size, S keys so far.
// Read next: attention.ts, which uses all of it.

import { cat, type Tensor } from '../lib/index.ts';
import { Linear } from '../nn/index.ts';
import { Module } from '../nn/module.ts';
import type { KeyValueState } from './mixer.ts';

/** (B, L, C) → (B, nh, L, hs) */
export function splitHeads(x: Tensor, nHead: number): Tensor {
  const [B, L, C] = x.shape;
  return x.reshape([B, L, nHead, C / nHead]).transpose(1, 2); // (B, nh, L, hs)
}

/** (B, nh, L, hs) → (B, L, C), heads side by side */
export function mergeHeads(y: Tensor): Tensor {
  const [B, nh, L, hs] = y.shape;
  return y.transpose(1, 2).reshape([B, L, nh * hs]); // (B, L, C)
}

/** The state's keys or values so far, then the new ones (B, nh, T, ·); the state keeps them all. */
export function append(state: KeyValueState | null, part: 'k' | 'v', x: Tensor): Tensor {
  if (!state) return x;
  const before = state[part];
  const all = before ? cat([before, x], 2) : x; // (B, nh, S, ·)
  state[part] = all;
  return all;
}

/** Both at once: keys and values (B, nh, S, ·) after this step's (B, nh, T, ·). */
export function appendKeysValues(
  state: KeyValueState | null,
  k: Tensor,
  v: Tensor,
): [Tensor, Tensor] {
  return [append(state, 'k', k), append(state, 'v', v)];
}

/** nEmbd must split into nHead equal heads. */
export function checkHeads(who: string, nEmbd: number, nHead: number): void {
  if (nEmbd % nHead !== 0) {
    throw new Error(`${who}: nEmbd ${nEmbd} is not divisible by nHead ${nHead}`);
  }
}

/** The four projections of multi-head attention: queries, keys, values in; the output out. */
export abstract class HeadProjections extends Module {
  query: Linear;
  key: Linear;
  value: Linear;
  proj: Linear;
  constructor(
    readonly nEmbd: number,
    readonly nHead: number,
  ) {
    super();
    checkHeads(new.target.name, nEmbd, nHead);
    this.query = new Linear(nEmbd, nEmbd);
    this.key = new Linear(nEmbd, nEmbd);
    this.value = new Linear(nEmbd, nEmbd);
    this.proj = new Linear(nEmbd, nEmbd);
  }

  /** x (B, T, C) → q, k, v, each (B, nh, T, hs) */
  protected project(x: Tensor): [Tensor, Tensor, Tensor] {
    const nh = this.nHead;
    const q = splitHeads(this.query.forward(x), nh);
    return [q, splitHeads(this.key.forward(x), nh), splitHeads(this.value.forward(x), nh)];
  }

  /** y (B, nh, T, hs) → (B, T, C): heads merged, then W_o */
  protected output(y: Tensor): Tensor {
    return this.proj.forward(mergeHeads(y));
  }
}
