// Fork snapshots on request: the agent forks a stopped copy of the program on SIGUSR2 and says so in
// a `snapshot` message. Two users:
//   - the fork backend keeps those copies as its checkpoints (forkBackend.ts);
//   - the criu backend has criu dump the copy instead of the program (criuBackend.ts): criu freezes
//     what it dumps for as long as copying its memory takes (~100 ms at 200 MB, 0.5–1 s at 1 GB), so
//     the program then pauses only for the fork. With AXOLOTL_FORK_DUMPS=1 the copy leads its own
//     session (criu takes it alone) and the agent reaps it once criu has killed it.
import type { AgentMessage, SnapshotMessage } from './agentProtocol';
import { AxolotlError } from './types';

export class SnapshotSource {
  /** processes whose agent has installed its SIGUSR2 handler (before that, SIGUSR2 would kill them) */
  private readonly ready = new Set<number>();
  private readyWaiters: Array<() => void> = [];
  private readonly waiting = new Map<number, (m: SnapshotMessage) => void>();

  constructor(private readonly timeoutMs: number) {}

  /** Agent messages: readiness, exits, and the snapshots asked for. */
  onAgentMessage(msg: AgentMessage): void {
    if (msg.type === 'hello' || msg.type === 'poll') {
      this.ready.add(msg.pid);
      for (const w of this.readyWaiters.splice(0)) w();
    } else if (msg.type === 'exit') {
      this.ready.delete(msg.pid); // it ignores SIGUSR2 from now on
    } else if (msg.type === 'snapshot') {
      this.waiting.get(msg.parent)?.(msg);
    }
  }

  /** `pid` inherited the agent's handlers (a woken fork snapshot). */
  markReady(pid: number): void {
    this.ready.add(pid);
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
  request(pid: number, signal: () => void, exited: Promise<unknown>): Promise<SnapshotMessage> {
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
        : reject(new AxolotlError('the program cannot be snapshotted by fork', (msg.warnings ?? []).join('; '))))));
      // An exiting program ignores the request (the agent turns SIGUSR2 off once it reports its exit).
      void exited.then(() => settle(() => reject(new AxolotlError(`process ${pid} ended before its snapshot`))));
      signal();
    });
  }
}

/** Ends a stopped snapshot (or a process group, given a negative pid). */
export function killSnapshot(pid: number): void {
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}
