// The flags of `attngrad train | eval | sample` and the run configuration they make. The whole
// RunConfig is stored in each checkpoint, so `--resume` and `eval` rebuild the exact same run.

import {
  attentionNames,
  positionNames,
  type AttentionName,
  type PositionName,
} from '../models/config.ts';
import { taskNames, type TaskName } from '../data/index.ts';
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
    choices: ['seq2seq', 'lm', 'mlm'],
    help: 'encoder-decoder, decoder-only, or encoder-only masked LM (mlm: --task text or pcfg)',
  },
  task: {
    type: 'string',
    default: 'reverse',
    choices: [...taskNames, 'text', 'pcfg'],
    help: 'toy task, text (char LM / MLM on --data), or pcfg (data/pcfg.ts, a token a word)',
  },
  data: {
    type: 'string',
    help: 'for --task text: a UTF-8 text file, or a corpus of data/ by name [default: shakespeare]',
  },
  'min-len': { type: 'int', default: 1, min: 1, help: 'shortest toy-task input' },
  'max-len': { type: 'int', default: 10, min: 1, help: 'longest toy-task input' },
  'test-min-len': {
    type: 'int',
    min: 1,
    help: 'copy/reverse/sort/even-pairs: shortest held-out input [default: --min-len]',
  },
  'test-max-len': {
    type: 'int',
    min: 1,
    help: 'copy/reverse/sort/even-pairs: longest held-out input [default: --max-len]',
  },
  pairs: {
    type: 'int',
    default: 4,
    min: 1,
    help: 'recall, recall1: key-value pairs (≤ --symbols keys; 10 values, chance 1/10)',
  },
  symbols: { type: 'int', default: 10, min: 1, help: 'toy-task alphabet size' },
  'block-size': {
    type: 'int',
    min: 1,
    help:
      'context length for --task text (and the size of position tables) ' +
      '[default: 64; mlm on text: 32]',
  },
  'train-block': {
    type: 'int',
    min: 1,
    help:
      'text: training windows of N while --block-size sizes the model, so eval --lengths ' +
      'can go up to it [default: --block-size]',
  },
  'mask-rate': {
    type: 'float',
    min: 0,
    help:
      'mlm: the fraction of positions masked for training (80/10/10 rule) ' +
      '[default: 0.15; mlm on text: 0.4]',
  },
  'repeat-fraction': {
    type: 'float',
    default: 0,
    min: 0,
    help: 'text: the fraction of training windows whose second half repeats the first',
  },
  layers: { type: 'int', default: 2, min: 1, help: 'layers (per stack for seq2seq)' },
  heads: { type: 'int', default: 4, min: 1, help: 'attention heads' },
  'd-model': { type: 'int', default: 64, min: 1, help: 'model width (nEmbd)' },
  ffn: { type: 'int', help: 'feed-forward width [default: 2·d-model; the paper uses 4·d-model]' },
  dropout: { type: 'float', default: 0, min: 0, help: 'dropout probability' },
  norm: {
    type: 'string',
    choices: ['pre', 'post'],
    help: 'residual layout [default: post; mlm on text: pre]',
  },
  position: {
    type: 'string',
    choices: positionNames,
    help: 'position encoding [default: sinusoidal; mlm on text: rope]',
  },
  attention: {
    type: 'string',
    choices: attentionNames,
    help: 'token mixer of every block (README: variants) [default: softmax; mlm on text: local]',
  },
  scale: {
    type: 'string',
    default: 'sqrt',
    choices: ['sqrt', 'logn'],
    help: 'attention scale: 1/√d, or ×log(n)/log(train length)',
  },
  window: {
    type: 'int',
    min: 1,
    help: 'local/sparse attention: keys within this distance [default: 16; mlm on text: 4]',
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
    help: 'length the log-n scale is relative to [default: --train-block or --block-size]',
  },
  'logn-base': {
    type: 'int',
    min: 2,
    help: 'with --scale logn: κ = log n / log N [default: --train-len; the article: 512]',
  },
  'logn-clamp': {
    type: 'string',
    choices: ['true', 'false'],
    help: 'with --scale logn: κ = max(1, ·) [default: true; the article: false]',
  },
  steps: { type: 'int', min: 1, help: 'optimizer steps [default: 700; mlm on text: 1500]' },
  batch: { type: 'int', min: 1, help: 'examples per step [default: 32; mlm on text: 64]' },
  lr: { type: 'float', min: 0, help: 'peak learning rate [default: 3e-3; mlm on text: 1e-2]' },
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

/** `train --help`, by topic. */
export const trainFlagGroups: Record<string, readonly (keyof typeof trainFlags)[]> = {
  model: [
    'model',
    'layers',
    'heads',
    'd-model',
    'ffn',
    'dropout',
    'norm',
    'position',
    'block-size',
  ],
  attention: [
    'attention',
    'scale',
    'train-len',
    'logn-base',
    'logn-clamp',
    'window',
    'rate',
    'chunk',
    'sinks',
  ],
  data: [
    'task',
    'data',
    'min-len',
    'max-len',
    'test-min-len',
    'test-max-len',
    'pairs',
    'symbols',
    'train-block',
    'mask-rate',
    'repeat-fraction',
    'data-seed',
  ],
  optimisation: ['steps', 'batch', 'lr', 'schedule', 'warmup', 'weight-decay', 'clip', 'seed'],
  run: [
    'eval-every',
    'eval-size',
    'name',
    'checkpoint',
    'checkpoint-every',
    'resume',
    'backend',
    'help',
  ],
};

export interface RunConfig {
  model: 'seq2seq' | 'lm' | 'mlm';
  task: TaskName | 'text' | 'pcfg';
  data?: string;
  minLen: number;
  maxLen: number;
  testMinLen?: number; // held-out lengths (copy, reverse, sort, even-pairs)
  testMaxLen?: number;
  symbols: number;
  pairs?: number; // recall, recall1 (checkpoints from before --pairs: 4)
  blockSize: number; // the model's length: position tables, synthesizer ℓ
  trainBlock?: number; // text: training window length (default blockSize)
  repeatFraction?: number; // text: the fraction of training windows repeated
  maskRate?: number; // mlm: the fraction of positions masked (checkpoints from before: 0.15)
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
  lognBase?: number;
  lognClamp?: boolean;
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

/** The defaults of the flags whose default depends on the model. */
const commonDefaults = {
  attention: 'softmax',
  window: 16,
  blockSize: 64,
  norm: 'post',
  position: 'sinusoidal',
  steps: 700,
  batch: 32,
  lr: 3e-3,
  maskRate: undefined,
};

/**
 * The masked LM on text trains with its own defaults: the model docs/perturbed-masking.md
 * segments with, and ≤ 10 minutes on 2 cores for a corpus of ~400k characters. Attention within 4
 * characters, pre-norm, RoPE, a high learning rate and 40% masking (more targets a step; the head
 * sees masked rows only) leave the unigram plateau sooner than the shared defaults.
 */
export const mlmTextDefaults = {
  attention: 'local',
  window: 4,
  blockSize: 32,
  norm: 'pre',
  position: 'rope',
  steps: 1500,
  batch: 64,
  lr: 1e-2,
  maskRate: 0.4,
};

/** Flags → a checked RunConfig; errors are UsageErrors (one line, exit code 2). */
export function runConfigFrom(given: Flags): RunConfig {
  const defaults =
    given.model === 'mlm' && given.task === 'text' ? mlmTextDefaults : commonDefaults;
  const f: Flags = { ...given };
  for (const [key, value] of Object.entries(defaults)) f[key] ??= value;
  const config = {
    model: f.model,
    task: f.task,
    data: f.data,
    minLen: f.minLen,
    maxLen: f.maxLen,
    testMinLen: f.testMinLen,
    testMaxLen: f.testMaxLen,
    symbols: f.symbols,
    pairs: f.pairs,
    blockSize: f.blockSize,
    trainBlock: f.trainBlock,
    repeatFraction: f.repeatFraction,
    maskRate: f.maskRate,
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
    lognBase: f.lognBase,
    lognClamp: f.lognClamp === undefined ? undefined : f.lognClamp === 'true',
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
  const textual = config.task === 'text' || config.task === 'pcfg';
  if (textual && config.model === 'seq2seq') {
    throw new UsageError(`--task ${config.task} trains a language model: use --model lm or mlm`);
  }
  if (config.model === 'mlm' && !textual) {
    const got = `got --task ${config.task}`;
    throw new UsageError(`--model mlm trains on text: use --task text or pcfg (${got})`);
  }
  checkTaskFlags(config);
  return config;
}

/** Flags that belong to some tasks only, or to --scale logn only, and their ranges. */
function checkTaskFlags(config: RunConfig): void {
  const { task, minLen, symbols, pairs = 4, testMinLen, testMaxLen, blockSize } = config;
  const onlyFor = (flag: string, given: unknown, tasks: string[]) => {
    if (given !== undefined && given !== false && !tasks.includes(task)) {
      throw new UsageError(`${flag} is only for --task ${tasks.join(', ')} (got --task ${task})`);
    }
  };
  onlyFor('--data', config.data, ['text']);
  onlyFor('--train-block', config.trainBlock, ['text', 'pcfg']);
  onlyFor('--repeat-fraction', config.repeatFraction || undefined, ['text', 'pcfg']);
  onlyFor('--test-min-len', testMinLen, ['copy', 'reverse', 'sort', 'even-pairs']);
  onlyFor('--test-max-len', testMaxLen, ['copy', 'reverse', 'sort', 'even-pairs']);
  if ((task === 'recall' || task === 'recall1') && pairs > symbols) {
    throw new UsageError(
      `--pairs ${pairs} needs --symbols ≥ ${pairs} (distinct keys), got ${symbols}`,
    );
  }
  if (task === 'even-pairs') {
    if (minLen < 2) throw new UsageError(`--task even-pairs needs --min-len ≥ 2, got ${minLen}`);
    if (symbols < 2) throw new UsageError(`--task even-pairs needs --symbols ≥ 2, got ${symbols}`);
    if (testMinLen !== undefined && testMinLen < 2) {
      throw new UsageError(`--task even-pairs needs --test-min-len ≥ 2, got ${testMinLen}`);
    }
  }
  const [lo, hi] = [testMinLen ?? minLen, testMaxLen ?? config.maxLen];
  if (lo > hi) {
    const names = `--test-min-len (or --min-len) ${lo} is greater than --test-max-len (or --max-len)`;
    throw new UsageError(`${names} ${hi}`);
  }
  if (config.trainBlock !== undefined && config.trainBlock > blockSize) {
    const what = `--train-block ${config.trainBlock} exceeds --block-size ${blockSize}`;
    throw new UsageError(`${what} (the model's length; raise --block-size)`);
  }
  if (config.maskRate !== undefined && config.model !== 'mlm') {
    throw new UsageError(`--mask-rate is only for --model mlm (got --model ${config.model})`);
  }
  if (config.maskRate !== undefined && !(config.maskRate > 0 && config.maskRate <= 1)) {
    throw new UsageError(`--mask-rate must be in (0, 1], got ${config.maskRate}`);
  }
  if ((config.repeatFraction ?? 0) > 1) {
    throw new UsageError(`--repeat-fraction must be ≤ 1, got ${config.repeatFraction}`);
  }
  for (const [flag, given] of [
    ['--logn-base', config.lognBase],
    ['--logn-clamp', config.lognClamp],
  ] as const) {
    if (given !== undefined && config.scale !== 'logn') {
      throw new UsageError(`${flag} only applies with --scale logn (got --scale ${config.scale})`);
    }
  }
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
