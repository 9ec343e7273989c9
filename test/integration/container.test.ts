// Container mode on real parts: podman 4.3 and runc from Debian 12, the criu this project proved,
// a Debian root filesystem with python3 built offline and imported with `podman import`
// (scripts/install-containers.sh), real processes and a real local model server.
//   - crash → repair → restore → the finished output equals a clean run in the same image, the fix is
//     on disk on the host, and the file the program held open is rewound with the container;
//   - a rewind to an earlier checkpoint, while later ones exist;
//   - `axolotl restore` continues a container run in a later session;
//   - nothing is left running afterwards (no container, conmon, runc's criu, podman), also when the
//     CLI is SIGKILLed, and a clear error when a piece (criu) is missing.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { chooseBackend } from '../../adapter/engine/backendChoice';
import type { RepairProposal } from '../../adapter/engine/repairFlow';
import { findCriu } from '../../adapter/engine/criuLocator';
import { findPodmanTools, podmanEnv, scratchDir } from '../../adapter/engine/podman';
import { Supervisor } from '../../adapter/engine/supervisor';
import type { Checkpoint, RunOptions } from '../../adapter/engine/types';
import { OutputLog, PROGRAMS, REPO, processesMatching, requireCriu, tempDir, waitForEvent } from '../support/engineHelpers';
import { ModelServer } from '../../dev/modelServer';
import { LiveCli, cleanEnv, cmdline, sleep } from '../support/reliabilityHelpers';

const FIXTURES = path.join(REPO, 'test', 'fixtures', 'container');
const TEST_TIMEOUT_MS = 240_000;

let image = '';
let podman = '';
let env: Record<string, string> = {};

before(async () => {
  await requireCriu();
  // Installs podman and runc when missing and builds the image once (cached): quick when done before.
  const out = execFileSync('bash', [path.join(REPO, 'scripts', 'install-containers.sh')], { encoding: 'utf8', timeout: 15 * 60_000 });
  image = out.trim().split('\n').pop()!;
  const { tools } = findPodmanTools();
  assert.ok(tools, 'podman, runc and catatonit are installed');
  podman = tools.podman;
  const criu = (await findCriu())!;
  env = podmanEnv({ path: criu.path, env: criu.proof.env }, scratchDir());
});

/** Engines started by this file (CLI process IDs), whose containers must all be gone. */
const engines = new Set<number>();

afterEach(async () => {
  for (const pid of engines) await assertNothingLeft(pid);
  engines.clear();
});

after(() => {
  // a last look: no criu run by runc anywhere is still there
  assert.deepEqual(runcCriu(), [], 'no criu left by runc');
});

// ---------------------------------------------------------------- helpers

function project(...files: string[]): string {
  const dir = fs.realpathSync(tempDir('axl-ctr-'));
  for (const f of files) fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
  return dir;
}

function cli(args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): LiveCli {
  const c = new LiveCli(args, { cwd, env: cleanEnv(extraEnv) });
  engines.add(c.pid);
  return c;
}

function containersOf(engine: number): string[] {
  const r = spawnSync(podman, ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8', env: { ...process.env, ...env } });
  return r.stdout.split('\n').filter((n) => n.startsWith(`axolotl-${engine}-`));
}

/** criu processes runc started (`criu swrk`: runc's mode, used by nothing else here). */
function runcCriu(): string[] {
  return processesMatching('\0swrk\0').map((p) => `${p}: ${cmdline(p)}`);
}

/** No container of `engine`, no conmon, podman or keeper command naming one, no criu of runc's. */
async function assertNothingLeft(engine: number, graceMs = 15_000): Promise<void> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left = [
      ...containersOf(engine).map((n) => `container ${n}`),
      ...processesMatching(`axolotl-${engine}-`).map((p) => `${p}: ${cmdline(p)}`),
      ...runcCriu(),
    ];
    if (!left.length) return;
    if (Date.now() > deadline) assert.fail(`left behind by engine ${engine}:\n${left.join('\n')}`);
    await sleep(200);
  }
}

/** The script run from scratch in the same image, as a user would without Axolotl. */
function cleanRun(dir: string, script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(podman, ['run', '--rm', '--runtime', 'runc', '--network', 'none', '-v', `${dir}:${dir}`, '-w', dir, image, 'python3', script],
    { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runDirOf(workingDir: string): string {
  const runs = fs.readdirSync(workingDir).filter((d) => d.startsWith('run-'));
  assert.equal(runs.length, 1, runs.join(', '));
  return path.join(workingDir, runs[0]);
}

// ---------------------------------------------------------------- tests

describe('axolotl run --container', () => {
  test('a crash is repaired and the container restored from a checkpoint: the output equals a clean run, the fix is on the host', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project('job.py');
    const model = await ModelServer.start({ replies: [fs.readFileSync(path.join(FIXTURES, 'reply.md'), 'utf8')] });
    try {
      const run = cli(['run', '--yes', '--verbose', '--base-url', model.url, '--model', 'test-model', '--container', image,
        '--interval', '0.5', '--pause-budget', '0', 'job.py'], dir);
      const res = await run.result(180_000);
      const show = `status ${res.status}\n--- stdout\n${res.stdout}\n--- stderr\n${res.stderr}`;
      assert.equal(res.status, 0, show);
      // the repair was written on the host, byte for byte
      const fixed = fs.readFileSync(path.join(FIXTURES, 'job-fixed.py'), 'utf8');
      assert.equal(fs.readFileSync(path.join(dir, 'job.py'), 'utf8'), fixed);
      // the crash and the prompt name the user's file at its own path (the workspace is mounted there)
      assert.match(res.stderr, new RegExp(`at ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/job\\.py:28 in <module>\\(\\)`), show);
      assert.ok(model.chatRequests.length === 1 && JSON.stringify(model.chatRequests[0].body).includes(`File \\"${dir}/job.py\\", line 28`), 'the prompt names the host path');
      assert.match(res.stderr, /axolotl: restored checkpoint \d+ in \d+ ms with repair 1\n/, show);
      assert.match(res.stderr, /axolotl: ✓ the repaired program ran past the crash point\n/, show);
      assert.doesNotMatch(res.stderr, /checkpoint failed|could not/, show);
      // what a clean run of the fixed job prints in the same image, and what it leaves in progress.log
      const progress = fs.readFileSync(path.join(dir, 'progress.log'), 'utf8');
      const clean = cleanRun(dir, 'job.py');
      assert.equal(clean.status, 0, clean.stderr);
      assert.equal(res.stdout, clean.stdout, show);
      assert.match(res.stdout, /^in a container: True$/m, 'the job ran in the container');
      assert.equal((res.stdout.match(/prologue/g) ?? []).length, 1, 'work before the checkpoint was not redone');
      assert.equal(progress, fs.readFileSync(path.join(dir, 'progress.log'), 'utf8'), 'the held-open log was rewound: each item once, as in a clean run');
      // the checkpoints are podman archives in the run folder
      const cps = fs.readdirSync(path.join(runDirOf(path.join(dir, '.axolotl')), 'checkpoints'));
      assert.ok(cps.some((c) => fs.existsSync(path.join(dir, '.axolotl', path.basename(runDirOf(path.join(dir, '.axolotl'))), 'checkpoints', c, 'container.tar'))), cps.join(', '));
    } finally {
      await model.close();
    }
  });

  test('axolotl restore continues an interrupted container run in a later session', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project('counter.py');
    const first = cli(['run', '--verbose', '--container', image, '--interval', '0.5', '--pause-budget', '0', 'counter.py'], dir);
    await first.waitStderr(/axolotl: checkpoint 3 ·/, 120_000);
    first.signal('SIGINT');
    const stopped = await first.result(60_000);
    assert.equal(stopped.status, 130, stopped.stderr);
    assert.doesNotMatch(stopped.stdout, /total/, 'interrupted before the end');
    await assertNothingLeft(first.pid);

    const runDir = runDirOf(path.join(dir, '.axolotl'));
    const later = cli(['restore', runDir, '--verbose'], dir);
    const res = await later.result(120_000);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stderr, /axolotl: restored checkpoint \d+ in \d+ ms/);
    assert.equal(res.stdout, 'total: 780\n', 'the run finished from the checkpoint: no prologue again, the right sum');
  });

  test('the exit status is the program\'s: a status, a signal, an exception without the agent, a program that ends at once', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project('exits.py');
    const status = await cli(['run', '--container', image, 'exits.py', '7'], dir).result(60_000);
    assert.equal(status.status, 7, status.stderr);
    assert.equal(status.stdout, 'hi\n');
    const segv = await cli(['run', '--container', image, 'exits.py', 'segv'], dir).result(60_000);
    assert.equal(segv.status, 139, segv.stderr);
    assert.match(segv.stderr, /axolotl: the program was killed by SIGSEGV/);
    // without the agent the crash is seen in stderr once the program has ended (at once, here)
    const raised = await cli(['run', '--no-agent', '--container', image, 'exits.py', 'raise'], dir).result(60_000);
    assert.equal(raised.status, 1, raised.stderr);
    assert.match(raised.stderr, /ValueError: boom\naxolotl: the program crashed:/);
    const noPython = await cli(['run', '--python', '/usr/bin/python9', '--container', image, 'exits.py', '3'], dir).result(60_000);
    assert.notEqual(noPython.status, 0);
    assert.match(noPython.stderr, /axolotl: the container could not run \/usr\/bin\/python9 \(No such file or directory\): give the interpreter inside the image with --python/);
  });

  test('the program cannot change its checkpoints or what runc and criu run as root; its workspace and journal it can', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project('reach.py');
    const res = await cli(['run', '--container', image, 'reach.py'], dir).result(60_000);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout, 'checkpoints: refused\nrun folder: refused\njournal: writable\nworkspace: writable\nengine files visible: False\n');
  });

  test('input reaches the program in the container, to its end; a container an earlier engine left is removed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project('echo.py');
    // left by an engine that is gone (its PID and start time name no process)
    const orphan = `axolotl-orphan-${process.pid}`;
    const made = spawnSync(podman, ['create', '--name', orphan, '--label', 'dev.axolotl.owner=999999999:1', image, 'true'], { encoding: 'utf8', env: { ...process.env, ...env } });
    assert.equal(made.status, 0, made.stderr);
    const run = new LiveCli(['run', '--verbose', '--container', image, 'echo.py'], { cwd: dir, env: cleanEnv(), stdin: 'pipe' });
    engines.add(run.pid);
    run.child.stdin!.end('first\nsecond \u0010\u0011 bytes\n');
    const res = await run.result(60_000);
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout, 'got first\ngot second \u0010\u0011 bytes\nend of input after 2 lines\n');
    assert.match(res.stderr, new RegExp(`removed 1 container\\(s\\) left by an earlier run: ${orphan}`));
    const left = spawnSync(podman, ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8', env: { ...process.env, ...env } }).stdout;
    assert.ok(!left.includes(orphan), left);
  });

  test('SIGKILL of the engine: the session keeper removes the container', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project('ticker.py');
    const run = cli(['run', '--container', image, '--interval', '0.5', '--pause-budget', '0', 'ticker.py'], dir);
    await run.waitStdout(/tick 5\n/, 120_000);
    assert.equal(containersOf(run.pid).length, 1, 'the container runs');
    run.signal('SIGKILL');
    await run.result(30_000);
    await assertNothingLeft(run.pid, 60_000);
  });

  test('a missing piece is said before anything starts: no proven criu for runc', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project('counter.py');
    const run = cli(['run', '--container', image, 'counter.py'], dir, { AXOLOTL_CRIU: '/nonexistent/criu' });
    const res = await run.result(60_000);
    assert.equal(res.status, 2, res.stderr);
    assert.match(res.stderr, /runc needs criu to checkpoint a container, and criu is not installed/);
    assert.equal(res.stdout, '');
    assert.deepEqual(containersOf(run.pid), []);
  });

  test('an image that is not on this machine is said before anything starts', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project('counter.py');
    const res = await cli(['run', '--container', 'localhost/no-such-image:1', 'counter.py'], dir).result(60_000);
    assert.equal(res.status, 2, res.stderr);
    assert.match(res.stderr, /the image localhost\/no-such-image:1 is not on this machine/);
  });

  test('axolotl doctor covers container mode', { timeout: TEST_TIMEOUT_MS }, async () => {
    const res = await cli(['doctor'], tempDir()).result(120_000);
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /✓ podman +\/\S+podman \(version 4\.\d+\.\d+\), runc \S+ \(\/\S+runc\)/);
    assert.match(res.stdout, /✓ runc criu +runc will run \S+criu/);
    assert.match(res.stdout, /✓ containers +axolotl run --container IMAGE can checkpoint here/);
  });
});

describe('the container backend in the engine', () => {
  test('a rewind to an earlier checkpoint while later ones exist; the held-open file and the rewritten one rewind too', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project('ticker.py');
    const opts: RunOptions = {
      program: path.join(dir, 'ticker.py'), args: [], cwd: dir, env: {}, python: 'python3', interval: 0.5, pauseBudget: 0,
      workingDir: path.join(dir, '.axolotl'), backend: 'auto', agent: true, root: dir, verbose: false,
      container: { image, mounts: [], env: {}, python: 'python3' },
    };
    const choice = await chooseBackend('auto', process.env, opts);
    assert.equal(choice.kind, 'container');
    const sup = new Supervisor(opts, choice.deps);
    const out = new OutputLog(sup);
    const taken: Checkpoint[] = [];
    sup.on('checkpoint', (c) => { if (!c.atCrash) taken.push(c); });
    engines.add(process.pid);
    let stopped = false;
    try {
      await sup.start();
      await waitForEvent(sup, 'checkpoint', () => taken.length >= 3, 120_000);
      const first = taken[0];
      assert.equal(first.backend, 'container');
      const at = Number(/tick (\d+)/.exec(first.lastOutput ?? '')?.[1] ?? 0);
      const before = Number([...out.text.matchAll(/tick (\d+)/g)].pop()![1]);
      assert.ok(before > at + 5, `ran on well past checkpoint ${first.id} (tick ${at} → ${before})`);
      // The old copy prints until it is stopped: the restored one's lines come after the `restored` event.
      let mark = Infinity;
      sup.once('restored', () => { mark = out.text.length; });
      const restored = waitForEvent(sup, 'restored');
      await sup.restore(first.id);
      const [ev] = await restored;
      assert.equal(ev.checkpoint.id, first.id);
      assert.ok(Number.isFinite(mark));
      // the next tick is the one after the checkpoint (a few may have run between the dump's start and the freeze)
      const next = Number((await out.waitFor(/tick (\d+)\n/, mark, 30_000))[1]);
      assert.ok(next > at && next <= at + 6 && next < before, `resumed at tick ${next}: after checkpoint ${first.id} (tick ${at}), before the rewind (tick ${before})`);
      await out.waitFor(new RegExp(`tick ${next + 5}\\n`), mark, 30_000);
      await sup.stop();
      stopped = true;
      // ticks.txt was held open: rewound with the container, so every tick is there once, in order
      const ticks = fs.readFileSync(path.join(dir, 'ticks.txt'), 'utf8').trim().split('\n').map(Number);
      assert.deepEqual(ticks, ticks.map((_, i) => i + 1), 'ticks.txt counts 1, 2, 3… without a gap or a repeat');
      assert.ok(ticks.length >= next + 5);
      const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as { n: number };
      assert.ok(state.n === ticks.length || state.n === ticks.length - 1, `state.json (${state.n}) matches ticks.txt (${ticks.length})`);
    } finally {
      if (!stopped) await sup.stop();
    }
    const left = spawnSync(podman, ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8', env: { ...process.env, ...env } }).stdout;
    assert.ok(!left.includes(`axolotl-${process.pid}-`), `no container left: ${left}`);
  });
});

describe('the debug adapter with a "container" launch attribute', () => {
  const FIX = 'Shard 5 is empty: skip it.\n\n```diff\n--- a/shards.py\n+++ b/shards.py\n@@ -12,3 +12,5 @@\n def summarize(values):\n     # the bug: an empty shard\n' +
    '+    if not values:\n+        return {"n": 0, "mean": None}\n     return {"n": len(values), "mean": sum(values) / len(values)}\n```\n';

  test('crash stop with the stack of the user\'s file, repair, restore in the container, the program finishes; the timeline says container', { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = project();
    const program = path.join(dir, 'shards.py');
    fs.copyFileSync(path.join(PROGRAMS, 'shards.py'), program);
    const model = await ModelServer.start({ fallback: FIX });
    const dc = new DebugClient(process.execPath, path.join(REPO, 'dist', 'adapter.js'), 'axolotl', { env: { ...process.env } }, true);
    await dc.start();
    engines.add((dc as unknown as { _adapterProcess?: { pid: number } })._adapterProcess?.pid ?? 0);
    let consoleText = '';
    let stdout = '';
    const sessions: Array<{ backend: string }> = [];
    const checkpoints: Array<{ backend?: string }> = [];
    dc.on('output', (e: DebugProtocol.OutputEvent) => {
      if (e.body.category === 'stdout') stdout += e.body.output;
      else consoleText += e.body.output;
    });
    dc.on('axolotl/timeline', (e: DebugProtocol.Event) => {
      const u = e.body as { type: string; session?: { backend: string }; checkpoint?: { backend?: string }; change?: string };
      if (u.type === 'session' && u.session) sessions.push(u.session);
      if (u.type === 'checkpoint' && u.change === 'added' && u.checkpoint) checkpoints.push(u.checkpoint);
    });
    try {
      const proposed = dc.waitForEvent('axolotl/repairProposed', 120_000);
      proposed.catch(() => undefined);
      const [, , stopped] = await Promise.all([
        dc.configurationSequence(),
        dc.launch({ program, checkpointInterval: 0.4, pauseBudget: 0, repair: { baseUrl: model.url }, container: { image } }),
        dc.waitForEvent('stopped', 120_000) as Promise<DebugProtocol.StoppedEvent>,
      ]);
      assert.equal(stopped.body.reason, 'exception');
      assert.match(consoleText, new RegExp(`axolotl: python3 in a container of ${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      const st = await dc.stackTraceRequest({ threadId: 1 });
      assert.equal(st.body.stackFrames[0].name, 'summarize');
      assert.equal(st.body.stackFrames[0].source?.path, program, 'the frame names the file on the host');
      assert.equal(st.body.stackFrames[0].line, 14);
      const repair = (await proposed).body as RepairProposal;
      const terminated = dc.waitForEvent('terminated', 120_000);
      const applied = await dc.customRequest('axolotl/applyRepair', { repairId: repair.repairId, files: { [program]: repair.files[0].proposed }, written: false });
      assert.ok(applied.body.restoredCheckpoint >= 1, 'resumed from a checkpoint');
      await terminated;
      assert.match(stdout, /done: 8 shards\n/);
      assert.equal(stdout.match(/prologue/g)?.length, 1, 'the restored container did not start over');
      assert.match(fs.readFileSync(program, 'utf8'), /if not values:/);
      assert.deepEqual(sessions.map((x) => x.backend), ['container']);
      assert.ok(checkpoints.length > 0 && checkpoints.every((c) => c.backend === 'container'), JSON.stringify(checkpoints));
    } finally {
      await dc.stop();
      await model.close();
    }
  });
});
