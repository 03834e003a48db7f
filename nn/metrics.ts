// Scoring predictions against targets, for evaluation: the summed cross-entropy, the top-1 hits
// and the count over every target that is not ignored (−100). Sums, not means, so that batches
// of a split add up exactly. Read next: losses.ts.

import { crossEntropy, type Tensor } from '../lib/index.ts';

const IGNORE_INDEX = -100;

export interface TargetScore {
  lossSum: number; // Σ −log p(target) over the scored targets
  correct: number; // how many had the target as their argmax
  count: number; // how many targets were scored
}

/** logits (..., V) against int32 targets (...): −100 marks a position that is not scored. */
export function scoreTargets(logits: Tensor, targets: Tensor): TargetScore {
  const V = logits.shape[logits.shape.length - 1];
  if (logits.size !== targets.size * V) {
    throw new Error(
      `scoreTargets: logits [${logits.shape}] need shape [...targets, V] for targets [${targets.shape}]`,
    );
  }
  const scores = logits.data,
    goals = targets.data;
  let correct = 0,
    count = 0;
  for (let i = 0; i < goals.length; i++) {
    if (goals[i] === IGNORE_INDEX) continue;
    count++;
    let best = 0;
    for (let v = 1; v < V; v++) if (scores[i * V + v] > scores[i * V + best]) best = v;
    if (best === goals[i]) correct++;
  }
  const lossSum = crossEntropy(logits, targets, { reduction: 'sum' }).item();
  return { lossSum, correct, count };
}
