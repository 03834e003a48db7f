// Scoring a char model at several lengths on the same targets (data/length-windows.ts: the last 64
// characters of fixed validation windows, only the context before them growing), for a causal LM
// or a masked LM. `attngrad eval --lengths` prints the same numbers. Read next:
// length-extrapolation.ts, logn-mlm.ts (the experiments that use it).

import { noGrad } from '../lib/index.ts';
import { scoreTargets } from '../nn/index.ts';
import { lengthWindows, type CharDataset } from '../data/index.ts';
import { MaskedLM, type TransformerLM } from '../models/index.ts';

export const SCORED_TARGETS = 64; // the last 64 positions of each window are scored
const TOKENS_PER_BATCH = 8192; // rows per batch = this / length: attention at n 512 stays small

export interface LengthScore {
  length: number;
  loss: number; // mean cross-entropy (nats) over the scored targets
  accuracy: number; // top-1 accuracy over them
  targets: number; // how many were scored
}

export interface LengthEvalOptions {
  lengths: number[];
  windows: number; // validation windows per length
  repeated?: boolean; // every window's second half repeats its first
  inferenceWindow?: boolean; // causal LM: the Λ-shaped test-time window (config.window + sinks)
}

/** Loss and accuracy per length on the fixed windows; the same targets for every model. */
export function evaluateLengths(
  model: TransformerLM | MaskedLM,
  data: CharDataset,
  options: LengthEvalOptions,
): LengthScore[] {
  const { lengths, windows, repeated = false, inferenceWindow = false } = options;
  const masked = model instanceof MaskedLM;
  const batchSize = Math.max(1, Math.floor(TOKENS_PER_BATCH / Math.max(...lengths)));
  // one call for every length: the windows end at the same places, so the targets agree
  const perLength = lengthWindows(data, {
    lengths,
    windows,
    repeated,
    masked,
    batchSize,
    targets: SCORED_TARGETS,
  });
  return noGrad(() => {
    model.eval();
    return perLength.map(({ length, batches }) => {
      let [lossSum, correct, count] = [0, 0, 0];
      for (const { input, targets } of batches) {
        const logits = masked
          ? model.forward(input).logits
          : (model as TransformerLM).forward(input, undefined, { inferenceWindow }).logits;
        const scored = scoreTargets(logits, targets);
        [lossSum, correct, count] = [
          lossSum + scored.lossSum,
          correct + scored.correct,
          count + scored.count,
        ];
      }
      return { length, loss: lossSum / count, accuracy: correct / count, targets: count };
    });
  });
}
