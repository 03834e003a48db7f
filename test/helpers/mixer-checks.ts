// Checks every token mixer must pass, shared by the mixer tests.

import * as assert from 'uvu/assert';
import { noGrad, tensor, type Tensor } from '../../lib/index.ts';
import type { MixerOptions } from '../../models/mixer.ts';

/**
 * Padded tokens never reach real positions: x (B, T, C) with its padded positions (keep = 0)
 * shifted by +3 gives exactly the same output at every real position, causal and bidirectional.
 */
export function assertPaddingIsolated(
  mixer: { forward(x: Tensor, options: MixerOptions): Tensor },
  x: Tensor,
  keep: Tensor,
): void {
  const C = x.shape[2];
  const changed = tensor(x.data.slice(), { shape: [...x.shape] });
  keep.data.forEach((k, i) => {
    if (!k) for (let c = 0; c < C; c++) changed.data[i * C + c] += 3;
  });
  for (const causal of [true, false]) {
    const [a, b] = [x, changed].map((h) => noGrad(() => mixer.forward(h, { causal, keep })));
    keep.data.forEach((k, i) => {
      if (k)
        assert.equal(
          Array.from(b.data.subarray(i * C, i * C + C)),
          Array.from(a.data.subarray(i * C, i * C + C)),
        );
    });
  }
}
