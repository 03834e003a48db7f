// The safetensors format, Hugging Face's, in memory: tensors and string metadata to bytes and back,
// on any platform (a file in Node: checkpoint.ts; an ArrayBuffer or a Blob in a browser:
// checkpoint-data.ts). Bytes written here open with `safetensors.numpy.load` (and bytes written
// there open here when their dtypes are F32, F64 or I32).
//
// The bytes: 8 bytes N (u64, little-endian), N bytes of UTF-8 JSON, then the raw data section.
//   header = { "__metadata__": {string: string},
//              "<name>": {"dtype": "F32", "shape": [4, 8], "data_offsets": [begin, end]}, ... }
// Offsets count from the start of the data section. As in the reference writer, tensors are packed
// back to back, F64 first, then F32, then I32 (larger alignment first), by name within a dtype, and
// the JSON is padded with spaces to a multiple of 8 bytes, so every tensor starts aligned to its
// element size. The reference reader sorts by offset and requires the tensors to tile the data
// section exactly: no gap, no overlap, nothing left over. decodeSafetensors checks the same.
// Every error names the caller (`who`) and what was read or written (`name`: a file, or 'bytes').
// Read next: checkpoint-data.ts (a model's checkpoint in these bytes).

import { Tensor, type TypedArray } from '../lib/index.ts';

export const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

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
export function checkHost(who: string): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
    throw new Error(`${who}: safetensors data is little-endian and this machine is big-endian`);
}

/**
 * `tensors` (and string `metadata`) as safetensors: the header, then each tensor's bytes (views of
 * the tensors' memory, not copies), in the order they are to be written.
 */
export function encodeSafetensors(
  who: string,
  file: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array[] {
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
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const header = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20); // spaces pad it
  new DataView(header.buffer).setBigUint64(0, BigInt(header.length - 8), true);
  header.set(json, 8);

  return [
    header,
    ...entries.map(({ t }) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
  ];
}

/** `tensors` (and string `metadata`) as one safetensors byte array. */
export function safetensorsBytes(
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  return concat(encodeSafetensors('safetensorsBytes', 'bytes', tensors, metadata));
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

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
export function parseHeader(
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
export function headerLength(
  who: string,
  file: string,
  prefix: Uint8Array,
  fileSize: number,
): number {
  if (fileSize < 8)
    throw new Error(
      `${who}: ${file}: the file has ${fileSize} bytes, too short for the 8-byte header length`,
    );
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8))
    throw new Error(
      `${who}: ${file}: the header length ${n} is larger than the rest of the file ` +
        `(${fileSize - 8} bytes)`,
    );
  return Number(n);
}

/** Decode safetensors bytes; everything is checked before anything is returned. */
export function decodeSafetensors(
  who: string,
  file: string,
  bytes: Uint8Array,
): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  checkHost(who);
  const n = headerLength(who, file, bytes, bytes.length);
  const { entries, metadata } = parseHeader(
    who,
    file,
    bytes.subarray(8, 8 + n),
    bytes.length - 8 - n,
  );
  const data = bytes.subarray(8 + n);
  // Copy each tensor into a fresh typed array: the bytes may sit at any offset of their buffer,
  // where a Float64Array view would be misaligned.
  const tensors = entries.map(({ name, fileDType, shape, begin, end }): [string, Tensor] => {
    const { array, bytes: size } = FILE_DTYPES[fileDType];
    const values: TypedArray = new array((end - begin) / size);
    new Uint8Array(values.buffer).set(data.subarray(begin, end));
    return [name, new Tensor(values, shape)];
  });
  return { tensors: Object.fromEntries(tensors), metadata };
}

/** Safetensors bytes (an ArrayBuffer or a view of one) as tensors and metadata, all checked. */
export const parseSafetensors = (
  bytes: ArrayBuffer | Uint8Array,
): { tensors: Record<string, Tensor>; metadata: Record<string, string> } =>
  decodeSafetensors('parseSafetensors', 'bytes', asBytes(bytes));

export const asBytes = (bytes: ArrayBuffer | Uint8Array): Uint8Array =>
  bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
