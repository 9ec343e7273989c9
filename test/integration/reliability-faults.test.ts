// Faults around checkpoints and restores, seen from `axolotl run` as a user runs it (real criu, real
// processes): the program or criu killed during a dump, a full disk, images deleted or damaged, a PID
// taken by another process, the helper killed. Each ends with a clear message, a run that continues or
// ends cleanly, no process left behind and no source lost.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listCheckpoints } from '../../adapter/engine/runDir';
import { Supervisor } from '../../adapter/engine/supervisor';
import type { Checkpoint } from '../../adapter/engine/types';
import { ModelServer } from '../../dev/modelServer';
import { CLI, OutputLog, isRunning, requireCriu, runOptions, tempDir, waitForEvent } from '../support/engineHelpers';
import {
  LiveCli, RELIABILITY, assertNoProcesses, cleanEnv, cmdline, criuProcesses, descendants, readTree, sleep, workspace, assertNothingLeftRunning } from '../support/reliabilityHelpers';

const FIX = fs.readFileSync(path.join(RELIABILITY, 'fix.md'), 'utf8');
const FIXED_TOTAL = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (i === 5 ? 0 : i * 10 + 1.5)).reduce((a, b) => a + b, 0);

let model: ModelServer;
before(async () => {
  await requireCriu();
  model = await ModelServer.start({ fallback: FIX });
});
after(async () => { await model.close(); });

/** The python process of the program under `cli` (not criu, not the restore wrapper). */
async function programPid(cli: LiveCli, script: string, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = descendants(cli.pid).find((p) => { const c = cmdline(p); return c.includes(script) && !/criu|axolotl_restore/.test(c); });
    if (pid) return pid;
    if (Date.now() > deadline) throw new Error(`no ${script} process under ${cli.pid}`);
    await sleep(20);
  }
}

/** Waits for a `criu <kind>` process started by `cli`. */
async function criuOf(cli: LiveCli, kind: 'dump' | 'restore', timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [pid] = criuProcesses(kind, cli.pid);
    if (pid) return pid;
    if (Date.now() > deadline) throw new Error(`no criu ${kind} under ${cli.pid}\n${cli.stderr.slice(-2000)}`);
    await sleep(5);
  }
}

function checkpointDirs(runs: string): string[] {
  const out: string[] = [];
  for (const run of fs.existsSync(runs) ? fs.readdirSync(runs) : []) {
    const base = path.join(runs, run, 'checkpoints');
    for (const d of fs.existsSync(base) ? fs.readdirSync(base) : []) out.push(path.join(base, d));
  }
  return out;
}

function runJob(ws: string, runs: string, extra: string[], args: string[] = [], env: NodeJS.ProcessEnv = {}): LiveCli {
  return new LiveCli(['run', '--interval', '0.3', '--working-dir', runs, '--base-url', model.url, '--model', 'test-model', ...extra, 'job.py', ...args], { cwd: ws, env: cleanEnv(env) });
}

describe('faults during a checkpoint', () => {
  test('the program killed with SIGKILL during a dump: its status, no warning storm, nothing left', async () => {
    const ws = workspace('hold.py');
    const runs = tempDir('axl-runs-');
    const cli = new LiveCli(['run', '--no-agent', '--interval', '0.3', '--working-dir', runs, 'hold.py', '300', '100'], { cwd: ws });
    await cli.waitStdout(/allocated 300 MB/);
    const pid = await programPid(cli, 'hold.py');
    await criuOf(cli, 'dump');
    process.kill(pid, 'SIGKILL');
    const res = await cli.result();
    assert.equal(res.status, 137, res.stderr);
    assert.match(res.stderr, /axolotl: the program was killed by SIGKILL\n/);
    assert.doesNotMatch(res.stderr, /internal error|checkpoint failed/);
    for (const d of checkpointDirs(runs)) assert.ok(fs.existsSync(path.join(d, 'axolotl.json')), `incomplete image folder left: ${d}`);
    await assertNoProcesses([ws, runs]);
  });

  test('criu killed in the middle of a dump: one warning, the program runs on, later checkpoints work', async () => {
    const ws = workspace('hold.py');
    const runs = tempDir('axl-runs-');
    const cli = new LiveCli(['run', '--no-agent', '--interval', '0.5', '--working-dir', runs, 'hold.py', '300', '40'], { cwd: ws });
    await cli.waitStdout(/allocated 300 MB/);
    const criu = await criuOf(cli, 'dump');
    await sleep(40); // well inside the dump (a 300 MB dump takes a few hundred ms)
    process.kill(criu, 'SIGKILL');
    const res = await cli.result();
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /tick 39\nchecksum \d+\n$/);
    assert.equal(res.stdout.match(/^tick /gm)?.length, 40, 'every tick printed once');
    assert.match(res.stderr, /axolotl: checkpoint failed: criu could not checkpoint process \d+: criu was killed/);
    const [run] = fs.readdirSync(runs);
    const kept = listCheckpoints(path.join(runs, run));
    assert.ok(kept.length >= 2, `later checkpoints were taken: ${kept.map((c) => c.id).join(',')}`);
    for (const d of checkpointDirs(runs)) assert.ok(fs.existsSync(path.join(d, 'axolotl.json')), `incomplete image folder left: ${d}`);
    await assertNoProcesses([ws, runs]);
  });

  test('disk full during a dump (20 MB tmpfs as --working-dir): one clear warning, the run completes', async (t) => {
    const ws = workspace('hold.py');
    const mnt = tempDir('axl-tmpfs-');
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mnt], { encoding: 'utf8' });
    assert.equal(m.status, 0, `mount tmpfs: ${m.stderr}`);
    t.after(() => { spawnSync('umount', ['-l', mnt]); });
    const cli = new LiveCli(['run', '--no-agent', '--interval', '0.2', '--working-dir', mnt, 'hold.py', '64', '30'], { cwd: ws });
    const res = await cli.result();
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout.match(/^tick /gm)?.length, 30);
    const warnings = res.stderr.match(/checkpoint failed/g) ?? [];
    assert.equal(warnings.length, 1, `one warning, not one per interval:\n${res.stderr}`);
    assert.match(res.stderr, /axolotl: checkpoint failed: the disk is full: no space left for the checkpoint images in .*\nFree some space or choose another folder with --working-dir\./);
    assert.deepEqual(checkpointDirs(mnt).filter((d) => !fs.existsSync(path.join(d, 'axolotl.json'))), [], 'partial images removed');
    await assertNoProcesses([ws, mnt]);
  });
});

describe('faults at a restore', () => {
  /**
   * Runs job.py until the repair is proposed, with `damage` applied to the run folder first. Checkpoints
   * are criu images here (AXOLOTL_SNAPSHOTS=0): a snapshot held in memory has no folder to damage.
   */
  async function repairWith(damage: (runDir: string) => void, extra: string[] = []) {
    const ws = workspace('job.py');
    const runs = tempDir('axl-runs-');
    const before = readTree(ws);
    const server = await ModelServer.start({
      handler: () => {
        const [run] = fs.readdirSync(runs);
        damage(path.join(runs, run));
        return FIX;
      },
    });
    try {
      const cli = new LiveCli(['run', '--yes', '--interval', '0.3', '--working-dir', runs, '--base-url', server.url, '--model', 'test-model', ...extra, 'job.py'],
        { cwd: ws, env: cleanEnv({ AXOLOTL_SNAPSHOTS: '0' }) });
      const res = await cli.result();
      return { ws, runs, before, res };
    } finally {
      await server.close();
    }
  }

  const lastOrdinary = (runDir: string) => listCheckpoints(runDir).filter((c) => !c.atCrash).pop()!;

  test('the checkpoint folder deleted before the rewind: refused before anything stops, the repair resumes from the one before', async () => {
    const { ws, runs, res } = await repairWith((runDir) => fs.rmSync(lastOrdinary(runDir).dir!, { recursive: true }));
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stderr, /axolotl: checkpoint (\d+) cannot be restored: its folder .* is gone; trying an earlier checkpoint\n[^]*axolotl: restored checkpoint (?!\1\b)\d+ /);
    assert.match(res.stdout, new RegExp(`item 5: 0\\.0\\n[^]*done: ${FIXED_TOTAL}\\n$`));
    assert.equal(res.stdout.match(/prologue/g)?.length, 1);
    assert.match(fs.readFileSync(path.join(ws, 'job.py'), 'utf8'), /if not values:/);
    await assertNoProcesses([ws, runs]);
  });

  test('damaged process tree image: refused before anything stops, the repair resumes from the one before', async () => {
    const { ws, runs, res } = await repairWith((runDir) => fs.writeFileSync(path.join(lastOrdinary(runDir).dir!, 'pstree.img'), 'garbage'));
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stderr, /axolotl: checkpoint \d+ cannot be restored: its images are damaged \(pstree\.img is not a criu process tree image\); trying an earlier checkpoint\n/);
    assert.match(res.stderr, /axolotl: restored checkpoint \d+ /);
    assert.match(res.stdout, new RegExp(`done: ${FIXED_TOTAL}\\n$`));
    await assertNoProcesses([ws, runs]);
  });

  test('damaged memory image (criu itself fails): the run ends with criu\'s reason, sources kept, nothing left', async () => {
    const { ws, runs, before, res } = await repairWith((runDir) => {
      const dir = lastOrdinary(runDir).dir!;
      const core = fs.readdirSync(dir).find((f) => f.startsWith('core-'))!;
      fs.writeFileSync(path.join(dir, core), 'garbage');
    });
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, /axolotl: criu could not restore checkpoint \d+\n/);
    assert.match(res.stderr, /The program was stopped for the restore and is not running any more\./);
    assert.doesNotMatch(res.stderr, /internal error/);
    // The accepted repair is on disk and the original is kept beside the run.
    assert.match(fs.readFileSync(path.join(ws, 'job.py'), 'utf8'), /if not values:/);
    const [run] = fs.readdirSync(runs);
    assert.equal(fs.readFileSync(path.join(runs, run, 'repairs', '1', 'originals', '0', 'job.py'), 'utf8'), before['job.py']);
    await assertNoProcesses([ws, runs]);
  });

  test('a PID the checkpoint needs taken by another process: `axolotl restore` refuses, naming it', async () => {
    const ws = workspace('hold.py');
    const runs = tempDir('axl-runs-');
    const first = await new LiveCli(['run', '--no-agent', '--interval', '0.2', '--working-dir', runs, 'hold.py', '20', '8'], { cwd: ws }).result();
    assert.equal(first.status, 0, first.stderr);
    const [run] = fs.readdirSync(runs);
    const runDir = path.join(runs, run);
    const [c] = listCheckpoints(runDir);
    // Take the PID with /proc/sys/kernel/ns_last_pid (retrying while other processes race for it).
    const squatter = spawn('python3', [path.join(RELIABILITY, 'take_pid.py'), String(c.pid)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const got = await new Promise<string>((resolve) => squatter.stdout!.once('data', (d: Buffer) => resolve(d.toString())));
      assert.match(got, new RegExp(`^holding ${c.pid}\\n`), got);
      const res = await new LiveCli(['restore', runDir, String(c.id)], { cwd: ws }).result();
      assert.equal(res.status, 2, res.stderr);
      assert.match(res.stderr, new RegExp(`^axolotl: checkpoint ${c.id} cannot be restored now: process ID ${c.pid} is taken by another process: .*take_pid\\.py.* \\(pid ${c.pid}\\)\\nA restored program gets back its own process IDs\\.`));
      assert.ok(isRunning(c.pid), 'the other process was left alone');
    } finally {
      squatter.kill('SIGKILL');
    }
    await assertNoProcesses([ws, runs, 'take_pid.py']);
  });
});

describe('the reader of the output goes away', () => {
  test('`axolotl run … | head -3`: the program is stopped, status 141 (SIGPIPE), no stack trace, nothing left', async () => {
    const ws = workspace('hold.py');
    const cmd = `'${process.execPath}' '${CLI}' run --interval 0.2 --working-dir '${tempDir('axl-runs-')}' hold.py 10 1000 | head -3; echo "status \${PIPESTATUS[0]}" >&2`;
    const res = spawnSync('bash', ['-c', cmd], { cwd: ws, env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
    assert.equal(res.stdout, 'allocated 10 MB\ntick 0\ntick 1\n');
    assert.match(res.stderr, /status 141\n$/);
    assert.doesNotMatch(res.stderr, /EPIPE|internal error|at .*\.js:\d+/);
    await assertNoProcesses([ws]);
  });
});

describe('stdin at end-of-file when the checkpoint is taken', () => {
  // criu 4.1 hangs forever restoring a half-closed stdin socket when it is handed a new one
  // (--inherit-fd): `axolotl run x.py < /dev/null`, CI, and every debug session hit this.
  for (const agent of [false, true]) {
    test(`restores neither hang nor fail, three times in a row${agent ? ' (with the agent)' : ''}`, async (t) => {
      const criu = await requireCriu();
      const sup = new Supervisor(runOptions('count.py', { args: ['400', '0', '0.05'], agent }), { criu });
      t.after(() => sup.stop());
      const out = new OutputLog(sup);
      await sup.start();
      sup.endStdin();
      const [c] = (await waitForEvent(sup, 'checkpoint')) as [Checkpoint & { stdinClosed?: boolean }];
      assert.equal(c.stdinClosed, true, 'recorded with the checkpoint');
      for (let round = 0; round < 3; round++) {
        const from = out.text.length;
        const t0 = Date.now();
        await sup.restore(c.id);
        assert.ok(Date.now() - t0 < 10_000, `round ${round}: restore took ${Date.now() - t0} ms`);
        await out.waitFor(/count \d+/, from);
      }
      // A checkpoint of a restored copy is half-closed too, and restores as well.
      const [d] = (await waitForEvent(sup, 'checkpoint')) as [Checkpoint & { stdinClosed?: boolean }];
      assert.equal(d.stdinClosed, true);
      const from = out.text.length;
      await sup.restore(d.id);
      await out.waitFor(/count \d+/, from);
      await sup.stop();
      await assertNoProcesses([sup.runDir]);
    });
  }
});

// Whatever a test above left running in one of its workspaces fails the file.
after(() => assertNothingLeftRunning());
