// A live progress line on a terminal, rewritten in place: a bar, a caller's text (a training
// step's loss and tokens/s, an experiment's current arm) and the ETA. When the output is not a
// terminal (CI, a pipe) it prints a plain line every `every` steps instead, and at least every
// `quietSeconds` (30) so a long run piped to a file still shows it is alive. Used by cli/train.ts
// and experiments/runner.ts. Read next: line-chart.ts.

export class ProgressBar {
  private started = Date.now();
  private lastDraw = 0;
  private lastBucket = 0;
  private lastLine = Date.now();

  constructor(
    private total: number,
    private stream: NodeJS.WriteStream = process.stderr,
    private every = Math.max(1, Math.round(total / 20)),
    private quietSeconds = 30,
  ) {}

  /** A training step: step is 1-based; tokens counts every token processed so far in this run. */
  update(step: number, loss: number, tokens: number, extra = ''): void {
    const rate = tokens / Math.max((Date.now() - this.started) / 1000, 1e-9);
    const text = `step ${step}/${this.total}  loss ${loss.toFixed(4)}  ${Math.round(rate)} tok/s`;
    this.tick(step, text, extra);
  }

  /** Any unit of work: `step` of `total` done (steps may jump), `text` before the ETA, `extra` after. */
  tick(step: number, text: string, extra = ''): void {
    const now = Date.now();
    const seconds = (now - this.started) / 1000;
    const eta = (seconds / step) * (this.total - step);
    const line = `${text}  ETA ${formatSeconds(eta)}${extra ? '  ' + extra : ''}`;
    if (this.stream.isTTY) {
      if (now - this.lastDraw < 100 && step < this.total) return; // at most 10 redraws a second
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round((width * step) / this.total);
      this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${line}\x1b[K`);
      if (step === this.total) this.stream.write('\n');
      return;
    }
    // a plain line each time the step passes a multiple of `every`, after quietSeconds without
    // one, and at the end
    const bucket = Math.floor(step / this.every);
    const quiet = now - this.lastLine >= this.quietSeconds * 1000;
    if (bucket > this.lastBucket || quiet || step === this.total) {
      this.lastBucket = bucket;
      this.lastLine = now;
      this.stream.write(`${line}\n`);
    }
  }

  /** Print a line above the bar (e.g. a validation result) without garbling it. */
  log(line: string): void {
    this.stream.write(this.stream.isTTY ? `\r${line}\x1b[K\n` : `${line}\n`);
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}
