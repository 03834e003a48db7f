// A Linear layer as one primitive, y = act(x·Wᵀ + b) for x (N, in), W (out, in), b (out): the
// matmul, then the bias and the activation in place on its output (backend biasActivation), so a
// layer allocates one (N, out) array instead of three. Backward is the unfused graph's, rule for
// rule, so the numbers are the same bits:
//   g = dy ⊙ [y > 0] for relu (y > 0 exactly where x·Wᵀ + b > 0), else dy
//   dx = g·W,  dW = gᵀ·x,  db = Σ_rows g (the engine's sumToShape, as for a broadcast add)
// Read next: ../backend/cpu/epilogue.ts.

import { backend, type Activation } from '../backend/backend.ts';
import { Tensor } from '../tensor.ts';
import { checkSameDtype, reluGrad } from './elementwise.ts';
import { matmulT } from './matmul.ts';
import { primitive, type Op } from './primitive.ts';

export const linearP: Op<Activation> = primitive<Activation>({
  name: 'linear',
  forward: ([x, w, b], activation) => {
    for (const t of [w, b]) if (t) checkSameDtype('linear', x, t);
    const shape = [x.shape[0], w.shape[0]]; // (N, out)
    const y = backend().matmul({
      a: x.data,
      b: w.data,
      aShape: x.shape,
      bShape: w.shape,
      transA: false,
      transB: true,
      outShape: shape,
    });
    return new Tensor(backend().biasActivation(y, b?.data ?? null, activation), shape);
  },
  backward: (dy, [x, w, b], y, activation) => {
    const g = activation === 'relu' ? reluGrad(dy, y) : dy; // (N, out)
    const dx = matmulT([g, w], { transA: false, transB: false }); // (N, in)
    const dw = matmulT([g, x], { transA: true, transB: false }); // (out, in)
    return b ? [dx, dw, g] : [dx, dw];
  },
});
