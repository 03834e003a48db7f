// A live progress line on a terminal (step, loss, tokens/s, ETA), rewritten in place; when the
// output is not a terminal (CI, a pipe) it prints a plain line every `every` steps instead.

export class ProgressBar {
  private started = Date.now();
  private lastDraw = 0;

  constructor(
    private total: number,
    private stream: NodeJS.WriteStream = process.stderr,
    private every = Math.max(1, Math.round(total / 20)),
  ) {}

  /** step is 1-based; tokens counts every token processed so far in this run. */
  update(step: number, loss: number, tokens: number, extra = ''): void {
    const now = Date.now();
    const seconds = (now - this.started) / 1000;
    const rate = tokens / Math.max(seconds, 1e-9);
    const eta = (seconds / step) * (this.total - step);
    const text =
      `step ${step}/${this.total}  loss ${loss.toFixed(4)}  ${Math.round(rate)} tok/s ` +
      ` ETA ${formatSeconds(eta)}${extra ? '  ' + extra : ''}`;
    if (this.stream.isTTY) {
      if (now - this.lastDraw < 100 && step < this.total) return; // at most 10 redraws a second
      this.lastDraw = now;
      const width = 24;
      const filled = Math.round((width * step) / this.total);
      this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
      if (step === this.total) this.stream.write('\n');
    } else if (step % this.every === 0 || step === this.total) {
      this.stream.write(`${text}\n`);
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
