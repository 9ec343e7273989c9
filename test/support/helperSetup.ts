// Sets up the real pkexec path for the helper tests, as CI runs them (root, fresh Debian 12):
// pkexec + polkitd + dbus installed, the system bus and polkitd running, a test user that polkit
// lets run exactly our helper (a rules file for exactly that user and action), the helper installed
// by scripts/install-helper.sh, and a copy of the CLI and test programs that the test user can read.
// Everything the tests then do runs AS THAT USER. dbus-daemon and polkitd stay running afterwards.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  HELPER_ACTION, HELPER_PATH, HELPER_STATE, HelperClient, PKEXEC, POLKITD, SYSTEM_BUS, type HelperStartOptions,
} from '../../adapter/engine/helperBackend';
import { REPO } from './engineHelpers';

export const TEST_USER = 'axolotl-test';
export const OTHER_USER = 'axolotl-other';
export const RULES_FILE = '/etc/polkit-1/rules.d/50-axolotl-test.rules';
const RULES = `// Written by Axolotl's helper tests (test/support/helperSetup.ts): lets exactly the test user
// run exactly the Axolotl helper without a password. Nobody else, nothing else.
polkit.addRule(function(action, subject) {
  if (action.id == "${HELPER_ACTION}" && subject.user == "${TEST_USER}") return polkit.Result.YES;
});
`;
const LOCK = path.join(os.tmpdir(), 'axolotl-helper-setup.lock');

export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface HelperTestEnv {
  user: Account;
  other: Account;
  /** a folder readable by the test user: dist/cli.js, adapter/python, programs/ */
  app: string;
  cli: string;
  programs: string;
}

let cached: Promise<HelperTestEnv> | undefined;
const workDirs: string[] = [];
const helperRuns = new Set<string>();

/** Run ids of helper sessions a test started directly (their images are deleted by cleanupHelperTests). */
export function forgetRunLater(run: string | undefined): void {
  if (run) helperRuns.add(run);
}

/**
 * Deletes what this test file left: the readable app copy (with the engine's run folders) and, in
 * the helper's store, the image folders of the runs it made (other files' runs are left alone).
 */
export function cleanupHelperTests(env: HelperTestEnv): void {
  for (const wd of workDirs) {
    for (const run of safeList(wd)) {
      for (const c of safeList(path.join(wd, run, 'checkpoints'))) {
        try {
          forgetRunLater((JSON.parse(fs.readFileSync(path.join(wd, run, 'checkpoints', c, 'helper.json'), 'utf8')) as { run?: string }).run);
        } catch { /* not a helper checkpoint */ }
      }
    }
  }
  for (const run of helperRuns) {
    if (/^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$/.test(run)) fs.rmSync(path.join(storeOf(env.user.uid), run), { recursive: true, force: true });
  }
  fs.rmSync(env.app, { recursive: true, force: true });
}

/**
 * What a test file started directly: helper sessions, other processes, files planted in the store.
 * `end` closes and removes it all, then checks that nothing of `accounts` is left running.
 */
export class TestHoldings {
  readonly clients: HelperClient[] = [];
  readonly processes: ChildProcess[] = [];
  readonly planted: string[] = [];

  /** A helper session as the test user (or as `opts` say, for a helper copy started another way). */
  async session(env: HelperTestEnv, opts: HelperStartOptions = {}): Promise<HelperClient> {
    const asUser = opts.pkexec ? {} : { uid: env.user.uid, gid: env.user.gid };
    const c = await HelperClient.start({ ...asUser, timeoutMs: 30_000, ...opts });
    this.clients.push(c);
    return c;
  }

  async end(env: HelperTestEnv | undefined, accounts: (env: HelperTestEnv) => Account[]): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    for (const p of this.processes) p.kill('SIGKILL');
    for (const p of this.planted) fs.rmSync(p, { recursive: true, force: true });
    if (!env) return;
    for (const a of accounts(env)) await assertNothingLeft(a.uid);
    for (const c of this.clients) forgetRunLater(c.hello?.run);
    cleanupHelperTests(env);
  }
}

function safeList(dir: string): string[] {
  try { return fs.readdirSync(dir); } catch { return []; }
}

/** Idempotent; safe to call from several test files (a lock serializes concurrent setups). */
export function setupHelperTests(): Promise<HelperTestEnv> {
  cached ??= withLock(setup);
  return cached;
}

async function setup(): Promise<HelperTestEnv> {
  if (process.getuid?.() !== 0) {
    throw new Error('the helper tests install pkexec/polkit, a test user and the helper: run them as root (CI does)');
  }
  ensurePackages();
  await ensureSystemBus();
  await ensurePolkitd();
  const user = ensureUser(TEST_USER);
  const other = ensureUser(OTHER_USER);
  run('bash', [path.join(REPO, 'scripts', 'install-helper.sh')], { cwd: REPO });
  if (readOr(RULES_FILE) !== RULES) {
    fs.writeFileSync(RULES_FILE, RULES, { mode: 0o644 });
    fs.chmodSync(RULES_FILE, 0o644);
  }
  await waitUntil('polkit to authorize the test user for the helper', () => {
    // The helper says hello and exits at EOF: proof that pkexec, polkit and the rule all work.
    const r = spawnSync(PKEXEC, [HELPER_PATH], { uid: user.uid, gid: user.gid, input: '', encoding: 'utf8', timeout: 20_000 });
    return r.status === 0 && r.stdout.includes('"type":"hello"');
  }, 30_000);
  const app = makeApp(user);
  return { user, other, app, cli: path.join(app, 'dist', 'cli.js'), programs: path.join(app, 'programs') };
}

function ensurePackages(): void {
  const missing: string[] = [];
  if (!fs.existsSync(PKEXEC)) missing.push('pkexec');
  if (!fs.existsSync(POLKITD)) missing.push('polkitd');
  if (spawnSync('sh', ['-c', 'command -v dbus-daemon']).status !== 0) missing.push('dbus');
  if (!missing.length) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', ...missing], { env });
}

function busUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(SYSTEM_BUS);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function ensureSystemBus(): Promise<void> {
  if (await busUp()) return;
  fs.mkdirSync('/run/dbus', { recursive: true });
  // A pid file left by a daemon that is gone makes dbus-daemon refuse to start.
  const pidFile = '/run/dbus/pid';
  const pid = Number(readOr(pidFile).trim());
  if (!pid || !fs.existsSync(`/proc/${pid}`)) fs.rmSync(pidFile, { force: true });
  run('dbus-daemon', ['--system', '--fork']);
  await waitUntil('the system bus', busUp, 10_000);
}

async function ensurePolkitd(): Promise<void> {
  const rootPkexecWorks = () => spawnSync(PKEXEC, ['/bin/true'], { timeout: 20_000 }).status === 0;
  if (!processNamed('polkitd')) {
    const child = spawn(POLKITD, ['--no-debug'], { detached: true, stdio: 'ignore' });
    child.unref();
  }
  await waitUntil('polkitd (pkexec /bin/true as root)', rootPkexecWorks, 20_000);
}

function ensureUser(name: string): Account {
  let entry = getent(name);
  if (!entry) {
    run('useradd', ['--system', '--user-group', '--create-home', '--home-dir', `/var/lib/${name}`, '--shell', '/usr/sbin/nologin', name]);
    entry = getent(name);
  }
  if (!entry) throw new Error(`could not create user ${name}`);
  return entry;
}

function getent(name: string): Account | undefined {
  const r = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const [, , uid, gid, , home] = r.stdout.trim().split(':');
  return { name, uid: Number(uid), gid: Number(gid), home };
}

/**
 * The CLI bundle (dist/cli.js), the Python agent and the test programs (programs/) copied where any user
 * can read them: the checkout may sit in a folder only root can enter (a `mktemp -d`).
 */
export function readableApp(): string {
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-app-'));
  fs.mkdirSync(path.join(app, 'dist'));
  fs.copyFileSync(path.join(REPO, 'dist', 'cli.js'), path.join(app, 'dist', 'cli.js'));
  fs.cpSync(path.join(REPO, 'adapter', 'python'), path.join(app, 'adapter', 'python'), { recursive: true });
  fs.cpSync(path.join(REPO, 'test', 'fixtures', 'programs'), path.join(app, 'programs'), { recursive: true });
  run('chmod', ['-R', 'u=rwX,go=rX', app]);
  return app;
}

/** readableApp, proven runnable by the test user. */
function makeApp(user: Account): string {
  const app = readableApp();
  const probe = spawnSync(process.execPath, [path.join(app, 'dist', 'cli.js'), 'help'], { uid: user.uid, gid: user.gid, cwd: app, encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`the test user cannot run ${process.execPath} on the CLI copy: ${probe.stderr}`);
  return app;
}

/** A fresh folder owned by the test user (the engine writes its run folders there). */
export function userDir(env: HelperTestEnv, prefix = 'work-'): string {
  const dir = fs.mkdtempSync(path.join(env.app, prefix));
  workDirs.push(dir);
  fs.chownSync(dir, env.user.uid, env.user.gid);
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** The environment a login of the test user would have (no root paths: /root/.pyenv is unreadable). */
export function userEnv(acct: Account): NodeJS.ProcessEnv {
  return { HOME: acct.home, USER: acct.name, LOGNAME: acct.name, PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' };
}

/** `node dist/cli.js …` as the test user. */
export function axolotlAs(env: HelperTestEnv, args: string[], opts: { cwd?: string; input?: string; timeout?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [env.cli, ...args], {
    uid: env.user.uid, gid: env.user.gid, cwd: opts.cwd ?? env.programs, env: userEnv(env.user),
    input: opts.input ?? '', encoding: 'utf8', timeout: opts.timeout ?? 180_000,
  });
}

/** Processes whose real, effective or saved uid is `uid`. */
export function processesOf(uid: number): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = fs.readFileSync(`/proc/${d}/status`, 'utf8');
      const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1].split(/\s+/).map(Number) ?? [];
      if (uids.includes(uid)) out.push({ pid: Number(d), cmd: fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() });
    } catch { /* gone */ }
  }
  return out;
}

/** Running helpers (they run as root: found by their command line). */
export function helperProcesses(): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(HELPER_PATH)) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

/** Waits (up to a few seconds: the engine may still be reaping) until no test-user process or helper is left. */
export async function assertNothingLeft(uid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = [...processesOf(uid).map((p) => `${p.pid} ${p.cmd}`), ...helperProcesses().map((p) => `${p} (helper)`)];
    if (!left.length) return;
    if (Date.now() > deadline) throw new Error(`processes left behind:\n${left.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The helper's store for a uid (root-only). */
export function storeOf(uid: number): string {
  return path.join(HELPER_STATE, String(uid));
}

function processNamed(comm: string): boolean {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try { if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm) return true; } catch { /* gone */ }
  }
  return false;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}${r.error ? `\n${r.error.message}` : ''}`);
  return r.stdout;
}

function readOr(file: string, fallback = ''): string {
  try { return fs.readFileSync(file, 'utf8'); } catch { return fallback; }
}

async function waitUntil(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A lock older than ten minutes belongs to a setup that died.
      try { if (Date.now() - fs.statSync(LOCK).mtimeMs > 10 * 60_000) fs.rmdirSync(LOCK); } catch { /* raced */ }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmdirSync(LOCK);
  }
}
