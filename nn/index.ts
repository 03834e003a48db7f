// attngrad/nn: modules, layers, initialisers, losses, optimizers, schedules, checkpoints (as files
// here in Node, as bytes in portable.ts, which a browser bundle uses in place of this module).
export * from './portable.ts';
export {
  saveSafetensors,
  loadSafetensors,
  readSafetensorsMetadata,
  saveCheckpoint,
  loadCheckpoint,
  readCheckpointConfig,
} from './checkpoint.ts';
