// Checkpoints: safetensors files round-trip bit-exactly, their bytes follow the reference layout
// (checked by hand, and against the reference implementation's own test vectors), bad files fail
// with errors naming the file and the key, a failed save leaves the old file whole, and a resumed
// checkpoint continues training and the random stream exactly where the saved one stopped.

import fs, {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getRngState, manualSeed, randn, Tensor, type TypedArray } from '../lib/index.ts';
import {
  AdamW,
  LayerNorm,
  Linear,
  loadCheckpoint,
  loadSafetensors,
  Module,
  mse,
  readCheckpointConfig,
  readSafetensorsMetadata,
  saveCheckpoint,
  saveSafetensors,
  Sequential,
  SGD,
} from '../nn/index.ts';

const root = mkdtempSync(join(tmpdir(), 'attngrad-checkpoint-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
const freshDir = () => {
  const dir = join(root, String(folders++));
  mkdirSync(dir);
  return dir;
};

const bytesOf = (a: TypedArray) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
const snapshot = (m: Module) =>
  Object.entries(m.stateDict()).map(([k, t]) => [k, t.data.slice()] as const);
const fromBits = (bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);

function throwsWith(fn: () => unknown, pattern: RegExp, file: string): void {
  try {
    fn();
  } catch (e) {
    const message = (e as Error).message;
    assert.ok(
      pattern.test(message),
      `message ${JSON.stringify(message)} does not match ${pattern}`,
    );
    assert.ok(message.includes(file), `message ${JSON.stringify(message)} does not name ${file}`);
    return;
  }
  assert.unreachable(`expected an error matching ${pattern}`);
}

/** A safetensors file written byte by byte: header length (or `n`), header text, data. */
function rawFile(file: string, header: string, data = new Uint8Array(0), n?: number): string {
  const json = Buffer.from(header, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(n ?? json.length));
  writeFileSync(file, Buffer.concat([prefix, json, data]));
  return file;
}

// ---- safetensors ----

test('safetensors: F32, F64, I32, 0-d and empty tensors and the metadata round-trip bit-exactly', () => {
  const file = join(freshDir(), 'all.safetensors');
  const tensors: Record<string, Tensor> = {
    // a NaN with a payload, −0, the smallest denormal and the largest float32 must keep their bits
    'blocks.0.weight': new Tensor(
      fromBits([0x7fc00001, 0x80000000, 0x00000001, 0x7f7fffff, 0x3fc00000, 0xff800000]),
      [2, 3],
    ),
    f64: new Tensor(Float64Array.from([Math.PI, -0, 5e-324, -Infinity, 1e308]), [5]),
    ids: new Tensor(Int32Array.from([-2147483648, 2147483647, 0, -1]), [2, 2]),
    scalar: new Tensor(Float32Array.from([7.25]), []),
    'empty.f64': new Tensor(new Float64Array(0), [0, 3]),
    'empty.i32': new Tensor(new Int32Array(0), [2, 0]),
    '0': new Tensor(Float32Array.from([1]), [1]), // an integer-like name must not reorder the header
    ünïcode: new Tensor(Float32Array.from([2, 3]), [2]),
  };
  const metadata = {
    format: 'test',
    config: JSON.stringify({ lr: 0.1, layers: [1, 2] }),
    empty: '',
    ключ: 'значение',
  };
  saveSafetensors(file, tensors, metadata);
  const loaded = loadSafetensors(file);
  assert.equal(loaded.metadata, metadata);
  assert.equal(Object.keys(loaded.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const back = loaded.tensors[name];
    assert.equal([back.dtype, back.shape], [t.dtype, t.shape], name);
    assert.ok(sameBytes(bytesOf(back.data), bytesOf(t.data)), `${name}: bytes differ`);
    assert.is(back.data.byteOffset % back.data.BYTES_PER_ELEMENT, 0, `${name}: misaligned`);
    assert.is.not(back.data.buffer, t.data.buffer, `${name}: must be a copy`);
  }

  saveSafetensors(file, { scalar: tensors.scalar });
  assert.equal(loadSafetensors(file).metadata, {});
  assert.equal(readSafetensorsMetadata(file), {});
});

test("safetensors: the bytes are the reference writer's (its test vectors)", () => {
  const dir = freshDir();
  // safetensors' serialize() of {"attn0": F32 [1,1,2,3] = 0..5}: 65 bytes of JSON padded to 72
  const data = Float32Array.from([0, 1, 2, 3, 4, 5]);
  saveSafetensors(join(dir, 'a.safetensors'), { attn0: new Tensor(data, [1, 1, 2, 3]) });
  const json = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  const expected = Buffer.concat([
    Buffer.from([72, 0, 0, 0, 0, 0, 0, 0]),
    Buffer.from(json + ' '.repeat(7)),
    Buffer.from(bytesOf(data)),
  ]);
  assert.ok(sameBytes(readFileSync(join(dir, 'a.safetensors')), expected));

  // ... and of no tensors with metadata {"framework": "pt"}: 35 bytes padded to 40
  saveSafetensors(join(dir, 'b.safetensors'), {}, { framework: 'pt' });
  const expectedEmpty = Buffer.concat([
    Buffer.from([40, 0, 0, 0, 0, 0, 0, 0]),
    Buffer.from('{"__metadata__":{"framework":"pt"}}     '),
  ]);
  assert.ok(sameBytes(readFileSync(join(dir, 'b.safetensors')), expectedEmpty));
  assert.equal(loadSafetensors(join(dir, 'b.safetensors')), {
    tensors: {},
    metadata: { framework: 'pt' },
  });
});

test('safetensors: layout parsed by hand: padded header, F64 then F32 then I32 by name, packed, aligned', () => {
  const file = join(freshDir(), 'layout.safetensors');
  const tensors = {
    'b.f32': new Tensor(Float32Array.from([1, 2, 3]), [3]),
    'a.i32': new Tensor(Int32Array.from([4, 5, 6]), [3, 1]),
    'z.f64': new Tensor(Float64Array.from([7, 8]), [2]),
    'a.f32': new Tensor(Float32Array.from([9]), []),
    'c.f64': new Tensor(Float64Array.from([10, 11, 12]), [1, 3]),
  };
  saveSafetensors(file, tensors, { note: 'hand-parsed' });
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  assert.is(n % 8, 0, 'header length is a multiple of 8');
  const text = bytes.subarray(8, 8 + n).toString('utf8');
  assert.ok(
    /^\{.*\} *$/.test(text) && text.trimEnd().length > n - 8,
    'JSON, then fewer than 8 spaces',
  );
  const header = JSON.parse(text);
  assert.equal(Object.keys(header), ['__metadata__', 'c.f64', 'z.f64', 'a.f32', 'b.f32', 'a.i32']);
  assert.equal(header.__metadata__, { note: 'hand-parsed' });
  let at = 0;
  for (const name of Object.keys(header).slice(1)) {
    const t = tensors[name as keyof typeof tensors];
    const {
      dtype,
      shape,
      data_offsets: [begin, end],
    } = header[name];
    assert.equal(
      [dtype, shape, begin, end],
      [
        { float32: 'F32', float64: 'F64', int32: 'I32' }[t.dtype],
        t.shape,
        at,
        at + t.data.byteLength,
      ],
      name,
    );
    assert.is((8 + n + begin) % t.data.BYTES_PER_ELEMENT, 0, `${name} starts aligned in the file`);
    assert.ok(
      sameBytes(bytes.subarray(8 + n + begin, 8 + n + end), bytesOf(t.data)),
      `${name}: data bytes`,
    );
    at = end;
  }
  assert.is(bytes.length, 8 + n + at, 'the data section ends with the last tensor');
});

test('safetensors: bad files fail with errors naming the file and the key', () => {
  const dir = freshDir();
  const f = (name: string) => join(dir, name);
  const f32 = (name: string, shape: number[], offsets: number[]) =>
    `"${name}":{"dtype":"F32","shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;
  const zeros = (n: number) => new Uint8Array(n);

  writeFileSync(f('short'), Buffer.from([1, 0, 0]));
  throwsWith(
    () => loadSafetensors(f('short')),
    /^loadSafetensors: .*: the file has 3 bytes, too short for the 8-byte header length$/,
    f('short'),
  );

  rawFile(f('long-header'), '{}', zeros(12), 1000);
  throwsWith(
    () => loadSafetensors(f('long-header')),
    /^loadSafetensors: .*: the header length 1000 is larger than the rest of the file \(14 bytes\)$/,
    f('long-header'),
  );
  throwsWith(
    () => readSafetensorsMetadata(f('long-header')),
    /^readSafetensorsMetadata: .*: the header length 1000/,
    f('long-header'),
  );

  const good = f('good');
  saveSafetensors(good, { w: new Tensor(new Float32Array(8), [2, 4]) }, { k: 'v' });
  const whole = readFileSync(good);
  writeFileSync(f('cut-header'), whole.subarray(0, 20));
  throwsWith(
    () => loadSafetensors(f('cut-header')),
    /the header length \d+ is larger than the rest of the file \(12 bytes\)/,
    f('cut-header'),
  );
  writeFileSync(f('cut-data'), whole.subarray(0, whole.length - 4));
  throwsWith(
    () => loadSafetensors(f('cut-data')),
    /tensor 'w' has data_offsets \[0,32\] past the end of the 28-byte data section/,
    f('cut-data'),
  );

  rawFile(f('bad-json'), '{"w": {"dtype": "F32",   ');
  throwsWith(
    () => loadSafetensors(f('bad-json')),
    /^loadSafetensors: .*: the header is not valid UTF-8 JSON/,
    f('bad-json'),
  );
  writeFileSync(
    f('bad-utf8'),
    Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])]),
  );
  throwsWith(
    () => loadSafetensors(f('bad-utf8')),
    /the header is not valid UTF-8 JSON/,
    f('bad-utf8'),
  );
  rawFile(f('array'), '[1, 2]');
  throwsWith(() => loadSafetensors(f('array')), /the header must be a JSON object/, f('array'));

  rawFile(f('size'), `{${f32('blocks.0.weight', [4, 8], [0, 100])}}`, zeros(100));
  throwsWith(
    () => loadSafetensors(f('size')),
    /^loadSafetensors: .*size: tensor 'blocks.0.weight' has data_offsets \[0,100\] but shape \[4,8\] float32 needs 128 bytes$/,
    f('size'),
  );
  rawFile(f('past-end'), `{${f32('w', [2], [64, 72])}}`, zeros(64));
  throwsWith(
    () => loadSafetensors(f('past-end')),
    /tensor 'w' has data_offsets \[64,72\] past the end of the 64-byte data section/,
    f('past-end'),
  );
  rawFile(f('reversed'), `{${f32('w', [0], [8, 0])}}`, zeros(8));
  throwsWith(
    () => loadSafetensors(f('reversed')),
    /tensor 'w' has data_offsets \[8,0\], not \[begin, end\] with begin ≤ end/,
    f('reversed'),
  );
  rawFile(f('overlap'), `{${f32('a', [4], [0, 16])},${f32('b', [4], [8, 24])}}`, zeros(24));
  throwsWith(
    () => loadSafetensors(f('overlap')),
    /tensor 'b' at data_offsets \[8,24\] overlaps the tensor before it \('a' ends at 16\)/,
    f('overlap'),
  );
  rawFile(f('gap'), `{${f32('a', [4], [0, 16])},${f32('b', [4], [20, 36])}}`, zeros(36));
  throwsWith(
    () => loadSafetensors(f('gap')),
    /tensor 'b' at data_offsets \[20,36\] leaves a gap \('a' ends at 16\)/,
    f('gap'),
  );
  rawFile(f('trailing'), `{${f32('a', [4], [0, 16])}}`, zeros(20));
  throwsWith(
    () => loadSafetensors(f('trailing')),
    /the data section has 20 bytes but the tensors cover 16$/,
    f('trailing'),
  );

  rawFile(f('bf16'), '{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}', zeros(4));
  throwsWith(
    () => loadSafetensors(f('bf16')),
    /tensor 'w' has dtype "BF16"; attngrad reads F32, F64 and I32/,
    f('bf16'),
  );
  rawFile(f('shape'), '{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', zeros(4));
  throwsWith(
    () => loadSafetensors(f('shape')),
    /tensor 'w' has shape \[-1\], not a list of sizes/,
    f('shape'),
  );
  rawFile(f('meta'), '{"__metadata__":{"step":3}}');
  throwsWith(
    () => loadSafetensors(f('meta')),
    /metadata 'step' must be a string, got 3/,
    f('meta'),
  );
});

test('safetensors: bad input to save fails before the file is touched', () => {
  const dir = freshDir();
  const file = join(dir, 'x.safetensors');
  const fake = { dtype: 'bfloat16', shape: [2], data: new Uint16Array(2) } as unknown as Tensor;
  throwsWith(
    () => saveSafetensors(file, { 'h.weight': fake }),
    /^saveSafetensors: .*: tensor 'h.weight' must be a float32, float64 or int32 Tensor/,
    file,
  );
  throwsWith(
    () => saveSafetensors(file, {}, { step: 3 as unknown as string }),
    /metadata 'step' must be a string, got number/,
    file,
  );
  throwsWith(
    () => saveSafetensors(file, { __metadata__: new Tensor(new Float32Array(1), []) }),
    /'__metadata__' is reserved/,
    file,
  );
  const missing = join(dir, 'no-such-folder', 'x.safetensors');
  throwsWith(
    () => saveSafetensors(missing, {}),
    /^saveSafetensors: .*: write failed, the previous file is unchanged: ENOENT/,
    missing,
  );
  assert.equal(readdirSync(dir), []);
});

test('safetensors: a write that fails midway leaves the old file whole and no temp file', () => {
  const dir = freshDir();
  const file = join(dir, 'model.safetensors');
  const model = new Linear(16, 16);
  saveCheckpoint(file, { model, step: 1, config: { v: 1 } });
  const before = readFileSync(file);
  // The disk fills up after the header: the first write succeeds, the next one half-writes, then
  // fails.
  const { writeSync } = fs;
  let calls = 0;
  fs.writeSync = ((fd: number, bytes: Uint8Array, offset: number, length: number) => {
    if (++calls === 1) return writeSync(fd, bytes, offset, length);
    if (calls === 2) return writeSync(fd, bytes, offset, Math.floor(length / 2));
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  }) as typeof fs.writeSync;
  syncBuiltinESMExports();
  try {
    model.weight.data.fill(0.5);
    throwsWith(
      () => saveCheckpoint(file, { model, step: 2, config: { v: 2 } }),
      /^saveSafetensors: .*: write failed, the previous file is unchanged: ENOSPC/,
      file,
    );
  } finally {
    fs.writeSync = writeSync;
    syncBuiltinESMExports();
  }
  assert.ok(calls >= 3, 'the patched write was used');
  assert.ok(sameBytes(readFileSync(file), before), 'the old file is unchanged');
  assert.equal(readdirSync(dir), ['model.safetensors']);
  assert.equal(readCheckpointConfig(file), { v: 1 });
});

// ---- checkpoints ----

/** A small model, an AdamW over it and a fixed batch; `steps` updates on that batch. */
function setup(seed: number) {
  manualSeed(seed);
  const model = new Sequential(new Linear(3, 4), new LayerNorm(4), new Linear(4, 2));
  const optimizer = new AdamW(model.namedParameters(), { lr: 0.05 });
  return { model, optimizer };
}
manualSeed(123);
const batch = { x: randn([5, 3]), y: randn([5, 2]) };
function train(model: Sequential, optimizer: AdamW, steps: number): void {
  for (let i = 0; i < steps; i++) {
    optimizer.zeroGrad();
    mse(model.forward(batch.x), batch.y).backward();
    optimizer.step();
  }
}

test('checkpoint: a resumed run continues bit-identically (weights, optimizer, step, config, extra, RNG)', () => {
  const file = join(freshDir(), 'model.safetensors');
  const config = { model: 'mlp', lr: 0.05, layers: [3, 4, 2], name: 'résumé' };
  const extra = {
    metrics: [
      { step: 1, loss: 0.5 },
      { step: 2, loss: 0.25 },
    ],
  };
  const a = setup(1);
  train(a.model, a.optimizer, 2);
  randn([3]); // an odd number of normal draws leaves a cached Box–Muller value in the RNG state
  saveCheckpoint(file, { model: a.model, optimizer: a.optimizer, step: 2, config, extra });
  const saved = snapshot(a.model);
  const savedOptimizer = a.optimizer.stateDict();
  const drawsAfterSave = randn([5]).data.slice();
  train(a.model, a.optimizer, 3);

  const b = setup(2); // other initial weights, other RNG state
  const loaded = loadCheckpoint(file, { model: b.model, optimizer: b.optimizer });
  assert.equal(loaded, { step: 2, config, extra });
  assert.equal(snapshot(b.model), saved);
  assert.equal(b.optimizer.stateDict(), savedOptimizer);
  assert.equal(randn([5]).data, drawsAfterSave, 'draws after load equal draws after save');
  train(b.model, b.optimizer, 3);
  assert.equal(snapshot(b.model), snapshot(a.model), 'three more steps give the same weights');

  assert.equal(readCheckpointConfig(file), config);
  const { metadata, tensors } = loadSafetensors(file);
  assert.is(metadata.format, 'attngrad-checkpoint-v1');
  assert.is(metadata.step, '2');
  assert.ok('optimizer.exp_avg.0.weight' in tensors && '2.bias' in tensors);
  assert.equal(JSON.parse(metadata.optimizer).hyper.betas, [0.9, 0.999]);
});

test('checkpoint: a model without an optimizer loads for inference; no RNG draw is lost', () => {
  const file = join(freshDir(), 'model.safetensors');
  const a = setup(3);
  saveCheckpoint(file, { model: a.model, step: 0, config: {} });
  const b = setup(4);
  assert.equal(loadCheckpoint(file, { model: b.model }), { step: 0, config: {}, extra: {} });
  assert.equal(snapshot(b.model), snapshot(a.model));
  throwsWith(
    () => loadCheckpoint(file, b),
    /^loadCheckpoint: .*: the checkpoint has no optimizer state/,
    file,
  );
});

test('checkpoint: a missing key, a shape mismatch or an optimizer that does not fit leaves everything as it was', () => {
  const dir = freshDir();
  const withBias = join(dir, 'with-bias.safetensors'),
    noBias = join(dir, 'no-bias.safetensors');
  manualSeed(5);
  const source = new Linear(3, 4);
  saveCheckpoint(withBias, {
    model: source,
    optimizer: new AdamW(source.namedParameters()),
    step: 7,
    config: {},
  });
  saveCheckpoint(noBias, { model: new Linear(3, 4, { bias: false }), step: 7, config: {} });

  const cases: [Module, string, RegExp, SGD | AdamW | undefined][] = [
    [
      new Linear(3, 4),
      noBias,
      /^loadCheckpoint: .*no-bias\.safetensors: the model's tensor 'bias' \[4\] is missing from the checkpoint$/,
      undefined,
    ],
    [
      new Linear(3, 5),
      withBias,
      /tensor 'weight' has shape \[4,3\] in the checkpoint but \[5,3\] in the model$/,
      undefined,
    ],
    [new Linear(3, 4, { bias: false }), withBias, /tensor 'bias' is not in the model$/, undefined],
    [
      new Linear(3, 4).to('float64'),
      withBias,
      /tensor 'weight' is float32 in the checkpoint but float64 in the model$/,
      undefined,
    ],
  ];
  const sgdModel = new Linear(3, 4);
  cases.push([
    sgdModel,
    withBias,
    /the optimizer state does not fit: SGD\.loadStateDict: hyperparameters/,
    new SGD(sgdModel.namedParameters(), { momentum: 0.9 }),
  ]);
  for (const [model, file, pattern, optimizer] of cases) {
    const weights = snapshot(model),
      rng = getRngState(),
      optimizerState = optimizer?.stateDict();
    throwsWith(() => loadCheckpoint(file, { model, optimizer }), pattern, file);
    assert.equal(snapshot(model), weights, `${pattern}: the model is unchanged`);
    assert.equal(getRngState(), rng, `${pattern}: the RNG is unchanged`);
    if (optimizer)
      assert.equal(optimizer.stateDict(), optimizerState, `${pattern}: the optimizer is unchanged`);
  }
});

test('checkpoint: files that are not checkpoints, and bad checkpoint metadata, are named', () => {
  const dir = freshDir();
  const plain = join(dir, 'plain.safetensors');
  saveSafetensors(plain, {}, { framework: 'pt' });
  throwsWith(
    () => readCheckpointConfig(plain),
    /^readCheckpointConfig: .*: not an attngrad checkpoint \(metadata 'format' is undefined/,
    plain,
  );
  throwsWith(
    () => loadCheckpoint(plain, { model: new Linear(1, 1) }),
    /^loadCheckpoint: .*: not an attngrad checkpoint/,
    plain,
  );

  const bad = join(dir, 'bad.safetensors');
  const metadata = {
    format: 'attngrad-checkpoint-v1',
    config: '{}',
    step: '1',
    rng: '{"words":[1,2,3]}',
    extra: '{}',
  };
  saveSafetensors(bad, {}, metadata);
  throwsWith(
    () => loadCheckpoint(bad, { model: new Module() }),
    /metadata 'rng' must be \{words: \[4 uint32\]/,
    bad,
  );
  saveSafetensors(bad, {}, { ...metadata, rng: JSON.stringify(getRngState()), config: '{oops' });
  throwsWith(() => readCheckpointConfig(bad), /metadata 'config' is not valid JSON/, bad);
  saveSafetensors(bad, {}, { ...metadata, rng: JSON.stringify(getRngState()), step: '-1' });
  throwsWith(
    () => loadCheckpoint(bad, { model: new Module() }),
    /metadata 'step' must be an integer ≥ 0, got "-1"/,
    bad,
  );

  const file = join(dir, 'c.safetensors');
  throwsWith(
    () => saveCheckpoint(file, { model: new Module(), step: 1.5, config: {} }),
    /^saveCheckpoint: .*: step must be an integer ≥ 0, got 1.5/,
    file,
  );
  throwsWith(
    () => saveCheckpoint(file, { model: new Module(), step: 1, config: { n: 1n } }),
    /config cannot be stored as JSON/,
    file,
  );
  assert.equal(readdirSync(dir).sort(), ['bad.safetensors', 'plain.safetensors']);
});

test.run();
