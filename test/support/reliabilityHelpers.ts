// Helpers shared by the reliability tests (test/integration/reliability-*.test.ts): a live `axolotl`
// CLI process that tests can watch and signal, fixture workspaces, leftover-process checks.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CLI, REPO, isRunning, processesMatching, spawnInGroup, tempDir } from './engineHelpers';

export const RELIABILITY = path.join(REPO, 'test', 'fixtures', 'reliability');
export const SLOW = process.env.AXOLOTL_SLOW_TESTS === '1';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every workspace this test file made (node --test runs each file in its own process). */
const made: string[] = [];

/** Fails if a process of any workspace this file made is still running. */
export function assertNothingLeftRunning(): Promise<void> {
  return assertNoProcesses(made);
}

/** A fresh folder (real path) holding copies of the named fixture files. */
export function workspace(...files: string[]): string {
  const dir = fs.realpathSync(tempDir('axl-rel-'));
  made.push(dir);
  for (const f of files) fs.copyFileSync(path.join(RELIABILITY, f), path.join(dir, path.basename(f)));
  return dir;
}

/** The environment without any model configuration from the machine running the tests. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: tempDir('axl-xdg-'), PYTHONDONTWRITEBYTECODE: '1', NO_COLOR: '1' };
  for (const k of Object.keys(env)) if (/^(AXOLOTL_|OPENAI_)/.test(k)) delete env[k];
  return { ...env, ...extra };
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `node dist/cli.js …` running in the background. */
export class LiveCli {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  stdoutBytes = 0;
  readonly done: Promise<CliResult>;
  private waiters: Array<() => void> = [];

  constructor(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; keepStdout?: boolean; stdin?: 'pipe' | 'ignore' } ) {
    this.child = spawnInGroup(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
    const keep = opts.keepStdout !== false;
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdoutBytes += d.length;
      if (keep) this.stdout += d.toString('utf8');
      this.wake();
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString('utf8'); this.wake(); });
    this.done = new Promise((resolve) => {
      this.child.once('close', (status, signal) => { this.wake(); resolve({ status, signal, stdout: this.stdout, stderr: this.stderr }); });
    });
  }

  get pid(): number { return this.child.pid!; }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits until `pred` holds (checked at every output), or fails after `timeoutMs`. */
  async until(what: string, pred: () => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.done.then(() => { exited = true; });
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- stdout (end):\n${this.stdout.slice(-1500)}\n--- stderr (end):\n${this.stderr.slice(-3000)}`);
      if (exited) throw new Error(`axolotl exited before ${what}\n--- stdout (end):\n${this.stdout.slice(-1500)}\n--- stderr:\n${this.stderr.slice(-3000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  waitStderr(re: RegExp, timeoutMs?: number): Promise<void> {
    return this.until(`stderr ${re}`, () => re.test(this.stderr), timeoutMs);
  }

  waitStdout(re: RegExp, timeoutMs?: number): Promise<void> {
    return this.until(`stdout ${re}`, () => re.test(this.stdout), timeoutMs);
  }

  signal(sig: NodeJS.Signals): void {
    try { process.kill(this.pid, sig); } catch { /* gone */ }
  }

  /** Result, or a failure (and SIGKILL) after `timeoutMs`. */
  async result(timeoutMs = 120_000): Promise<CliResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        reject(new Error(`axolotl did not finish in ${timeoutMs} ms\n--- stderr (end):\n${this.stderr.slice(-3000)}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Descendant PIDs of `pid` (from /proc), deepest last. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let tids: string[] = [];
    try { tids = fs.readdirSync(`/proc/${p}/task`); } catch { return; }
    for (const t of tids) {
      try {
        for (const c of fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(/\s+/).filter(Boolean)) {
          out.push(Number(c));
          walk(Number(c));
        }
      } catch { /* gone */ }
    }
  };
  walk(pid);
  return out;
}

/** Fails if any running process's command line mentions one of `needles`; waits up to `graceMs` first. */
export async function assertNoProcesses(needles: string[], graceMs = 3000): Promise<void> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left = needles.flatMap((n) => processesMatching(n).map((p) => `${p} (${n}): ${cmdline(p)}`));
    if (!left.length) return;
    if (Date.now() > deadline) assert.fail(`processes left behind:\n${left.join('\n')}`);
    await sleep(100);
  }
}

export function cmdline(pid: number): string {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim(); } catch { return '?'; }
}

/** Peak and current resident memory of a process, in bytes. */
export function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Waits for a process to be gone (or a zombie). */
export async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** criu processes (dump or restore) that are children of `parent`, or of anyone when undefined. */
export function criuProcesses(kind: 'dump' | 'restore', parent?: number): number[] {
  return processesMatching(`\0${kind}\0`).filter((p) => {
    const cmd = cmdline(p);
    if (!/criu/.test(cmd)) return false;
    if (parent === undefined) return true;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return ppid === parent || descendants(parent).includes(p);
    } catch {
      return false;
    }
  });
}

/** sha256-free equality of a whole source tree: path → text. */
export function readTree(dir: string, filter: (rel: string) => boolean = (r) => r.endsWith('.py')): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, abs);
    if (filter(rel)) out[rel] = fs.readFileSync(abs, 'utf8');
  }
  return out;
}
