// The bench page: asks its worker (bench-worker.ts) for each table and draws it. `bench` on the
// window runs the same requests for tests and the console. Read next: bench-worker.ts.

import type { BenchReply, BenchRequest } from './bench-protocol.ts';

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

async function run() {
  const button = byId('run') as HTMLButtonElement;
  button.disabled = true;
  try {
    byId('progress').textContent = 'checking gpu.js…';
    await parity();
    byId('progress').textContent = 'done';
  } catch (e) {
    byId('progress').textContent = `failed: ${(e as Error).message}`;
  } finally {
    button.disabled = false;
  }
}

Object.assign(globalThis, { bench: { parity } });
byId('run').addEventListener('click', () => void run());
void ask({ type: 'status' }, 'status').then((reply) => {
  byId('status').textContent = reply.status;
  (byId('run') as HTMLButtonElement).disabled = false;
});
