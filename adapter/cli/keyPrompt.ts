// One keypress answers a question on the terminal, as `[a]ccept / [r]eject` suggests. The key is read
// in raw mode, and the terminal's mode is put back on every way out: an answer, Ctrl-C, Ctrl-D, the
// terminal going away, and any exit of Axolotl (process.exit after SIGINT or SIGTERM included).
import fs from 'node:fs';
import tty from 'node:tty';

export interface Keyboard {
  input: tty.ReadStream;
  close(): void;
}

/** The controlling terminal's keys, even when stdin is a pipe feeding the program. */
export function openKeyboard(): Keyboard | undefined {
  if (process.stdin.isTTY) return { input: process.stdin, close: () => process.stdin.pause() };
  let fd: number | undefined;
  try {
    fd = fs.openSync('/dev/tty', 'r');
    const input = new tty.ReadStream(fd);
    return { input, close: () => input.destroy() }; // the stream owns the descriptor now
  } catch {
    if (fd !== undefined) fs.closeSync(fd);
    return undefined;
  }
}

/** What a key press came to. */
export type KeyAnswer = { key: string } | { end: true } | { interrupt: true };

/**
 * Waits for one of `keys` (lower case; either case is taken), ignoring other keys. Ctrl-D or the
 * terminal going away is the end of input; Ctrl-C, which raw mode turns into a plain byte, is
 * reported so that the caller can raise the SIGINT it would have been.
 */
export function readKey(input: tty.ReadStream, keys: string): Promise<KeyAnswer> {
  return new Promise((resolve) => {
    let raw = false;
    const restore = () => {
      if (!raw) return;
      raw = false;
      try { input.setRawMode(false); } catch { /* the terminal is gone: nothing to restore */ }
    };
    const finish = (answer: KeyAnswer) => {
      restore();
      process.off('exit', restore);
      input.off('data', onData);
      for (const e of ['end', 'close', 'error'] as const) input.off(e, onEnd);
      input.pause();
      resolve(answer);
    };
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\x03') return finish({ interrupt: true });
        if (ch === '\x04') return finish({ end: true });
        const key = ch.toLowerCase();
        if (key.length === 1 && keys.includes(key)) return finish({ key });
      }
    };
    const onEnd = () => finish({ end: true });
    try {
      input.setRawMode(true);
      raw = true;
    } catch {
      return resolve({ end: true }); // not a terminal we can read keys from
    }
    process.on('exit', restore);
    input.on('data', onData);
    for (const e of ['end', 'close', 'error'] as const) input.on(e, onEnd);
    input.resume();
  });
}
