// FLASH, the mixed-chunk attention of "Transformer Quality in Linear Time" (Hua, Dai, Liu, Le,
// 2022, arXiv 2202.10447, §3.2; Su's reading in kexue.fm 8934): the GAU of gau.ts made linear in T.
// Split the sequence into G chunks of c tokens (the last one padded). Inside each chunk, GAU's
// quadratic attention (relu²/n, or softmax with log-n); across chunks, linear attention with two
// more scale/offset copies of the same Z, Q_lin and K_lin:
//
//   V̂_g = quad(Q_g, K_g, V_g) + Q_lin,g · (Σ_h K_lin,hᵀ V_h) / n_lin        O = (U ⊙ V̂) Wo
//
// Bidirectional: h runs over every chunk and n_lin counts every real token. Causal: h < g only, an
// exclusive prefix sum over chunks, and n_lin counts the real tokens in those chunks (Su's running
// count, not the paper's n). Cost O(T·c·s + T·c·e) inside chunks and O(T·s·e) across them.
//
// Glossary: as gau.ts (B, T, C, e, s), plus c chunk length, G = ⌈T/c⌉ chunks, Tp = G·c.
// Like GAU, a FLASH layer is its own FFN: the 'flash' entry of mixers.ts builds blocks without one.
// Read next: test/gau.test.ts, which checks this against the same mixture written with T×T masks.

import { cat, ones, zeros, zerosLike, type Tensor } from '../lib/index.ts';
import type { TransformerConfig } from './config.ts';
import { GatedAttentionUnit, gauAttention, ScaleOffset, type GAUConfig } from './gau.ts';
import type { MixerOptions } from './mixer.ts';

export type FlashConfig = GAUConfig & Pick<Required<TransformerConfig>, 'chunk'>;

/**
 * Σ_{h<g} t_h along dim 1. Shifting by one chunk and then summing is exact: subtracting a chunk's
 * own term from an inclusive cumsum would leave rounding that depends on the future.
 */
function exclusiveCumsum(t: Tensor): Tensor {
  const G = t.shape[1];
  return cat([zerosLike(t.narrow(1, 0, 1)), t.narrow(1, 0, G - 1)], 1).cumsum(1); // same shape as t
}

/** GAU with mixed-chunk attention; q and k (inherited) are the quadratic Q_quad and K_quad. */
export class FlashUnit extends GatedAttentionUnit {
  qLin: ScaleOffset;
  kLin: ScaleOffset;
  readonly chunk: number;
  constructor(config: FlashConfig) {
    super(config);
    this.qLin = new ScaleOffset(this.s);
    this.kLin = new ScaleOffset(this.s);
    this.chunk = config.chunk;
  }

  forward(x: Tensor, { causal = false, keep = null }: MixerOptions = {}): Tensor {
    const [B, T, C] = x.shape;
    const chunk = this.chunk;
    const G = Math.ceil(T / chunk),
      Tp = G * chunk;
    // pad T to whole chunks: the padding is a key nobody sees, its outputs are dropped at the end
    const [pad, dtype] = [Tp - T, x.dtype];
    const xp = pad ? cat([x, zeros([B, pad, C], { dtype })], 1) : x; // (B, Tp, C)
    const real = keep ? keep.to(dtype) : ones([B, T], { dtype }); // (B, T)
    const keepChunks = (pad ? cat([real, zeros([B, pad], { dtype })], 1) : real).reshape([
      B,
      G,
      chunk,
    ]); // (B, G, c)

    const [u, v, z] = this.project(xp); // (B, Tp, e), (B, Tp, e), (B, Tp, s)
    const vc = v.reshape([B, G, chunk, this.e]); // (B, G, c, e)
    const zc = z.reshape([B, G, chunk, this.s]); // (B, G, c, s)
    // quadratic inside each chunk: the chunks are just one more batch dim for gauAttention;
    // softmax's log-n scale is relative to the chunk, the most keys a query sees there
    const attend = {
      causal,
      keep: keepChunks,
      softmax: this.softmax,
      logBase: Math.min(chunk, this.logBase),
    };
    const quad = gauAttention(this.q.forward(zc), this.k.forward(zc), vc, attend); // (B, G, c, e)

    // linear across chunks: K_lin zeroed at padding, so those tokens add nothing to K_linᵀV
    const kLin = this.kLin.forward(zc).mul(keepChunks.unsqueeze(-1)); // (B, G, c, s)
    const kv = kLin.transpose(-2, -1).matmul(vc); // (B, G, s, e), one K_linᵀV per chunk
    const count = keepChunks.sum(-1, true).unsqueeze(-1); // (B, G, 1, 1) real tokens per chunk
    const seen = causal ? exclusiveCumsum(kv) : kv.sum(1, true); // (B, G, s, e) or (B, 1, s, e)
    const n = (causal ? exclusiveCumsum(count) : count.sum(1, true)).clamp(1); // (B, G|1, 1, 1)
    const lin = this.qLin.forward(zc).matmul(seen.div(n)); // (B, G, c, e)

    const y = quad.add(lin).reshape([B, Tp, this.e]).narrow(1, 0, T); // (B, T, e)
    return this.out.forward(u.narrow(1, 0, T).mul(y)); // (B, T, C)
  }
}
