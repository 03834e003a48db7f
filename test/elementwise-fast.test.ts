// The fast paths of the non-matmul kernels against what they replace, bit for bit: exp.ts against
// Math.exp on every branch of fdlibm's scheme. Read next: ../lib/backend/cpu/exp.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exp } from '../lib/backend/cpu/exp.ts';
import { manualSeed, rand } from '../lib/index.ts';

/** Same length, and every element the same double (Object.is: −0 and NaN too). */
function assertBitwise(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i]))
      assert.unreachable(`${what}: [${i}] = ${got[i]}, want ${want[i]}`);
  }
}

/** n seeded uniform doubles in [lo, hi). */
function uniform(n: number, lo: number, hi: number): number[] {
  return Array.from(rand([n], { dtype: 'float64' }).data, (u) => lo + u * (hi - lo));
}

test('exp is Math.exp, bit for bit, on every branch', () => {
  manualSeed(7);
  const edges = [
    [0, -0, 1, -1, 2, -2, 0.5, -0.5, 1e-300, -1e-300, 2 ** -28, -(2 ** -28), 2 ** -29],
    [0.3465735902799726, 0.34657359027997264, 1.0397207708399179, -1.0397207708399179],
    [709.78, 709.782712893384, 709.79, 710, 1e10, -708.4, -745.1332191019411, -745.14, -1e10],
    [Infinity, -Infinity, NaN, Number.MIN_VALUE, Number.MAX_VALUE, -Number.MAX_VALUE],
  ].flat();
  const xs = [
    ...edges,
    ...uniform(200_000, -20, 20), // the common range: |x| > 1.5 ln 2, k = round(x / ln 2)
    ...uniform(100_000, -1.1, 1.1), // k = 0 and k = ±1
    ...uniform(50_000, -1e-7, 1e-7), // near 0: 1 + x below 2^−28
    ...uniform(50_000, -760, 720), // overflow, underflow, the subnormal results below −708
    ...uniform(50_000, 700, 710), // k = 1024 near the overflow threshold
    ...uniform(50_000, -746, -700),
    ...Array.from(new Float32Array(uniform(50_000, -30, 0))), // float32 inputs, as softmax's
  ];
  assertBitwise(
    xs.map((x) => exp(x)),
    xs.map((x) => Math.exp(x)),
    'exp',
  );
});

test.run();
