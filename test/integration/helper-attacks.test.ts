// Attacks on the pkexec helper by the unprivileged user it serves (issue: a permitted user became
// root through it). Everything runs through the real pkexec as the non-root test user, against
// the installed helper: the attacker forges what criu's parasite reports, alters images, kills criu
// mid-restore, fills the image store, takes the PIDs a checkpoint needs.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HELPER_PATH, type HelperClient, type HelperCopy, type HelperStartOptions } from '../../adapter/engine/helperBackend';
import { capWords, editCreds, editThreadCore, plantCheckpoint, setBytes, setInts } from '../support/criuImage';
import { pidNamespace, procStatus, refused, waitFor } from '../support/helperDriving';
import {
  axolotlAs, processesOf, setupHelperTests, storeOf, TestHoldings, userDir, userEnv, type HelperTestEnv,
} from '../support/helperSetup';

const CONFIG = '/etc/axolotl/helper.json';
const CAP_SYS_PTRACE = 19;
const CAP_CHECKPOINT_RESTORE = 40;
const MiB = 1024 * 1024;

let env: HelperTestEnv;
const held = new TestHoldings();

before(async () => { env = await setupHelperTests(); });
after(() => held.end(env, (e) => [e.user]));

function session(opts: HelperStartOptions = {}): Promise<HelperClient> {
  return held.session(env, opts);
}

function launch(c: HelperClient, code: string): Promise<HelperCopy> {
  return c.launch(['/usr/bin/python3', '-c', code], env.programs, { PATH: '/usr/bin:/bin' });
}

function launchProbe(c: HelperClient): Promise<HelperCopy> {
  return c.launch(['/usr/bin/python3', 'probe_privileges.py'], env.programs, { PATH: '/usr/bin:/bin' });
}

/** The test user's processes running `marker` (other tests' processes of that user are not ours). */
function running(marker: string): string[] {
  return processesOf(env.user.uid).filter((p) => p.cmd.includes(marker)).map((p) => `${p.pid} ${p.cmd}`);
}

function runDirOf(c: HelperClient): string {
  return path.join(storeOf(env.user.uid), c.hello!.run);
}

/** The first core-ID.img of an image folder. */
function coreImage(dir: string): string {
  return path.join(dir, fs.readdirSync(dir).find((f) => /^core-\d+\.img$/.test(f))!);
}

/** Checkpoint `id` of session c's run: a copy of checkpoint `from`, altered (the test is root). */
function plant(c: HelperClient, from: number, id: number, alter: (imgDir: string) => void): void {
  const runDir = runDirOf(c);
  plantCheckpoint(runDir, from, id, alter);
  held.planted.push(path.join(runDir, String(id)), path.join(runDir, `${id}.json`));
}

/** Bytes allocated under a folder (what the helper counts against the store limit). */
function allocated(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += fs.lstatSync(p).blocks * 512;
    if (e.isDirectory()) total += allocated(p);
  }
  return total;
}

/** Runs `fn` with the helper's configuration file holding `conf` (the helper reads it when it starts). */
async function withConfig<T>(conf: unknown, fn: () => Promise<T>): Promise<T> {
  const saved = fs.existsSync(CONFIG) ? fs.readFileSync(CONFIG) : undefined;
  fs.mkdirSync(path.dirname(CONFIG), { recursive: true, mode: 0o755 });
  fs.writeFileSync(CONFIG, JSON.stringify(conf), { mode: 0o644 });
  try {
    return await fn();
  } finally {
    if (saved) fs.writeFileSync(CONFIG, saved); else fs.rmSync(CONFIG, { force: true });
  }
}

describe('attacks on the pkexec helper by the user it serves', () => {
  test('the credentials-tampering attack: criu stopped, the parasite\'s creds area rewritten; the restore is refused and nothing runs', async (t) => {
    const c = await session();
    // The attacker: stops criu while its parasite has written the creds record in the program's
    // memory, writes CAP_SYS_PTRACE into the permitted and effective sets, lets criu go on.
    const mask = capWords(CAP_SYS_PTRACE).reduce((m, w, i) => m | (w << BigInt(32 * i)), 0n).toString(16);
    const tamperer = spawn('/usr/bin/python3', [path.join(env.programs, 'tamper_creds.py'), mask], {
      uid: env.user.uid, gid: env.user.gid, env: userEnv(env.user), stdio: ['pipe', 'pipe', 'inherit'],
    });
    held.processes.push(tamperer);
    let said = '';
    tamperer.stdout.on('data', (d: Buffer) => { said += d.toString(); });
    const heard = async (re: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!re.test(said)) {
        assert.ok(Date.now() < deadline, `the tamperer did not say ${re}: ${said}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await heard(/^armed$/m);
    // The race is the attacker's to win or lose; each round is a new dump. Landing once is enough.
    let refusedTampered = 0;
    let rounds = 0;
    for (; rounds < 30 && !refusedTampered; rounds++) {
      const copy = await launchProbe(c);
      tamperer.stdin.write(`${copy.pid}\n`);
      await heard(new RegExp(`^target ${copy.pid}$`, 'm'));
      await waitFor(copy, /tick \d+ CapEff 0+ confined/);
      const dump = await c.request('dump', { pid: copy.pid });
      await copy.kill();
      let restored: HelperCopy;
      try {
        restored = (await c.restore(dump.checkpoint as number)).copy;
      } catch (e) {
        assert.match((e as Error).message, /checkpoint \d+ cannot be restored: core-\d+\.img: the permitted capability set holds CAP_SYS_PTRACE; refusing/);
        refusedTampered++;
        assert.deepEqual(running('probe_privileges.py'), [], 'nothing was restored');
        continue;
      }
      // The tamperer lost this race (criu had copied the record first), or the helper let a
      // tampered image through: the restored program's threads show which.
      const held = fs.readdirSync(`/proc/${restored.pid}/task`).map((tid): [string, Record<string, string>] => [tid, procStatus(`${restored.pid}/task/${tid}`)])
        .filter(([, st]) => BigInt(`0x${st.CapPrm}`) || BigInt(`0x${st.CapEff}`));
      if (held.length) {
        restored.signal('SIGCONT');
        const out = await waitFor(restored, /PRIVILEGED\n/, 3000).catch((e: Error) => e.message);
        await restored.kill();
        const [tid, st] = held[0];
        assert.fail(`the attack worked: thread ${tid} of the restored program (uid ${st.Uid}) holds CapPrm ${st.CapPrm} CapEff ${st.CapEff}; it printed: ${out.trim()}`);
      }
      await restored.kill();
    }
    tamperer.stdin.end();
    t.diagnostic(`${rounds} dump(s) until a tampered image was written (and refused)`);
    assert.equal(refusedTampered, 1, `the tamperer never landed in ${rounds} dumps: ${said}`);
    assert.deepEqual(running('probe_privileges.py'), []);
  });

  test('an image whose credentials were altered is refused before criu runs, whatever field was changed', async () => {
    const c = await session();
    const copy = await launchProbe(c);
    await waitFor(copy, /tick 2 /);
    const dump = await c.request('dump', { pid: copy.pid });
    await copy.kill();
    const core = coreImage;
    const cases: [string, (dir: string) => void, RegExp][] = [
      ['permitted', (d) => editCreds(core(d), (f) => setInts(f, 10, capWords(CAP_CHECKPOINT_RESTORE))), /the permitted capability set holds CAP_CHECKPOINT_RESTORE/],
      ['effective', (d) => editCreds(core(d), (f) => setInts(f, 11, capWords(CAP_SYS_PTRACE))), /the effective capability set holds CAP_SYS_PTRACE/],
      ['inheritable', (d) => editCreds(core(d), (f) => setInts(f, 9, capWords(0))), /the inheritable capability set holds CAP_CHOWN/],
      ['bounding', (d) => editCreds(core(d), (f) => setInts(f, 12, capWords(21))), /the bounding capability set holds CAP_SYS_ADMIN/],
      ['ambient', (d) => editCreds(core(d), (f) => setInts(f, 19, capWords(1))), /the ambient capability set holds CAP_DAC_OVERRIDE/],
      ['packed caps', (d) => editCreds(core(d), (f) => [...f.filter((x) => x.num !== 10), { num: 10, wire: 2, bytes: Buffer.from([0x80, 0x80, 0x20, 0x00]) }]), /the permitted capability set holds CAP_SYS_PTRACE/],
      ['uid', (d) => editCreds(core(d), (f) => setInts(f, 1, [0])), /uid is 0, not the caller's/],
      ['euid', (d) => editCreds(core(d), (f) => setInts(f, 3, [0])), /euid is 0, not the caller's/],
      ['fsuid', (d) => editCreds(core(d), (f) => setInts(f, 7, [0])), /fsuid is 0, not the caller's/],
      ['sgid', (d) => editCreds(core(d), (f) => setInts(f, 6, [0])), /sgid is 0, not the caller's/],
      ['groups', (d) => editCreds(core(d), (f) => setInts(f, 14, [0])), /supplementary group \[0\] the caller is not in/],
      ['securebits', (d) => editCreds(core(d), (f) => setInts(f, 13, [0x10])), /securebits are 0x10/],
      ['no_new_privs 0', (d) => editCreds(core(d), (f) => setInts(f, 18, [0])), /no_new_privs is 0/],
      ['no_new_privs missing', (d) => editCreds(core(d), (f) => f.filter((x) => x.num !== 18)), /no_new_privs is missing/],
      ['LSM label', (d) => editCreds(core(d), (f) => setBytes(f, 15, Buffer.from('sysadm_t'))), /a security-module label is set/],
      ['unknown field', (d) => editCreds(core(d), (f) => setInts(f, 31, [1])), /unknown credential field 31/],
      ['uid twice', (d) => editCreds(core(d), (f) => [...f, { num: 1, wire: 0, int: 0n }]), /field 1 is repeated/],
      ['seccomp', (d) => editThreadCore(core(d), (f) => setInts(f, 11, [2])), /the thread has a seccomp mode or filter/],
      ['no creds', (d) => editThreadCore(core(d), (f) => f.filter((x) => x.num !== 10)), /no credentials/],
      ['truncated', (d) => fs.writeFileSync(core(d), fs.readFileSync(core(d)).subarray(0, 40)), /is truncated/],
      ['thread without a core', (d) => fs.rmSync(core(d)), /no core image for thread/],
    ];
    let n = 100;
    for (const [what, alter, message] of cases) {
      const id = ++n;
      plant(c, dump.checkpoint as number, id, alter);
      await refused(c.request('restore', { checkpoint: id }), 'refused', new RegExp(`checkpoint ${id} cannot be restored: .*${message.source}`));
      assert.deepEqual(running('probe_privileges.py'), [], `${what}: nothing was restored`);
    }
    // Control: the untouched checkpoint restores, and its program is the caller's, capability-free.
    const ok = await c.restore(dump.checkpoint as number);
    const st = procStatus(ok.copy.pid);
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(st[k], '0000000000000000', k);
    await ok.copy.kill();
  });

  test('with the image check taken out (a patched helper copy), criu still cannot hand out CAP_SYS_PTRACE, and the check after the restore kills a tree holding CAP_CHECKPOINT_RESTORE', async () => {
    const c = await session();
    // One thread: criu restoring several threads of such an image may hang until its timeout.
    const copy = await c.launch(['/usr/bin/python3', 'count.py', '100000', '0', '0.02'], env.programs, { PATH: '/usr/bin:/bin' });
    await waitFor(copy, /count 2 /);
    const dump = await c.request('dump', { pid: copy.pid });
    await copy.kill();
    // In the permitted, effective and bounding sets (criu's restorer, without CAP_SETPCAP, refuses
    // to restore a permitted capability it cannot drop from the bounding set).
    const withCaps = (id: number, cap: number, sets = [10, 11, 12]) =>
      plant(c, dump.checkpoint as number, id, (d) => editCreds(coreImage(d), (f) => sets.reduce((g, n) => setInts(g, n, capWords(cap)), f)));
    withCaps(201, CAP_SYS_PTRACE);
    withCaps(202, CAP_CHECKPOINT_RESTORE);
    // A root-owned copy of the installed helper without the image check, started as pkexec would
    // (PKEXEC_UID = the test user).
    const src = fs.readFileSync(HELPER_PATH, 'utf8');
    const patched = src.replace('        check_core(img_fd, name, uid, gid, groups)\n', '        pass  # the image check, taken out by the test\n');
    assert.notEqual(patched, src, 'the image check was found and taken out');
    const dir = fs.mkdtempSync('/usr/local/libexec/axolotl-test-');
    held.planted.push(dir);
    fs.chmodSync(dir, 0o755);
    fs.writeFileSync(path.join(dir, 'axolotl-helper'), patched, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'start'), `exec env PKEXEC_UID=${env.user.uid} ${path.join(dir, 'axolotl-helper')}\n`, { mode: 0o755 });
    const p = await session({ pkexec: '/bin/sh', helper: path.join(dir, 'start') });
    assert.equal(p.hello!.uid, env.user.uid);
    // CAP_SYS_PTRACE: criu's restorer cannot capset() what criu does not hold.
    await refused(p.request('restore', { checkpoint: 201, run: c.hello!.run }), 'failed', /criu could not restore checkpoint 201/);
    assert.deepEqual(running('count.py'), [], 'nothing left of the failed restore');
    // CAP_CHECKPOINT_RESTORE, which criu holds: restored, caught before anything runs, all killed.
    await refused(p.request('restore', { checkpoint: 202, run: c.hello!.run }), 'refused',
      /restored thread \d+ holds what its image did not allow \(CapPrm CAP_CHECKPOINT_RESTORE; CapEff CAP_CHECKPOINT_RESTORE\); everything restored was killed/);
    // And without the bounding set, criu's restorer itself gives up.
    withCaps(203, CAP_CHECKPOINT_RESTORE, [10, 11]);
    await refused(p.request('restore', { checkpoint: 203, run: c.hello!.run }), 'failed', /criu could not restore checkpoint 203/);
    assert.deepEqual(running('count.py'), [], 'the restored tree was killed');
  });

  test('criu killed mid-restore (by the user: it runs as them): the helper answers at once, the half-restored tree is gone', async () => {
    const c = await session();
    const copy = await c.launch(['/usr/bin/python3', 'big.py', '300', '100000'], env.programs, { PATH: '/usr/bin:/bin' });
    await waitFor(copy, /allocated 300 MB/, 60_000);
    const dump = await c.request('dump', { pid: copy.pid });
    await copy.kill();
    let victim: { criu: number; task: number; capEff: string } | undefined;
    const started = Date.now();
    const restoring = c.request('restore', { checkpoint: dump.checkpoint });
    const settled = restoring.then(() => 'restored', (e: Error) => e.message);
    // criu, once it has forked the task it restores into (that task holds criu's capability).
    while (!victim && Date.now() - started < 30_000) {
      for (const d of fs.readdirSync('/proc')) {
        if (!/^\d+$/.test(d)) continue;
        try {
          const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
          if (!argv.includes('restore') || !argv.includes('--unprivileged') || Number(procStatus(d).PPid) !== c.pid) continue;
          const kids = fs.readFileSync(`/proc/${d}/task/${d}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
          if (!kids.length) continue;
          victim = { criu: Number(d), task: kids[0], capEff: procStatus(kids[0]).CapEff };
          spawnSync('/bin/kill', ['-KILL', d], { uid: env.user.uid, gid: env.user.gid });
          break;
        } catch { /* gone */ }
      }
      if (!victim && await Promise.race([settled, new Promise((r) => setTimeout(() => r(undefined), 1))])) break;
    }
    assert.ok(victim, `caught criu mid-restore (the restore ended first: ${await Promise.race([settled, 'still running'])})`);
    const killedAt = Date.now();
    assert.match(await settled, /criu was killed by SIGKILL while restoring checkpoint \d+; everything it had restored was killed/);
    assert.ok(Date.now() - killedAt < 10_000, `answered ${Date.now() - killedAt} ms after criu died`);
    // What the half-restored task held: criu's one capability, never more.
    assert.ok(BigInt(`0x${victim.capEff}`) === 0n || BigInt(`0x${victim.capEff}`) === 1n << BigInt(CAP_CHECKPOINT_RESTORE), `CapEff ${victim.capEff}`);
    assert.equal(fs.existsSync(`/proc/${victim.task}`) && procStatus(victim.task).Uid.startsWith(`${env.user.uid}\t`), false, 'the half-restored task is gone');
    assert.deepEqual(running('big.py'), []);
    // The session goes on: the same checkpoint restores.
    const ok = await c.restore(dump.checkpoint as number);
    await ok.copy.kill();
  });

  test('a user over the store limit: what criu really writes counts (a memfd the RSS does not show); a clear error, the program goes on', async () => {
    const store = storeOf(env.user.uid);
    fs.mkdirSync(store, { recursive: true, mode: 0o700 });
    const limit = Math.ceil(allocated(store) / MiB) + 60;
    const c = await withConfig({ users: { [env.user.name]: { storeLimitMiB: limit } } }, () => session());
    // 120 MB in a memfd that is never mapped: criu dumps it all, the RSS is a few MB.
    const copy = await launch(c, [
      'import os, time', 'fd = os.memfd_create("blob")', 'for i in range(120): os.write(fd, os.urandom(1 << 20))',
      'n = 0', 'while True:', '    print("tick", n, flush=True); n += 1; time.sleep(0.05)',
    ].join('\n'));
    await waitFor(copy, /tick 2\n/, 30_000);
    assert.ok(Number(procStatus(copy.pid).VmRSS.split(/\s+/)[0]) < 60 * 1024, `RSS ${procStatus(copy.pid).VmRSS}`);
    const before = allocated(store);
    await refused(c.request('dump', { pid: copy.pid }), 'refused',
      new RegExp(`checkpoint of process ${copy.pid} stopped: it needs more than the \\d+ MiB left of the ${limit} MiB allowed per user in the checkpoint store \\(set by the administrator in ${CONFIG}\\)`));
    assert.ok(allocated(store) <= before + 64 * 1024, `nothing of the stopped dump is kept (${allocated(store) - before} bytes more)`);
    await waitFor(copy, /tick \d+\n/);
    // A small program still fits.
    const small = await launch(c, 'import time\nwhile True: print("small", flush=True); time.sleep(0.05)');
    await waitFor(small, /small/);
    const ok = await c.request('dump', { pid: small.pid });
    assert.ok((ok.bytes as number) > 0 && (ok.bytes as number) < 60 * MiB, `bytes ${ok.bytes}`);
    // Already over the limit: refused before criu runs.
    const full = await withConfig({ storeLimitMiB: 1, users: {} }, () => session());
    const other = await launch(full, 'import time\nwhile True: print("other", flush=True); time.sleep(0.05)');
    await waitFor(other, /other/);
    await refused(full.request('dump', { pid: other.pid }), 'refused',
      new RegExp(`the checkpoint store is full for ${env.user.name}: your checkpoints take \\d+ MiB of the 1 MiB allowed per user`));
    for (const x of [copy, small, other]) await x.kill();
    // What `axolotl run` says: the run goes on without checkpoints, and the reason is given once.
    const wd = userDir(env);
    const res = await withConfig({ storeLimitMiB: 1 }, async () => axolotlAs(env, ['run', '--no-agent', '--python', '/usr/bin/python3', '--interval', '0.2', '--working-dir', wd, 'count.py', '15', '0', '0.05']));
    assert.equal(res.status, 0, res.stderr);
    assert.match(res.stdout, /^count 0 total 0\n[^]*done 105\n$/);
    const said = res.stderr.match(/axolotl: checkpoint failed: the checkpoint store is full for \S+: your checkpoints take \d+ MiB of the 1 MiB allowed per user \(set by the administrator in \/etc\/axolotl\/helper\.json\); end old runs or delete checkpoints to make room\n/g);
    assert.equal(said?.length, 1, res.stderr);
  });

  test('PID squatting: another user holding the PID a checkpoint had changes nothing (a restore gets a PID namespace of its own)', async () => {
    const c = await session();
    const copy = await launchProbe(c);
    await waitFor(copy, /tick 2 /);
    const inner = procStatus(copy.pid).NSpid.split(/\s+/).map(Number);
    assert.equal(inner.length, 2, `the program runs in a PID namespace of its own (NSpid ${inner.join(' ')})`);
    const dump = await c.request('dump', { pid: copy.pid });
    assert.deepEqual(dump.ids, [], 'no PID needs to be free for a restore');
    const wanted = copy.pid;
    await copy.kill();
    // Another user takes that PID (root steers the PID allocator; a patient user just loops).
    let squatter: ChildProcess | undefined;
    for (let i = 0; i < 200 && squatter?.pid !== wanted; i++) {
      squatter?.kill('SIGKILL');
      fs.writeFileSync('/proc/sys/kernel/ns_last_pid', String(wanted - 1));
      squatter = spawn('/bin/sleep', ['600'], { uid: env.other.uid, gid: env.other.gid, stdio: 'ignore', env: userEnv(env.other) });
      held.processes.push(squatter);
    }
    assert.equal(squatter!.pid, wanted, 'the squatter holds the PID');
    // And the same checkpoint twice at once: each copy is alone in its namespace.
    const one = await c.restore(dump.checkpoint as number);
    const two = await c.restore(dump.checkpoint as number);
    for (const r of [one, two]) {
      assert.deepEqual(procStatus(r.copy.pid).NSpid.split(/\s+/).map(Number).slice(1), inner.slice(1), 'the program has its PID back, in its namespace');
      assert.notEqual(pidNamespace(r.copy.pid), pidNamespace(process.pid));
      r.copy.signal('SIGCONT');
      await waitFor(r.copy, /tick \d+ CapEff 0+ confined/);
    }
    assert.notEqual(pidNamespace(one.copy.pid), pidNamespace(two.copy.pid));
    assert.match(procStatus(wanted).State, /^S/, 'the squatter is untouched');
    assert.equal(procStatus(wanted).Uid.split('\t')[0], String(env.other.uid));
    await one.copy.kill();
    await two.copy.kill();
    squatter!.kill('SIGKILL');
  });

  test('killing a copy kills its whole tree, daemons that left the session included; no PID is signalled after a lookup', async () => {
    const c = await session();
    const copy = await launch(c, [
      'import os, subprocess, time',
      'p = subprocess.Popen(["/usr/bin/python3", "-c", "import os, time\\nif os.fork(): os._exit(0)\\nos.setsid()\\ntime.sleep(600)"])',
      'p.wait()', 'print("daemon started", flush=True)', 'time.sleep(600)',
    ].join('\n'));
    await waitFor(copy, /daemon started/);
    const ns = pidNamespace(copy.pid);
    const mine = () => processesOf(env.user.uid).filter((p) => { try { return pidNamespace(p.pid) === ns; } catch { return false; } });
    assert.equal(mine().length, 2, mine().map((p) => p.cmd).join('\n'));
    await copy.kill();
    assert.deepEqual(mine(), []);
  });
});

