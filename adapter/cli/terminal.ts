// Axolotl's voice and the program's output on one screen, neither spoiling the other. The program's
// bytes pass through unchanged. Axolotl's messages always start a row of their own. The one-line status
// (TTY only) never shares a row with program text: it is drawn on an empty row, or, while the program's
// line is still open (its text and its newline are separate writes, a prompt, a `\r` progress bar), on
// the row below with the cursor put back where the program left it.
import fs from 'node:fs';
import { columnAfter, drawsOwnScreen, fitCells } from './cells';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/** How long a message waits for the program to end the line it has begun before ending the row itself. */
const LINE_GRACE_MS = 200;
/** The most of an open program line kept to put back on the screen. */
const MAX_LINE = 64 * 1024;
const NONE: Buffer = Buffer.alloc(0);

interface Sink { write(data: string | Uint8Array): boolean }

export interface Screen {
  stdout: Sink;
  stderr: Sink;
  /** stderr is a terminal: colors, the status line, putting a line back */
  tty: boolean;
  /** stderr's terminal moves its cursor on request (not TERM=dumb) */
  cursor: boolean;
  /** the program's stdout lands where stderr does: the same terminal, or `2>&1` */
  sharedStdout: boolean;
  columns: () => number;
}

function processScreen(): Screen {
  const tty = !!process.stderr.isTTY;
  return {
    stdout: process.stdout, stderr: process.stderr, tty, cursor: tty && process.env.TERM !== 'dumb',
    sharedStdout: sameFile(1, 2), columns: () => process.stderr.columns || 80,
  };
}

function sameFile(a: number, b: number): boolean {
  try {
    const x = fs.fstatSync(a);
    const y = fs.fstatSync(b);
    return x.dev === y.dev && x.ino === y.ino && x.rdev === y.rdev;
  } catch {
    return false;
  }
}

export class Terminal {
  readonly tty: boolean;
  private readonly io: Screen;
  private status = '';
  private frame = 0;
  private spin?: NodeJS.Timeout;
  /** where the status line is on the screen now */
  private drawn?: 'here' | 'below';
  /** the program's current line where stderr goes: its bytes since its last newline */
  private line: Buffer = NONE;
  /** the cursor is at the end of `line`; false once we ended its row (it is put back before the program writes again) */
  private lineShown = true;
  /** the program moves the cursor across rows itself: no row is known to be free for the status */
  private ownScreen = false;
  /** the last bytes of program output, for escape sequences split across writes */
  private tail = '';
  /** Axolotl's text waiting for the program's open line to end */
  private queue: string[] = [];
  private grace?: NodeJS.Timeout;
  private question?: { text: string; shown: boolean };

  constructor(screen?: Screen) {
    this.io = screen ?? processScreen();
    this.tty = this.io.tty;
    if (!screen) {
      // Whatever way the process ends (process.exit on Ctrl-C included), nothing said is lost and no
      // status is left behind.
      process.once('exit', () => this.close());
      if (this.tty) process.stderr.on('resize', () => { this.erase(); this.draw(); });
    }
  }

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
    this.print(`${this.dim('axolotl:')} ${msg}\n`);
  }

  /**
   * Axolotl's own text (ending with a newline) on rows of its own: when the program is in the middle
   * of a line it is written once that line ends, or after LINE_GRACE_MS on the next row. An open
   * question is asked again below it.
   */
  print(text: string): void {
    this.queue.push(text);
    if (this.midLine()) this.waitForLine();
    else this.flush();
  }

  /** Writes what is waiting now, ending the program's open row first if it must. */
  settle(): void {
    if (this.grace) clearTimeout(this.grace);
    this.grace = undefined;
    if (!this.queue.length) return;
    this.endRow();
    this.flush();
  }

  /** Writes program output unchanged; false when the reader is behind and it was buffered. */
  program(stream: 'stdout' | 'stderr', data: Buffer): boolean {
    const sink = stream === 'stdout' ? this.io.stdout : this.io.stderr;
    if (stream === 'stdout' && !this.io.sharedStdout) return sink.write(data);
    this.erase();
    this.leaveQuestion();
    // We ended the row under the program's open line: put it back, so the program continues it.
    if (this.line.length && !this.lineShown && this.tty) sink.write(this.line);
    this.lineShown = true;
    const ok = sink.write(data);
    this.follow(data);
    if (!this.midLine()) this.flush();
    else if (this.queue.length) this.waitForLine();
    this.showQuestion();
    this.draw();
    return ok; // false: the reader is behind (backpressure)
  }

  /** The program's open line now (kept with each checkpoint, to put back when it is rewound there). */
  openLine(): Buffer {
    return this.line;
  }

  /** The program was rewound to a point where `line` was its open line: it will continue that line. */
  rewound(line: Buffer): void {
    this.endRow();
    this.line = line;
    this.lineShown = !line.length;
    this.flush();
  }

  /** Shows a question at the start of a row of its own (asked again below anything written meanwhile). */
  ask(question: string): void {
    this.settle();
    this.endRow();
    this.erase();
    this.question = { text: question, shown: false };
    this.showQuestion();
  }

  /** The question was answered with `echo`, shown after it ('' when it was abandoned). */
  answered(echo: string): void {
    if (!this.question) return;
    if (this.question.shown) this.io.stderr.write(`${echo}\n`);
    this.question = undefined;
    this.draw();
  }

  /** Sets the status line (TTY only); with `spinning`, animates until changed. */
  setStatus(text: string, spinning = false): void {
    this.erase();
    this.status = text;
    if (this.spin) clearInterval(this.spin);
    this.spin = undefined;
    if (spinning && this.io.cursor) {
      this.spin = setInterval(() => { this.frame++; this.erase(); this.draw(); }, 80);
      this.spin.unref();
    }
    this.draw();
  }

  clearStatus(): void { this.setStatus(''); }

  /**
   * The end: whatever waits is written and the status erased. With `endRow`, the cursor is left at the
   * start of a row even when the program's last line had no newline (for a message that follows).
   */
  close(endRow = false): void {
    this.answered('');
    this.settle();
    this.clearStatus();
    if (endRow) this.endRow();
  }

  private midLine(): boolean {
    return this.line.length > 0 && this.lineShown;
  }

  private waitForLine(): void {
    if (this.grace) return;
    this.grace = setTimeout(() => this.settle(), LINE_GRACE_MS);
    this.grace.unref(); // an exit writes what waits (close)
  }

  /** Moves to the start of the next row, leaving the program's open line as it is on the screen. */
  private endRow(): void {
    if (!this.midLine()) return;
    this.erase();
    this.io.stderr.write('\n');
    this.lineShown = false;
  }

  private flush(): void {
    if (!this.queue.length) return;
    this.erase();
    this.leaveQuestion();
    this.io.stderr.write(this.queue.join(''));
    this.queue = [];
    this.showQuestion();
    this.draw();
  }

  /** Ends the question's row before anything else is written. */
  private leaveQuestion(): void {
    if (!this.question?.shown) return;
    this.io.stderr.write('\n');
    this.question.shown = false;
  }

  /** Asks the open question again once the cursor is at the start of a row. */
  private showQuestion(): void {
    if (!this.question || this.question.shown || this.midLine()) return;
    this.io.stderr.write(this.question.text);
    this.question.shown = true;
  }

  /** Follows where program output leaves the cursor. */
  private follow(data: Buffer): void {
    if (this.io.cursor && !this.ownScreen) {
      const text = this.tail + data.toString('latin1');
      this.ownScreen = drawsOwnScreen(text);
      this.tail = text.slice(-16);
    }
    const nl = data.lastIndexOf(0x0a);
    this.line = nl >= 0 ? Buffer.from(data.subarray(nl + 1)) : Buffer.concat([this.line, data]);
    if (this.line.length > MAX_LINE) {
      // Keep the end, from a carriage return when there is one, so that putting it back draws it alike.
      const end = this.line.subarray(this.line.length - MAX_LINE);
      const cr = end.indexOf(0x0d);
      this.line = Buffer.from(cr >= 0 ? end.subarray(cr) : end);
    }
  }

  private draw(): void {
    if (!this.io.cursor || !this.status || this.drawn || this.question || this.ownScreen) return;
    const width = this.io.columns();
    const icon = this.spin ? SPINNER[this.frame % SPINNER.length] : '●';
    // Never as wide as the terminal: a status that wrapped could not be erased with its row.
    const text = this.dim(fitCells(`${icon} ${this.status}`, width - 1));
    if (!this.midLine()) {
      this.io.stderr.write(text);
      this.drawn = 'here';
      return;
    }
    // After exactly a row's worth the terminal is about to wrap; moving the cursor away and back would
    // make it forget, and the program's next character would overwrite the last one. Unsure: wait.
    const col = columnAfter(this.line.toString('utf8'));
    if (col === undefined || (col > 0 && col % width === 0)) return;
    // Index down and back (scrolling once if this is the bottom row), save the cursor, draw on the next
    // row, restore the cursor to the end of the program's text.
    this.io.stderr.write(`\x1bD\x1bM\x1b7\x1bD\r${text}\x1b[K\x1b8`);
    this.drawn = 'below';
  }

  private erase(): void {
    if (this.drawn === 'here') this.io.stderr.write('\r\x1b[K');
    else if (this.drawn === 'below') this.io.stderr.write('\x1b7\x1bD\r\x1b[K\x1b8');
    this.drawn = undefined;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
