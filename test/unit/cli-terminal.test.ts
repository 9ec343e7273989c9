// The CLI's Terminal against a terminal emulator: program output written in pieces (text, then its
// newline; long lines; `\r` progress bars; stdout and stderr on one line; no final newline), with the
// status line changing in between (as at each checkpoint) and messages arriving mid-line. Every program
// line must render exactly as the program's bytes alone render, and the status never wider than the
// terminal. The same, on a real pseudo-terminal with real checkpoints, is test/integration/cli-terminal.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { Terminal, type Screen } from '../../adapter/cli/terminal';
import { columnAfter, fitCells } from '../../adapter/cli/cells';
import { ScreenModel } from '../support/screen';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Longer than the Terminal's wait for a program line to end. */
const PAST_GRACE_MS = 300;

/** A Terminal writing into an emulated terminal `cols` wide; `program` bytes are also kept alone. */
class Rig {
  readonly screen: ScreenModel;
  readonly term: Terminal;
  /** everything written, in order, as the terminal received it */
  private bytes: Array<string | Uint8Array> = [];
  /** the program's bytes alone: what a plain run would have written */
  private plainBytes: Buffer[] = [];

  constructor(readonly cols = 40, over: Partial<Screen> = {}) {
    this.screen = new ScreenModel(cols, 12);
    const sink = { write: (d: string | Uint8Array) => { this.bytes.push(typeof d === 'string' ? d : Buffer.from(d)); return true; } };
    this.term = new Terminal({ stdout: sink, stderr: sink, tty: true, cursor: true, sharedStdout: true, columns: () => cols, ...over });
  }

  out(text: string, stream: 'stdout' | 'stderr' = 'stdout'): void {
    const data = Buffer.from(text);
    this.plainBytes.push(data);
    this.term.program(stream, data);
  }

  /** Renders what was written so far. */
  async render(): Promise<ScreenModel> {
    for (const b of this.bytes.splice(0)) await this.screen.write(b);
    return this.screen;
  }

  /** The lines the program's bytes alone render to. */
  async plain(): Promise<string[]> {
    const s = new ScreenModel(this.cols, 12);
    await s.write(Buffer.concat(this.plainBytes));
    const lines = s.lines();
    s.dispose();
    return lines;
  }

  /** The row under the cursor and the one below it. */
  async around(): Promise<{ at: string; below: string; x: number }> {
    const s = await this.render();
    const rows = s.visible();
    const c = s.cursor();
    return { at: rows[c.y], below: rows[c.y + 1] ?? '', x: c.x };
  }

  dispose(): void {
    this.term.close();
    this.screen.dispose();
  }
}

let rig: Rig | undefined;
afterEach(() => { rig?.dispose(); rig = undefined; });

function checkpoint(r: Rig, n: number): void {
  r.term.setStatus(`running · checkpoint ${n} · 5.1 MB · frozen 23 ms`);
}

describe('Terminal: the status line never shares a row with program output', () => {
  test('a line whose newline comes in a later write keeps its text (the reported bug)', async () => {
    const r = rig = new Rig(80);
    r.term.setStatus('running · checkpoint every 1 s');
    r.out('prologue: connecting to the shard store');
    checkpoint(r, 1);
    const open = await r.around();
    assert.equal(open.at, 'prologue: connecting to the shard store', 'the program text alone on its row');
    assert.equal(open.x, 'prologue: connecting to the shard store'.length, 'the cursor where the program left it');
    assert.match(open.below, /^● running · checkpoint 1 /, 'the status on the row below');
    r.out('\n');
    r.out("shard 0: {'n': 1000}");
    r.out('\n');
    checkpoint(r, 2);
    r.term.clearStatus();
    assert.deepEqual((await r.render()).lines(), await r.plain());
  });

  test('long lines that wrap, in pieces that end exactly at the right margin', async () => {
    for (const cols of [20, 33, 40]) {
      const r = rig = new Rig(cols);
      r.term.setStatus('running');
      for (let i = 0; i < 3; i++) {
        const line = `§ long ${i} ` + 'abcdefghijklmnopqrstuvwxyz'.repeat(4);
        // pieces of exactly one row: after each the terminal is about to wrap
        for (let at = 0; at < line.length; at += cols) {
          r.out(line.slice(at, at + cols));
          checkpoint(r, i * 10 + at);
        }
        r.out('\n');
      }
      r.term.clearStatus();
      assert.deepEqual((await r.render()).lines(), await r.plain(), `${cols} columns`);
      r.dispose();
      rig = undefined;
    }
  });

  test('a `\\r` progress bar the program draws itself, with the status below it', async () => {
    const r = rig = new Rig(40);
    r.term.setStatus('running');
    r.out('§ before\n');
    for (let k = 0; k <= 100; k += 20) {
      r.out(`\r§ progress ${String(k).padStart(3)}% [${'#'.repeat(k / 10).padEnd(10)}]`);
      checkpoint(r, k);
      const now = await r.around();
      assert.equal(now.at, `§ progress ${String(k).padStart(3)}% [${'#'.repeat(k / 10).padEnd(10)}]`);
      assert.match(now.below, /^● running · checkpoint/, 'progress stays visible');
    }
    r.out('\r§ done, shorter\n');
    r.out('§ after\n');
    r.term.clearStatus();
    assert.deepEqual((await r.render()).lines(), await r.plain());
  });

  test('stdout and stderr on one line, and a last line without a newline', async () => {
    const r = rig = new Rig(40);
    r.term.setStatus('running');
    r.out('§ mixed: out ');
    checkpoint(r, 1);
    r.out('err ', 'stderr');
    checkpoint(r, 2);
    r.out('out again\n');
    r.out('§ the end, no newline');
    checkpoint(r, 3);
    r.term.close();
    const s = await r.render();
    assert.deepEqual(s.lines(), await r.plain());
    assert.deepEqual(s.cursor(), { x: '§ the end, no newline'.length, y: 1 }, 'the cursor right after the last text, as in a plain run');
  });

  test('the status is never wider than the terminal, and erasing it leaves nothing', async () => {
    const r = rig = new Rig(20);
    r.term.setStatus('running · checkpoint 12345 · 123.4 MB · frozen 12345 ms · 日本語 and more');
    let rows = (await r.render()).visible();
    assert.ok(rows[0].length > 0 && rows[0].length <= 19, `status row: ${JSON.stringify(rows[0])}`);
    assert.equal(rows[1], '', 'nothing wrapped onto the next row');
    r.out('§ abc');
    rows = (await r.render()).visible();
    assert.equal(rows[0], '§ abc');
    assert.ok(rows[1].length <= 19, `status row below: ${JSON.stringify(rows[1])}`);
    r.term.clearStatus();
    rows = (await r.render()).visible();
    assert.deepEqual(rows.slice(0, 3), ['§ abc', '', '']);
  });

  test('a program that moves the cursor across rows itself gets no status line', async () => {
    const r = rig = new Rig(40);
    r.out('§ bar one\n§ bar two\n\x1b[A');
    r.term.setStatus('running');
    r.out('\r§ bar 2!\n');
    checkpoint(r, 4);
    const s = await r.render();
    assert.ok(!s.visible().some((row) => row.includes('●')), s.visible().join('\n'));
    assert.deepEqual(s.lines(), await r.plain());
  });

  test('columnAfter and fitCells: exact for what they know, unknown otherwise', () => {
    assert.equal(columnAfter('abc'), 3);
    assert.equal(columnAfter('old text\rnew'), 3);
    assert.equal(columnAfter('\x1b[32mgreen\x1b[0m\x1b[K'), 5);
    assert.equal(columnAfter('\x1b]0;title\x07x'), 1);
    assert.equal(columnAfter('█▌ 50%'), 6);
    assert.equal(columnAfter('a\tb'), undefined);
    assert.equal(columnAfter('\x1b[5Gx'), undefined);
    assert.equal(columnAfter('日本'), undefined);
    assert.equal(fitCells('abcdef', 4), 'abcd');
    assert.equal(fitCells('日本語', 5), '日本');
    assert.equal(fitCells('a\x1b[31mb', 10), 'a [31mb');
  });
});

describe('Terminal: messages and questions start rows of their own', () => {
  test('a message that arrives mid-line waits for the newline', async () => {
    const r = rig = new Rig(40);
    r.out('§ abc');
    r.term.say('hello');
    r.out('def\n');
    r.out('§ next\n');
    assert.deepEqual((await r.render()).lines(), ['§ abcdef', 'axolotl: hello', '§ next']);
  });

  test('a line kept open ends its row for a message, and is put back when the program goes on', async () => {
    const r = rig = new Rig(40);
    r.term.setStatus('running');
    r.out('§ ghi');
    r.term.say('checkpoint 3');
    await sleep(PAST_GRACE_MS);
    r.out('jkl\n');
    r.term.clearStatus();
    assert.deepEqual((await r.render()).lines(), ['§ ghi', 'axolotl: checkpoint 3', '§ ghijkl']);
  });

  test('a question is asked on a row of its own, and again after output that interrupts it', async () => {
    const r = rig = new Rig(60);
    r.term.setStatus('asking the model', true);
    r.out('§ open');
    r.term.ask('Apply? [a]ccept: ');
    assert.deepEqual((await r.render()).lines(), ['§ open', 'Apply? [a]ccept: ']);
    r.term.say('a warning');
    r.out(' line\n');
    r.term.answered('a');
    r.term.clearStatus();
    assert.deepEqual((await r.render()).lines(), ['§ open', 'Apply? [a]ccept: ', 'axolotl: a warning', 'Apply? [a]ccept: ', '§ open line', 'Apply? [a]ccept: a']);
  });

  test('after a rewind the program continues its line as it was at the checkpoint', async () => {
    const r = rig = new Rig(40);
    r.out('§ computing');
    const atCheckpoint = r.term.openLine();
    r.term.say('crash: ZeroDivisionError');
    await sleep(PAST_GRACE_MS);
    r.term.rewound(atCheckpoint);
    r.term.say('restored checkpoint 2');
    r.out(' = 0.0\n');
    assert.deepEqual((await r.render()).lines(), ['§ computing', 'axolotl: crash: ZeroDivisionError', 'axolotl: restored checkpoint 2', '§ computing = 0.0']);
  });

  test('stdout going elsewhere does not hold messages back', async () => {
    const written: string[] = [];
    const term = new Terminal({
      stdout: { write: () => true }, stderr: { write: (d) => { written.push(String(d)); return true; } },
      tty: true, cursor: true, sharedStdout: false, columns: () => 40,
    });
    term.program('stdout', Buffer.from('no newline yet'));
    term.say('now');
    assert.equal(written.join(''), `${term.dim('axolotl:')} now\n`);
  });

  test('on a pipe: no escape sequences, messages on rows of their own, nothing written twice', async () => {
    const written: string[] = [];
    const sink = { write: (d: string | Uint8Array) => { written.push(Buffer.from(d).toString()); return true; } };
    const term = new Terminal({ stdout: sink, stderr: sink, tty: false, cursor: false, sharedStdout: true, columns: () => 80 });
    term.setStatus('running');
    term.program('stderr', Buffer.from('abc'));
    term.say('m');
    await sleep(PAST_GRACE_MS);
    term.program('stderr', Buffer.from('def\n'));
    term.close();
    assert.equal(written.join(''), 'abc\naxolotl: m\ndef\n');
  });
});
