// The polynomial exp of fused attention's tiles: the WebAssembly SIMD row exp
// (lib/backend/wasm/exp-kernel.ts) against its TypeScript reference (lib/backend/cpu/exp-poly.ts)
// bit for bit on millions of inputs in rows of every length (odd tails too) and shifts, across
// the cut-offs, ±0, ±∞, NaN and the ties of nearest(x / ln2); the reference against Math.exp
// within its stated 2 ulp over [−708, 709]; the cut-offs; the errors. Read next: those two files.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  EXP_HIGH,
  EXP_LOW,
  INV_LN2,
  expPoly,
  expShiftedRow,
  tsRowExp,
} from '../lib/backend/cpu/exp-poly.ts';
import { TILE, wasmRowExp } from '../lib/backend/wasm/exp-kernel.ts';
import { manualSeed, rand } from '../lib/index.ts';
import { randomInt } from '../lib/random.ts';

const BOUND_ULP = 2;

/** n seeded uniform doubles in [lo, hi). */
function uniform(n: number, lo: number, hi: number): number[] {
  return Array.from(rand([n], { dtype: 'float64' }).data, (u) => lo + u * (hi - lo));
}

const bits = new BigInt64Array(2);
const doubles = new Float64Array(bits.buffer);
/** The next double above x (x finite, > −∞). */
function nextUp(x: number): number {
  doubles[0] = x;
  bits[0] += x >= 0 ? 1n : -1n;
  return Object.is(x, -0) ? Number.MIN_VALUE : doubles[0];
}
/** How many doubles apart two positive finite doubles are. */
function ulps(a: number, b: number): number {
  doubles[0] = a;
  doubles[1] = b;
  return Math.abs(Number(bits[0] - bits[1]));
}

/** Inputs x with x / ln2 (as x · INV_LN2 rounds) exactly halfway between integers. */
function ties(): number[] {
  const found: number[] = [];
  for (let k = -1020; k <= 1020; k += 7) {
    let x = (k + 0.5) / INV_LN2;
    for (let step = 0; step < 64; step++, x = nextUp(x)) if (x * INV_LN2 === k + 0.5) found.push(x);
  }
  return found;
}

const edges = [
  [0, -0, 1, -1, 0.5, -0.5, 1e-300, -1e-300, Number.MIN_VALUE, -Number.MIN_VALUE],
  [EXP_LOW, nextUp(EXP_LOW), -708.0000001, -708.4, -745.2, -1e10, -Number.MAX_VALUE],
  [EXP_HIGH, 708.99999, 709.0000001, 709.78, 710, 1e10, Number.MAX_VALUE],
  [0.34657359027997264, -0.34657359027997264, 0.3465735902799727, -0.3465735902799727],
  [Infinity, -Infinity, NaN],
].flat();

/** About 2.3 million inputs over the whole range, the edges and ties among them. */
function inputs(): Float64Array {
  manualSeed(11);
  return Float64Array.from([
    ...edges,
    ...ties(),
    ...uniform(800_000, -40, 0), // the fused kernel's s − max
    ...uniform(600_000, -760, 720), // everything, both cut-offs
    ...uniform(300_000, -1, 1),
    ...uniform(200_000, -708.01, -707.99),
    ...uniform(200_000, 708.99, 709.01),
    ...uniform(200_000, -1e-6, 1e-6),
  ]);
}

test('SIMD row exp = the TypeScript reference, bit for bit: values and sums, rows of every length', () => {
  const simd = wasmRowExp();
  assert.ok(simd, 'WebAssembly SIMD is missing on this Node');
  const xs = inputs();
  const tile = simd.tile(8192);
  const ref = new Float64Array(8192);
  let compared = 0;
  for (let at = 0; at < xs.length;) {
    const length = Math.min(8192, xs.length - at);
    tile.set(xs.subarray(at, at + length));
    ref.set(xs.subarray(at, at + length));
    // rows of 0 … 257 doubles (odd and even), shifted by 0, ±∞ or a random amount
    for (let row = 0; row < length;) {
      const n = Math.min(randomInt(0, 258), length - row);
      const shift = [0, 0, Infinity, -Infinity, ...uniform(1, -5, 5)][randomInt(0, 5)];
      const want = expShiftedRow(ref, row, n, shift);
      const got = simd.expShifted(tile, row, n, shift);
      if (!Object.is(got, want) && !(Number.isNaN(got) && Number.isNaN(want)))
        assert.unreachable(
          `sum of the row at ${at + row} (n ${n}, shift ${shift}): ${got}, want ${want}`,
        );
      row += n;
    }
    for (let i = 0; i < length; i++) {
      const [got, want] = [tile[i], ref[i]];
      if (!Object.is(got, want) && !(Number.isNaN(got) && Number.isNaN(want)))
        assert.unreachable(`exp(${xs[at + i]} − shift): ${got}, want ${want}`);
    }
    compared += length;
    at += length;
  }
  assert.ok(compared > 2_000_000, `${compared} inputs`);
  assert.ok(ties().length > 100, `${ties().length} ties of nearest among them`);
});

test(`the reference is within ${BOUND_ULP} ulp of Math.exp on [${EXP_LOW}, ${EXP_HIGH}]`, () => {
  let worst = 0,
    at = NaN;
  for (const x of inputs()) {
    if (!(x >= EXP_LOW && x <= EXP_HIGH)) continue;
    const error = ulps(expPoly(x), Math.exp(x));
    if (error > worst) [worst, at] = [error, x];
  }
  assert.ok(worst <= BOUND_ULP, `${worst} ulp at x = ${at}`);
  assert.ok(worst >= 1, `the comparison ran: worst ${worst} ulp`); // no polynomial is exact
});

test('cut-offs: 0 below −708 and at −∞, +∞ above 709, NaN stays NaN, ±0 give 1', () => {
  for (const x of [nextUp(-708.0000001), -708.4, -745.2, -1e300, -Infinity])
    assert.is(expPoly(x), 0, `exp(${x})`);
  for (const x of [709.0000001, 709.78, 1e300, Infinity]) assert.is(expPoly(x), Infinity);
  assert.ok(Number.isNaN(expPoly(NaN)));
  assert.is(expPoly(0), 1);
  assert.is(expPoly(-0), 1);
  assert.ok(expPoly(EXP_LOW) > 0 && expPoly(EXP_HIGH) < Infinity, 'the cut-offs themselves are in');
});

test('the SIMD row exp refuses a tile past its memory and a row outside its tile', () => {
  const simd = wasmRowExp()!;
  const past = new RegExp(`expShifted: a tile of ${TILE + 1} doubles, but .* holds ${TILE}$`);
  assert.throws(() => simd.tile(TILE + 1), past);
  assert.is(simd.tile(TILE).length, TILE);
  assert.throws(() => simd.expShifted(new Float64Array(4), 0, 4, 0), /another buffer/);
  assert.throws(() => simd.expShifted(simd.tile(16), 10, 8, 0), /\[10, 18\) inside .* of 16/);
  assert.is(tsRowExp.tile(5).length, 5);
});

test.run();
