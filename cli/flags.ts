// The flags of `attngrad train | eval | sample` and the run configuration they make. The whole
// RunConfig is stored in each checkpoint, so `--resume` and `eval` rebuild the exact same run.

import {
  attentionNames,
  positionNames,
  type AttentionName,
  type PositionName,
} from '../models/config.ts';
import type { FlagSpec, Flags } from './args.ts';
import { UsageError } from './args.ts';

export const backendFlag: FlagSpec = {
  type: 'string',
  default: 'cpu-threads',
  choices: ['cpu-threads', 'cpu', 'gpu'],
  help:
    'kernels: TypeScript on every core (ATTNGRAD_THREADS=n), on one, or gpu.js ' +
    '(ATTNGRAD_GPU_MODE=webgpu|headlessgl|webasm|cpu forces a mode)',
};

export const trainFlags = {
  model: {
    type: 'string',
    default: 'seq2seq',
    choices: ['seq2seq', 'lm'],
    help: 'encoder-decoder or decoder-only',
  },
  task: {
    type: 'string',
    default: 'reverse',
    choices: ['copy', 'reverse', 'sort', 'addition', 'recall', 'text'],
    help: 'toy task, or text (char LM on --data)',
  },
  data: {
    type: 'string',
    help: 'for --task text: a UTF-8 text file, or a corpus of data/ by name [default: shakespeare]',
  },
  'min-len': { type: 'int', default: 1, min: 1, help: 'shortest toy-task input' },
  'max-len': { type: 'int', default: 10, min: 1, help: 'longest toy-task input' },
  symbols: { type: 'int', default: 10, min: 1, help: 'toy-task alphabet size' },
  'block-size': { type: 'int', default: 64, min: 1, help: 'context length for --task text' },
  layers: { type: 'int', default: 2, min: 1, help: 'layers (per stack for seq2seq)' },
  heads: { type: 'int', default: 4, min: 1, help: 'attention heads' },
  'd-model': { type: 'int', default: 64, min: 1, help: 'model width (nEmbd)' },
  ffn: { type: 'int', help: 'feed-forward width [default: 2·d-model; the paper uses 4·d-model]' },
  dropout: { type: 'float', default: 0, min: 0, help: 'dropout probability' },
  norm: { type: 'string', default: 'post', choices: ['pre', 'post'], help: 'residual layout' },
  position: {
    type: 'string',
    default: 'sinusoidal',
    choices: positionNames,
    help: 'position encoding',
  },
  attention: {
    type: 'string',
    default: 'softmax',
    choices: attentionNames,
    help: 'token mixer of every block (README: variants)',
  },
  scale: {
    type: 'string',
    default: 'sqrt',
    choices: ['sqrt', 'logn'],
    help: 'attention scale: 1/√d, or ×log(n)/log(train length)',
  },
  window: {
    type: 'int',
    default: 16,
    min: 1,
    help: 'local/sparse attention: keys within this distance',
  },
  rate: { type: 'int', default: 4, min: 1, help: 'atrous/sparse: dilation; strided/fixed: stride' },
  chunk: { type: 'int', default: 64, min: 1, help: 'FLASH: chunk length' },
  sinks: {
    type: 'int',
    default: 0,
    min: 0,
    help: 'windowed attention: the first k tokens stay visible',
  },
  'train-len': {
    type: 'int',
    min: 1,
    help: 'length the log-n scale is relative to [default: the model length]',
  },
  steps: { type: 'int', default: 700, min: 1, help: 'optimizer steps' },
  batch: { type: 'int', default: 32, min: 1, help: 'examples per step' },
  lr: { type: 'float', default: 3e-3, min: 0, help: 'peak learning rate' },
  schedule: {
    type: 'string',
    default: 'cosine',
    choices: ['constant', 'warmup', 'cosine', 'noam'],
    help: 'learning-rate schedule',
  },
  warmup: { type: 'int', min: 0, help: 'warmup steps [default: min(100, steps/10)]' },
  'weight-decay': { type: 'float', default: 0.01, min: 0, help: 'AdamW decoupled weight decay' },
  clip: { type: 'float', default: 1, min: 0, help: 'gradient-norm clip (0 = off)' },
  seed: { type: 'int', default: 0, help: 'seed of weight init and dropout' },
  'data-seed': { type: 'int', help: 'seed of the batch stream [default: --seed]' },
  'eval-every': {
    type: 'int',
    default: 250,
    min: 0,
    help: 'validate every N steps (0 = only at the end)',
  },
  'eval-size': {
    type: 'int',
    default: 500,
    min: 1,
    help: 'held-out examples (or text batches ×8) per validation',
  },
  name: { type: 'string', help: 'run folder under runs/ [default: <model>-<task>-s<seed>]' },
  checkpoint: { type: 'string', help: 'where to save [default: runs/<name>/model.safetensors]' },
  'checkpoint-every': {
    type: 'int',
    default: 0,
    min: 0,
    help: 'also save every N steps (0 = only at the end)',
  },
  resume: {
    type: 'string',
    help: 'continue from this checkpoint (its config wins; --steps may extend it)',
  },
  backend: backendFlag,
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies Record<string, FlagSpec>;

export interface RunConfig {
  model: 'seq2seq' | 'lm';
  task: 'copy' | 'reverse' | 'sort' | 'addition' | 'recall' | 'text';
  data?: string;
  minLen: number;
  maxLen: number;
  symbols: number;
  blockSize: number;
  layers: number;
  heads: number;
  dModel: number;
  ffn: number;
  dropout: number;
  norm: 'pre' | 'post';
  position: PositionName;
  attention: AttentionName;
  scale: 'sqrt' | 'logn';
  window: number;
  rate: number;
  chunk: number;
  sinks: number;
  trainLen?: number;
  steps: number;
  batch: number;
  lr: number;
  schedule: 'constant' | 'warmup' | 'cosine' | 'noam';
  warmup: number;
  weightDecay: number;
  clip: number;
  seed: number;
  dataSeed: number; // the batch of step s is a pure function of (dataSeed, s): data/stream.ts
  evalEvery: number;
  evalSize: number;
}

/** Flags → a checked RunConfig; errors are UsageErrors (one line, exit code 2). */
export function runConfigFrom(f: Flags): RunConfig {
  const config = {
    model: f.model,
    task: f.task,
    data: f.data,
    minLen: f.minLen,
    maxLen: f.maxLen,
    symbols: f.symbols,
    blockSize: f.blockSize,
    layers: f.layers,
    heads: f.heads,
    dModel: f.dModel,
    ffn: f.ffn ?? 2 * Number(f.dModel),
    dropout: f.dropout,
    norm: f.norm,
    position: f.position,
    attention: f.attention,
    scale: f.scale,
    window: f.window,
    rate: f.rate,
    chunk: f.chunk,
    sinks: f.sinks,
    trainLen: f.trainLen,
    steps: f.steps,
    batch: f.batch,
    lr: f.lr,
    schedule: f.schedule,
    warmup: f.warmup ?? Math.min(100, Math.floor(Number(f.steps) / 10)),
    weightDecay: f.weightDecay,
    clip: f.clip,
    seed: f.seed,
    dataSeed: f.dataSeed ?? f.seed,
    evalEvery: f.evalEvery,
    evalSize: f.evalSize,
  } as RunConfig;
  const { dModel, heads, minLen, maxLen, warmup, steps } = config;
  if (dModel % heads !== 0) {
    throw new UsageError(`--d-model ${dModel} is not divisible by --heads ${heads}`);
  }
  if (config.dropout >= 1) throw new UsageError(`--dropout must be < 1, got ${config.dropout}`);
  if (minLen > maxLen) {
    throw new UsageError(`--min-len ${minLen} is greater than --max-len ${maxLen}`);
  }
  if (config.schedule === 'cosine' && warmup >= steps) {
    const why = 'for the cosine schedule';
    throw new UsageError(`--warmup ${warmup} must be less than --steps ${steps} ${why}`);
  }
  if (config.task === 'text') config.data ??= 'shakespeare';
  if (config.task === 'text' && config.model !== 'lm') {
    throw new UsageError('--task text trains a language model: use --model lm');
  }
  if (config.task !== 'text' && config.data) {
    throw new UsageError(`--data is only for --task text (got --task ${config.task})`);
  }
  return config;
}

/** A config read from a checkpoint; ones saved before --data-seed existed used --seed for it. */
export const savedRunConfig = (saved: RunConfig): RunConfig => ({
  ...saved,
  dataSeed: saved.dataSeed ?? saved.seed,
});

export const defaultRunName = (config: RunConfig) =>
  `${config.model}-${config.task}-s${config.seed}`;

/** `attngrad exp <name>`: which setting of an experiment to run, for which seeds, and where to. */
export const expFlags = {
  list: { type: 'bool', default: false, help: 'list the experiments, their claims and settings' },
  full: { type: 'bool', default: false, help: 'the larger setting (its time is in --list)' },
  smoke: { type: 'bool', default: false, help: 'tiny sizes, seconds (what npm test runs)' },
  seed: { type: 'int', default: 0, min: 0, help: 'the first seed (the generator, every draw)' },
  seeds: {
    type: 'int',
    min: 1,
    help: 'how many seeds (seed, seed + 1, …): the table shows mean ± sd [default: 1, 3 with --full]',
  },
  out: { type: 'string', help: 'the results folder [default: runs/exp-<name>/]' },
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies Record<string, FlagSpec>;
