// One live copy of the debuggee: the originally spawned process, or a copy restored from a checkpoint
// (whose parent is the subreaper wrapper). The supervisor only ever talks to the current copy; exits of
// copies it replaced are ignored.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ProgramCopy } from './backend';
import type { ExitEvent } from './types';

export class RunningCopy implements ProgramCopy {
  /** settles once the copy has exited and been reaped */
  readonly exited: Promise<ExitEvent>;
  private exitEvent?: ExitEvent;

  constructor(
    readonly pid: number,
    private readonly child: ChildProcess,
    /** inodes of the sockets behind fds 0-2, needed to dump (--external) and restore (--inherit-fd) */
    readonly stdioInodes: number[],
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitEvent = signal
          ? { status: 128 + (osSignalNumber(signal) ?? 0), signal }
          : { status: code ?? 0 };
        resolve(this.exitEvent);
      });
    });
  }

  get stdin(): Writable { return this.child.stdin!; }
  get stdout(): Readable { return this.child.stdout!; }
  get stderr(): Readable { return this.child.stderr!; }
  get alive(): boolean { return this.exitEvent === undefined; }

  /** Kills the whole process group (the program and any children it started) and waits for the reap. */
  async kill(): Promise<ExitEvent> {
    if (this.alive) {
      for (const target of [-this.pid, this.pid]) {
        try { process.kill(target, 'SIGKILL'); } catch { /* already gone */ }
      }
      // A restored copy's parent is the restore wrapper: it reaps the copy at once and exits. Killed
      // too, it would leave the copy to PID 1, which can take seconds to reap it (a restore waits for
      // the PID to be free). The wrapper is only killed if it has not gone by itself.
      if (this.child.pid !== this.pid) {
        const stuck = setTimeout(() => { try { process.kill(this.child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 1000);
        await this.exited;
        clearTimeout(stuck);
      }
    }
    const ev = await this.exited;
    await waitForPidGone(this.pid);
    return ev;
  }

  signal(sig: NodeJS.Signals): void {
    try { process.kill(this.pid, sig); } catch { /* gone */ }
  }
}

/** Spawns the program detached (its own session, so criu needs no --shell-job) with socket stdio. */
export function spawnOriginal(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): RunningCopy {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return new RunningCopy(child.pid, child, readStdioInodes(child.pid));
}

export function readStdioInodes(pid: number): number[] {
  return [0, 1, 2].map((fd) => {
    const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (!m) throw new Error(`fd ${fd} of ${pid} is ${link}, not a socket`);
    return Number(m[1]);
  });
}

/** A restored task stays in /proc until its parent reaps it; a restore before that fails "File exists". */
export async function waitForPidGone(pid: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (fs.existsSync(`/proc/${pid}`)) {
    const stat = readStat(pid);
    if (stat === 'Z' && Date.now() > deadline) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} did not go away`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function readStat(pid: number): string | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

function osSignalNumber(sig: NodeJS.Signals): number | undefined {
  return os.constants.signals[sig];
}
