// The standalone debug adapter (node dist/adapter.js) under faults and bad input: the client vanishing
// (VS Code closed: stdin closed without a disconnect, the adapter told to quit) in every state, and
// launch configurations that cannot work. The program must never outlive its adapter, and a bad
// configuration must be refused with a message that says what to fix, before anything starts.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { ModelServer } from '../../dev/modelServer';
import { PROGRAMS, REPO, requireCriu, tempDir } from '../support/engineHelpers';
import { RELIABILITY, assertNoProcesses, cleanEnv, sleep, waitGone, workspace, assertNothingLeftRunning } from '../support/reliabilityHelpers';

const ADAPTER = path.join(REPO, 'dist', 'adapter.js');
const FIX = fs.readFileSync(path.join(RELIABILITY, 'fix.md'), 'utf8');

let model: ModelServer;
before(async () => {
  await requireCriu();
  assert.ok(fs.existsSync(ADAPTER), `${ADAPTER} missing: run npm run build first`);
  model = await ModelServer.start({ fallback: FIX });
});
after(async () => { await model.close(); });

async function client(): Promise<{ dc: DebugClient; proc: ChildProcess; console: () => string; timeline: unknown[] }> {
  const dc = new DebugClient(process.execPath, ADAPTER, 'axolotl', { env: cleanEnv() }, true);
  await dc.start();
  let text = '';
  const timeline: unknown[] = [];
  dc.on('output', (e: DebugProtocol.OutputEvent) => { if (e.body.category === 'console') text += e.body.output; });
  dc.on('axolotl/timeline', (e: DebugProtocol.Event) => timeline.push(e.body));
  return { dc, proc: (dc as unknown as { _adapterProcess: ChildProcess })._adapterProcess, console: () => text, timeline };
}

async function launched(dc: DebugClient, args: Record<string, unknown>): Promise<void> {
  await Promise.all([dc.configurationSequence(), dc.launch(args as DebugProtocol.LaunchRequestArguments)]);
}

/** Ends the client's side abruptly, as a closing VS Code does: no disconnect request. */
type Vanish = (proc: ChildProcess) => void;
const VANISH: Array<[string, Vanish]> = [
  ['its stdin closes (VS Code closed)', (p) => { p.stdin!.destroy(); p.stdout!.destroy(); }],
  ['it gets SIGTERM', (p) => p.kill('SIGTERM')],
  ['it gets SIGHUP', (p) => p.kill('SIGHUP')],
];

describe('the client vanishes: the adapter stops the program and exits', () => {
  for (const [how, vanish] of VANISH) {
    test(`while the program runs, ${how}`, async () => {
      const ws = workspace('hold.py');
      const { dc, proc } = await client();
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      await launched(dc, { program: path.join(ws, 'hold.py'), args: ['20', '1000'], checkpointInterval: 0.3, pauseBudget: 0, workingDir: tempDir() });
      await dc.waitForEvent('axolotl/timeline'); // running
      await sleep(800);
      vanish(proc);
      await Promise.race([exited, sleep(10_000).then(() => assert.fail('the adapter did not exit'))]);
      await assertNoProcesses([ws]);
    });
  }

  test('while paused on a crash with a repair being asked for (the model hangs), stdin closes', async () => {
    const ws = workspace('job.py');
    const hang = await ModelServer.start({ fallback: { fault: 'hang' } });
    const { dc, proc } = await client();
    try {
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      const stopped = dc.waitForEvent('stopped', 60_000);
      await launched(dc, { program: path.join(ws, 'job.py'), args: ['8', '0.15'], checkpointInterval: 0.3, pauseBudget: 0, workingDir: tempDir(), repair: { baseUrl: hang.url } });
      await stopped;
      while (!hang.chatRequests.length) await sleep(50);
      proc.stdin!.destroy();
      await Promise.race([exited, sleep(10_000).then(() => assert.fail('the adapter did not exit'))]);
      await assertNoProcesses([ws]);
      assert.equal(fs.readFileSync(path.join(ws, 'job.py'), 'utf8'), fs.readFileSync(path.join(RELIABILITY, 'job.py'), 'utf8'));
    } finally {
      await hang.close();
    }
  });
});

describe('a rewind in the debugger says what it cannot undo', () => {
  test('console line and timeline notice before the restore', async () => {
    // A job that prints right before it crashes: some output always follows the newest checkpoint.
    const ws = workspace('ticks/job.py');
    const { dc, console: consoleText, timeline } = await client();
    try {
      const proposed = dc.waitForEvent('axolotl/repairProposed', 60_000);
      await launched(dc, { program: path.join(ws, 'job.py'), checkpointInterval: 0.3, pauseBudget: 0, workingDir: tempDir(), repair: { baseUrl: model.url } });
      const repair = (await proposed).body as { repairId: string; files: Array<{ path: string; proposed: string }> };
      const terminated = dc.waitForEvent('terminated', 60_000);
      const applied = await dc.customRequest('axolotl/applyRepair', { repairId: repair.repairId, files: { [repair.files[0].path]: repair.files[0].proposed }, written: false });
      await terminated;
      const id = applied.body.restoredCheckpoint as number;
      assert.ok(id >= 1);
      assert.match(consoleText(), new RegExp(`axolotl: rewinding to checkpoint ${id}; not undone: output already printed \\(\\d+ bytes since checkpoint ${id}\\) stays printed\\n[^]*axolotl: restored checkpoint ${id} in`));
      const notices = timeline.filter((u) => (u as { type: string }).type === 'notice') as Array<{ notice: { level: string; text: string } }>;
      assert.equal(notices.length, 1);
      // Output printed again is what every rewind does: information, not a warning.
      assert.equal(notices[0].notice.level, 'info');
      assert.match(notices[0].notice.text, new RegExp(`^rewinding to checkpoint ${id}; not undone: output already printed`));
    } finally {
      await dc.stop();
    }
    await assertNoProcesses([ws]);
  });
});

describe('bad launch configurations are refused before anything starts', () => {
  const ws = () => workspace('hold.py');
  const CASES: Array<[string, (dir: string) => Record<string, unknown>, RegExp]> = [
    ['no program', () => ({}), /^Open a Python file or set "program" in launch\.json$/],
    ['a program that is not .py', (d) => ({ program: path.join(d, 'hold.sh') }), /^"program" must be a Python file \(\.py\), got ".*hold\.sh"/],
    ['a program that does not exist', (d) => ({ program: path.join(d, 'nope.py') }), /^Cannot find the program .*nope\.py\. Check "program" in launch\.json\.$/],
    ['a folder named like a script', (d) => { fs.mkdirSync(path.join(d, 'dir.py')); return { program: path.join(d, 'dir.py') }; }, /^Cannot find the program .*dir\.py/],
    ['program of the wrong type', () => ({ program: 42 }), /^"program" must be a string \(got 42\)\.$/],
    ['args not a list', (d) => ({ program: path.join(d, 'hold.py'), args: '1 2' }), /^"args" must be a list of strings/],
    ['args with a number', (d) => ({ program: path.join(d, 'hold.py'), args: [1, 2] }), /^"args" must be a list of strings/],
    ['env not an object', (d) => ({ program: path.join(d, 'hold.py'), env: 'A=1' }), /^"env" must be an object of string values/],
    ['negative interval', (d) => ({ program: path.join(d, 'hold.py'), checkpointInterval: -1 }), /^"checkpointInterval" must be a positive number of seconds \(got -1\)/],
    ['zero interval', (d) => ({ program: path.join(d, 'hold.py'), checkpointInterval: 0 }), /^"checkpointInterval" must be a positive number of seconds \(got 0\)/],
    ['interval as text', (d) => ({ program: path.join(d, 'hold.py'), checkpointInterval: 'fast' }), /^"checkpointInterval" must be a number of seconds \(got "fast"\)/],
    ['pauseBudget 100', (d) => ({ program: path.join(d, 'hold.py'), pauseBudget: 100 }), /^"pauseBudget" must be a percentage from 0 up to \(not including\) 100 \(got 100\)/],
    ['pauseBudget as text', (d) => ({ program: path.join(d, 'hold.py'), pauseBudget: '2%' }), /^"pauseBudget" must be a percentage .*\(got "2%"\)/],
    ['maxCheckpoints 0', (d) => ({ program: path.join(d, 'hold.py'), maxCheckpoints: 0 }), /^"maxCheckpoints" must be a whole number of at least 1 \(got 0\)/],
    ['maxCheckpoints 2.5', (d) => ({ program: path.join(d, 'hold.py'), maxCheckpoints: 2.5 }), /^"maxCheckpoints" must be a whole number of at least 1/],
    ['unknown backend', (d) => ({ program: path.join(d, 'hold.py'), backend: 'docker' }), /^"backend" must be one of auto, criu, fork \(got "docker"\)/],
    ['unknown resume mode', (d) => ({ program: path.join(d, 'hold.py'), resume: 'sideways' }), /^"resume" must be one of checkpoint, in-place/],
    ['repair not an object', (d) => ({ program: path.join(d, 'hold.py'), repair: true }), /^"repair" must be an object/],
    ['cwd that does not exist', (d) => ({ program: path.join(d, 'hold.py'), cwd: path.join(d, 'gone') }), /^"cwd" is not a folder: .*gone/],
    ['python that does not exist', (d) => ({ program: path.join(d, 'hold.py'), python: '/nonexistent/python3' }), /python/i],
    ['a working folder that cannot be created', (d) => { fs.writeFileSync(path.join(d, 'f'), ''); return { program: path.join(d, 'hold.py'), workingDir: path.join(d, 'f', 'sub') }; }, /^cannot create the checkpoint folder under .*f\/sub/],
  ];
  for (const [name, make, message] of CASES) {
    test(name, async () => {
      const dir = ws();
      fs.writeFileSync(path.join(dir, 'hold.sh'), 'echo hi\n');
      const { dc, proc } = await client();
      try {
        const terminated = dc.waitForEvent('terminated', 10_000);
        const [, launch] = await Promise.allSettled([dc.configurationSequence(), dc.launch(make(dir) as DebugProtocol.LaunchRequestArguments)]);
        assert.equal(launch.status, 'rejected', 'launch refused');
        const err = (launch as PromiseRejectedResult).reason as Error;
        assert.match(err.message, message);
        await terminated;
      } finally {
        await dc.stop();
        await waitGone(proc.pid!);
      }
      await assertNoProcesses([dir]);
    });
  }
});

// Whatever a test above left running in one of its workspaces fails the file.
after(() => assertNothingLeftRunning());
