// The messages between the playground page and its training worker, both ways. Read next:
// train-worker.ts (who answers them).

import type { AttentionMap, Settings } from './session.ts';

export type BackendChoice = 'cpu' | 'cpu-threads' | 'gpu';

export type ToWorker =
  | { type: 'start'; settings: Settings; backend: BackendChoice; steps: number; input: string }
  | { type: 'stop' }
  | { type: 'input'; input: string } // the text the heatmaps and outputs are for
  | { type: 'save' }
  | { type: 'load'; bytes: ArrayBuffer }
  | { type: 'logits'; id: number; input: string };

export type FromWorker =
  | { type: 'ready'; status: string }
  | { type: 'started'; backend: string; threads: number }
  | { type: 'step'; step: number; loss: number; ms: number; gpuRuns: number; cpuFallbacks: number }
  | { type: 'stopped'; step: number }
  | {
      type: 'inspect';
      tokens: string[];
      maps: AttentionMap[] | null; // null: the mixer forms no attention weights
      greedy: string;
      sampled: string;
    }
  | { type: 'inputError'; message: string }
  | { type: 'checkpoint'; bytes: Uint8Array; step: number }
  | { type: 'loaded'; settings: Settings; step: number }
  | { type: 'logits'; id: number; values: Float32Array }
  | { type: 'error'; message: string };
