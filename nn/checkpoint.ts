// Checkpoints as safetensors files, the format of Hugging Face's `safetensors` library, so a file
// written here opens with `safetensors.numpy.load_file` (and one written there opens here when its
// dtypes are F32, F64 or I32). Read next: ../cli/train.ts, which saves and resumes with these.
//
// The file: 8 bytes N (u64, little-endian), N bytes of UTF-8 JSON, then the raw data section.
//   header = { "__metadata__": {string: string},
//              "<name>": {"dtype": "F32", "shape": [4, 8], "data_offsets": [begin, end]}, ... }
// Offsets count from the start of the data section. As in the reference writer, tensors are packed
// back to back, F64 first, then F32, then I32 (larger alignment first), by name within a dtype, and
// the JSON is padded with spaces to a multiple of 8 bytes, so every tensor starts aligned to its
// element size. The reference reader sorts by offset and requires the tensors to tile the data
// section exactly: no gap, no overlap, nothing left over. loadSafetensors checks the same.
//
// A checkpoint is such a file with the model's stateDict() under its own names, the optimizer's
// buffers under `optimizer.<buffer>`, and the rest (config, step, RNG state, optimizer step and
// hyperparameters, extra) JSON-encoded in the metadata, whose values the format requires to be
// strings.

import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { getRngState, setRngState, Tensor, type RngState, type TypedArray } from '../lib/index.ts';
import { writeFileAtomic } from './atomic-write.ts';
import type { Module } from './module.ts';

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

// Listed in the reference writer's order: larger alignment first.
const FILE_DTYPES = {
  F64: { dtype: 'float64', bytes: 8, array: Float64Array },
  F32: { dtype: 'float32', bytes: 4, array: Float32Array },
  I32: { dtype: 'int32', bytes: 4, array: Int32Array },
} as const;
type FileDType = keyof typeof FILE_DTYPES;
const fileDTypeOf = (dtype: string) =>
  (Object.keys(FILE_DTYPES) as FileDType[]).find((k) => FILE_DTYPES[k].dtype === dtype);

/** Tensors are written and read as raw bytes, which the format defines as little-endian. */
function checkHost(who: string): void {
  if (endianness() !== 'LE')
    throw new Error(`${who}: safetensors data is little-endian and this machine is big-endian`);
}

// ---- saving ----

/** Write `tensors` (and string `metadata`) as one safetensors file, atomically. */
export function saveSafetensors(
  file: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  const who = 'saveSafetensors';
  checkHost(who);
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new Error(
          `${who}: ${file}: metadata '${key}' must be a string, got ${typeof value} (JSON-encode ` +
            `structured values)`,
        );
      }
    }
  }
  const entries = Object.entries(tensors).map(([name, t]) => {
    if (name === '__metadata__')
      throw new Error(`${who}: ${file}: '__metadata__' is reserved and cannot name a tensor`);
    const fileDType = t instanceof Tensor ? fileDTypeOf(t.dtype) : undefined;
    if (!fileDType) {
      const got = t instanceof Tensor ? t.dtype : typeof t;
      throw new Error(
        `${who}: ${file}: tensor '${name}' must be a float32, float64 or int32 Tensor, got ${got}`,
      );
    }
    return { name, t, fileDType, rank: Object.keys(FILE_DTYPES).indexOf(fileDType) };
  });
  entries.sort((a, b) => a.rank - b.rank || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // The JSON is built by hand so keys keep this order (JS objects list integer-like keys first).
  const fields: string[] =
    metadata === undefined ? [] : [`"__metadata__":${JSON.stringify(metadata)}`];
  let offset = 0;
  for (const { name, t, fileDType } of entries) {
    const info = {
      dtype: fileDType,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += t.data.byteLength;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const header = Buffer.alloc(8 + Math.ceil(json.length / 8) * 8, ' '); // spaces pad the JSON
  header.writeBigUInt64LE(BigInt(header.length - 8), 0);
  json.copy(header, 8);

  const chunks = [
    header,
    ...entries.map(({ t }) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
  ];
  try {
    writeFileAtomic(file, chunks);
  } catch (e) {
    throw new Error(
      `${who}: ${file}: write failed, the previous file is unchanged: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

// ---- loading ----

interface Entry {
  name: string;
  fileDType: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parse and check the header against a data section of `dataLength` bytes: every entry's dtype,
 * shape and offsets, and that the entries tile the data section exactly.
 */
function parseHeader(
  who: string,
  file: string,
  headerBytes: Uint8Array,
  dataLength: number,
): { entries: Entry[]; metadata: Record<string, string> } {
  const fail = (message: string) => new Error(`${who}: ${file}: ${message}`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw fail('the header must be a JSON object');

  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObject(info)) throw fail(`'__metadata__' must be an object of strings`);
      for (const [key, value] of Object.entries(info)) {
        if (typeof value !== 'string')
          throw fail(`metadata '${key}' must be a string, got ${JSON.stringify(value)}`);
      }
      metadata = info as Record<string, string>;
      continue;
    }
    if (!isObject(info))
      throw fail(`tensor '${name}' must be an object {dtype, shape, data_offsets}`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string' || !Object.hasOwn(FILE_DTYPES, dtype)) {
      throw fail(
        `tensor '${name}' has dtype ${JSON.stringify(dtype)}; attngrad reads F32, F64 and I32`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isCount))
      throw fail(`tensor '${name}' has shape ${JSON.stringify(shape)}, not a list of sizes`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every(isCount) ||
      offsets[0] > offsets[1]
    ) {
      throw fail(
        `tensor '${name}' has data_offsets ${JSON.stringify(offsets)}, not [begin, end] with ` +
          `begin ≤ end`,
      );
    }
    const { dtype: ours, bytes } = FILE_DTYPES[dtype as FileDType];
    const need = shape.reduce((n: number, d: number) => n * d, 1) * bytes;
    const [begin, end] = offsets as number[];
    if (end - begin !== need) {
      throw fail(
        `tensor '${name}' has data_offsets ${fmt(offsets)} but shape ${fmt(shape)} ${ours} needs ` +
          `${need} bytes`,
      );
    }
    if (end > dataLength)
      throw fail(
        `tensor '${name}' has data_offsets ${fmt(offsets)} past the end of the ` +
          `${dataLength}-byte data section`,
      );
    entries.push({ name, fileDType: dtype as FileDType, shape, begin, end });
  }

  // In offset order, each tensor must start where the previous one ended.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  byOffset.forEach((e, i) => {
    const previous = i > 0 ? `'${byOffset[i - 1].name}' ends` : 'the data section starts';
    if (e.begin < at)
      throw fail(
        `tensor '${e.name}' at data_offsets ${fmt([e.begin, e.end])} overlaps the tensor before ` +
          `it (${previous} at ${at})`,
      );
    if (e.begin > at)
      throw fail(
        `tensor '${e.name}' at data_offsets ${fmt([e.begin, e.end])} leaves a gap (${previous} ` +
          `at ${at})`,
      );
    at = e.end;
  });
  if (at !== dataLength)
    throw fail(`the data section has ${dataLength} bytes but the tensors cover ${at}`);
  return { entries, metadata };
}

/** The header length N from the first 8 bytes, checked against the file's size. */
function headerLength(who: string, file: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8)
    throw new Error(
      `${who}: ${file}: the file has ${fileSize} bytes, too short for the 8-byte header length`,
    );
  const n = Buffer.from(prefix.buffer, prefix.byteOffset, 8).readBigUInt64LE(0);
  if (n > BigInt(fileSize - 8))
    throw new Error(
      `${who}: ${file}: the header length ${n} is larger than the rest of the file ` +
        `(${fileSize - 8} bytes)`,
    );
  return Number(n);
}

/** Read a safetensors file; everything is checked before anything is returned. */
export function loadSafetensors(file: string): {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
} {
  const who = 'loadSafetensors';
  checkHost(who);
  const bytes = readFileSync(file);
  const n = headerLength(who, file, bytes, bytes.length);
  const { entries, metadata } = parseHeader(
    who,
    file,
    bytes.subarray(8, 8 + n),
    bytes.length - 8 - n,
  );
  const data = bytes.subarray(8 + n);
  // Copy each tensor into a fresh typed array: the Buffer may sit at any byte offset of its memory,
  // where a Float64Array view would be misaligned.
  const tensors = entries.map(({ name, fileDType, shape, begin, end }): [string, Tensor] => {
    const { array, bytes: size } = FILE_DTYPES[fileDType];
    const values: TypedArray = new array((end - begin) / size);
    new Uint8Array(values.buffer).set(data.subarray(begin, end));
    return [name, new Tensor(values, shape)];
  });
  return { tensors: Object.fromEntries(tensors), metadata };
}

/** Only the metadata, reading the header and not the data (the header is still checked in full). */
export function readSafetensorsMetadata(file: string): Record<string, string> {
  const who = 'readSafetensorsMetadata';
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    readSync(fd, prefix, 0, Math.min(8, size), 0);
    const n = headerLength(who, file, prefix, size);
    const header = new Uint8Array(n);
    for (let done = 0; done < n;) done += readSync(fd, header, done, n - done, 8 + done);
    return parseHeader(who, file, header, size - 8 - n).metadata;
  } finally {
    closeSync(fd);
  }
}

// ---- checkpoints ----

const FORMAT = 'attngrad-checkpoint-v1';
const OPTIMIZER_PREFIX = 'optimizer.';

/** What a checkpoint needs of an optimizer (nn/optim.ts's Optimizer has it). */
export interface OptimizerStateLike {
  step: number;
  hyper: object;
  buffers: Record<string, Float32Array | Float64Array>;
}
export interface CheckpointOptimizer {
  stateDict(): OptimizerStateLike;
  /** Must check the whole state before it writes anything, as nn/optim.ts does. */
  loadStateDict(state: OptimizerStateLike): void;
}

export interface CheckpointContents {
  model: Module;
  optimizer?: CheckpointOptimizer;
  /** Training steps done so far. */
  step: number;
  /** Everything needed to rebuild the model and the run (stored as JSON). */
  config: object;
  /** Anything else JSON can hold (metrics so far, ...). */
  extra?: object;
}

/**
 * Save model weights, optimizer state, step, config, the global RNG state and `extra`, atomically.
 */
export function saveCheckpoint(
  file: string,
  { model, optimizer, step, config, extra = {} }: CheckpointContents,
): void {
  const who = 'saveCheckpoint';
  if (!Number.isSafeInteger(step) || step < 0)
    throw new Error(`${who}: ${file}: step must be an integer ≥ 0, got ${step}`);
  const tensors: Record<string, Tensor> = { ...model.stateDict() };
  const metadata: Record<string, string> = {
    format: FORMAT,
    config: toJson(who, file, 'config', config),
    step: String(step),
    rng: JSON.stringify(getRngState()),
    extra: toJson(who, file, 'extra', extra),
  };
  if (optimizer) {
    const state = optimizer.stateDict();
    for (const [key, buffer] of Object.entries(state.buffers)) {
      const name = OPTIMIZER_PREFIX + key;
      if (Object.hasOwn(tensors, name))
        throw new Error(
          `${who}: ${file}: optimizer buffer '${key}' collides with the model tensor '${name}'`,
        );
      tensors[name] = new Tensor(buffer, [buffer.length]);
    }
    metadata.optimizer = toJson(who, file, 'optimizer', { step: state.step, hyper: state.hyper });
  }
  saveSafetensors(file, tensors, metadata);
}

/**
 * Load a checkpoint into `model` (and `optimizer`), restore the RNG state, and return the step,
 * config and extra. Every key, shape and dtype is checked, and the optimizer's own loadStateDict
 * runs, before the model is written: on any error the model, optimizer and RNG are as they were.
 * config and extra come back as parsed JSON: cast them to the types they were saved from.
 */
export function loadCheckpoint(
  file: string,
  { model, optimizer }: { model: Module; optimizer?: CheckpointOptimizer },
): { step: number; config: unknown; extra: unknown } {
  const who = 'loadCheckpoint';
  const fail = (message: string) => new Error(`${who}: ${file}: ${message}`);
  const { tensors, metadata } = loadSafetensors(file);
  const config = checkpointConfig(who, file, metadata);
  const step = Number(metadata.step);
  if (!/^\d+$/.test(metadata.step ?? '') || !Number.isSafeInteger(step)) {
    throw fail(`metadata 'step' must be an integer ≥ 0, got ${JSON.stringify(metadata.step)}`);
  }
  const rng = parseRng(fail, fromJson(who, file, metadata, 'rng'));
  const extra = fromJson(who, file, metadata, 'extra');

  const own = model.stateDict();
  for (const [key, t] of Object.entries(own)) {
    const saved = Object.hasOwn(tensors, key) ? tensors[key] : undefined;
    if (!saved)
      throw fail(`the model's tensor '${key}' ${fmt(t.shape)} is missing from the checkpoint`);
    if (fmt(saved.shape) !== fmt(t.shape))
      throw fail(
        `tensor '${key}' has shape ${fmt(saved.shape)} in the checkpoint but ${fmt(t.shape)} in ` +
          `the model`,
      );
    if (saved.dtype !== t.dtype)
      throw fail(`tensor '${key}' is ${saved.dtype} in the checkpoint but ${t.dtype} in the model`);
  }
  const buffers: Record<string, Float32Array | Float64Array> = {};
  for (const [key, t] of Object.entries(tensors)) {
    if (Object.hasOwn(own, key)) continue;
    if (!key.startsWith(OPTIMIZER_PREFIX) || metadata.optimizer === undefined)
      throw fail(`tensor '${key}' is not in the model`);
    if (t.dtype === 'int32' || t.ndim !== 1)
      throw fail(
        `optimizer buffer '${key}' must be a 1-d float tensor, got ${t.dtype} ${fmt(t.shape)}`,
      );
    buffers[key.slice(OPTIMIZER_PREFIX.length)] = t.data as Float32Array | Float64Array;
  }

  if (optimizer) {
    if (metadata.optimizer === undefined)
      throw fail('the checkpoint has no optimizer state (it was saved without an optimizer)');
    const { step: optimizerStep, hyper } = fromJson(who, file, metadata, 'optimizer') as {
      step: number;
      hyper: object;
    };
    try {
      optimizer.loadStateDict({ step: optimizerStep, hyper, buffers });
    } catch (e) {
      throw fail(`the optimizer state does not fit: ${(e as Error).message}`);
    }
  }
  model.loadStateDict(Object.fromEntries(Object.keys(own).map((key) => [key, tensors[key]])));
  setRngState(rng);
  return { step, config, extra };
}

/** The config stored in a checkpoint, without loading any weights (for `--resume` and `eval`). */
export function readCheckpointConfig(file: string): unknown {
  return checkpointConfig('readCheckpointConfig', file, readSafetensorsMetadata(file));
}

function checkpointConfig(who: string, file: string, metadata: Record<string, string>): unknown {
  if (metadata.format !== FORMAT) {
    throw new Error(
      `${who}: ${file}: not an attngrad checkpoint (metadata 'format' is ` +
        `${JSON.stringify(metadata.format)}, expected '${FORMAT}')`,
    );
  }
  return fromJson(who, file, metadata, 'config');
}

function toJson(who: string, file: string, key: string, value: unknown): string {
  if (typeof value !== 'object' || value === null)
    throw new Error(`${who}: ${file}: ${key} must be an object, got ${value}`);
  try {
    return JSON.stringify(value);
  } catch (e) {
    throw new Error(`${who}: ${file}: ${key} cannot be stored as JSON: ${(e as Error).message}`);
  }
}

function fromJson(
  who: string,
  file: string,
  metadata: Record<string, string>,
  key: string,
): unknown {
  if (metadata[key] === undefined) throw new Error(`${who}: ${file}: metadata '${key}' is missing`);
  try {
    return JSON.parse(metadata[key]);
  } catch (e) {
    throw new Error(
      `${who}: ${file}: metadata '${key}' is not valid JSON (${(e as Error).message})`,
    );
  }
}

/** Checked here, so a bad RNG state fails before anything is written rather than in setRngState. */
function parseRng(fail: (message: string) => Error, value: unknown): RngState {
  const s = value as RngState;
  const word = (w: unknown) => Number.isInteger(w) && (w as number) >= 0 && (w as number) < 2 ** 32;
  const spareOk = s?.spareNormal === null || typeof s?.spareNormal === 'number';
  if (!Array.isArray(s?.words) || s.words.length !== 4 || !s.words.every(word) || !spareOk) {
    throw fail(
      `metadata 'rng' must be {words: [4 uint32], spareNormal: number | null}, got ` +
        `${JSON.stringify(value)}`,
    );
  }
  return s;
}
