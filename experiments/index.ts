// The registry of experiments `attngrad exp` can run, one file per article (family of findings).
// A new experiment: write experiments/<name>.ts exporting an Experiment and add it here. Read
// next: experiment.ts (what an experiment is), runner.ts (how one runs).

import { attentionFocus } from './attention-focus.ts';
import { evenPairs } from './even-pairs.ts';
import { flashVsQuad } from './flash-vs-quad.ts';
import { gauInit } from './gau-init.ts';
import { gauWarmup } from './gau-warmup.ts';
import { lengthExtrapolation } from './length-extrapolation.ts';
import { lognMlm } from './logn-mlm.ts';
import type { Experiment } from './experiment.ts';
import { softmaxNoiseEntropy } from './softmax-noise-entropy.ts';
import { sparse } from './sparse.ts';
import { synthesizer } from './synthesizer.ts';
import { transformerPositions } from './transformer-positions.ts';

export const experiments: readonly Experiment[] = [
  softmaxNoiseEntropy,
  attentionFocus,
  lengthExtrapolation,
  evenPairs,
  lognMlm,
  transformerPositions,
  synthesizer,
  gauInit,
  gauWarmup,
  flashVsQuad,
  sparse,
];

export const findExperiment = (name: string) => experiments.find((e) => e.name === name);

export { runExperiment, type ExperimentResult } from './runner.ts';
export type { Experiment, ExperimentOptions, Row } from './experiment.ts';
