// `attngrad eval --checkpoint F --lengths 64,128,256,512 [--repeated]`: a char model (causal LM or
// masked LM) scored at several lengths on the same target characters — the last 64 of fixed,
// seeded validation windows (data/length-windows.ts) — so that only the context before them
// changes. A model with absolute position tables or a synthesizer cannot read past its blockSize:
// it is refused in one line. The scoring is the experiments' (experiments/length-eval.ts), so
// the command and `attngrad exp length-extrapolation` print the same numbers. Read next:
// data/length-windows.ts, ../experiments/length-eval.ts.

import { CharDataset, corpusPath } from '../data/index.ts';
import type { MaskedLM, TransformerLM } from '../models/index.ts';
import {
  evaluateLengths as scoreLengths,
  SCORED_TARGETS,
  type LengthScore,
} from '../experiments/length-eval.ts';
import { UsageError } from './args.ts';
import { lengthLimit } from './build.ts';
import type { RunConfig } from './flags.ts';
import type { Model } from './sources.ts';

export { SCORED_TARGETS } from '../experiments/length-eval.ts';

/** "64,128,256" → [64, 128, 256]; each a whole number ≥ the scored targets. */
export function parseLengths(raw: string): number[] {
  const lengths = raw.split(',').map((part) => Number(part.trim()));
  const bad = lengths.some((n) => !(Number.isInteger(n) && n >= SCORED_TARGETS));
  if (raw.trim() === '' || bad) {
    const why = `(the last ${SCORED_TARGETS} positions are scored)`;
    throw new UsageError(`--lengths must be integers ≥ ${SCORED_TARGETS} ${why}, got '${raw}'`);
  }
  return lengths;
}

/** Refuse a run that is not a char model, or lengths past what the model can read: one line. */
export function checkLengths(config: RunConfig, model: Model, lengths: number[]): void {
  if (config.task !== 'text' || config.model === 'seq2seq') {
    const got = `got --model ${config.model} on --task ${config.task}`;
    throw new UsageError(`--lengths needs a char-LM checkpoint (lm or mlm on --task text), ${got}`);
  }
  const limit = lengthLimit(model);
  const tooLong = lengths.find((n) => limit && n > limit.blockSize);
  if (limit && tooLong !== undefined) {
    const fix = `train it with --block-size ${Math.max(...lengths)} --train-block N`;
    throw new UsageError(
      `--lengths: length ${tooLong} exceeds blockSize ${limit.blockSize} ` +
        `(${limit.why} stops there); ${fix}`,
    );
  }
}

/** Loss and accuracy per length on the fixed windows; the same targets for every model. */
export function evaluateLengths(
  config: RunConfig,
  model: Model,
  options: { lengths: number[]; windows: number; repeated: boolean },
): LengthScore[] {
  const data = CharDataset.fromFile(corpusPath(config.data!));
  return scoreLengths(model as TransformerLM | MaskedLM, data, options);
}

/** The table `eval --lengths` prints. */
export function lengthTable(rows: LengthScore[], what: string): string {
  const lines = rows.map(
    (r) => `| ${r.length} | ${r.loss.toFixed(4)} | ${r.accuracy.toFixed(4)} | ${r.targets} |`,
  );
  return `${what}\n\n| length | loss | accuracy | targets |\n|---|---|---|---|\n${lines.join('\n')}`;
}
