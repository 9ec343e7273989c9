// Checkpoints with CRIU: full dumps with --leave-running, restores through the subreaper wrapper.
// The debuggee's stdio are unix sockets shared with the engine; criu cannot dump the engine's end,
// so they are declared --external at dump and replaced by fresh sockets with --inherit-fd at restore.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { restoreWrapperPath } from './paths';
import type { CheckpointBackend, DumpResult, ProgramCopy } from './backend';
import type { CheckpointRecord } from './runDir';
import { RunningCopy, readStdioInodes, spawnOriginal } from './runningCopy';
import { AxolotlError } from './types';

export interface CriuOptions {
  /** the criu command (a launcher script or binary) */
  criu: string;
  /** interpreter used to run the restore wrapper */
  python: string;
  verbose: boolean;
}

export class CriuBackend implements CheckpointBackend {
  readonly kind = 'criu';

  constructor(private readonly opts: CriuOptions) {}

  async launch(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProgramCopy> {
    return spawnOriginal(command, args, cwd, env);
  }

  async dump(copy: ProgramCopy, dir: string): Promise<DumpResult> {
    const { pid, stdioInodes } = copy;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const started = performance.now();
    const args = [
      'dump', '-t', String(pid), '-D', dir, '--leave-running', '--display-stats',
      '-o', 'dump.log', this.opts.verbose ? '-v4' : '-v2',
      ...stdioInodes.flatMap((ino) => ['--external', `unix[${ino}]`]),
    ];
    const res = await execa(this.opts.criu, args, { reject: false, stdin: 'ignore' });
    const dumpMs = performance.now() - started;
    if (res.exitCode !== 0) {
      throw new AxolotlError(
        `criu could not checkpoint process ${pid}`,
        'See the criu log below; `axolotl doctor` checks the environment.',
        logTail(path.join(dir, 'dump.log')) || String(res.stderr),
      );
    }
    const frozen = /Frozen time:\s*(\d+)\s*us/.exec(String(res.stdout));
    return { frozenMs: frozen ? Number(frozen[1]) / 1000 : dumpMs, dumpMs, bytes: dirBytes(dir) };
  }

  /**
   * Restores the image in `dir` stopped (--leave-stopped), so the caller can queue signals for the
   * agent before any user code runs; the caller sends SIGCONT.
   */
  async restore(rec: CheckpointRecord, attempt: number): Promise<ProgramCopy> {
    const dir = rec.dir!;
    const stdioInodes = rec.stdioInodes;
    const pidfile = path.join(dir, `restore-${attempt}.pid`);
    fs.rmSync(pidfile, { force: true });
    const logName = `restore-${attempt}.log`;
    const criuArgs = [
      this.opts.criu, 'restore', '-D', dir, '-d', '--leave-stopped', '--pidfile', pidfile,
      '-o', logName, this.opts.verbose ? '-v4' : '-v2',
      ...stdioInodes.flatMap((ino, fd) => ['--inherit-fd', `fd[${fd}]:socket:[${ino}]`]),
    ];
    const child = spawn(this.opts.python, [restoreWrapperPath(), pidfile, ...criuArgs], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    const pid = await new Promise<number | undefined>((resolve) => {
      let buf = '';
      const control = child.stdio[3] as NodeJS.ReadableStream;
      control.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /pid (\d+)\n/.exec(buf);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => resolve(undefined));
      child.once('error', () => resolve(undefined));
    });
    if (pid === undefined) {
      throw new AxolotlError(
        `criu could not restore checkpoint ${path.basename(dir)}`,
        'See the criu log below.',
        logTail(path.join(dir, logName)),
      );
    }
    return new RunningCopy(pid, child, readStdioInodes(pid));
  }

  discard(rec: CheckpointRecord): void {
    if (rec.dir) fs.rmSync(rec.dir, { recursive: true, force: true });
  }

  restoreLog(rec: CheckpointRecord, attempt: number): string | undefined {
    try {
      return fs.readFileSync(path.join(rec.dir!, `restore-${attempt}.log`), 'utf8');
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {}
}

export function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += dirBytes(p);
    else if (entry.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

/** The last lines of a criu log: errors are at the end. */
export function logTail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
