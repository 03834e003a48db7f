// The bench page: asks its worker (bench-worker.ts) for each table and draws it: gpu.js parity,
// the reference train step (?steps=N, default 10) and the kernel cases (?only=REGEX picks them by
// name), on every implementation (?impls=REGEX picks them by id).
// `bench` on the window runs the same for tests and the console. Read next: bench-worker.ts.

import type { BenchReply, BenchRequest, ImplInfo } from './bench-protocol.ts';

const worker = new Worker(new URL('./bench-worker.js', import.meta.url), { type: 'module' });
const byId = (id: string) => document.getElementById(id)!;

const pending = new Map<number, (reply: BenchReply) => void>();
let nextId = 0;
worker.addEventListener('message', (event: MessageEvent<BenchReply & { id: number }>) => {
  pending.get(event.data.id)?.(event.data);
  pending.delete(event.data.id);
});

/** One request and its reply, matched by id. */
function ask<T extends BenchReply['type']>(request: BenchRequest, type: T) {
  return new Promise<Extract<BenchReply, { type: T }>>((resolve, reject) => {
    const id = nextId++;
    pending.set(id, (reply) => {
      if (reply.type === type) resolve(reply as Extract<BenchReply, { type: T }>);
      else reject(new Error(reply.type === 'error' ? reply.message : `got ${reply.type}`));
    });
    worker.postMessage({ ...request, id });
  });
}

const cell = (v: string | number) => `<td>${v}</td>`;
const table = (head: string[], rows: (string | number)[][]) =>
  `<tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>` +
  rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('');

async function parity() {
  const reply = await ask({ type: 'parity' }, 'parity');
  byId('gpu').textContent = `${reply.reason}; tolerance ${reply.tolerance}`;
  const rows = reply.rows.map((r) => [
    r.kernel,
    r.shape,
    r.error.toExponential(2),
    r.ok ? 'ok' : 'FAIL',
  ]);
  byId('parity').innerHTML = table(['kernel', 'shape', 'max error / max |ref|', ''], rows);
  return reply;
}

const query = new URLSearchParams(location.search);
const STEPS = Number(query.get('steps') ?? 10);
const only = new RegExp(query.get('only') ?? '.'); // kernel cases by name, as npm run bench --only
const picked = new RegExp(query.get('impls') ?? '.'); // implementations by id

/** The reference train step on every implementation: median ms per step, loss after the steps. */
async function trainStep(impls: ImplInfo[]) {
  const rows: (string | number)[][] = [];
  for (const impl of impls) {
    byId('progress').textContent = `train step: ${impl.id}…`;
    const r = await ask({ type: 'trainStep', impl: impl.id, steps: STEPS }, 'trainStep');
    rows.push([impl.id, r.msMedian.toFixed(0), r.gflops.toFixed(2), r.lossAfter.toFixed(5)]);
    byId('train').innerHTML = table(['', 'ms/step', 'GFLOP/s', `loss after ${STEPS}`], rows);
  }
  return rows;
}

/** Every kernel case on every implementation: median ms, and the error against attngrad's. */
async function kernels(impls: ImplInfo[], cases: { name: string; what: string }[]) {
  const rows: (string | number)[][] = [];
  for (const c of cases) {
    const row: (string | number)[] = [c.what];
    for (const impl of impls) {
      byId('progress').textContent = `${c.name}: ${impl.id}…`;
      const r = await ask({ type: 'kernel', impl: impl.id, name: c.name }, 'kernel');
      row.push(
        `${r.msMedian.toFixed(2)}${r.error > 1e-3 ? ` (error ${r.error.toExponential(1)})` : ''}`,
      );
    }
    rows.push(row);
    byId('kernels').innerHTML = table(['case (median ms)', ...impls.map((i) => i.id)], rows);
  }
  return rows;
}

/** Everything, in order; the tables fill in as rows arrive. */
async function run() {
  const button = byId('run') as HTMLButtonElement;
  button.disabled = true;
  try {
    byId('progress').textContent = 'checking gpu.js…';
    const gpu = await parity();
    const reply = await ask({ type: 'impls' }, 'impls');
    const [impls, notes] = [reply.impls.filter((i) => picked.test(i.id)), reply.notes];
    byId('impls').innerHTML = impls.map((i) => `<li><b>${i.id}</b>: ${i.label}</li>`).join('');
    byId('notes').textContent = notes.join(' ');
    const train = await trainStep(impls);
    const kernelRows = await kernels(
      impls,
      reply.cases.filter((c) => only.test(c.name)),
    );
    byId('progress').textContent = 'done';
    return { gpu, impls, notes, train, kernels: kernelRows };
  } catch (e) {
    byId('progress').textContent = `failed: ${(e as Error).message}`;
    throw e;
  } finally {
    button.disabled = false;
  }
}

Object.assign(globalThis, { bench: { parity, run } });
byId('run').addEventListener('click', () => void run().catch(() => {}));
void ask({ type: 'status' }, 'status').then((reply) => {
  byId('status').textContent = reply.status;
  (byId('run') as HTMLButtonElement).disabled = false;
});
