// Ctrl-C (SIGINT to the CLI, and the keystroke on a real terminal at the accept prompt) in every phase
// of `axolotl run`: running, during a dump, waiting for the model, at the accept prompt, during a
// restore. Each ends with status 130 and "interrupted", quickly, with no process left and no source
// lost (a repair is either not written, or written with its original kept).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelServer } from '../../dev/modelServer';
import { CLI, requireCriu, tempDir } from '../support/engineHelpers';
import {
  LiveCli, RELIABILITY, assertNoProcesses, cleanEnv, cmdline, criuProcesses, descendants, readTree, sleep, workspace, type CliResult, assertNothingLeftRunning } from '../support/reliabilityHelpers';

const FIX = fs.readFileSync(path.join(RELIABILITY, 'fix.md'), 'utf8');
const INTERRUPTED = /axolotl: interrupted: stopping the program/;

let model: ModelServer;
before(async () => {
  await requireCriu();
  model = await ModelServer.start({ fallback: FIX });
});
after(async () => { await model.close(); });

async function interrupt(cli: LiveCli): Promise<{ res: CliResult; ms: number }> {
  const t0 = Date.now();
  cli.signal('SIGINT');
  const res = await cli.result(30_000);
  return { res, ms: Date.now() - t0 };
}

function assertInterrupted(r: { res: CliResult; ms: number }, maxMs = 5000): void {
  assert.equal(r.res.status, 130, r.res.stderr);
  assert.match(r.res.stderr, INTERRUPTED);
  assert.doesNotMatch(r.res.stderr, /internal error/);
  assert.ok(r.ms < maxMs, `stopped in ${r.ms} ms`);
}

async function criuUnder(pid: number, kind: 'dump' | 'restore', timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [p] = criuProcesses(kind, pid);
    if (p) return p;
    if (Date.now() > deadline) throw new Error(`no criu ${kind} under ${pid}`);
    await sleep(3);
  }
}

describe('Ctrl-C in the CLI', () => {
  test('while the program runs', async () => {
    const ws = workspace('hold.py');
    const cli = new LiveCli(['run', '--interval', '0.3', '--working-dir', tempDir('axl-runs-'), 'hold.py', '10', '1000'], { cwd: ws });
    await cli.waitStdout(/tick 5\n/);
    assertInterrupted(await interrupt(cli));
    await assertNoProcesses([ws]);
  });

  test('during a dump', async () => {
    const ws = workspace('hold.py');
    const runs = tempDir('axl-runs-');
    const cli = new LiveCli(['run', '--interval', '0.3', '--working-dir', runs, 'hold.py', '400', '1000'], { cwd: ws });
    await cli.waitStdout(/allocated/);
    await criuUnder(cli.pid, 'dump');
    assertInterrupted(await interrupt(cli));
    await assertNoProcesses([ws, runs]);
  });

  test('twice during a dump: leaves at once, still leaving nothing behind', async () => {
    const ws = workspace('hold.py');
    const runs = tempDir('axl-runs-');
    const cli = new LiveCli(['run', '--interval', '0.3', '--working-dir', runs, 'hold.py', '400', '1000'], { cwd: ws });
    await cli.waitStdout(/allocated/);
    await criuUnder(cli.pid, 'dump');
    const t0 = Date.now();
    cli.signal('SIGINT');
    await sleep(20);
    cli.signal('SIGINT');
    const res = await cli.result(30_000);
    assert.equal(res.status, 130, res.stderr);
    assert.ok(Date.now() - t0 < 2000, `left in ${Date.now() - t0} ms`);
    await assertNoProcesses([ws, runs]);
  });

  test('while waiting for the model', async () => {
    const ws = workspace('job.py');
    const before = readTree(ws);
    const hang = await ModelServer.start({ fallback: { fault: 'hang' } });
    try {
      const cli = new LiveCli(['run', '--yes', '--interval', '0.3', '--working-dir', tempDir('axl-runs-'), '--base-url', hang.url, '--model', 'm', 'job.py', '8', '0.15'], { cwd: ws, env: cleanEnv() });
      await cli.until('the model request', () => hang.chatRequests.length > 0);
      assertInterrupted(await interrupt(cli));
      assert.deepEqual(readTree(ws), before, 'sources untouched');
      await assertNoProcesses([ws]);
    } finally {
      await hang.close();
    }
  });

  test('during a restore', async () => {
    const ws = workspace('job.py');
    const runs = tempDir('axl-runs-');
    // A criu restore (a rewind to a snapshot held in memory takes milliseconds: nothing to interrupt).
    const cli = new LiveCli(['run', '--yes', '--interval', '0.3', '--working-dir', runs, '--base-url', model.url, '--model', 'm', 'job.py', '8', '0.2', '400'],
      { cwd: ws, env: cleanEnv({ AXOLOTL_SNAPSHOTS: '0' }) });
    await criuUnder(cli.pid, 'restore', 120_000);
    assertInterrupted(await interrupt(cli));
    // The accepted repair was written before the restore; the original is kept in the run folder.
    assert.match(fs.readFileSync(path.join(ws, 'job.py'), 'utf8'), /if not values:/);
    const [run] = fs.readdirSync(runs);
    assert.ok(fs.existsSync(path.join(runs, run, 'repairs', '1', 'originals', '0', 'job.py')));
    await assertNoProcesses([ws, runs]);
  });
});

describe('Ctrl-C at the accept prompt (on a terminal)', () => {
  /** `axolotl run` (no --yes) in a pseudo-terminal made by script(1); we type into it through its stdin. */
  function onTerminal(ws: string, runs: string) {
    const cmd = [process.execPath, CLI, 'run', '--interval', '0.3', '--working-dir', runs, '--base-url', model.url, '--model', 'm', 'job.py', '8', '0.15']
      .map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    // `exec`: dash (Debian's /bin/sh, which script(1) uses when SHELL is unset) would otherwise stay
    // between the terminal and axolotl, and a signal meant for axolotl would reach the shell.
    const child = spawn('script', ['-qfec', `exec ${cmd}`, '/dev/null'], { cwd: ws, env: cleanEnv({ TERM: 'dumb', SHELL: '/bin/sh' }), stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout!.on('data', (d: Buffer) => { screen += d.toString(); });
    const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const cliPid = async () => {
      for (let i = 0; i < 200; i++) {
        const p = descendants(child.pid!).find((d) => cmdline(d).startsWith(`${process.execPath} ${CLI}`));
        if (p) return p;
        await sleep(25);
      }
      throw new Error('no axolotl under script');
    };
    const waitScreen = async (re: RegExp, ms = 60_000) => {
      const deadline = Date.now() + ms;
      while (!re.test(screen)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} on the terminal:\n${screen.slice(-3000)}`);
        await sleep(50);
      }
    };
    return { child, done, cliPid, waitScreen, screen: () => screen };
  }

  for (const how of ['SIGINT', 'the Ctrl-C key'] as const) {
    test(`${how} at "Apply this repair and resume?"`, async () => {
      const ws = workspace('job.py');
      const runs = tempDir('axl-runs-');
      const before = readTree(ws);
      const term = onTerminal(ws, runs);
      try {
        await term.waitScreen(/Apply this repair and resume\? \[a\]ccept \/ \[r\]eject \/ \[e\]dit: /);
        const pid = await term.cliPid();
        const t0 = Date.now();
        if (how === 'SIGINT') process.kill(pid, 'SIGINT');
        else term.child.stdin!.write('\x03');
        const code = await Promise.race([term.done, sleep(15_000).then(() => 'timeout' as const)]);
        assert.notEqual(code, 'timeout', `still waiting after ${how}:\n${term.screen().slice(-2000)}`);
        assert.equal(code, 130, term.screen().slice(-2000));
        assert.match(term.screen(), INTERRUPTED);
        assert.ok(Date.now() - t0 < 5000);
        assert.deepEqual(readTree(ws), before, 'nothing written');
        await assertNoProcesses([ws, runs]);
      } finally {
        term.child.kill('SIGKILL');
      }
    });
  }

  for (const when of ['while the program runs', 'at "Apply this repair and resume?"'] as const) test(`the terminal closes ${when}: the program is stopped, nothing written`, async () => {
    const ws = workspace('job.py');
    const runs = tempDir('axl-runs-');
    const before = readTree(ws);
    const term = onTerminal(ws, runs);
    try {
      await term.waitScreen(when === 'while the program runs' ? /item 1: / : /Apply this repair and resume\? /);
      const pid = await term.cliPid();
      term.child.kill('SIGKILL'); // the terminal window goes: its session gets SIGHUP
      const deadline = Date.now() + 10_000;
      while (fs.existsSync(`/proc/${pid}`) && Date.now() < deadline) await sleep(50);
      assert.ok(!fs.existsSync(`/proc/${pid}`), 'axolotl still running after the hangup');
      assert.deepEqual(readTree(ws), before, 'nothing written');
      await assertNoProcesses([ws, runs]);
    } finally {
      term.child.kill('SIGKILL');
    }
  });

  test('Ctrl-D at "Apply this repair and resume?" is no answer: rejected, the exception ends the run', async () => {
    const ws = workspace('job.py');
    const runs = tempDir('axl-runs-');
    const before = readTree(ws);
    const term = onTerminal(ws, runs);
    try {
      await term.waitScreen(/Apply this repair and resume\? /);
      term.child.stdin!.write('\x04');
      const code = await Promise.race([term.done, sleep(15_000).then(() => 'timeout' as const)]);
      assert.equal(code, 1, term.screen().slice(-2000));
      assert.match(term.screen(), /no answer \(end of input\): rejecting the repair/);
      assert.match(term.screen(), /ZeroDivisionError: division by zero/);
      assert.deepEqual(readTree(ws), before, 'nothing written');
      await assertNoProcesses([ws, runs]);
    } finally {
      term.child.kill('SIGKILL');
    }
  });
});

// Whatever a test above left running in one of its workspaces fails the file.
after(() => assertNothingLeftRunning());
