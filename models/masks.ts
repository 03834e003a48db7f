// Additive attention masks: 0 where a query may look, −Infinity where it may not. Added to the
// scores before softmax; a fully masked row gives zeros (the fused softmax guards 0/0).

import { tensor, type Tensor } from '../lib/index.ts';

/** (T, S) causal mask: query t sees keys s ≤ t + offset (offset = keys already in a KV cache). */
export function causalMask(T: number, S = T, offset = S - T): Tensor {
  const data = new Float32Array(T * S);
  for (let t = 0; t < T; t++)
    for (let s = 0; s < S; s++) data[t * S + s] = s <= t + offset ? 0 : -Infinity;
  return tensor(data, { shape: [T, S] });
}

/** (B, S) padding mask of 1 = real token, 0 = pad → (B, 1, 1, S) additive mask over keys. */
export function paddingMask(keep: Tensor): Tensor {
  const [B, S] = keep.shape;
  const data = new Float32Array(B * S);
  keep.data.forEach((k, i) => (data[i] = k ? 0 : -Infinity));
  return tensor(data, { shape: [B, 1, 1, S] });
}

/** Sum of the masks that are present (they broadcast: (T, S) + (B, 1, 1, S) → (B, 1, T, S)). */
export function combineMasks(...masks: (Tensor | null | undefined)[]): Tensor | null {
  const present = masks.filter((m): m is Tensor => !!m);
  return present.length === 0 ? null : present.reduce((a, b) => a.add(b));
}
