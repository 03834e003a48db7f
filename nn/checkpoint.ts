// Checkpoints and safetensors as files, in Node: the bytes of safetensors.ts and checkpoint-data.ts
// written atomically and read back, so a file written here opens with Hugging Face's
// `safetensors.numpy.load_file` (and one written there opens here when its dtypes are F32, F64 or
// I32). A browser uses checkpoint-data.ts directly (ArrayBuffer, Blob). Read next:
// ../cli/train.ts, which saves and resumes with these.

import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import type { Tensor } from '../lib/index.ts';
import { writeFileAtomic } from './atomic-write.ts';
import {
  checkpointConfig,
  checkpointTensors,
  restoreCheckpoint,
  type CheckpointContents,
  type CheckpointOptimizer,
} from './checkpoint-data.ts';
import type { Module } from './module.ts';
import { decodeSafetensors, encodeSafetensors, headerLength, parseHeader } from './safetensors.ts';

export type {
  CheckpointContents,
  CheckpointOptimizer,
  OptimizerStateLike,
} from './checkpoint-data.ts';

/** Write `tensors` (and string `metadata`) as one safetensors file, atomically. */
export function saveSafetensors(
  file: string,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  const who = 'saveSafetensors';
  const chunks = encodeSafetensors(who, file, tensors, metadata);
  try {
    writeFileAtomic(file, chunks);
  } catch (e) {
    throw new Error(
      `${who}: ${file}: write failed, the previous file is unchanged: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** Read a safetensors file; everything is checked before anything is returned. */
export function loadSafetensors(file: string): {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
} {
  return decodeSafetensors('loadSafetensors', file, readFileSync(file));
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

/**
 * Save model weights, optimizer state, step, config, the global RNG state and `extra`, atomically.
 */
export function saveCheckpoint(file: string, contents: CheckpointContents): void {
  const { tensors, metadata } = checkpointTensors('saveCheckpoint', file, contents);
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
  targets: { model: Module; optimizer?: CheckpointOptimizer },
): { step: number; config: unknown; extra: unknown } {
  return restoreCheckpoint('loadCheckpoint', file, loadSafetensors(file), targets);
}

/** The config stored in a checkpoint, without loading any weights (for `--resume` and `eval`). */
export function readCheckpointConfig(file: string): unknown {
  return checkpointConfig('readCheckpointConfig', file, readSafetensorsMetadata(file));
}
