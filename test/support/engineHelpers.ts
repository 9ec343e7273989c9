// Helpers for tests that drive the engine on real processes and real criu.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'node:test';
import { findCriu, whyNot } from '../../adapter/engine/criuLocator';
import { isRunning } from '../../adapter/engine/programCopy';
import { Supervisor } from '../../adapter/engine/supervisor';
import type { RunOptions } from '../../adapter/engine/types';

/** Exists and is not a zombie (the engine's own test). */
export { isRunning };

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const PROGRAMS = path.join(REPO, 'test', 'fixtures', 'programs');
export const CLI = path.join(REPO, 'dist', 'cli.js');

let criuPath: string | undefined;

/** The working criu, or a thrown error: these tests exist to run on real criu, never to be skipped. */
export async function requireCriu(): Promise<string> {
  if (criuPath) return criuPath;
  const st = await findCriu();
  if (!st?.works) throw new Error(`no criu that works here (${st ? whyNot(st) : "none found"}); run scripts/install-criu.sh`);
  return (criuPath = st.path);
}

const made: string[] = [];
// Checkpoint images run to gigabytes (the 1 GB program, 50 repair cycles): a suite takes its temporary
// folders with it when its process ends, passed or failed.
process.once('exit', () => {
  for (const d of made) try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ }
});

/** Processes tests started, each the leader of its own process group. */
const started = new Set<ChildProcess>();

/**
 * Spawns a process that leads its own process group, so that a test that fails or times out can kill
 * it with everything it started (the engine's keeper then ends the program, criu and snapshots too).
 */
export function spawnInGroup(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  const child = spawn(cmd, args, { ...opts, detached: true });
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

/** Kills the process groups tests started that are still there. */
export function killStarted(): void {
  for (const c of started) {
    if (c.pid !== undefined) try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  started.clear();
}
// After every test, passed, failed or timed out, and when the test file's process ends.
afterEach(killStarted);
process.once('exit', killStarted);

export function tempDir(prefix = 'axl-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function runOptions(program: string, over: Partial<RunOptions> = {}): RunOptions {
  const abs = path.isAbsolute(program) ? program : path.join(PROGRAMS, program);
  return {
    program: abs, args: [], cwd: path.dirname(abs), env: {}, python: 'python3', interval: 0.3,
    workingDir: tempDir(), backend: 'criu', agent: false, root: path.dirname(abs), verbose: false,
    ...over,
  };
}

/** Collects a supervisor's output as text and lets tests wait for lines. */
export class OutputLog {
  text = '';
  private waiters: { re: RegExp; from: number; resolve: (m: RegExpExecArray) => void }[] = [];

  constructor(sup: Supervisor) {
    sup.on('output', (o) => {
      this.text += o.data.toString('utf8');
      this.waiters = this.waiters.filter((w) => {
        const m = w.re.exec(this.text.slice(w.from));
        if (m) w.resolve(m);
        return !m;
      });
    });
  }

  /** Resolves with the first match of `re` in output produced after offset `from`. */
  waitFor(re: RegExp, from = 0, timeoutMs = 20_000): Promise<RegExpExecArray> {
    const m = re.exec(this.text.slice(from));
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} in output:\n${this.text.slice(-2000)}`)), timeoutMs);
      this.waiters.push({ re, from, resolve: (mm) => { clearTimeout(t); resolve(mm); } });
    });
  }
}

export function waitForEvent<K extends keyof import('../../adapter/engine/types').EngineEvents>(
  sup: Supervisor, name: K, pred: (...a: import('../../adapter/engine/types').EngineEvents[K]) => boolean = () => true, timeoutMs = 30_000,
): Promise<import('../../adapter/engine/types').EngineEvents[K]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { sup.off(name, h as never); reject(new Error(`timed out waiting for engine event ${name}`)); }, timeoutMs);
    const h = (...a: import('../../adapter/engine/types').EngineEvents[K]) => {
      if (!pred(...a)) return;
      clearTimeout(t);
      sup.off(name, h as never);
      resolve(a);
    };
    sup.on(name, h as never);
  });
}

/** Every running process whose command line mentions `needle` (to prove nothing was left behind). */
export function processesMatching(needle: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid || !isRunning(Number(d))) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(needle)) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}
