// The WebAssembly encoder under the SIMD matmul kernel: LEB128 against the format's worked
// examples, and small modules that WebAssembly itself must accept and run.
// Read next: ../lib/backend/wasm/encode.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { I32, moduleBytes, op, sleb, uleb } from '../lib/backend/wasm/encode.ts';

test('unsigned LEB128', () => {
  assert.equal(uleb(0), [0x00]);
  assert.equal(uleb(127), [0x7f]);
  assert.equal(uleb(128), [0x80, 0x01]);
  assert.equal(uleb(624485), [0xe5, 0x8e, 0x26]); // the example in the DWARF spec and Wikipedia
});

test('signed LEB128', () => {
  assert.equal(sleb(0), [0x00]);
  assert.equal(sleb(63), [0x3f]);
  assert.equal(sleb(64), [0xc0, 0x00]); // bit 6 set would read as negative: one more byte
  assert.equal(sleb(-1), [0x7f]);
  assert.equal(sleb(-64), [0x40]);
  assert.equal(sleb(-123456), [0xc0, 0xbb, 0x78]);
});

test('a module of one function over its memory validates and runs', () => {
  // store(address, value): memory[address] = value as a little-endian i32 (i32.store, 0x36)
  const bytes = moduleBytes(
    {
      name: 'store',
      params: [I32, I32],
      locals: [],
      body: [op.localGet(0), op.localGet(1), [0x36, 2, 0]],
    },
    1,
  );
  assert.ok(WebAssembly.validate(bytes));
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  (exports.store as (address: number, value: number) => void)(8, -123456);
  const memory = exports.memory as WebAssembly.Memory;
  assert.is(memory.buffer.byteLength, 65536);
  assert.is(new Int32Array(memory.buffer)[2], -123456);
});

test('a malformed body is rejected by WebAssembly, not run', () => {
  const bytes = moduleBytes({ name: 'f', params: [], locals: [], body: [op.i32Add] }, 1); // add of nothing
  assert.not.ok(WebAssembly.validate(bytes));
});

test.run();
