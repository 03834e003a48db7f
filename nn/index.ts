// attngrad/nn: modules, layers, initialisers, losses, optimizers, schedules, checkpoints.
export { Module } from './module.ts';
export { Linear, Embedding, LayerNorm, RMSNorm, Dropout, ModuleList, Sequential } from './layers.ts';
export * as init from './init.ts';
