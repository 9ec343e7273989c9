// Fork snapshots held as in-memory rewind points. On SIGUSR2 the agent forks a stopped copy-on-write
// copy of the program (a few ms at any size) and reports it in a `snapshot` message; the pool keeps
// such copies, one per checkpoint, and wakes one for a rewind. Both backends use it: the fork backend
// has nothing else, the criu backend persists some of the held copies with criu beside the program.
//
// A held copy runs nothing until the engine says so: each time it is continued it asks (`wake`), and
// only a copy the pool woke on purpose is told "go" (criu may resume a task it dumps; the kernel
// continues stopped members of an orphaned process group). A woken copy first forks its replacement
// (a SIGUSR2 queued while it is stopped), so the checkpoint stays restorable.
//
// Held copies cost memory as the program runs on: every page either side writes is copied. The pool
// measures that cost (the copies' private pages, /proc/PID/smaps_rollup) and drops the oldest copies
// to stay within a budget.
import fs from 'node:fs';
import type { AgentMessage, SnapshotMessage } from './agentProtocol';
import { isRunning } from './programCopy';
import type { StdioChannel } from './stdioChannel';
import { AxolotlError } from './types';

export interface HeldSnapshot {
  /** the checkpoint it holds */
  id: number;
  pid: number;
  /** the sockets it inherited: its output arrives there once it is woken */
  channel: StdioChannel;
  /** regular files it has open for writing (shared with the live program) */
  writableFiles: number;
  takenAt: number;
}

export type WakeVerdict = 'go' | 'stop' | 'exit';

/** The agent refused to fork (other threads run): the message of the error `take` rejects with. */
export const SNAPSHOT_REFUSED = 'the program cannot be snapshotted by fork';

export interface PoolLimits {
  /** most copies held at once */
  maxHeld: number;
  /** most memory (bytes) the held copies may cost together; undefined: no limit */
  budgetBytes?: number;
}

export class SnapshotPool {
  /** processes whose agent has installed its SIGUSR2 handler (before that, SIGUSR2 would kill them) */
  private readonly ready = new Set<number>();
  private readyWaiters: Array<() => void> = [];
  /** snapshot requests waiting for their answer, by the pid asked */
  private readonly waiting = new Map<number, (m: SnapshotMessage) => void>();
  private readonly held = new Map<number, HeldSnapshot>();
  /** a woken copy's pid → the checkpoint its replacement will hold, and who waits for it */
  private readonly replacing = new Map<number, { id: number; channel: StdioChannel; done: () => void; settled: Promise<void> }>();
  /** copies woken on purpose, not yet told "go" */
  private readonly go = new Set<number>();
  private closed = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly log: (level: 'debug' | 'warn', message: string) => void = () => undefined,
  ) {}

  /** Agent messages: readiness, exits, and the snapshots asked for. */
  onAgentMessage(msg: AgentMessage): void {
    if (msg.type === 'hello' || msg.type === 'poll') {
      this.ready.add(msg.pid);
      for (const w of this.readyWaiters.splice(0)) w();
    } else if (msg.type === 'exit') {
      this.ready.delete(msg.pid); // it ignores SIGUSR2 from now on
    } else if (msg.type === 'snapshot') {
      this.onSnapshot(msg);
    }
  }

  /** What a continued copy may do. */
  wakeVerdict(pid: number): WakeVerdict {
    if (this.go.delete(pid)) return 'go';
    return this.closed ? 'exit' : 'stop';
  }

  /** `pid` will ask when continued and may run (a copy criu restored from a snapshot's image). */
  allowWake(pid: number): void {
    this.go.add(pid);
  }

  canAsk(pid: number): boolean {
    return this.ready.has(pid);
  }

  /** Waits (up to the timeout) until the agent in `copy` can be asked. */
  async whenReady(copy: { pid: number; alive: boolean }): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    while (!this.ready.has(copy.pid)) {
      if (!copy.alive || Date.now() > deadline) {
        throw new AxolotlError(`the agent in process ${copy.pid} never said hello`, 'Fork snapshots need the agent (do not use --no-agent).');
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        this.readyWaiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /**
   * Asks process `pid` (by `signal`) for a stopped fork of itself. Rejects when the agent refuses (other
   * threads), when no answer comes in time, or as soon as the process ends (`exited`).
   */
  take(pid: number, signal: () => void, exited: Promise<unknown>): Promise<SnapshotMessage> {
    return new Promise((resolve, reject) => {
      const settle = (fn: () => void) => {
        if (!this.waiting.has(pid)) return;
        clearTimeout(timer);
        this.waiting.delete(pid);
        fn();
      };
      const timer = setTimeout(() => settle(() => reject(new AxolotlError(
        `process ${pid} did not take a fork snapshot within ${this.timeoutMs / 1000} s`, 'Is it running under the agent (not --no-agent)?',
      ))), this.timeoutMs);
      this.waiting.set(pid, (msg) => settle(() => (msg.pid > 0
        ? resolve(msg)
        : reject(new AxolotlError(SNAPSHOT_REFUSED, (msg.warnings ?? []).join('; '))))));
      // An exiting program ignores the request (the agent turns SIGUSR2 off once it reports its exit).
      void exited.then(() => settle(() => reject(new AxolotlError(`process ${pid} ended before its snapshot`))));
      signal();
    });
  }

  hold(id: number, msg: SnapshotMessage, channel: StdioChannel): HeldSnapshot {
    const h: HeldSnapshot = { id, pid: msg.pid, channel, writableFiles: msg.writableFiles ?? 0, takenAt: Date.now() };
    this.held.set(id, h);
    return h;
  }

  get(id: number): HeldSnapshot | undefined {
    const h = this.held.get(id);
    return h && isRunning(h.pid) ? h : undefined;
  }

  /** Held checkpoint ids, oldest first. */
  ids(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /** Every process the pool holds: a kill of the program must spare them. */
  pids(): ReadonlySet<number> {
    return new Set([...this.held.values()].map((h) => h.pid));
  }

  /**
   * Takes the copy holding checkpoint `id` out of the pool and lets it run: the caller continues it
   * (SIGCONT) and it becomes the live program. Its replacement, forked first, keeps holding `id`.
   */
  wake(id: number): HeldSnapshot {
    const h = this.get(id);
    if (!h) throw new AxolotlError(`the snapshot of checkpoint ${id} is gone`, 'Fork snapshots live only as long as this session; pick a later checkpoint.');
    this.held.delete(id);
    let done = () => undefined as void;
    const settled = new Promise<void>((resolve) => { done = resolve; });
    this.replacing.set(h.pid, { id, channel: h.channel, done, settled });
    this.go.add(h.pid);
    this.ready.add(h.pid); // a forked copy inherits the agent's signal handlers
    // Queued while it is stopped: it forks its replacement before running user code.
    try { process.kill(h.pid, 'SIGUSR2'); } catch { /* gone: the caller sees it exit */ }
    return h;
  }

  /**
   * Resolves once the replacements of woken copies are held (or after `timeoutMs`): a copy is killed
   * with its children, and a replacement the pool does not know of yet would go with it.
   */
  async settled(timeoutMs = 2000): Promise<void> {
    const pending = [...this.replacing.entries()].filter(([pid]) => isRunning(pid)).map(([, r]) => r.settled);
    if (!pending.length) return;
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, timeoutMs))]);
  }

  /** Ends the copy holding checkpoint `id`, if any. */
  drop(id: number): void {
    const h = this.held.get(id);
    this.held.delete(id);
    if (h) kill(h.pid);
  }

  /** Private memory of the held copies: what the pool costs beyond the program itself. */
  costBytes(): number {
    let total = 0;
    for (const h of this.held.values()) total += privateBytes(h.pid) ?? 0;
    return total;
  }

  /**
   * Drops the oldest copies (never the newest, nor `busy`: one criu is saving) until the pool is within
   * `limits`; returns the checkpoint ids dropped, with why.
   */
  trim(limits: PoolLimits, busy?: number): { id: number; why: string }[] {
    const out: { id: number; why: string }[] = [];
    for (;;) {
      const ids = this.ids();
      const droppable = ids.slice(0, -1).filter((i) => i !== busy);
      if (!droppable.length) return out;
      let why: string | undefined;
      if (ids.length > limits.maxHeld) why = `more than ${limits.maxHeld} snapshots held`;
      else if (limits.budgetBytes !== undefined) {
        const cost = this.costBytes();
        if (cost > limits.budgetBytes) why = `held snapshots cost ${mb(cost)} MB, over the ${mb(limits.budgetBytes)} MB budget`;
      }
      if (!why) return out;
      this.drop(droppable[0]);
      out.push({ id: droppable[0], why });
    }
  }

  close(): void {
    this.closed = true;
    for (const h of this.held.values()) kill(h.pid);
    this.held.clear();
    this.go.clear();
  }

  private onSnapshot(msg: SnapshotMessage): void {
    const replaced = this.replacing.get(msg.parent);
    if (replaced) {
      this.replacing.delete(msg.parent);
      replaced.done();
      if (msg.pid <= 0) {
        this.log('warn', `checkpoint ${replaced.id} can no longer be restored: ${(msg.warnings ?? []).join('; ')}`);
      } else if (this.closed) {
        kill(msg.pid);
      } else {
        this.held.set(replaced.id, { id: replaced.id, pid: msg.pid, channel: replaced.channel, writableFiles: msg.writableFiles ?? 0, takenAt: Date.now() });
      }
      return;
    }
    const waiter = this.waiting.get(msg.parent);
    if (waiter) return waiter(msg);
    // Nobody asked any more (the request timed out, the session ended): it would wait forever.
    if (msg.pid > 0) kill(msg.pid);
  }
}

function kill(pid: number): void {
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** Pages of `pid` no other process shares: what ending it would free. */
export function privateBytes(pid: number): number | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    let kb = 0;
    for (const m of text.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)) kb += Number(m[1]);
    return kb * 1024;
  } catch {
    return undefined;
  }
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(0);
}
