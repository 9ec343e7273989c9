// The engine's log file: every event and criu call, for the user to inspect after a run.
import fs from 'node:fs';

export class EngineLog {
  private fd?: number;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'a', 0o600);
  }

  write(level: string, message: string): void {
    if (this.fd === undefined) return;
    try {
      fs.writeSync(this.fd, `${new Date().toISOString()} ${level.padEnd(5)} ${message}\n`);
    } catch {
      // A full disk must not stop the engine: the log loses lines, the run goes on.
    }
  }

  /** Copies another log (e.g. criu's) into this one, indented, so one file tells the whole story. */
  include(title: string, file: string): void {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch { return; }
    this.write('debug', `${title} (${file}):\n${text.trimEnd().replace(/^/gm, '    ')}`);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
