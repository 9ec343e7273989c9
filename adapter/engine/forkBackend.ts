// Checkpoints without root or CRIU: the agent forks a stopped copy of the program on SIGUSR2
// (copy-on-write, a few ms even at hundreds of MB) and restoring wakes that copy.
//
// Limits, by construction: only the forking thread exists in the copy (the agent refuses to fork
// while other threads run), child processes are not copied, and open files, sockets and file
// offsets are shared with the live program. A woken snapshot is gone, so before waking one we queue
// SIGUSR2 as well: its first act is to fork a replacement, which keeps the checkpoint restorable.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import type { AgentMessage } from './agentProtocol';
import { residentBytes } from './adaptiveInterval';
import type { CheckpointBackend, DumpResult, ProgramCopy } from './backend';
import type { CheckpointRecord } from './runDir';
import { SnapshotSource, killSnapshot } from './snapshotSource';
import { AxolotlError, type ExitEvent } from './types';

const SNAPSHOT_TIMEOUT_MS = 10_000;

/** One live copy: the launched process or a woken snapshot. Output arrives through the backend. */
class ForkCopy implements ProgramCopy {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly stdioInodes: number[] = [];
  readonly exited: Promise<ExitEvent>;
  private resolveExit!: (ev: ExitEvent) => void;
  private done?: ExitEvent;
  /** code from the agent's `exit` message, for copies that are not our children */
  exitCode?: number;
  private killed = false;
  private watch?: NodeJS.Timeout;

  constructor(readonly pid: number, readonly stdin: Writable, child?: ChildProcess) {
    this.exited = new Promise((resolve) => { this.resolveExit = resolve; });
    if (child) {
      child.once('exit', (code, signal) => this.finish(signal
        ? { status: 128 + (os.constants.signals[signal] ?? 0), signal }
        : { status: code ?? 0 }));
    } else {
      // Not our child: watch /proc (a zombie or a vanished entry means it ended).
      this.watch = setInterval(() => { if (!isRunning(this.pid)) this.finish(this.statusGuess()); }, 50);
    }
  }

  get alive(): boolean { return this.done === undefined; }

  signal(sig: NodeJS.Signals): void {
    try { process.kill(this.pid, sig); } catch { /* gone */ }
  }

  async kill(): Promise<ExitEvent> {
    if (this.alive) {
      this.killed = true;
      this.signal('SIGKILL');
      // Not our child (a woken snapshot): see it go at once, not at the next /proc watch (a restore waits).
      if (this.watch) {
        for (let i = 0; i < 250 && isRunning(this.pid); i++) await new Promise((r) => setTimeout(r, 2));
        if (!isRunning(this.pid)) this.finish(this.statusGuess());
      }
    }
    const ev = await this.exited;
    await waitGone(this.pid);
    return ev;
  }

  finish(ev: ExitEvent): void {
    if (this.done) return;
    this.done = ev;
    if (this.watch) clearInterval(this.watch);
    // Output written just before the exit may still be in the shared sockets.
    setTimeout(() => { this.stdout.end(); this.stderr.end(); this.resolveExit(ev); }, 30);
  }

  private statusGuess(): ExitEvent {
    if (this.exitCode !== undefined) return { status: this.exitCode };
    return this.killed ? { status: 137, signal: 'SIGKILL' } : { status: 1 };
  }
}

export class ForkBackend implements CheckpointBackend {
  readonly kind = 'fork';
  private shared?: { stdin: Writable; child: ChildProcess };
  private active?: ForkCopy;
  private readonly copies = new Map<number, ForkCopy>();
  /** checkpoint dir → pid of the stopped snapshot that holds it */
  private readonly snapshots = new Map<string, number>();
  /** pid of a woken snapshot → the checkpoint dir its replacement will hold */
  private readonly replacing = new Map<number, string>();
  private readonly source = new SnapshotSource(SNAPSHOT_TIMEOUT_MS);
  private closed = false;

  constructor(private readonly log: (level: 'debug' | 'warn', message: string) => void = () => undefined) {}

  async launch(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProgramCopy> {
    const child = spawn(command, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new AxolotlError(`could not start ${command}`);
    child.stdin!.on('error', () => undefined);
    this.shared = { stdin: child.stdin!, child };
    // Every copy writes to the same sockets; the bytes belong to whichever copy is live.
    child.stdout!.on('data', (d: Buffer) => this.active?.stdout.write(d));
    child.stderr!.on('data', (d: Buffer) => this.active?.stderr.write(d));
    const copy = new ForkCopy(child.pid, child.stdin!, child);
    this.track(copy);
    return copy;
  }

  async dump(copy: ProgramCopy, dir: string): Promise<DumpResult> {
    await this.source.whenReady(copy);
    const started = performance.now();
    const msg = await this.source.request(copy.pid, () => copy.signal('SIGUSR2'), copy.exited);
    const dumpMs = performance.now() - started;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.snapshots.set(dir, msg.pid);
    fs.writeFileSync(path.join(dir, 'snapshot.json'), JSON.stringify({ pid: msg.pid, parent: msg.parent, warnings: msg.warnings ?? [] }) + '\n');
    // Its resident memory: pages it shares copy-on-write count in full, so an upper bound.
    return { frozenMs: msg.pauseMs ?? dumpMs, dumpMs, bytes: residentBytes(msg.pid) ?? 0 };
  }

  async restore(rec: CheckpointRecord, _attempt: number): Promise<ProgramCopy> {
    const dir = rec.dir!;
    const pid = this.snapshots.get(dir);
    if (pid === undefined || !isRunning(pid)) {
      throw new AxolotlError(`the snapshot of checkpoint ${rec.id} is gone`, 'Fork snapshots live only as long as this session; pick a later checkpoint.');
    }
    this.snapshots.delete(dir);
    this.replacing.set(pid, dir);
    // Queued while it is stopped: it forks its replacement before running user code.
    process.kill(pid, 'SIGUSR2');
    const copy = new ForkCopy(pid, this.shared!.stdin);
    this.source.markReady(pid); // a forked copy inherits the agent's signal handlers
    this.track(copy);
    return copy;
  }

  discard(rec: CheckpointRecord): void {
    const dir = rec.dir!;
    const pid = this.snapshots.get(dir);
    this.snapshots.delete(dir);
    if (pid !== undefined) killSnapshot(pid);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  onAgentMessage(msg: AgentMessage): void {
    if (msg.type === 'exit') {
      const copy = this.copies.get(msg.pid);
      if (copy) copy.exitCode = msg.code;
    }
    if (msg.type !== 'snapshot') return this.source.onAgentMessage(msg);
    if (this.closed) { // a snapshot that was in flight when the session ended
      if (msg.pid > 0) killSnapshot(msg.pid);
      return;
    }
    const dir = this.replacing.get(msg.parent);
    if (dir !== undefined) {
      this.replacing.delete(msg.parent);
      if (msg.pid > 0 && fs.existsSync(dir)) {
        this.snapshots.set(dir, msg.pid);
        fs.writeFileSync(path.join(dir, 'snapshot.json'), JSON.stringify({ pid: msg.pid, parent: msg.parent }) + '\n');
      } else if (msg.pid > 0) {
        killSnapshot(msg.pid); // its checkpoint was deleted meanwhile
      } else {
        this.log('warn', `checkpoint in ${dir} can no longer be restored: ${(msg.warnings ?? []).join('; ')}`);
      }
      return;
    }
    this.source.onAgentMessage(msg);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pid of this.snapshots.values()) killSnapshot(pid);
    this.snapshots.clear();
    // Every copy and snapshot descends from the launched process by fork and keeps its process
    // group, so the group catches one whose snapshot message is still on its way.
    const group = this.shared?.child.pid;
    if (group !== undefined) killSnapshot(-group);
    for (const copy of this.copies.values()) if (copy.alive) await copy.kill();
    // SIGKILL is asynchronous: the session has ended only when every member has.
    if (group !== undefined) await waitGroupGone(group);
  }

  private track(copy: ForkCopy): void {
    this.active = copy;
    this.copies.set(copy.pid, copy);
    void copy.exited.then(() => this.copies.delete(copy.pid));
  }
}

function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 200 && isRunning(pid); i++) await new Promise((r) => setTimeout(r, 10));
}

/** Waits (up to 2 s) until no running process is left in process group `pgid`. */
async function waitGroupGone(pgid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    let alive = false;
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[2]) === pgid && fields[0] !== 'Z') {
          alive = true;
          killSnapshot(Number(d));
        }
      } catch { /* gone */ }
    }
    if (!alive) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
