// What a user sees on a terminal, for tests: bytes are rendered by a real terminal emulator (xterm.js,
// headless), so tests assert on the screen and its scrollback rather than on escape sequences.
import { Terminal } from '@xterm/headless';

export class ScreenModel {
  readonly term: Terminal;

  constructor(readonly cols: number, readonly rows: number) {
    // convertEol: a bare \n returns to the first column, as a pseudo-terminal's output processing
    // (onlcr) makes it; pty output already has \r\n and renders the same either way.
    this.term = new Terminal({ cols, rows, scrollback: 100_000, convertEol: true, allowProposedApi: true });
  }

  /** Renders `data`; resolves once it is on the screen. */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve) => this.term.write(data, resolve));
  }

  /** Every line of the scrollback and the screen, wrapped rows joined, trailing blank lines dropped. */
  lines(): string[] {
    const buf = this.term.buffer.active;
    const out: string[] = [];
    for (let i = 0; i < buf.length; i++) {
      const row = buf.getLine(i)!;
      const continued = buf.getLine(i + 1)?.isWrapped ?? false;
      const text = row.translateToString(!continued);
      if (row.isWrapped && out.length) out[out.length - 1] += text;
      else out.push(text);
    }
    while (out.length && out[out.length - 1] === '') out.pop();
    return out;
  }

  /** The visible rows, top to bottom, right-trimmed. */
  visible(): string[] {
    const buf = this.term.buffer.active;
    return Array.from({ length: this.rows }, (_, y) => buf.getLine(buf.viewportY + y)?.translateToString(true) ?? '');
  }

  /** The whole line (wrapped rows joined) the cursor is on, and the row below the cursor. */
  atCursor(): { line: string; below: string } {
    const buf = this.term.buffer.active;
    let first = buf.baseY + buf.cursorY;
    while (first > 0 && buf.getLine(first)!.isWrapped) first--;
    let line = '';
    for (let i = first; i <= buf.baseY + buf.cursorY; i++) line += buf.getLine(i)!.translateToString(i === buf.baseY + buf.cursorY);
    return { line, below: buf.getLine(buf.baseY + buf.cursorY + 1)?.translateToString(true) ?? '' };
  }

  /** The cursor's row on the screen (0 = top) and column. */
  cursor(): { x: number; y: number } {
    const buf = this.term.buffer.active;
    return { x: buf.cursorX, y: buf.cursorY };
  }

  dispose(): void {
    this.term.dispose();
  }
}

/**
 * Fails unless `expected` (the lines a plain run shows) appear in `actual`, in order, each exactly;
 * `extra(line)` must accept every other line of `actual`. Returns a description of the first problem.
 */
export function linesProblem(actual: string[], expected: string[], extra: (line: string) => boolean): string | undefined {
  let next = 0;
  for (const line of actual) {
    if (next < expected.length && line === expected[next]) next++;
    else if (!extra(line)) return `unexpected line ${JSON.stringify(line)} (next expected: ${JSON.stringify(expected[next])})`;
  }
  if (next < expected.length) return `line missing: ${JSON.stringify(expected[next])}`;
  return undefined;
}
