// A checkpoint in safetensors bytes, on any platform: the model's stateDict() under its own names,
// the optimizer's buffers under `optimizer.<buffer>`, and the rest (config, step, RNG state,
// optimizer step and hyperparameters, extra) JSON-encoded in the metadata, whose values the format
// requires to be strings. Here as bytes, an ArrayBuffer or a Blob (what a page downloads and
// loads); as a file in Node, checkpoint.ts (the same bytes). Read next: checkpoint.ts.

import { getRngState, setRngState, Tensor, type RngState } from '../lib/index.ts';
import type { Module } from './module.ts';
import { asBytes, concat, decodeSafetensors, encodeSafetensors, fmt } from './safetensors.ts';

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

type Safetensors = { tensors: Record<string, Tensor>; metadata: Record<string, string> };

/** What saveCheckpoint writes: the tensors and metadata of `contents` (`file` names it in errors). */
export function checkpointTensors(
  who: string,
  file: string,
  { model, optimizer, step, config, extra = {} }: CheckpointContents,
): Safetensors {
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
  return { tensors, metadata };
}

/**
 * Load the checkpoint's `tensors` and `metadata` into `model` (and `optimizer`), restore the RNG state, and return the step, config
 * and extra. Every key, shape and dtype is checked, and the optimizer's own loadStateDict runs,
 * before the model is written: on any error the model, optimizer and RNG are as they were.
 */
export function restoreCheckpoint(
  who: string,
  file: string,
  { tensors, metadata }: Safetensors,
  { model, optimizer }: { model: Module; optimizer?: CheckpointOptimizer },
): { step: number; config: unknown; extra: unknown } {
  const fail = (message: string) => new Error(`${who}: ${file}: ${message}`);
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

/** A checkpoint as safetensors bytes: the same bytes saveCheckpoint writes to a file. */
export function checkpointBytes(contents: CheckpointContents): Uint8Array<ArrayBuffer> {
  const { tensors, metadata } = checkpointTensors('checkpointBytes', 'bytes', contents);
  return concat(encodeSafetensors('checkpointBytes', 'bytes', tensors, metadata));
}

/** A checkpoint as a Blob (for a download link), the same bytes as checkpointBytes. */
export const checkpointBlob = (contents: CheckpointContents): Blob =>
  new Blob([checkpointBytes(contents)], { type: 'application/octet-stream' });

/**
 * Load checkpoint bytes into `model` (and `optimizer`), as loadCheckpoint loads a file; config and
 * extra come back as parsed JSON.
 */
export function loadCheckpointBytes(
  bytes: ArrayBuffer | Uint8Array,
  targets: { model: Module; optimizer?: CheckpointOptimizer },
): { step: number; config: unknown; extra: unknown } {
  const who = 'loadCheckpointBytes';
  return restoreCheckpoint(who, 'bytes', decodeSafetensors(who, 'bytes', asBytes(bytes)), targets);
}

/** loadCheckpointBytes on a Blob's (or a File's) bytes. */
export const loadCheckpointBlob = async (
  blob: Blob,
  targets: { model: Module; optimizer?: CheckpointOptimizer },
) => loadCheckpointBytes(await blob.arrayBuffer(), targets);

/** The config stored in checkpoint bytes, to build the model before loading into it. */
export function checkpointBytesConfig(bytes: ArrayBuffer | Uint8Array): unknown {
  const who = 'checkpointBytesConfig';
  return checkpointConfig(who, 'bytes', decodeSafetensors(who, 'bytes', asBytes(bytes)).metadata);
}

export function checkpointConfig(
  who: string,
  file: string,
  metadata: Record<string, string>,
): unknown {
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
