// The bench page's worker: gpu.js on WebGL checked against the TypeScript kernels (parity.ts), then
// `npm run bench`'s reference train step and kernel cases (bench/train-step.ts, bench/cases.ts,
// unchanged: web/bench-harness.ts stands in for their Node harness) in attngrad and tfjs, one
// implementation at a time, with the same seeded weights and inputs. It runs in a worker so the
// engine's thread pool may use shared memory; gpu.js and tfjs draw on OffscreenCanvases.
// Read next: bench.ts (the page).

import { initWebGlBackend, poolStatus, usePoolWorker, type GpuJs } from '../lib/browser.ts';
import { initialWeights, makeBatches, STEP_FLOP, trainWith } from '../bench/train-step.ts';
import { cases } from '../bench/cases.ts';
import { attngradImpls, tfjsImpls, time, type Impl } from './bench-harness.ts';
import { gpuParity, PARITY_TOLERANCE } from './parity.ts';
import type { BenchReply, BenchRequest } from './bench-protocol.ts';

usePoolWorker(new URL('./pool-worker.js', import.meta.url));
type Reply = BenchReply & { id: number };
const scope = globalThis as unknown as { postMessage(m: Reply): void };

let impls: Promise<{ impls: Impl[]; notes: string[] }> | null = null;
const loadImpls = () =>
  (impls ??= (async () => {
    const notes: string[] = [];
    return { impls: [...(await attngradImpls(notes)), ...(await tfjsImpls(notes))], notes };
  })());

async function implNamed(id: string): Promise<Impl> {
  const impl = (await loadImpls()).impls.find((i) => i.id === id);
  if (!impl) throw new Error(`bench: no implementation '${id}' here`);
  return impl;
}

/** gpu.js on WebGL with every size offloaded, so each kernel really runs on the GPU. */
async function parity(): Promise<BenchReply> {
  const module = (await import('gpu.js')) as unknown as { default?: GpuJs } & GpuJs;
  const options = { force: true, minMatmulFlops: 0, minSoftmaxSize: 0 };
  const gpu = initWebGlBackend(module.default ?? module, options);
  if (!gpu.backend) return { type: 'parity', reason: gpu.reason, rows: [], tolerance: 0 };
  return {
    type: 'parity',
    reason: gpu.reason,
    rows: gpuParity(gpu.backend),
    tolerance: PARITY_TOLERANCE,
  };
}

/** One kernel case on one implementation: its median time, and its error against attngrad's. */
async function kernel(id: string, name: string): Promise<BenchReply> {
  const c = cases.find((k) => k.name === name);
  if (!c) throw new Error(`bench: no kernel case '${name}'`);
  const reference = c.attngrad();
  const want = reference.outputs();
  reference.dispose();
  const impl = await implNamed(id);
  await impl.enter();
  try {
    const prepared = impl.framework === 'attngrad' ? c.attngrad() : c.tfjs();
    try {
      const got = prepared.outputs();
      let error = 0;
      got.forEach((g, k) => {
        const scale = want[k].reduce((m, w) => Math.max(m, Math.abs(w)), 0);
        want[k].forEach((w, i) => (error = Math.max(error, Math.abs(g[i] - w) / scale)));
      });
      return { type: 'kernel', msMedian: time(prepared.run).msMedian, error };
    } finally {
      prepared.dispose();
    }
  } finally {
    await impl.leave();
  }
}

async function handle(request: BenchRequest): Promise<BenchReply> {
  if (request.type === 'status') return { type: 'status', status: poolStatus() };
  if (request.type === 'parity') return parity();
  if (request.type === 'impls') {
    const { impls: all, notes } = await loadImpls();
    const list = all.map(({ id, label }) => ({ id, label }));
    return {
      type: 'impls',
      impls: list,
      cases: cases.map(({ name, what }) => ({ name, what })),
      notes,
    };
  }
  if (request.type === 'trainStep') {
    const result = await trainWith(
      await implNamed(request.impl),
      initialWeights(),
      makeBatches(request.steps),
    );
    const ms = result.timing.msMedian;
    return {
      type: 'trainStep',
      msMedian: ms,
      lossAfter: result.lossAfter10,
      gflops: STEP_FLOP / ms / 1e6,
    };
  }
  return kernel(request.impl, request.name);
}

addEventListener('message', (event: MessageEvent<BenchRequest & { id: number }>) => {
  const { id } = event.data;
  handle(event.data).then(
    (reply) => scope.postMessage({ ...reply, id }),
    (e: Error) => scope.postMessage({ type: 'error', message: e.message, id }),
  );
});
