// attngrad's public surface in a browser (a page or a Web Worker): the engine (engine.ts) with the
// Web Worker pool (threads over SharedArrayBuffer when the page is cross-origin isolated, one
// thread otherwise: poolStatus() says which) and gpu.js on WebGL. web/build.ts bundles it in place
// of index.ts, whose Node-only pieces (worker_threads, Dawn, headless-gl) stay out of the bundle.
// Read next: backend/threads/web-pool.ts, backend/gpu/webgl.ts.

export * from './engine.ts';
export { usePoolWorker, poolStatus } from './backend/threads/web-pool.ts';
export { initWebGlBackend, webGlRenderer, type WebGlOptions } from './backend/gpu/webgl.ts';
export type { GpuJs } from './backend/gpu/runner.ts';
