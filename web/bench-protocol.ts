// The messages between the bench page and its worker. Read next: bench-worker.ts.

import type { ParityRow } from './parity.ts';

export type BenchRequest = { type: 'parity' } | { type: 'status' };

export type BenchReply =
  | { type: 'parity'; reason: string; rows: ParityRow[]; tolerance: number }
  | { type: 'status'; status: string }
  | { type: 'error'; message: string };
