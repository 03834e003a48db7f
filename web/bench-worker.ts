// The bench page's worker: gpu.js on WebGL checked against the TypeScript kernels (parity.ts), then
// timed. It runs in a worker so the engine's thread pool may use shared memory, and gpu.js draws on
// an OffscreenCanvas. Read next: bench.ts (the page).

import { initWebGlBackend, poolStatus, usePoolWorker, type GpuJs } from '../lib/browser.ts';
import { gpuParity, PARITY_TOLERANCE } from './parity.ts';
import type { BenchReply, BenchRequest } from './bench-protocol.ts';

usePoolWorker(new URL('./pool-worker.js', import.meta.url));
const scope = globalThis as unknown as { postMessage(m: BenchReply & { id: number }): void };

/** gpu.js on WebGL with every size offloaded, so each kernel really runs on the GPU. */
async function webGl() {
  const module = (await import('gpu.js')) as unknown as { default?: GpuJs } & GpuJs;
  const options = { force: true, minMatmulFlops: 0, minSoftmaxSize: 0 };
  return initWebGlBackend(module.default ?? module, options);
}

async function handle(request: BenchRequest): Promise<BenchReply> {
  if (request.type === 'parity') {
    const gpu = await webGl();
    if (!gpu.backend) return { type: 'parity', reason: gpu.reason, rows: [], tolerance: 0 };
    const rows = gpuParity(gpu.backend);
    return { type: 'parity', reason: gpu.reason, rows, tolerance: PARITY_TOLERANCE };
  }
  return { type: 'status', status: poolStatus() };
}

addEventListener('message', (event: MessageEvent<BenchRequest & { id: number }>) => {
  const { id } = event.data;
  handle(event.data).then(
    (reply) => scope.postMessage({ ...reply, id }),
    (e: Error) => scope.postMessage({ type: 'error', message: e.message, id }),
  );
});
