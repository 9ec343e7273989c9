// `axolotl run` / `axolotl restore` AS A NON-ROOT USER, through pkexec and the installed helper:
// real polkit, real criu running as the user with one capability, images in the root-owned store.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listCheckpoints } from '../../adapter/engine/runDir';
import { REPO, requireCriu } from '../support/engineHelpers';
import {
  assertNothingLeft, axolotlAs, cleanupHelperTests, setupHelperTests, storeOf, userDir, userEnv, type HelperTestEnv,
} from '../support/helperSetup';
import { ModelServer } from '../../dev/modelServer';

let env: HelperTestEnv;
before(async () => { env = await setupHelperTests(); });
after(async () => {
  if (!env) return;
  await assertNothingLeft(env.user.uid);
  cleanupHelperTests(env);
});

/** The test programs' plain output (python3 directly, as the test user). */
function plain(args: string[]): string {
  return spawnSync('/usr/bin/python3', args, { cwd: env.programs, uid: env.user.uid, gid: env.user.gid, env: userEnv(env.user), encoding: 'utf8' }).stdout;
}

function onlyRun(wd: string): string {
  const runs = fs.readdirSync(wd);
  assert.equal(runs.length, 1, `one run folder in ${wd}: ${runs.join(', ')}`);
  return path.join(wd, runs[0]);
}

interface Ref { run: string; checkpoint: number; uid: number }
function refOf(dir: string): Ref {
  return JSON.parse(fs.readFileSync(path.join(dir, 'helper.json'), 'utf8')) as Ref;
}

describe('axolotl as a non-root user, through the pkexec helper', () => {
  test('run: output and exit status pass through, checkpoints are taken, images live in the root-owned store', async () => {
    const wd = userDir(env);
    const res = axolotlAs(env, ['run', '--no-agent', '--verbose', '--python', '/usr/bin/python3', '--interval', '0.2', '--working-dir', wd, 'count.py', '15', '5', '0.05']);
    assert.equal(res.stdout, plain(['count.py', '15', '5', '0']), res.stderr);
    assert.equal(res.status, 5, res.stderr);
    assert.doesNotMatch(res.stderr, /fork snapshots|needs root/);
    const runDir = onlyRun(wd);
    assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')).backend, 'criu');
    const kept = listCheckpoints(runDir);
    assert.ok(kept.length >= 2, `checkpoints: ${kept.length}\n${res.stderr}`);
    for (const c of kept) {
      // The engine's folder holds the record and the helper's name for the image, never the image.
      assert.deepEqual(fs.readdirSync(c.dir!).sort(), ['axolotl.json', 'dump.log', 'helper.json']);
      assert.ok(c.bytes > 1e6 && c.frozenMs > 0, `checkpoint ${c.id}: ${c.bytes} bytes, frozen ${c.frozenMs} ms`);
      const ref = refOf(c.dir!);
      assert.equal(ref.uid, env.user.uid);
      const store = storeOf(env.user.uid);
      const img = path.join(store, ref.run, String(ref.checkpoint));
      for (const [p, mode] of [[path.dirname(store), 0o700], [store, 0o700], [path.dirname(img), 0o700], [img, 0o755]] as const) {
        const st = fs.lstatSync(p);
        assert.ok(st.isDirectory() && st.uid === 0 && st.gid === 0, `${p} is a root:root directory`);
        assert.equal(st.mode & 0o7777, mode, `${p} mode`);
      }
      const meta = fs.statSync(`${img}.json`);
      assert.ok(meta.uid === 0 && (meta.mode & 0o777) === 0o600, 'record root:root 0600');
      const files = fs.readdirSync(img);
      assert.ok(files.includes('pages-1.img') && files.some((f) => f.startsWith('core-')), files.join(' '));
      for (const f of files) {
        const st = fs.lstatSync(path.join(img, f));
        assert.ok(st.isFile() && st.uid === 0 && (st.mode & 0o777) === 0o644, `${f}: root:root 0644 regular file`);
      }
    }
    await assertNothingLeft(env.user.uid);
  });

  test('stdin reaches the program and its end is passed on', async () => {
    const wd = userDir(env);
    const child = spawn(process.execPath, [env.cli, 'run', '--no-agent', '--python', '/usr/bin/python3', '--interval', '0.2', '--working-dir', wd, 'echo_stdin.py'], {
      uid: env.user.uid, gid: env.user.gid, cwd: env.programs, env: userEnv(env.user), stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // Input is written once the program runs (a checkpoint of it exists): the engine does not hold
    // input that arrives before the program has started.
    await waitUntil(() => fs.readdirSync(wd).length === 1 && listCheckpoints(onlyRun(wd)).length >= 1, () => err);
    child.stdin.write('one\ntwo\n');
    await waitUntil(() => out.includes('got two'), () => err);
    child.stdin.end('three\n');
    assert.equal(await exited, 0, err);
    assert.equal(out, 'got one\ngot two\ngot three\n', err);
    await assertNothingLeft(env.user.uid);
  });

  test('with the agent: the program reaches the engine\'s socket; a crash is reported with its stack alive', async () => {
    const wd = userDir(env);
    const res = axolotlAs(env, ['run', '--no-repair', '--python', '/usr/bin/python3', '--interval', '0.3', '--working-dir', wd, 'crash_late.py']);
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, /ZeroDivisionError: division by zero/);
    assert.match(res.stderr, /the program is paused with its stack alive/);
    // The agent reached the engine's socket from the program running as the user.
    assert.ok(listCheckpoints(onlyRun(wd)).length >= 1, res.stderr);
    await assertNothingLeft(env.user.uid);
  });

  test('axolotl restore (a new helper session) continues from the checkpoint, twice, with the real exit status', async () => {
    const wd = userDir(env);
    const first = axolotlAs(env, ['run', '--no-agent', '--python', '/usr/bin/python3', '--interval', '0.3', '--working-dir', wd, 'count.py', '30', '7', '0.05']);
    assert.equal(first.status, 7, first.stderr);
    const runDir = onlyRun(wd);
    const kept = listCheckpoints(runDir);
    assert.ok(kept.length >= 2, first.stderr);
    const k = kept[0];
    const seen = Number(/count (\d+)/.exec(k.lastOutput ?? '')?.[1]);
    let resumed: string | undefined;
    for (let round = 0; round < 2; round++) {
      const res = axolotlAs(env, ['restore', runDir, String(k.id)]);
      assert.equal(res.status, 7, res.stderr);
      assert.match(res.stderr, new RegExp(`restored checkpoint ${k.id} in \\d+ ms`));
      assert.match(res.stdout, /done 435\n$/);
      const m = /^count (\d+) total (\d+)\n/.exec(res.stdout);
      assert.ok(m, `restored output starts mid-count: ${res.stdout.slice(0, 80)}`);
      const n = Number(m[1]);
      assert.ok(n > seen, `resumed at ${n}, after ${seen}`);
      assert.ok(n < 29, 'resumed before the end: a restore, not a rerun');
      assert.equal(Number(m[2]), (n * (n + 1)) / 2, 'the state came back');
      resumed ??= res.stdout;
      assert.equal(res.stdout, resumed, `round ${round}: same continuation`);
    }
    await assertNothingLeft(env.user.uid);
  });

  test('a crash is repaired and the run rewinds through the helper: the fixed code resumes from a checkpoint', async () => {
    // The demo's job and scripted model: shard 7 is empty and divides by zero; the reply fixes it.
    const wd = userDir(env);
    fs.copyFileSync(path.join(REPO, 'examples', 'shard_stats.py'), path.join(wd, 'shard_stats.py'));
    fs.chownSync(path.join(wd, 'shard_stats.py'), env.user.uid, env.user.gid);
    const script = JSON.parse(fs.readFileSync(path.join(REPO, 'examples', 'demo-model.json'), 'utf8')) as { replies: [] };
    const model = await ModelServer.start({ replies: script.replies });
    try {
      const child = spawn(process.execPath, [env.cli, 'run', '--yes', '--base-url', model.url, '--model', 'demo-model', '--python', '/usr/bin/python3',
        '--working-dir', path.join(wd, 'runs'), 'shard_stats.py'], { uid: env.user.uid, gid: env.user.gid, cwd: wd, env: userEnv(env.user), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
      assert.equal(status, 0, err);
      assert.match(err, /axolotl: crash: ZeroDivisionError: division by zero\n/);
      assert.match(err, /axolotl: restored checkpoint \d+ in \d+ ms with repair 1\n/, err);
      assert.match(err, /axolotl: ✓ the repaired program ran past the crash point\n/);
      assert.match(out, /shard 7: \{'n': 0, 'mean': None, 'max': None\}\n[^]*done: 10 shards, 9000 values\n$/);
      assert.equal(out.match(/^shard 0: /gm)?.length, 1, 'the shards before the checkpoint were not loaded again');
      const runDir = onlyRun(path.join(wd, 'runs'));
      assert.equal(JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')).backend, 'criu');
      assert.ok(listCheckpoints(runDir).every((c) => fs.existsSync(path.join(c.dir!, 'helper.json'))), 'checkpoints are the helper\'s');
    } finally {
      await model.close();
    }
    await assertNothingLeft(env.user.uid);
  });

  test('--max-saves 2: evicted checkpoints are deleted from the store too', async () => {
    const wd = userDir(env);
    const res = axolotlAs(env, ['run', '--no-agent', '--python', '/usr/bin/python3', '--interval', '0.1', '--max-saves', '2', '--working-dir', wd, 'count.py', '40', '0', '0.05']);
    assert.equal(res.status, 0, res.stderr);
    const kept = listCheckpoints(onlyRun(wd));
    assert.equal(kept.length, 2);
    const refs = kept.map((c) => refOf(c.dir!));
    assert.ok(refs[1].checkpoint >= 4, `several checkpoints were taken (last ${refs[1].checkpoint})`);
    const runStore = path.join(storeOf(env.user.uid), refs[0].run);
    assert.deepEqual(fs.readdirSync(runStore).sort(), refs.flatMap((r) => [String(r.checkpoint), `${r.checkpoint}.json`]).sort());
    await assertNothingLeft(env.user.uid);
  });

  test('Ctrl-C in the terminal stops the program, criu and the helper', async () => {
    const wd = userDir(env);
    // Its own process group, like a shell job: the terminal's SIGINT reaches the CLI and the helper
    // (which ignores it and is stopped by the engine); the program has its own session.
    const child = spawn(process.execPath, [env.cli, 'run', '--no-agent', '--python', '/usr/bin/python3', '--interval', '0.2', '--working-dir', wd, 'count.py', '1000', '0', '0.02'], {
      uid: env.user.uid, gid: env.user.gid, cwd: env.programs, env: userEnv(env.user), detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    await waitUntil(() => fs.readdirSync(wd).length === 1 && listCheckpoints(onlyRun(wd)).length >= 2, () => err);
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      process.kill(-child.pid!, 'SIGINT');
    });
    assert.equal(code, 130, err);
    assert.match(out, /count \d+/);
    await assertNothingLeft(env.user.uid);
  });

  test('the engine killed outright: the helper sees EOF and leaves no program, criu or helper behind', async () => {
    const wd = userDir(env);
    const child = spawn(process.execPath, [env.cli, 'run', '--python', '/usr/bin/python3', '--interval', '0.1', '--working-dir', wd, 'count.py', '1000', '0', '0.01'], {
      uid: env.user.uid, gid: env.user.gid, cwd: env.programs, env: userEnv(env.user), stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    await waitUntil(() => fs.readdirSync(wd).length === 1 && listCheckpoints(onlyRun(wd)).length >= 3, () => err);
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL'); // mid-run, perhaps mid-dump
    await gone;
    await assertNothingLeft(env.user.uid);
  });

  test('a 200 MB program: pause per checkpoint through the helper vs criu as root', async (t) => {
    await requireCriu(); // the root comparison uses criu directly
    const frozen = (stderr: string) => [...stderr.matchAll(/checkpoint \d+ · ([\d.]+) MB · frozen (\d+) ms/g)].map((m) => ({ mb: Number(m[1]), ms: Number(m[2]) }));
    const args = ['--no-agent', '--verbose', '--python', '/usr/bin/python3', '--interval', '1', 'big.py', '200', '45'];
    const wdUser = userDir(env);
    const asUser = axolotlAs(env, ['run', '--working-dir', wdUser, ...args]);
    assert.equal(asUser.status, 0, asUser.stderr);
    const wdRoot = fs.mkdtempSync(path.join(env.app, 'root-'));
    const asRoot = spawnSync(process.execPath, [env.cli, 'run', '--backend', 'criu', '--working-dir', wdRoot, ...args], { cwd: env.programs, encoding: 'utf8', timeout: 180_000 });
    assert.equal(asRoot.status, 0, asRoot.stderr);
    const u = frozen(asUser.stderr);
    const r = frozen(asRoot.stderr);
    assert.ok(u.length >= 2 && r.length >= 2, `checkpoints: helper ${u.length}, root ${r.length}`);
    assert.ok(u.every((c) => c.mb > 180), `helper images (MiB) ${u.map((c) => c.mb).join(', ')} MB`);
    // Restore of the same 200 MB image, both ways.
    const restoreMs = (stderr: string) => Number(/restored checkpoint \d+ in (\d+) ms/.exec(stderr)?.[1]);
    const uRun = onlyRun(wdUser);
    const uRestore = axolotlAs(env, ['restore', uRun, String(listCheckpoints(uRun)[0].id)]);
    assert.equal(uRestore.status, 0, uRestore.stderr);
    const rRun = onlyRun(wdRoot);
    const rRestore = spawnSync(process.execPath, [env.cli, 'restore', rRun, String(listCheckpoints(rRun)[0].id)], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(rRestore.status, 0, rRestore.stderr);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    t.diagnostic(`200 MB frozen per checkpoint: helper median ${med(u.map((c) => c.ms))} ms (${u.map((c) => c.ms).join(', ')}), ` +
      `root median ${med(r.map((c) => c.ms))} ms (${r.map((c) => c.ms).join(', ')}); ` +
      `restore: helper ${restoreMs(uRestore.stderr)} ms, root ${restoreMs(rRestore.stderr)} ms`);
    await assertNothingLeft(env.user.uid);
  });
});

async function waitUntil(ok: () => boolean, detail: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    assert.ok(Date.now() < deadline, `timed out; ${detail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
