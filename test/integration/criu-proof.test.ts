// A criu that passes `criu check` but does not work, as seen on some kernels of this machine kind:
// one that hangs in every dump, one that resumes a stopped task during the dump, one that fails every
// dump (test/fixtures/criu/fake-criu.sh, which runs everything else through the real criu). Each is
// met twice: failing the proof of a real dump and restore (so the run uses fork snapshots, says so once,
// and doctor explains), and passing it but failing later, in real use (the dump watchdog, the go token
// of snapshots and the fallbacks). Every run must end in bounded time with the right result, print no
// line twice before its crash, and leave nothing in /proc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelServer } from '../../dev/modelServer';
import { CLI, REPO, processesMatching, requireCriu, tempDir } from '../support/engineHelpers';
import { LiveCli, RELIABILITY, assertNoProcesses, cleanEnv, criuProcesses, workspace } from '../support/reliabilityHelpers';

const FAKE = path.join(REPO, 'test', 'fixtures', 'criu', 'fake-criu.sh');
const FIX = fs.readFileSync(path.join(RELIABILITY, 'fix.md'), 'utf8');
const ITEMS = 24;
/** job.py's result once repaired: item 5 is empty and counts 0. */
const FIXED_TOTAL = Array.from({ length: ITEMS }, (_, i) => (i === 5 ? 0 : i * 10 + 1.5)).reduce((a, b) => a + b, 0);

let real: string;
let model: ModelServer;
before(async () => {
  real = await requireCriu();
  model = await ModelServer.start({ fallback: FIX });
});
after(async () => { await model.close(); });

type Fault = 'hang' | 'resume' | 'fail';

/** The environment of a run under a fake criu; its own cache, so no proof is shared between cases. */
function fakeEnv(fault: Fault, scope: 'all' | 'program', cache = tempDir('axl-cache-')): NodeJS.ProcessEnv {
  return cleanEnv({
    AXOLOTL_CRIU: FAKE, AXOLOTL_REAL_CRIU: real, AXOLOTL_FAKE_CRIU_FAULT: fault, AXOLOTL_FAKE_CRIU_SCOPE: scope, XDG_CACHE_HOME: cache,
  });
}

/** job.py under `axolotl run --yes`, crashing at item 5 and repaired by the local model. */
async function runJob(env: NodeJS.ProcessEnv, extra: string[] = []): Promise<{ status: number | null; stdout: string; stderr: string; ms: number; ws: string }> {
  const ws = workspace('job.py');
  const runs = tempDir('axl-runs-');
  const started = Date.now();
  const cli = new LiveCli(['run', '--yes', '--interval', '0.3', '--working-dir', runs, '--base-url', model.url, '--model', 'test-model', ...extra,
    'job.py', String(ITEMS), '0.25'], { cwd: ws, env });
  const res = await cli.result(150_000);
  await assertNoProcesses([ws, runs]);
  assert.deepEqual(criuProcesses('dump', undefined).concat(criuProcesses('restore', undefined)).filter((p) => cmdlineHas(p, runs)), [], 'no criu left');
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, ms: Date.now() - started, ws };
}

function cmdlineHas(pid: number, needle: string): boolean {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle); } catch { return false; }
}

/**
 * The output is right: before the crash every item once and in order (a copy of the program running
 * beside it would print items twice), then from the rewind point on again, up to the repaired total.
 */
function assertRightOutput(stdout: string): void {
  const items = [...stdout.matchAll(/^item (\d+):/gm)].map((m) => Number(m[1]));
  // One rewind: items 0..k, then again from the checkpoint c <= k+1 on; each run of items consecutive.
  const rewinds = items.flatMap((n, i) => (i > 0 && n !== items[i - 1] + 1 ? [i] : []));
  assert.ok(rewinds.length <= 1, `items printed out of turn (a second copy of the program?): ${items.join(' ')}`);
  assert.equal(items[0], 0);
  if (rewinds.length) assert.ok(items[rewinds[0]] <= items[rewinds[0] - 1], `items ${items.join(' ')}`);
  assert.equal(items[items.length - 1], ITEMS - 1);
  assert.equal(stdout.match(/^prologue$/gm)?.length, 1, 'the prologue ran once');
  assert.match(stdout, new RegExp(`^done: ${FIXED_TOTAL.toFixed(1).replace('.', '\\.')}\\n?$`, 'm'));
  assert.equal(stdout.match(/^done:/gm)?.length, 1, 'one program finished, once');
}

describe('a criu that cannot dump here fails its proof', () => {
  for (const fault of ['hang', 'resume', 'fail'] as Fault[]) {
    test(`${fault}: doctor says why, --backend criu refuses, auto uses fork snapshots and says so once`, async () => {
      const cache = tempDir('axl-cache-');
      const t0 = Date.now();
      const doctor = spawnSync(process.execPath, [CLI, 'doctor'], { env: fakeEnv(fault, 'all', cache), encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL' });
      const proofMs = Date.now() - t0;
      assert.equal(doctor.status, 1, doctor.stdout + doctor.stderr);
      assert.match(doctor.stdout, /passes `criu check` but cannot checkpoint on this kernel/);
      assert.match(doctor.stdout, fault === 'fail' ? /criu dump failed/ : /did not finish within \d+ s|resumed a stopped process/);
      assert.match(doctor.stdout, /install-criu\.sh/);
      assert.ok(proofMs < 60_000, `the proof took ${proofMs} ms`);

      const ws = workspace('job.py');
      const refused = spawnSync(process.execPath, [CLI, 'run', '--backend', 'criu', '--working-dir', tempDir('axl-runs-'), 'job.py'], {
        cwd: ws, env: fakeEnv(fault, 'all', cache), encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL',
      });
      assert.equal(refused.status, 2, 'the status of an axolotl error');
      assert.match(refused.stderr, /cannot checkpoint on this kernel/);
      assert.doesNotMatch(refused.stdout, /prologue/, 'the program did not run');

      const run = await runJob(fakeEnv(fault, 'all', cache));
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stderr.match(/using fork snapshots/g)?.length, 1, run.stderr);
      assertRightOutput(run.stdout);
      assert.match(run.stderr, /restored checkpoint \d+/, 'resumed from a checkpoint, not in place');
    });
  }
});

describe('a criu that passes its proof and fails in real use', () => {
  test('hang: the watchdog kills the dump, criu is off for the run, the repair rewinds to a snapshot in memory', async () => {
    const run = await runJob(fakeEnv('hang', 'program'), ['--verbose']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr.match(/criu is off for the rest of this run/g)?.length, 1, run.stderr);
    assert.match(run.stderr, /it hung and was killed/);
    assertRightOutput(run.stdout);
    assert.match(run.stderr, /restored checkpoint \d+/);
    assert.ok(run.ms < 60_000, `the run took ${run.ms} ms`);
  });

  test('resume: a snapshot continued by criu asks the engine, is told to wait, and never runs', async () => {
    const run = await runJob(fakeEnv('resume', 'program'), ['--verbose']);
    assert.equal(run.status, 0, run.stderr);
    assertRightOutput(run.stdout);
    assert.match(run.stderr, /restored checkpoint \d+/);
    assert.ok(run.ms < 60_000, `the run took ${run.ms} ms`);
  });

  test('fail: the first failure makes checkpoints freeze the program, the second turns criu off', async () => {
    const run = await runJob(fakeEnv('fail', 'program'), ['--verbose']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /checkpoints now freeze the program/);
    assert.equal(run.stderr.match(/criu is off for the rest of this run/g)?.length, 1, run.stderr);
    assertRightOutput(run.stdout);
    assert.ok(run.ms < 60_000, `the run took ${run.ms} ms`);
  });
});

describe('scripts/install-criu.sh', () => {
  test('keeps the first candidate that passes a real dump and restore', () => {
    const prefix = tempDir('axl-prefix-');
    const t0 = Date.now();
    const r = spawnSync('bash', [path.join(REPO, 'scripts', 'install-criu.sh'), prefix], {
      encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL',
      env: { ...process.env, AXOLOTL_REAL_CRIU: real, AXOLOTL_FAKE_CRIU_FAULT: 'hang', AXOLOTL_CRIU_CANDIDATES: `path:${FAKE} path:${real}` },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /hung and was killed/);
    assert.equal(r.stdout.trim().split('\n').pop(), path.join(prefix, 'bin', 'criu'));
    assert.match(fs.readFileSync(path.join(prefix, 'bin', 'criu'), 'utf8'), new RegExp(`exec "${real.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`));
    assert.ok(Date.now() - t0 < 60_000);
  });

  test('installs nothing that fails: exit 1 and a clear message when no candidate works', () => {
    const prefix = tempDir('axl-prefix-');
    const r = spawnSync('bash', [path.join(REPO, 'scripts', 'install-criu.sh'), prefix], {
      encoding: 'utf8', timeout: 120_000, killSignal: 'SIGKILL',
      env: { ...process.env, AXOLOTL_REAL_CRIU: real, AXOLOTL_FAKE_CRIU_FAULT: 'fail', AXOLOTL_CRIU_CANDIDATES: `path:${FAKE}` },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no criu passed a real dump and restore/);
    assert.equal(fs.existsSync(path.join(prefix, 'bin', 'criu')), false);
  });
});

describe('the proof where the caller\'s session leader is out of sight', () => {
  // A CI runner or container: the pid namespace holds the test, not the session leader it inherited.
  // criu refuses a --shell-job task whose session leader it cannot see; the probe must not take that
  // for a broken criu (the program Axolotl checkpoints always leads a session of its own).
  test('a working criu passes the probe run in a new pid namespace, whatever its process group', () => {
    const probe = path.join(REPO, 'adapter', 'python', 'axolotl_criu_probe.py');
    // The probe in its parent's process group (it starts a session itself), or leading a group of its
    // own (it cannot: a child of it does).
    for (const ownGroup of [false, true]) {
      const code = `import os, subprocess, sys
sys.exit(subprocess.run([sys.executable, ${JSON.stringify(probe)}, ${JSON.stringify(real)}]${ownGroup ? ', preexec_fn=os.setpgrp' : ''}).returncode)`;
      const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'python3', '-c', code], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.equal(JSON.parse(r.stdout.trim()).ok, true);
    }
  });
});

describe('nothing is left behind', () => {
  test('the CLI SIGKILLed while criu hangs in a dump and snapshots are held: the keeper ends them all', async () => {
    const ws = workspace('job.py');
    const runs = tempDir('axl-runs-');
    // Item 5 crashes the job 3 s in; by item 3 a dump has hung for a while.
    const cli = new LiveCli(['run', '--interval', '0.2', '--working-dir', runs, '--no-repair', 'job.py', '200', '0.5'], { cwd: ws, env: fakeEnv('hang', 'program') });
    await cli.waitStdout(/item 3:/);
    const program = processesMatching(path.join(ws, 'job.py'));
    const hanging = processesMatching(`fake-criu hanging in ${runs}`);
    assert.ok(program.length >= 2, `the program and its held snapshots: ${program.join(' ')}`);
    assert.equal(hanging.length, 1, 'a dump hangs');
    process.kill(cli.pid, 'SIGKILL');
    await cli.done;
    await assertNoProcesses([ws, runs], 5000);
  });
});
