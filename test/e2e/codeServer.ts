// Starts and stops a private code-server (VS Code 1.100 in a browser) for end-to-end tests.
//
// code-server is installed by scripts/install-e2e.sh into $AXOLOTL_E2E_HOME (default
// ~/.cache/axolotl-e2e). Every server gets fresh user-data, extensions and config directories in
// a temp dir, listens on 127.0.0.1 with a free port, and is stopped with all of its descendant
// processes (extension host, file watcher, pty host, terminals, debuggees).
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const CODE_SERVER_VERSION = '4.100.3';

export interface CodeServerOptions {
  /** Folder to open. Default: a fresh `workspace/` folder in the server's temp dir. */
  workspace?: string;
  /** Files to write into the workspace, by relative path (folders are created). */
  files?: Record<string, string>;
  /** .vsix file(s) installed with `--install-extension` before the server starts. */
  vsix?: string | string[];
  /** User settings merged over the quiet defaults in DEFAULT_SETTINGS. */
  settings?: Record<string, unknown>;
  /** Extra environment for the server (and so the extension host and debuggees). */
  env?: Record<string, string | undefined>;
  /** Copy the server's output to stderr as it comes (also on with AXOLOTL_E2E_VERBOSE=1). */
  verbose?: boolean;
  /** Keep the temp dir after stop() (also on with AXOLOTL_E2E_KEEP=1); its path is logged. */
  keepTemp?: boolean;
  /** How long to wait for /healthz. Default 30 s. */
  startTimeoutMs?: number;
}

export interface StopResult {
  /** Every PID seen in the server's process tree. */
  pids: number[];
  /** Descendants still alive after the server itself had exited, so SIGTERMed directly. */
  terminated: number[];
  /** PIDs that had to be SIGKILLed after that. */
  killed: number[];
}

export interface CodeServer {
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** PID of the code-server `node` process itself. */
  readonly pid: number;
  readonly workspace: string;
  readonly tempDir: string;
  readonly userDataDir: string;
  readonly extensionsDir: string;
  /** URL that opens `folder` (default: the workspace) in the workbench. */
  folderUrl(folder?: string): string;
  /** Everything the server printed so far. */
  output(): string;
  /** Text of the server's VS Code log files (exthost, remoteagent, ...), for failure reports. */
  vscodeLogs(): string;
  /** PIDs of the server process and all of its descendants right now. */
  processTree(): number[];
  /** Stops the server and every descendant, then removes the temp dir. Safe to call twice. */
  stop(graceMs?: number): Promise<StopResult>;
}

/** Settings that keep the workbench quiet and deterministic in tests. */
export const DEFAULT_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'files.hotExit': 'off',
  'chat.commandCenter.enabled': false,
  'window.restoreWindows': 'none',
};

/** Folder of the installed code-server package (what install-e2e.sh prints last). */
export function codeServerDir(): string {
  if (process.env.AXOLOTL_CODE_SERVER_DIR) return process.env.AXOLOTL_CODE_SERVER_DIR;
  const home = process.env.AXOLOTL_E2E_HOME || path.join(os.homedir(), '.cache', 'axolotl-e2e');
  return path.join(home, `code-server-${CODE_SERVER_VERSION}`, 'node_modules', 'code-server');
}

function entryScript(): string {
  const entry = path.join(codeServerDir(), 'out', 'node', 'entry.js');
  if (!existsSync(entry)) {
    throw new Error(`code-server not found at ${entry}; run scripts/install-e2e.sh first`);
  }
  return entry;
}

// ---- processes ---------------------------------------------------------------------------

interface ProcInfo { ppid: number; state: string }

function readProcs(): Map<number, ProcInfo> {
  const procs = new Map<number, ProcInfo>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), { state: rest[0], ppid: Number(rest[1]) });
    } catch {
      // exited while we looked
    }
  }
  return procs;
}

/** PIDs of `roots` and all of their living descendants (zombies count as gone). */
export function descendantPids(roots: number | number[]): number[] {
  const procs = readProcs();
  const children = new Map<number, number[]>();
  for (const [pid, p] of procs) {
    const list = children.get(p.ppid);
    if (list) list.push(pid); else children.set(p.ppid, [pid]);
  }
  const seen = new Set<number>();
  const queue = Array.isArray(roots) ? [...roots] : [roots];
  while (queue.length) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    const info = procs.get(pid);
    if (!info || info.state === 'Z' || info.state === 'X') continue;
    seen.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...seen];
}

/** True while `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Stops `root` and all of its descendants. Descendants are collected before the first signal and
 * re-collected while waiting, so children started late are caught too.
 *  1. SIGTERM `root` and wait (up to `graceMs`) for it to exit: code-server shuts its sessions down.
 *  2. SIGTERM the descendants still alive (orphans such as an extension host that lingers for a
 *     reconnection grace period) and wait up to 3 s.
 *  3. SIGKILL whatever is left, and the process group, and wait until all are gone.
 */
export async function stopProcessTree(root: number, graceMs = 5000): Promise<StopResult> {
  const all = new Set<number>(descendantPids(root));
  all.add(root);
  const terminated: number[] = [];
  const killed: number[] = [];
  const alive = () => [...all].filter(isAlive);
  const collect = () => { for (const pid of descendantPids(alive())) all.add(pid); };
  const waitUntil = async (done: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    for (;;) {
      collect();
      if (done() || Date.now() >= deadline) return done();
      await sleep(25);
    }
  };

  signal(root, 'SIGTERM');
  await waitUntil(() => !isAlive(root), graceMs);
  if (!(await waitUntil(() => alive().length === 0, 200))) {
    for (const pid of alive()) { terminated.push(pid); signal(pid, 'SIGTERM'); }
    await waitUntil(() => alive().length === 0, 3000);
  }
  if (alive().length > 0) {
    for (const pid of alive()) { killed.push(pid); signal(pid, 'SIGKILL'); }
    signal(-root, 'SIGKILL'); // the server runs in its own process group
    const deadline = Date.now() + 5000;
    while (alive().length > 0 && Date.now() < deadline) {
      for (const pid of alive()) signal(pid, 'SIGKILL');
      await sleep(25);
      collect();
    }
    const left = alive();
    if (left.length) throw new Error(`processes still alive after SIGKILL: ${left.join(', ')}`);
  }
  return { pids: [...all].sort((a, b) => a - b), terminated, killed };
}

// Last resort when the test process ends without stop() (a test that timed out, an uncaught
// error, Ctrl-C): kill what is still running. The servers run in their own process group, so a
// terminal's SIGINT does not reach them; these handlers do.
const running = new Set<{ pid: number; tempDir: string; keep: boolean }>();
function killAllSync(): void {
  for (const s of running) {
    for (const pid of descendantPids(s.pid)) signal(pid, 'SIGKILL');
    signal(-s.pid, 'SIGKILL');
    if (!s.keep) try { rmSync(s.tempDir, { recursive: true, force: true }); } catch { /* ignore */ }
  }
  running.clear();
}
process.on('exit', killAllSync);
const onSignal = (sig: NodeJS.Signals) => {
  killAllSync();
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeListener(s, onSignal);
  process.kill(process.pid, sig); // die of the same signal as without this handler
};
let signalsHooked = false;
function hookSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
}

// ---- server ------------------------------------------------------------------------------

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

function commonArgs(dirs: { config: string; userData: string; extensions: string }): string[] {
  return ['--config', dirs.config, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions];
}

function runToEnd(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const out = stdout + stderr;
        if (err) reject(new Error(`${path.basename(args[0])} ${args.slice(1).join(' ')} failed: ${err.message}\n${out}`));
        else resolve(out);
      });
    child.stdin?.end();
  });
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Starts a fresh code-server and waits until /healthz answers. */
export async function startCodeServer(options: CodeServerOptions = {}): Promise<CodeServer> {
  const entry = entryScript();
  const verbose = options.verbose ?? process.env.AXOLOTL_E2E_VERBOSE === '1';
  const keep = options.keepTemp ?? process.env.AXOLOTL_E2E_KEEP === '1';
  const tempDir = mkdtempSync(path.join(os.tmpdir(), 'axolotl-e2e-'));
  const dirs = {
    config: path.join(tempDir, 'config.yaml'),
    userData: path.join(tempDir, 'user-data'),
    extensions: path.join(tempDir, 'extensions'),
  };
  const workspace = options.workspace ?? path.join(tempDir, 'workspace');

  try {
    mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
    mkdirSync(dirs.extensions, { recursive: true });
    mkdirSync(workspace, { recursive: true });
    for (const [rel, text] of Object.entries(options.files ?? {})) {
      const file = path.join(workspace, rel);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    writeFileSync(path.join(dirs.userData, 'User', 'settings.json'),
      JSON.stringify({ ...DEFAULT_SETTINGS, ...options.settings }, null, 2));
    // Always a config file of our own: without --config code-server writes one into ~/.config.
    writeFileSync(dirs.config, 'auth: none\ncert: false\n');

    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    // Variables that would make the server think it runs inside another VS Code.
    for (const k of Object.keys(env)) {
      if (k.startsWith('VSCODE_') || k === 'ELECTRON_RUN_AS_NODE') delete env[k];
    }

    const vsixes = options.vsix === undefined ? [] : Array.isArray(options.vsix) ? options.vsix : [options.vsix];
    for (const vsix of vsixes) {
      if (!existsSync(vsix)) throw new Error(`vsix not found: ${vsix}`);
      await runToEnd([entry, ...commonArgs(dirs), '--install-extension', path.resolve(vsix)], env, 120_000);
    }

    const startTimeout = options.startTimeoutMs ?? 30_000;
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const child = spawn(process.execPath, [
        entry, ...commonArgs(dirs),
        '--bind-addr', `127.0.0.1:${port}`,
        '--auth', 'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--ignore-last-opened',
        workspace,
      ], { env, cwd: workspace, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const record = { pid: child.pid!, tempDir, keep };
      running.add(record);
      hookSignals();
      // Do not keep the test process alive for the server's sake: if a test ends without stop(),
      // the process exits and the 'exit' hook above kills the server.
      child.unref();
      (child.stdout as unknown as { unref(): void }).unref();
      (child.stderr as unknown as { unref(): void }).unref();
      let out = '';
      const onData = (d: Buffer) => { out += d.toString(); if (verbose) process.stderr.write(d); };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      let exited: string | undefined;
      child.on('exit', (code, sig) => { exited = `exited with ${sig ?? code}`; });

      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + startTimeout;
      let ready = false;
      while (!exited && Date.now() < deadline) {
        if ((await httpStatus(`${url}/healthz`)) === 200) { ready = true; break; }
        await sleep(100);
      }
      if (!ready) {
        await stopProcessTree(child.pid!, 2000);
        running.delete(record);
        if (exited && /EADDRINUSE/.test(out) && attempt < 3) continue; // port taken meanwhile
        throw new Error(`code-server did not become ready on ${url} (${exited ?? `timeout ${startTimeout} ms`}); output:\n${tail(out)}`);
      }
      return serverHandle(child.pid!, port, url, () => out);
    }
  } catch (err) {
    if (!keep) rmSync(tempDir, { recursive: true, force: true, maxRetries: 5 });
    throw err;
  }

  function serverHandle(pid: number, port: number, url: string, output: () => string): CodeServer {
    let stopping: Promise<StopResult> | undefined;
    return {
      port, url, pid, workspace, tempDir,
      userDataDir: dirs.userData,
      extensionsDir: dirs.extensions,
      folderUrl: (folder = workspace) => `${url}/?folder=${encodeURIComponent(path.resolve(folder))}`,
      output,
      vscodeLogs: () => collectLogs(path.join(dirs.userData, 'logs')),
      processTree: () => descendantPids(pid),
      stop(graceMs?: number) {
        stopping ??= (async () => {
          const result = await stopProcessTree(pid, graceMs);
          for (const r of running) if (r.pid === pid) running.delete(r);
          if (keep) process.stderr.write(`[e2e] kept ${tempDir}\n`);
          else rmSync(tempDir, { recursive: true, force: true, maxRetries: 5 });
          return result;
        })();
        return stopping;
      },
    };
  }
}

function collectLogs(dir: string): string {
  const parts: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try { entries = readdirSync(d); } catch { return; }
    for (const name of entries.sort()) {
      const p = path.join(d, name);
      if (name.endsWith('.log')) {
        try { parts.push(`==== ${path.relative(dir, p)}\n${readFileSync(p, 'utf8')}`); } catch { walk(p); }
      } else {
        walk(p);
      }
    }
  };
  walk(dir);
  return parts.join('\n');
}
