// The kernel tests' strictest comparison: the same numbers, bit for bit.

import * as assert from 'uvu/assert';

/**
 * Same length, and every element the same double (Object.is: −0 and NaN too); with `sameType`,
 * the same array type (dtype) as well.
 */
export function assertBitwise(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  what: string,
  sameType = false,
): void {
  if (sameType) assert.is(got.constructor, want.constructor, `${what}: dtype`);
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i]))
      assert.unreachable(`${what}: [${i}] = ${got[i]}, want ${want[i]}`);
  }
}
