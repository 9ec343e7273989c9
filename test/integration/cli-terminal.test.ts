// `axolotl run` on a real pseudo-terminal (test/support/ptyHost.py), its screen rendered by a terminal
// emulator (xterm.js): program output that arrives in pieces, with real criu checkpoints falling inside
// its lines, must show every line exactly as the same program under plain python3 shows it on the same
// terminal; the status line stays visible meanwhile; the accept prompt takes a single key; the repaired
// program resumes inside the line it crashed in; the terminal's mode is put back on every way out.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelServer } from '../../dev/modelServer';
import { CLI, REPO, requireCriu, tempDir } from '../support/engineHelpers';
import { assertNothingLeftRunning, cleanEnv, workspace } from '../support/reliabilityHelpers';
import { linesProblem, ScreenModel } from '../support/screen';

const PTY_HOST = path.join(REPO, 'test', 'support', 'ptyHost.py');
const FIXTURES = path.join(REPO, 'test', 'fixtures', 'terminal');
const TEST_TIMEOUT_MS = 180_000;
const QUESTION = 'Apply this repair and resume? [a]ccept / [r]eject / [e]dit: ';
const SPINNER = /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] asking the model/;

interface Ended { status: number; icanon: boolean; echo: boolean }

/** Terminals not disposed yet: a test that timed out leaves its own, closed at the end. */
const running = new Set<OnTerminal>();

/** A command on a new pseudo-terminal, its screen rendered as it arrives. */
class OnTerminal {
  readonly screen: ScreenModel;
  readonly child: ChildProcess;
  /** the command's pid (the session leader of the terminal) */
  readonly pid: Promise<number>;
  readonly ended: Promise<Ended>;
  private rendering = Promise.resolve();
  private watchers: Array<(s: ScreenModel) => void> = [];
  private hostErr = '';

  constructor(cmd: string[], opts: { cols: number; rows: number; cwd: string; env: NodeJS.ProcessEnv }) {
    this.screen = new ScreenModel(opts.cols, opts.rows);
    running.add(this);
    this.child = spawn('python3', [PTY_HOST, String(opts.cols), String(opts.rows), '--', ...cmd], { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.rendering = this.rendering.then(() => this.screen.write(d)).then(() => { for (const w of this.watchers) w(this.screen); });
    });
    const reports: Array<Record<string, unknown>> = [];
    const waiters: Array<() => void> = [];
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.hostErr += d;
      for (const line of d.split('\n')) if (line.startsWith('{')) reports.push(JSON.parse(line) as Record<string, unknown>);
      for (const w of waiters.splice(0)) w();
    });
    const report = (key: string) => new Promise<Record<string, unknown>>((resolve) => {
      const look = () => { const r = reports.find((x) => key in x); if (r) resolve(r); else waiters.push(look); };
      look();
    });
    this.pid = report('pid').then((r) => r.pid as number);
    const closed = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.ended = Promise.race([report('status'), closed.then(() => { throw new Error(`pty host ended without a status:\n${this.hostErr}`); })])
      .then(async (r) => { await closed; await this.rendering; return r as unknown as Ended; });
  }

  /** Called with the screen after every piece of output. */
  watch(fn: (s: ScreenModel) => void): void {
    this.watchers.push(fn);
  }

  /** Waits until `pred` holds for the screen. */
  until(what: string, pred: (s: ScreenModel) => boolean, timeoutMs = 90_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; the screen:\n${this.screen.lines().slice(-40).join('\n')}`)), timeoutMs);
      const check = (s: ScreenModel) => { if (pred(s)) { clearTimeout(timer); this.watchers = this.watchers.filter((w) => w !== check); resolve(); } };
      this.watchers.push(check);
      void this.rendering.then(() => check(this.screen));
    });
  }

  type(keys: string): void {
    this.child.stdin!.write(keys);
  }

  /** Waits for the end; fails (and kills the terminal) after `timeoutMs`. */
  async result(timeoutMs = 120_000): Promise<Ended> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([this.ended, new Promise<never>((_, reject) => {
        timer = setTimeout(() => { this.child.kill('SIGKILL'); reject(new Error(`still running after ${timeoutMs} ms; the screen:\n${this.screen.lines().slice(-40).join('\n')}`)); }, timeoutMs);
      })]);
    } finally {
      clearTimeout(timer);
    }
  }

  dispose(): void {
    running.delete(this);
    this.child.kill('SIGKILL');
    this.screen.dispose();
  }
}

function env(term: string): NodeJS.ProcessEnv {
  return cleanEnv({ TERM: term, PYTHONUNBUFFERED: '1' });
}

/** The lines the same program shows under plain python3 on the same terminal. */
async function plainRun(script: string[], cwd: string, size: { cols: number; rows: number; term: string }): Promise<{ lines: string[]; status: number }> {
  const t = new OnTerminal(['python3', ...script], { ...size, cwd, env: env(size.term) });
  try {
    const end = await t.result();
    return { lines: t.screen.lines(), status: end.status };
  } finally {
    t.dispose();
  }
}

function axolotlOnTerminal(args: string[], cwd: string, size: { cols: number; rows: number; term: string }): OnTerminal {
  return new OnTerminal([process.execPath, CLI, 'run', ...args], { ...size, cwd, env: env(size.term) });
}

function show(lines: string[]): string {
  return lines.map((l) => `| ${l}`).join('\n');
}

let model: ModelServer;
before(async () => {
  await requireCriu();
  assert.ok(fs.existsSync(CLI), `${CLI} missing: run npm run build first`);
  model = await ModelServer.start({ fallback: { text: fs.readFileSync(path.join(FIXTURES, 'ratio-fix.md'), 'utf8'), chunkDelayMs: 40 } });
});
after(async () => {
  for (const t of running) t.dispose();
  await model?.close();
  await assertNothingLeftRunning();
});

describe('axolotl run on a terminal: program output in pieces, checkpoints inside its lines', () => {
  test('every line as plain python3 shows it, and the status visible below open lines', { timeout: TEST_TIMEOUT_MS }, async () => {
    // 70 columns: the long lines (239 characters, written 35 at a time) reach the right margin exactly
    // between two writes.
    const size = { cols: 70, rows: 20, term: 'xterm-256color' };
    const ws = workspace();
    fs.copyFileSync(path.join(FIXTURES, 'pieces.py'), path.join(ws, 'pieces.py'));
    const t = axolotlOnTerminal(['--interval', '0.2', '--working-dir', tempDir('axl-runs-'), 'pieces.py'], ws, size);
    // Which checkpoints' status was first seen below a line the program had not finished, by the
    // line's kind: each kind of piece gets at least one.
    const firstSeen = new Map<number, string>();
    t.watch((s) => {
      const { line, below } = s.atCursor();
      const m = /^● running · checkpoint (\d+) /.exec(below);
      if (!m || firstSeen.has(Number(m[1]))) return;
      firstSeen.set(Number(m[1]), line.startsWith('§') ? line.split(/[ :]/)[1] : 'closed');
    });
    try {
      const end = await t.result();
      const plain = await plainRun(['pieces.py'], ws, size);
      const lines = t.screen.lines();
      assert.equal(end.status, plain.status, show(lines));
      assert.deepEqual(lines, plain.lines, `the screen equals plain python3's, line for line\n${show(lines)}`);
      assert.deepEqual([end.icanon, end.echo], [true, true], 'terminal modes as they were');
      const kinds = new Set(firstSeen.values());
      for (const kind of ['piece', 'mixed', 'long', 'progress', 'the']) {
        assert.ok(kinds.has(kind), `a checkpoint while a "${kind}" line was open, its status shown below it: ${JSON.stringify([...firstSeen])}`);
      }
    } finally {
      t.dispose();
    }
  });
});

describe('axolotl run on a terminal: a crash mid-line, the accept prompt, the resume', () => {
  // As in the report: tmux at 140x45 with TERM=screen.
  const size = { cols: 140, rows: 45, term: 'screen' };

  function crashingRun(): { ws: string; t: OnTerminal } {
    const ws = workspace();
    fs.copyFileSync(path.join(FIXTURES, 'ratio.py'), path.join(ws, 'ratio.py'));
    const t = axolotlOnTerminal(['--interval', '0.3', '--working-dir', tempDir('axl-runs-'), '--base-url', model.url, '--model', 'm', 'ratio.py'], ws, size);
    return { ws, t };
  }

  const atQuestion = (s: ScreenModel) => s.atCursor().line === QUESTION;

  test('one key accepts; the program resumes inside the line it crashed in; every line as plain python3 shows it', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { ws, t } = crashingRun();
    let spinnerSeen = false;
    t.watch((s) => { if (s.visible().some((row) => SPINNER.test(row))) spinnerSeen = true; });
    try {
      await t.until('the question', atQuestion);
      t.type('a'); // no Enter
      const end = await t.result();
      const lines = t.screen.lines();
      assert.equal(end.status, 0, show(lines));
      assert.deepEqual([end.icanon, end.echo], [true, true], 'terminal modes as they were');
      assert.ok(lines.includes(`${QUESTION}a`), `the key is echoed after the question\n${show(lines)}`);
      assert.ok(lines.some((l) => /^axolotl: restored checkpoint \d+ in \d+ ms with repair 1$/.test(l)), show(lines));
      assert.ok(spinnerSeen, 'the status showed the model being asked');
      assert.match(fs.readFileSync(path.join(ws, 'ratio.py'), 'utf8'), /if not total:/);
      // The fixed program from scratch, on the same terminal.
      const plain = await plainRun(['ratio.py'], ws, size);
      assert.equal(plain.status, 0);
      // Axolotl's own lines come between the program's; the only other program text is the line the
      // crash interrupted, as far as it had got.
      const problem = linesProblem(lines, plain.lines, (l) => !l.includes('§') || l === '§ computing the ratio');
      assert.equal(problem, undefined, `${problem}\n--- axolotl\n${show(lines)}\n--- plain python3\n${show(plain.lines)}`);
      assert.equal(lines.filter((l) => l === '§ computing the ratio').length, 1, show(lines));
      assert.ok(!lines.some((l) => l.startsWith('●')), 'no status left behind');
    } finally {
      t.dispose();
    }
  });

  for (const how of ['the Ctrl-C key', 'SIGTERM'] as const) {
    test(`${how} at the question: status 130, the terminal's mode put back, nothing written`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const { ws, t } = crashingRun();
      const before = fs.readFileSync(path.join(ws, 'ratio.py'), 'utf8');
      try {
        await t.until('the question', atQuestion);
        if (how === 'SIGTERM') process.kill(await t.pid, 'SIGTERM');
        else t.type('\x03');
        const end = await t.result(30_000);
        const lines = t.screen.lines();
        assert.equal(end.status, 130, show(lines));
        assert.deepEqual([end.icanon, end.echo], [true, true], `terminal modes as they were\n${show(lines)}`);
        assert.ok(lines.some((l) => l.startsWith('axolotl: interrupted: stopping the program')), show(lines));
        if (how === 'the Ctrl-C key') assert.ok(lines.includes(`${QUESTION}^C`), show(lines));
        assert.equal(fs.readFileSync(path.join(ws, 'ratio.py'), 'utf8'), before);
      } finally {
        t.dispose();
      }
    });
  }

  test('other keys are ignored; r rejects: the program ends with its own traceback', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { ws, t } = crashingRun();
    const before = fs.readFileSync(path.join(ws, 'ratio.py'), 'utf8');
    try {
      await t.until('the question', atQuestion);
      t.type('x\r');
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(atQuestion(t.screen), `still asking after "x" and Enter\n${show(t.screen.lines())}`);
      t.type('R');
      const end = await t.result();
      const lines = t.screen.lines();
      assert.equal(end.status, 1, show(lines));
      assert.deepEqual([end.icanon, end.echo], [true, true]);
      assert.ok(lines.includes(`${QUESTION}r`), show(lines));
      assert.ok(lines.includes('ZeroDivisionError: division by zero'), show(lines));
      assert.equal(fs.readFileSync(path.join(ws, 'ratio.py'), 'utf8'), before);
    } finally {
      t.dispose();
    }
  });
});
