// The messages between the bench page and its worker. Read next: bench-worker.ts.

import type { ParityRow } from './parity.ts';

export interface ImplInfo {
  id: string;
  label: string;
}

export type BenchRequest =
  | { type: 'status' }
  | { type: 'parity' }
  | { type: 'impls' }
  | { type: 'trainStep'; impl: string; steps: number }
  | { type: 'kernel'; impl: string; name: string };

export type BenchReply =
  | { type: 'status'; status: string }
  | { type: 'parity'; reason: string; rows: ParityRow[]; tolerance: number }
  | { type: 'impls'; impls: ImplInfo[]; cases: { name: string; what: string }[]; notes: string[] }
  | { type: 'trainStep'; msMedian: number; lossAfter: number; gflops: number }
  | { type: 'kernel'; msMedian: number; error: number }
  | { type: 'error'; message: string };
