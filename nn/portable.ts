// attngrad/nn on every platform: modules, layers, initialisers, losses, optimizers, schedules, and
// checkpoints as safetensors bytes (ArrayBuffer, Blob). index.ts (Node) adds checkpoint files; the
// browser bundle uses this module in place of index.ts (web/build.ts).
export { Module } from './module.ts';
export {
  Linear,
  Embedding,
  LayerNorm,
  RMSNorm,
  Dropout,
  ModuleList,
  Sequential,
} from './layers.ts';
export * as init from './init.ts';
export { crossEntropy, mse, type CrossEntropyOptions, type Reduction } from './losses.ts';
export { scoreTargets, type TargetScore } from './metrics.ts';
export {
  Optimizer,
  SGD,
  Adam,
  AdamW,
  type Params,
  type OptimizerState,
  type SGDOptions,
  type AdamOptions,
  type AdamWOptions,
} from './optim.ts';
export { clipGradNorm } from './clip.ts';
export {
  constantLr,
  linearWarmup,
  cosineWithWarmup,
  inverseSqrt,
  makeSchedule,
  scheduleNames,
  type Schedule,
  type ScheduleName,
  type ScheduleOptions,
} from './schedule.ts';
export { safetensorsBytes, parseSafetensors } from './safetensors.ts';
export {
  checkpointBytes,
  checkpointBlob,
  checkpointBytesConfig,
  loadCheckpointBytes,
  loadCheckpointBlob,
  type CheckpointContents,
  type CheckpointOptimizer,
  type OptimizerStateLike,
} from './checkpoint-data.ts';
