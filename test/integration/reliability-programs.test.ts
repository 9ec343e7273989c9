// Programs that are awkward to checkpoint, through `axolotl run --yes` on real criu (and fork snapshots
// where they differ): a syntax error, a program that reads stdin, one that starts child processes,
// one that uses threads. Each either runs and is repaired like any other, or says clearly why not.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { ModelServer } from '../../dev/modelServer';
import { REPO, requireCriu, tempDir } from '../support/engineHelpers';
import { LiveCli, RELIABILITY, assertNoProcesses, cleanEnv, readTree, workspace, assertNothingLeftRunning } from '../support/reliabilityHelpers';

const FIX = fs.readFileSync(path.join(RELIABILITY, 'fix.md'), 'utf8');
const FIXED_TOTAL = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (i === 5 ? 0 : i * 10 + 1.5)).reduce((a, b) => a + b, 0);

let model: ModelServer;
before(async () => {
  await requireCriu();
  // The same repair, named for whichever script crashed.
  model = await ModelServer.start({
    handler: (req) => {
      const text = JSON.stringify(req.body);
      const script = ['children.py', 'threads.py', 'job.py'].find((s) => text.includes(s)) ?? 'job.py';
      return FIX.replace('job.py', script);
    },
  });
});
after(async () => { await model.close(); });

function run(ws: string, script: string, extra: string[] = [], opts: { stdin?: string } = {}) {
  const cli = new LiveCli(['run', '--yes', '--interval', '0.3', '--working-dir', tempDir('axl-runs-'), '--base-url', model.url, '--model', 'm', ...extra, script],
    { cwd: ws, env: cleanEnv(), stdin: opts.stdin !== undefined ? 'pipe' : 'ignore' });
  if (opts.stdin !== undefined) {
    const lines = opts.stdin.split(/(?<=\n)/);
    let i = 0;
    const feed = setInterval(() => {
      if (i < lines.length) cli.child.stdin!.write(lines[i++]);
      else { clearInterval(feed); cli.child.stdin!.end(); }
    }, 50);
  }
  return cli;
}

describe('awkward programs', () => {
  test('a syntax error: Python\'s own message and status, no model call, nothing left', async () => {
    const ws = workspace('syntax.py');
    const before = readTree(ws);
    const asked = model.chatRequests.length;
    const res = await run(ws, 'syntax.py').result();
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, /File ".*syntax\.py", line 4\n\s+def broken\(:\n[^]*SyntaxError: /);
    assert.doesNotMatch(res.stderr, /internal error|Traceback[^]*axolotl_agent/);
    assert.equal(res.stdout, '');
    assert.equal(model.chatRequests.length, asked, 'a program that never started is not sent to the model');
    assert.deepEqual(readTree(ws), before);
    await assertNoProcesses([ws]);
  });

  test('a program that reads stdin: every line read once, through a crash, a repair and a rewind', async () => {
    const ws = workspace('stdin_job.py');
    // "0" crashes (1 / 0); the numbers before it are read before the crash.
    const reply = 'Skip zero.\n\nstdin_job.py\n```python\n<<<<<<< SEARCH\n    total += 1 / n\n=======\n    total += 1 / n if n else 0.0\n>>>>>>> REPLACE\n```\n';
    const server = await ModelServer.start({ fallback: reply });
    try {
      const cli = new LiveCli(['run', '--yes', '--interval', '0.2', '--working-dir', tempDir('axl-runs-'), '--base-url', server.url, '--model', 'm', 'stdin_job.py'],
        { cwd: ws, env: cleanEnv(), stdin: 'pipe' });
      cli.child.stdin!.write('1\n2\n4\n5\n0\n');
      await cli.waitStderr(/accepted: /, 60_000);
      cli.child.stdin!.end('10\n');
      const res = await cli.result();
      assert.equal(res.status, 0, res.stderr);
      // A rewind cannot give back input the program already consumed: what it read after the
      // checkpoint is gone, and the notice says what cannot be undone.
      assert.match(res.stderr, /axolotl: rewinding to checkpoint \d+; not undone: .*input the program read from stdin after the checkpoint is not read again/);
      assert.match(res.stdout, /read 10 total /);
      assert.match(res.stdout, /done \d+\.\d{4}\n$/);
    } finally {
      await server.close();
    }
    await assertNoProcesses([ws]);
  });

  test('a program that reads stdin in the debugger gets end-of-file instead of waiting forever', async () => {
    const ws = workspace('stdin_job.py');
    const dc = new DebugClient(process.execPath, path.join(REPO, 'dist', 'adapter.js'), 'axolotl', { env: cleanEnv() }, true);
    await dc.start();
    try {
      let out = '';
      dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'stdout') out += e.body.output; });
      const terminated = dc.waitForEvent('terminated', 30_000);
      await Promise.all([dc.configurationSequence(), dc.launch({ program: path.join(ws, 'stdin_job.py'), workingDir: tempDir(), repair: { enabled: false } } as DebugProtocol.LaunchRequestArguments)]);
      await terminated;
      assert.equal(out, 'done 0.0000\n');
    } finally {
      await dc.stop();
    }
    await assertNoProcesses([ws]);
  });

  test('a program with child processes: checkpoints include them, the rewind says so, none is left after', async () => {
    const ws = workspace('children.py');
    const res = await run(ws, 'children.py').result();
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`item 5: 0\\.0\\n[^]*done: ${FIXED_TOTAL}\\n$`));
    assert.match(res.stderr, /axolotl: rewinding to checkpoint \d+; not undone: .*child processes \d+, \d+: stopped; what they did stays done/);
    assert.match(res.stderr, /restored checkpoint \d+/);
    await assertNoProcesses([ws, 'sleep 300']);
  });

  test('a program with threads (criu): checkpointed and repaired like any other', async () => {
    const ws = workspace('threads.py');
    const res = await run(ws, 'threads.py').result();
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`item 5: 0\\.0\\n[^]*done: ${FIXED_TOTAL}\\n$`));
    assert.match(res.stderr, /restored checkpoint \d+/);
    await assertNoProcesses([ws]);
  });

  test('a program with threads (fork snapshots): one clear warning, the repair resumes in place', async () => {
    const ws = workspace('threads.py');
    const res = await run(ws, 'threads.py', ['--backend', 'fork']).result();
    assert.equal(res.status, 0, res.stderr);
    const warnings = res.stderr.match(/checkpoint failed/g) ?? [];
    assert.equal(warnings.length, 1, res.stderr);
    assert.match(res.stderr, /axolotl: checkpoint failed: the program cannot be snapshotted by fork\nrefused to fork: other threads are alive; threads alive: loader/);
    assert.match(res.stdout, new RegExp(`done: ${FIXED_TOTAL}\\n$`));
    await assertNoProcesses([ws]);
  });
});

// Whatever a test above left running in one of its workspaces fails the file.
after(() => assertNothingLeftRunning());
