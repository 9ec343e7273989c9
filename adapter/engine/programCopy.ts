// One live copy of the debuggee: the process the engine spawned, a copy criu restored (whose parent is
// the subreaper wrapper, which exits with its status), or a fork snapshot woken for a rewind (nobody's
// child of ours: its end is seen in /proc, its status comes from the agent's exit message). The
// supervisor only ever talks to the current copy; exits of copies it replaced are ignored.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { PassThrough, type Writable } from 'node:stream';
import type { ProgramCopy } from './backend';
import { processTree } from './procTree';
import { StdioChannel } from './stdioChannel';
import type { ExitEvent } from './types';

export type ExitSource =
  /** the program itself, our child */
  | { kind: 'child'; child: ChildProcess }
  /** the restore wrapper, which reaps the restored task and exits with its status */
  | { kind: 'wrapper'; child: ChildProcess }
  /** not our child (a woken snapshot) */
  | { kind: 'watch' };

export class LiveCopy implements ProgramCopy {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly exited: Promise<ExitEvent>;
  /** the code the agent reported in its exit message (the only word on a copy that is not our child) */
  exitCode?: number;
  private resolveExit!: (ev: ExitEvent) => void;
  private done?: ExitEvent;
  private killed = false;
  private watch?: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    readonly channel: StdioChannel,
    private readonly source: ExitSource,
    /** processes a kill must spare: the stopped snapshots the backend holds (forked from this copy) */
    private readonly spare: () => ReadonlySet<number> = () => new Set(),
  ) {
    this.exited = new Promise((resolve) => { this.resolveExit = resolve; });
    channel.attach(this);
    if (source.kind === 'watch') {
      this.watch = setInterval(() => { if (!isRunning(this.pid)) this.finish(this.statusGuess()); }, 50);
    } else {
      source.child.once('exit', (code, signal) => this.finish(signal
        ? { status: 128 + (os.constants.signals[signal] ?? 0), signal }
        : { status: code ?? 0 }));
    }
  }

  get stdin(): Writable { return this.channel.stdin; }
  get stdioInodes(): number[] { return this.channel.inodes; }
  get alive(): boolean { return this.done === undefined; }

  signal(sig: NodeJS.Signals): void {
    try { process.kill(this.pid, sig); } catch { /* gone */ }
  }

  /** Kills the copy and every process it started, but not the snapshots held of it; waits for the end. */
  async kill(): Promise<ExitEvent> {
    if (this.alive) {
      this.killed = true;
      killTree(this.pid, this.spare());
      if (this.source.kind === 'wrapper') {
        // The wrapper reaps the copy at once and exits. Killed too, it would leave the copy to PID 1,
        // which can take seconds to reap it (a restore waits for the PID to be free): only if stuck.
        const wrapper = this.source.child;
        const stuck = setTimeout(() => { try { process.kill(wrapper.pid!, 'SIGKILL'); } catch { /* gone */ } }, 1000);
        await this.exited;
        clearTimeout(stuck);
      } else if (this.source.kind === 'watch') {
        for (let i = 0; i < 250 && isRunning(this.pid); i++) await new Promise((r) => setTimeout(r, 2));
        if (!isRunning(this.pid)) this.finish(this.statusGuess());
      }
    }
    const ev = await this.exited;
    await waitForPidGone(this.pid);
    return ev;
  }

  private finish(ev: ExitEvent): void {
    if (this.done) return;
    this.done = ev;
    if (this.watch) clearInterval(this.watch);
    // What it wrote just before it ended may still be in the sockets.
    void this.channel.settle().then(() => {
      this.channel.detach(this);
      this.stdout.end();
      this.stderr.end();
      this.resolveExit(ev);
    });
  }

  private statusGuess(): ExitEvent {
    if (this.exitCode !== undefined) return { status: this.exitCode };
    return this.killed ? { status: 137, signal: 'SIGKILL' } : { status: 1 };
  }
}

/** Spawns the program detached (its own session, so nothing of ours is in its way) with socket stdio. */
export function spawnProgram(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, spare?: () => ReadonlySet<number>): LiveCopy {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const channel = new StdioChannel(keepStdin(child), child.stdout!, child.stderr!, readStdioInodes(child.pid));
  return new LiveCopy(child.pid, channel, { kind: 'child', child }, spare);
}

/**
 * The child's stdin, kept open when the child exits: Node destroys a child's stdin at its exit, but its
 * fork snapshots hold the same socket and one woken later reads on from it. The channel closes it once
 * no process holds the sockets any more.
 */
export function keepStdin(child: ChildProcess): Writable {
  const stdin = child.stdin!;
  (child as { stdin: Writable | null }).stdin = null;
  return stdin;
}

export function readStdioInodes(pid: number): number[] {
  return [0, 1, 2].map((fd) => {
    const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (!m) throw new Error(`fd ${fd} of ${pid} is ${link}, not a socket`);
    return Number(m[1]);
  });
}

/**
 * SIGKILLs `root` and its descendants, except the `spare` ones and theirs. The root is stopped first, so
 * that it cannot fork while its tree is read. Not by process group: the snapshots held of a program are
 * in its group.
 */
export function killTree(root: number, spare: ReadonlySet<number>): void {
  try { process.kill(root, 'SIGSTOP'); } catch { return; }
  for (const pid of processTree(root, spare)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

export function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A restored task stays in /proc until its parent reaps it; a restore before that fails "File exists". */
export async function waitForPidGone(pid: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (fs.existsSync(`/proc/${pid}`)) {
    const zombie = !isRunning(pid);
    if (Date.now() > deadline) {
      if (zombie) return;
      throw new Error(`process ${pid} did not go away`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
