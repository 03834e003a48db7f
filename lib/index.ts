// attngrad's public surface in Node: import { tensor, randn, noGrad, ... } from 'attngrad'. The
// engine (engine.ts) and the Node-only GPU backend (gpu.js on WebGPU through Dawn, headless-gl,
// WebAssembly). A browser bundle uses browser.ts instead. Reading order for learners: tensor.ts →
// autograd.ts → ops/primitive.ts → ops/*.ts → backend/cpu/*.

export * from './engine.ts';
export { initGpuBackend } from './backend/gpu.ts';
