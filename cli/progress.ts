// The progress bar lives in report/progress.ts, shared with experiments/; this re-export keeps
// cli/ importers as they are. Read next: ../report/progress.ts.

export { ProgressBar, formatSeconds } from '../report/progress.ts';
