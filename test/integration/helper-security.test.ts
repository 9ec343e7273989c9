// The helper's refusals, driven directly over its stdin/stdout through real pkexec as the non-root
// test user: every attempt below must be refused with a clear error and change nothing.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  HELPER_CRIU, HELPER_PATH, HELPER_STATE, HelperClient, PKEXEC, type HelperCopy, type HelperReply,
} from '../../adapter/engine/helperBackend';
import { pidNamespace, procStatus, refused, text, waitFor } from '../support/helperDriving';
import {
  processesOf, setupHelperTests, storeOf, TestHoldings, userEnv, type Account, type HelperTestEnv,
} from '../support/helperSetup';

let env: HelperTestEnv;
const held = new TestHoldings();

before(async () => { env = await setupHelperTests(); });
after(() => held.end(env, (e) => [e.user, e.other]));

function session(): Promise<HelperClient> {
  return held.session(env);
}

function launchCount(c: HelperClient, steps = 100000): Promise<HelperCopy> {
  return c.launch(['/usr/bin/python3', 'count.py', String(steps), '0', '0.02'], env.programs, { PATH: '/usr/bin:/bin', PYTHONUNBUFFERED: '1' });
}

/** A process of `acct` that the helper never started. */
function stranger(acct: Account): ChildProcess {
  const p = spawn('/bin/sleep', ['600'], { uid: acct.uid, gid: acct.gid, stdio: 'ignore', env: userEnv(acct) });
  held.processes.push(p);
  return p;
}

/** Untouched: alive, not stopped, not traced (criu seizes with ptrace and freezes). */
function untouched(pid: number): void {
  const st = procStatus(pid);
  assert.match(st.State, /^[SR]/, `process ${pid} state ${st.State}`);
  assert.equal(st.TracerPid, '0');
}

/** Everything under the user's store, to prove a refused request created or removed nothing. */
function storeListing(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(storeOf(env.user.uid))) walk(storeOf(env.user.uid));
  return out.sort();
}

const CAPS_OF_CRIU = 1n << 40n; // CHECKPOINT_RESTORE: all criu holds, for dump and restore alike

describe('the pkexec helper, driven directly as the test user', () => {
  test('the program runs as the user: no capabilities, empty bounding set, no_new_privs, only the env it was given', async () => {
    const c = await session();
    assert.equal(c.hello!.uid, env.user.uid);
    const copy = await c.launch(['/usr/bin/python3', '-c', 'import json; print(open("/proc/self/status").read()); print(json.dumps(dict(e.split("=", 1) for e in open("/proc/self/environ").read().split("\\0") if e)))'],
      env.programs, { PATH: '/usr/bin:/bin', ONLY_THIS: 'yes' });
    const out = await text(copy);
    assert.equal((await copy.exited).status, 0, out);
    const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(out)?.[1].trim().split(/\s+/);
    assert.deepEqual(field('Uid'), Array(4).fill(String(env.user.uid)));
    assert.deepEqual(field('Gid'), Array(4).fill(String(env.user.gid)));
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.deepEqual(field(k), ['0000000000000000'], k);
    assert.deepEqual(field('NoNewPrivs'), ['1']);
    // The environment the program was started with (/proc/self/environ; Python itself may add LC_CTYPE).
    const envLine = out.trim().split('\n').pop()!;
    assert.deepEqual(JSON.parse(envLine), { PATH: '/usr/bin:/bin', ONLY_THIS: 'yes' });
  });

  test('a program that ends at once still delivers its output and status; start errors are the user\'s (chdir as the user)', async () => {
    const c = await session();
    const quick = await c.launch(['/usr/bin/python3', '-c', 'import sys; print("hi"); sys.exit(3)'], env.programs, { PATH: '/usr/bin:/bin' });
    const out = text(quick);
    assert.deepEqual(await quick.exited, { status: 3 });
    assert.equal(await out, 'hi\n');
    await refused(c.launch(['/nonexistent/program'], env.programs, {}), 'failed', /cannot start the program: exec \/nonexistent\/program: No such file or directory/);
    // /root is 0700: the helper (root) could enter it, the user cannot; the program must not start there.
    await refused(c.launch(['/usr/bin/true'], '/root', {}), 'failed', /cannot start the program: chdir \/root: Permission denied/);
    await refused(c.launch(['/etc/shadow'], '/', {}), 'failed', /cannot start the program: exec \/etc\/shadow: Permission denied/);
  });

  test('criu runs as the user with exactly CAP_CHECKPOINT_RESTORE and an empty bounding set, never as root, inside the copy\'s PID namespace', async () => {
    const c = await session();
    const copy = await c.launch(['/usr/bin/python3', 'big.py', '100', '600'], env.programs, { PATH: '/usr/bin:/bin' });
    await waitFor(copy, /allocated 100 MB/);
    const seen: Record<string, string>[] = [];
    let polling = true;
    const poll = (async () => {
      while (polling) {
        for (const d of fs.readdirSync('/proc')) {
          if (!/^\d+$/.test(d)) continue;
          try {
            const st = procStatus(Number(d));
            const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
            if (Number(st.PPid) === c.pid && /\0(dump|restore)\0--unprivileged\0/.test(cmd)) seen.push({ ...st, cmd, ns: pidNamespace(Number(d)) });
          } catch { /* gone */ }
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const dump = await c.request('dump', { pid: copy.pid });
    await copy.kill();
    const restored = await c.restore(dump.checkpoint as number);
    polling = false;
    await poll;
    // The restored program is the user's again: no capability, empty bounding set, no_new_privs.
    const rst = procStatus(restored.copy.pid);
    assert.equal(rst.Uid, Array(4).fill(env.user.uid).join('\t'));
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(rst[k], '0000000000000000', `${k} of the restored program`);
    assert.equal(rst.NoNewPrivs, '1');
    // Its parent is its namespace's keeper (PID 1 there): root, no capability, the helper's child.
    const keeper = procStatus(Number(rst.PPid));
    assert.equal(Number(keeper.PPid), c.pid, "the keeper is the helper's child (no pidfile involved)");
    assert.deepEqual(keeper.NSpid.split(/\s+/).slice(1), ['1']);
    assert.equal(keeper.Uid, '0\t0\t0\t0');
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(keeper[k], '0000000000000000', `${k} of the keeper`);
    assert.equal(pidNamespace(restored.copy.pid), pidNamespace(Number(rst.PPid)));
    assert.notEqual(pidNamespace(restored.copy.pid), pidNamespace(c.pid!));
    await restored.copy.kill();
    assert.ok(seen.some((s) => s.cmd.includes('\0dump\0')), 'saw criu dump running');
    assert.ok(seen.some((s) => s.cmd.includes('\0restore\0')), 'saw criu restore running');
    for (const s of seen) {
      assert.equal(s.Uid, Array(4).fill(env.user.uid).join('\t'), 'criu runs as the user');
      for (const k of ['CapPrm', 'CapEff', 'CapAmb']) assert.equal(BigInt(`0x${s[k]}`), CAPS_OF_CRIU, `${k} of criu`);
      assert.equal(BigInt(`0x${s.CapBnd}`), 0n, 'criu\'s bounding set is empty');
      assert.equal(s.NoNewPrivs, '1');
      assert.notEqual(s.ns, pidNamespace(c.pid!), 'criu works inside the copy\'s PID namespace');
    }
  });

  test('dump, kill and signal refuse every PID the helper did not start', async () => {
    const c = await session();
    const mine = stranger(env.user);
    const theirs = stranger(env.other);
    const copy = await c.launch(['/usr/bin/python3', '-c', 'import subprocess, time; p = subprocess.Popen(["/bin/sleep", "600"]); print(p.pid, flush=True); time.sleep(600)'],
      env.programs, { PATH: '/usr/bin:/bin' });
    let innerPid = 0;
    await new Promise<void>((resolve) => copy.stdout.once('data', (d: Buffer) => { innerPid = Number(d.toString().trim()); resolve(); }));
    await new Promise((r) => setTimeout(r, 200));
    // The copy has a PID namespace of its own: the PID it printed is the child's PID in there. Here
    // the child is the process whose innermost PID that is, under the copy.
    const childPid = Number(fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).find((d) => {
      try {
        const st = procStatus(d);
        return Number(st.PPid) === copy.pid && Number(st.NSpid.split(/\s+/).pop()) === innerPid;
      } catch { return false; }
    }));
    assert.ok(childPid > 0 && childPid !== innerPid, `the copy's child (PID ${innerPid} inside) is found here`);
    const before = storeListing();
    const cases: [string, number][] = [
      ['a process of the same user started outside the helper', mine.pid!],
      ['a process of another user', theirs.pid!],
      ['PID 1', 1],
      ['the helper itself', c.pid!],
      ['the test runner (root)', process.pid],
      ['a child inside a launched copy (not a copy)', childPid],
    ];
    for (const [what, pid] of cases) {
      await refused(c.request('dump', { pid }), 'refused', new RegExp(`process ${pid} was not started by this helper`));
      await refused(c.request('kill', { pid }), 'refused', /was not started by this helper/);
      await refused(c.request('signal', { pid, signal: 'SIGSTOP' }), 'refused', /was not started by this helper/);
      await refused(c.request('stdin', { pid, data: Buffer.from('x').toString('base64') }), 'refused', /was not started by this helper/);
      if (pid !== c.pid && pid !== 1 && pid !== process.pid) untouched(pid);
      void what;
    }
    assert.deepEqual(storeListing(), before, 'no image folder was created');
    // A copy that has exited is no longer ours either (its PID may be reused).
    await copy.kill();
    await refused(c.request('dump', { pid: copy.pid }), 'refused', /was not started by this helper \(or has exited\)/);
    assert.deepEqual(storeListing(), before);
  });

  test('criu options smuggled in fields, unknown fields and unknown ops are refused', async () => {
    const c = await session();
    const copy = await launchCount(c);
    await waitFor(copy, /count 1 /);
    const before = storeListing();
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['dump', { pid: `${copy.pid} --action-script=/tmp/evil` }, /field 'pid' must be a process id/],
      ['dump', { pid: copy.pid, args: ['--action-script', '/tmp/evil'] }, /unexpected field 'args'/],
      ['dump', { pid: copy.pid, dir: '/tmp' }, /unexpected field 'dir'/],
      ['dump', { pid: copy.pid + 0.5 }, /must be a process id/],
      ['dump', { pid: [copy.pid] }, /must be a process id/],
      ['dump', {}, /missing field 'pid'/],
      ['restore', { checkpoint: '1 --action-script /tmp/evil' }, /must be a checkpoint id/],
      ['restore', { checkpoint: 1, run: 'x --images-dir /tmp' }, /must be a run id/],
      ['restore', { checkpoint: 1, dir: '/tmp/img' }, /unexpected field 'dir'/],
      ['restore', { checkpoint: true }, /must be a checkpoint id/],
      ['discard', { checkpoint: 1, path: '/var/lib/axolotl' }, /unexpected field 'path'/],
      ['launch', { argv: ['/usr/bin/true'], cwd: 'relative', env: {} }, /cwd must be an absolute path/],
      ['launch', { argv: ['/usr/bin/true'], cwd: '/', env: { 'A=B': 'c' } }, /bad environment variable name/],
      ['launch', { argv: ['/usr/bin/true\0--x'], cwd: '/', env: {} }, /must be a list of strings/],
      ['launch', { argv: ['/usr/bin/true'], cwd: '/', env: {}, uid: 0 }, /unexpected field 'uid'/],
      // JSON carries lone surrogates; no path, argument or variable can: nothing would be executed.
      ['launch', { argv: ['/usr/bin/python3\ud800'], cwd: '/', env: {} }, /field 'argv' must be valid Unicode text \(it holds a lone surrogate\)/],
      ['launch', { argv: ['/usr/bin/true'], cwd: '/tmp/\udc80x', env: {} }, /field 'cwd' must be valid Unicode text/],
      ['launch', { argv: ['/usr/bin/true'], cwd: '/', env: { A: '\udfff' } }, /field 'env' must be valid Unicode text/],
      ['dump --leave-running', { pid: copy.pid }, /unknown op/],
      ['exec', { argv: ['/bin/sh'] }, /unknown op/],
    ];
    for (const [op, fields, msg] of bad) await refused(c.request(op, fields), 'bad-request', msg);
    await refused(c.request('signal', { pid: copy.pid, signal: 'SIGKILL; rm -rf /' }), 'refused', /is not one this helper sends/);
    await refused(c.request('signal', { pid: copy.pid, signal: 'SIGSEGV' }), 'refused', /is not one this helper sends/);
    assert.deepEqual(storeListing(), before, 'nothing was dumped');
    untouched(copy.pid);
    // The session still works after all that.
    const ok = await c.request('dump', { pid: copy.pid });
    assert.equal(ok.checkpoint, 1);
    // What the engine needs back: sizes, criu's stats, the IDs a restore will need (none: a restore
    // gets a PID namespace of its own).
    assert.ok((ok.bytes as number) > 1e6, `bytes ${ok.bytes}`);
    assert.ok((ok.frozenMs as number) > 0 && (ok.dumpMs as number) >= (ok.frozenMs as number));
    assert.ok((ok.stats as Record<string, number>).pagesWritten > 0);
    assert.deepEqual(ok.ids, []);
    await copy.kill();
  });

  test('restore refuses any image the helper did not write: unknown ids, "..", planted or altered folders, symlinks', async () => {
    const c = await session();
    const copy = await launchCount(c);
    await waitFor(copy, /count 2 /);
    const dump = await c.request('dump', { pid: copy.pid });
    // While the copy it came from still runs, a restore of it runs beside it (each copy has a PID
    // namespace of its own), and leaves the running copy alone.
    const twin = await c.restore(1);
    untouched(copy.pid);
    await twin.copy.kill();
    untouched(copy.pid);
    await copy.kill();
    const run = dump.run as string;
    const store = storeOf(env.user.uid);
    const realRun = path.join(store, run);
    const plant = (p: string) => { held.planted.push(p); return p; };
    // Another user's store holding a perfect copy of this user's checkpoint: only a followed
    // symlink could reach it.
    const otherRun = plant(path.join(HELPER_STATE, String(env.other.uid), '20200101-000000-0000beef'));
    fs.mkdirSync(path.dirname(otherRun), { recursive: true, mode: 0o700 });
    fs.cpSync(realRun, otherRun, { recursive: true, preserveTimestamps: true });
    // Planted runs inside the user's own store (root planted them: the user cannot even reach it).
    const userOwned = plant(path.join(store, '20200101-000000-000000aa'));
    fs.cpSync(realRun, userOwned, { recursive: true });
    spawnSync('chown', ['-R', `${env.user.uid}:${env.user.gid}`, userOwned]);
    const noRecord = plant(path.join(store, '20200101-000000-000000bb'));
    fs.cpSync(realRun, noRecord, { recursive: true });
    fs.rmSync(path.join(noRecord, '1.json'));
    const altered = plant(path.join(store, '20200101-000000-000000cc'));
    fs.cpSync(realRun, altered, { recursive: true });
    fs.truncateSync(path.join(altered, '1', 'pages-1.img'), 4096);
    const extra = plant(path.join(store, '20200101-000000-000000dd'));
    fs.cpSync(realRun, extra, { recursive: true });
    fs.writeFileSync(path.join(extra, '1', 'evil.img'), 'x', { mode: 0o644 });
    const chowned = plant(path.join(store, '20200101-000000-000000ee'));
    fs.cpSync(realRun, chowned, { recursive: true });
    const core = fs.readdirSync(path.join(chowned, '1')).find((f) => f.startsWith('core-'))!;
    fs.chownSync(path.join(chowned, '1', core), env.user.uid, env.user.gid);
    const linkRun = plant(path.join(store, '20200101-000000-000000ff'));
    fs.symlinkSync(otherRun, linkRun);
    const linkCkpt = plant(path.join(store, '20200101-000000-00000100'));
    fs.mkdirSync(linkCkpt, { mode: 0o700 });
    fs.symlinkSync(path.join(otherRun, '1'), path.join(linkCkpt, '1'));
    fs.copyFileSync(path.join(realRun, '1.json'), path.join(linkCkpt, '1.json'));
    const linkRecord = plant(path.join(store, '20200101-000000-00000200'));
    fs.cpSync(realRun, linkRecord, { recursive: true });
    fs.rmSync(path.join(linkRecord, '1.json'));
    fs.symlinkSync(path.join(otherRun, '1.json'), path.join(linkRecord, '1.json'));

    const before = storeListing();
    const R = (checkpoint: unknown, runId?: unknown) => c.request('restore', runId === undefined ? { checkpoint } : { checkpoint, run: runId });
    await refused(R(99), 'refused', /checkpoint 99 does not exist/);
    await refused(R(1, '20200101-000000-00000999'), 'refused', /does not exist for uid/);
    await refused(R(1, `../${env.other.uid}/20200101-000000-0000beef`), 'bad-request', /must be a run id/);
    await refused(R(1, `${run}/../../${env.other.uid}/20200101-000000-0000beef`), 'bad-request', /must be a run id/);
    await refused(R(1, '/var/lib/axolotl'), 'bad-request', /must be a run id/);
    await refused(R(-1), 'bad-request', /must be a checkpoint id/);
    await refused(R(1, path.basename(userOwned)), 'refused', /is not a directory this helper created/);
    await refused(R(1, path.basename(noRecord)), 'refused', /checkpoint 1 does not exist/);
    await refused(R(1, path.basename(altered)), 'refused', /image file pages-1\.img changed since the dump/);
    await refused(R(1, path.basename(extra)), 'refused', /image files differ from what was dumped/);
    await refused(R(1, path.basename(chowned)), 'refused', /changed since the dump/);
    await refused(R(1, path.basename(linkRun)), 'refused', /is not a directory this helper created/);
    await refused(R(1, path.basename(linkCkpt)), 'refused', /image folder is not a directory this helper created/);
    await refused(R(1, path.basename(linkRecord)), 'refused', /has no valid record/);
    await refused(c.request('discard', { checkpoint: 1, run: path.basename(linkRun) }), 'refused', /is not a directory this helper created/);
    assert.deepEqual(storeListing(), before, 'nothing created or removed');
    assert.ok(fs.existsSync(path.join(otherRun, '1', 'pages-1.img')), "the other user's images are intact");
    assert.deepEqual(processesOf(env.user.uid).filter((p) => p.cmd.includes('count.py')), [], 'nothing was restored');
    // Control: the untouched checkpoint does restore (so the refusals above are the checks at work).
    const ok = await c.restore(1);
    c.request('signal', { pid: ok.copy.pid, signal: 'SIGCONT' }).catch(() => undefined);
    await waitFor(ok.copy, /count \d+ /);
    await ok.copy.kill();
  });

  test('malformed JSON, oversized lines and requests without an id are refused; the helper carries on', async () => {
    const c = await session();
    const strays: HelperReply[] = [];
    c.on('stray', (m) => strays.push(m as HelperReply));
    const next = async (): Promise<HelperReply> => {
      const deadline = Date.now() + 10_000;
      while (!strays.length) {
        assert.ok(Date.now() < deadline, 'a reply to the bad line');
        await new Promise((r) => setTimeout(r, 10));
      }
      return strays.shift()!;
    };
    const expect = async (code: string, msg: RegExp) => {
      const r = await next();
      assert.equal(r.ok, false);
      assert.equal(r.id, null);
      assert.equal(r.code, code, r.error);
      assert.match(r.error!, msg);
    };
    c.sendRaw('{"id": 1, "op": "dump", "pid": \n');
    await expect('bad-request', /malformed JSON/);
    c.sendRaw('[1, 2, 3]\n');
    await expect('bad-request', /must be a JSON object/);
    c.sendRaw('{"op": "shutdown"}\n');
    await expect('bad-request', /integer id/);
    c.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]));
    await expect('bad-request', /malformed JSON/);
    c.sendRaw('['.repeat(200_000) + ']'.repeat(200_000) + '\n');
    await expect('bad-request', /malformed JSON/);
    // 1 MiB + 1 of valid JSON, in pieces: refused as a whole, nothing of it is run.
    const huge = JSON.stringify({ id: 7, op: 'launch', argv: ['/usr/bin/touch', '/tmp/axolotl-helper-huge'], cwd: '/', env: { PAD: 'x'.repeat(1024 * 1024) } });
    for (let i = 0; i < huge.length; i += 300_000) c.sendRaw(huge.slice(i, i + 300_000));
    c.sendRaw('\n');
    await expect('too-large', /longer than 1048576 bytes/);
    // The helper is alive and serves valid requests.
    const copy = await launchCount(c, 3);
    assert.equal((await copy.exited).status, 0);
    assert.equal(fs.existsSync('/tmp/axolotl-helper-huge'), false);
    assert.deepEqual(strays, []);
  });

  test('the helper runs only through pkexec, only for a non-root caller, without arguments; polkit allows nothing else', () => {
    const asUser = { uid: env.user.uid, gid: env.user.gid, encoding: 'utf8' as const, input: '', env: userEnv(env.user), timeout: 30_000 };
    let r = spawnSync(HELPER_PATH, [], asUser);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /must run as root through pkexec/);
    r = spawnSync(HELPER_PATH, [], { encoding: 'utf8', input: '', env: { PATH: '/usr/bin:/bin' } });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /PKEXEC_UID is missing/);
    r = spawnSync(PKEXEC, [HELPER_PATH], { encoding: 'utf8', input: '' });
    assert.equal(r.status, 2, 'root through pkexec');
    assert.match(r.stderr, /the caller is root/);
    r = spawnSync(PKEXEC, [HELPER_PATH, '--criu', '/tmp/evil'], asUser);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /takes no arguments/);
    r = spawnSync(PKEXEC, ['/bin/sh', '-c', 'id'], asUser);
    assert.equal(r.status, 127, 'the test user may run the helper, nothing else');
    r = spawnSync(PKEXEC, [HELPER_PATH], { ...asUser, uid: env.other.uid, gid: env.other.gid, env: userEnv(env.other) });
    assert.equal(r.status, 127, 'another user is not authorized');
  });

  test('a helper copy in a writable place, a writable criu install or a tampered store is refused at start', () => {
    const src = fs.readFileSync(HELPER_PATH, 'utf8');
    const asCaller = { encoding: 'utf8' as const, input: '', env: { PATH: '/usr/bin:/bin', PKEXEC_UID: String(env.user.uid) } };
    // In a world-writable folder (anyone could have replaced it).
    const tmp = plantDir(fs.mkdtempSync('/tmp/axl-helper-copy-'));
    fs.chmodSync(tmp, 0o777);
    fs.writeFileSync(path.join(tmp, 'axolotl-helper'), src, { mode: 0o755 });
    let r = spawnSync(path.join(tmp, 'axolotl-helper'), [], asCaller);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unsafe or incomplete installation: helper: \/tmp.* must be owned by root and writable only by root/);
    // A criu install someone else can write to.
    const base = plantDir(fs.mkdtempSync('/usr/local/libexec/axolotl-test-'));
    fs.chmodSync(base, 0o755);
    const prefix = path.join(base, 'criu');
    fs.mkdirSync(path.join(prefix, 'bin'), { recursive: true, mode: 0o755 });
    fs.symlinkSync(fs.realpathSync(HELPER_CRIU), path.join(prefix, 'bin', 'criu'));
    fs.chmodSync(path.join(prefix, 'bin'), 0o775);
    const state = path.join(base, 'state');
    const patched = src.replace('CRIU_PREFIX = "/usr/local/lib/axolotl"', `CRIU_PREFIX = "${prefix}"`).replace('STATE_DIR = "/var/lib/axolotl"', `STATE_DIR = "${state}"`);
    assert.notEqual(patched, src);
    fs.writeFileSync(path.join(base, 'axolotl-helper'), patched, { mode: 0o755 });
    r = spawnSync(path.join(base, 'axolotl-helper'), [], asCaller);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /criu install: .*\/bin must be owned by root and writable only by root/);
    // Fixed criu, but a store whose per-user folder the user owns.
    fs.chmodSync(path.join(prefix, 'bin'), 0o755);
    fs.mkdirSync(path.join(state, String(env.user.uid)), { recursive: true, mode: 0o700 });
    fs.chmodSync(state, 0o700);
    fs.chownSync(path.join(state, String(env.user.uid)), env.user.uid, env.user.gid);
    r = spawnSync(path.join(base, 'axolotl-helper'), [], asCaller);
    assert.equal(r.status, 2);
    assert.match(r.stderr, new RegExp(`cannot use ${state}: ${env.user.uid} must be root:root 0700`));
    // And a symlink there instead.
    fs.rmSync(path.join(state, String(env.user.uid)), { recursive: true });
    fs.symlinkSync('/tmp', path.join(state, String(env.user.uid)));
    r = spawnSync(path.join(base, 'axolotl-helper'), [], asCaller);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /is not a plain directory/);
    // Control: all fixed, the copy starts and says hello.
    fs.rmSync(path.join(state, String(env.user.uid)));
    r = spawnSync(path.join(base, 'axolotl-helper'), [], asCaller);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /"type":"hello"/);
  });
});

function plantDir(p: string): string {
  held.planted.push(p);
  return p;
}
