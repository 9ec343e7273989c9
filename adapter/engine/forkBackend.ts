// Checkpoints without root or CRIU: every checkpoint is a fork snapshot held in memory
// (snapshotPool.ts), and a rewind wakes it.
//
// Limits, by construction: only the forking thread exists in the copy (the agent refuses to fork
// while other threads run), child processes are not copied, and open files, sockets and file
// offsets are shared with the live program. Snapshots live only as long as the session.
import fs from 'node:fs';
import path from 'node:path';
import { residentBytes } from './adaptiveInterval';
import type { AgentMessage } from './agentProtocol';
import type { BackendEvents, CheckpointBackend, DumpResult, ProgramCopy } from './backend';
import { LiveCopy, spawnProgram } from './programCopy';
import type { SnapshotMemory } from './runDefaults';
import type { CheckpointRecord } from './runDir';
import { SNAPSHOT_REFUSED, SnapshotPool, type PoolLimits, type WakeVerdict } from './snapshotPool';
import { AxolotlError } from './types';

const SNAPSHOT_TIMEOUT_MS = 10_000;
/** Said with the first refused snapshot: what the user loses, and what protects such a program. */
export const CANNOT_PROTECT = 'Fork snapshots cannot protect this program while it runs other threads (a thread or process pool, a '
  + 'prefetch thread): it has no rewind point meanwhile, and a repair can only resume in place, which is refused where it would '
  + 'run top-level code again. `--backend criu` (as root, or through the pkexec helper) checkpoints the whole program: its '
  + 'threads, its child processes and the pipes between them.';
/** Snapshots kept alive at once, whatever the memory budget allows. */
export const MAX_HELD_SNAPSHOTS = 10;

export class ForkBackend implements CheckpointBackend {
  readonly kind = 'fork';
  private readonly pool: SnapshotPool;
  private readonly copies = new Map<number, LiveCopy>();
  private events?: BackendEvents;

  constructor(
    log: (level: 'debug' | 'warn', message: string) => void = () => undefined,
    private readonly memory: SnapshotMemory = {},
  ) {
    this.pool = new SnapshotPool(SNAPSHOT_TIMEOUT_MS, log);
  }

  attach(events: BackendEvents): void {
    this.events = events;
  }

  async launch(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProgramCopy> {
    return this.track(spawnProgram(command, args, cwd, env, () => this.pool.pids()));
  }

  async dump(copy: ProgramCopy, dir: string, opts: { id: number }): Promise<DumpResult> {
    await this.pool.whenReady(copy);
    const started = performance.now();
    const msg = await this.pool.take(copy.pid, () => copy.signal('SIGUSR2'), copy.exited).catch((e: Error) => {
      throw e instanceof AxolotlError && e.message === SNAPSHOT_REFUSED ? new AxolotlError(e.message, e.hint, CANNOT_PROTECT) : e;
    });
    const dumpMs = performance.now() - started;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.pool.hold(opts.id, msg, (copy as LiveCopy).channel);
    fs.writeFileSync(path.join(dir, 'snapshot.json'), JSON.stringify({ pid: msg.pid, parent: msg.parent, warnings: msg.warnings ?? [] }) + '\n');
    this.trim(copy.pid);
    return { frozenMs: msg.pauseMs ?? dumpMs, dumpMs, bytes: 0, inMemory: true, saved: false };
  }

  async restore(rec: CheckpointRecord): Promise<ProgramCopy> {
    const h = this.pool.wake(rec.id);
    return this.track(new LiveCopy(h.pid, h.channel, { kind: 'watch' }, () => this.pool.pids()));
  }

  async prepareRestore(): Promise<void> {
    await this.pool.settled();
  }

  heldPids(): ReadonlySet<number> {
    return this.pool.pids();
  }

  holds(id: number): boolean {
    return this.pool.get(id) !== undefined;
  }

  discard(rec: CheckpointRecord): void {
    this.pool.drop(rec.id);
    if (rec.dir) fs.rmSync(rec.dir, { recursive: true, force: true });
  }

  wakeVerdict(pid: number): WakeVerdict {
    return this.pool.wakeVerdict(pid);
  }

  onAgentMessage(msg: AgentMessage): void {
    if (msg.type === 'exit') {
      const copy = this.copies.get(msg.pid);
      if (copy) copy.exitCode = msg.code;
    }
    this.pool.onAgentMessage(msg);
  }

  async close(): Promise<void> {
    this.pool.close();
  }

  /** Drops the oldest snapshots beyond the count and memory limits (the live program is `pid`). */
  private trim(pid: number): void {
    for (const { id, why } of this.pool.trim(poolLimits(this.memory, pid))) this.events?.released(id, why);
  }

  private track(copy: LiveCopy): LiveCopy {
    this.copies.set(copy.pid, copy);
    void copy.exited.then(() => this.copies.delete(copy.pid));
    return copy;
  }
}

/** The pool's limits for a program `pid` of its current size. */
export function poolLimits(memory: SnapshotMemory, pid: number): PoolLimits {
  if (memory.bytes !== undefined) return { maxHeld: MAX_HELD_SNAPSHOTS, budgetBytes: memory.bytes };
  const rss = residentBytes(pid);
  return { maxHeld: MAX_HELD_SNAPSHOTS, budgetBytes: rss === undefined ? undefined : rss * (memory.rssFactor ?? 1) };
}

