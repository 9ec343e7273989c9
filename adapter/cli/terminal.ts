// The CLI's own voice on stderr: messages, colors on a TTY, and a one-line status that never mixes
// with the program's output (it is erased before the program writes and redrawn after).
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export class Terminal {
  readonly tty = !!process.stderr.isTTY;
  private status = '';
  private frame = 0;
  private spin?: NodeJS.Timeout;

  color(code: number, s: string): string {
    return this.tty && !process.env.NO_COLOR ? `\x1b[${code}m${s}\x1b[0m` : s;
  }
  dim(s: string): string { return this.color(2, s); }
  red(s: string): string { return this.color(31, s); }
  green(s: string): string { return this.color(32, s); }
  yellow(s: string): string { return this.color(33, s); }
  bold(s: string): string { return this.color(1, s); }

  /** A message line from Axolotl (prefixed so it is never mistaken for program output). */
  say(msg: string): void {
    this.clear();
    process.stderr.write(`${this.dim('axolotl:')} ${msg}\n`);
    this.draw();
  }

  /** Writes program output unchanged; false when the reader is behind and it was buffered. */
  program(stream: 'stdout' | 'stderr', data: Buffer): boolean {
    this.clear();
    const ok = (stream === 'stdout' ? process.stdout : process.stderr).write(data);
    this.draw();
    return ok; // false: the reader is behind (backpressure)
  }

  /** Sets the status line (TTY only); with `spinning`, animates until changed. */
  setStatus(text: string, spinning = false): void {
    this.clear();
    this.status = text;
    if (this.spin) clearInterval(this.spin);
    this.spin = undefined;
    if (spinning && this.tty) {
      this.spin = setInterval(() => { this.frame++; this.clear(); this.draw(); }, 80);
      this.spin.unref();
    }
    this.draw();
  }

  clearStatus(): void { this.setStatus(''); }

  private draw(): void {
    if (!this.tty || !this.status) return;
    const icon = this.spin ? SPINNER[this.frame % SPINNER.length] : '●';
    const width = process.stderr.columns || 80;
    process.stderr.write(this.dim(`${icon} ${this.status}`.slice(0, width - 1)));
  }

  private clear(): void {
    if (this.tty && this.status) process.stderr.write('\r\x1b[K');
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
