// Fork snapshots for criu to dump. criu freezes what it dumps for as long as copying its memory
// takes (~100 ms at 200 MB, ~0.5–1 s at 1 GB); dumping a stopped fork of the program instead pauses
// the program only for the fork (a few ms), while criu copies the snapshot beside it and then kills
// it. The agent forks on SIGUSR2 (AXOLOTL_FORK_DUMPS=1: the copy leads its own session, so criu can
// take it alone, and the agent reaps it afterwards).
//
// A snapshot is not offered when it would not be the program: other threads (only the forking one
// survives a fork), child processes (criu would not find them under the snapshot), or files open for
// writing while their saving is on (the live program keeps writing to them during the dump, so what
// is saved would not match the sizes criu records). Those checkpoints are dumped the usual way.
import type { AgentMessage, SnapshotMessage } from './agentProtocol';

const SNAPSHOT_TIMEOUT_MS = 5_000;

export type SnapshotOutcome =
  | { ok: true; pid: number; pauseMs?: number }
  | { ok: false; reason: string };

export class SnapshotSource {
  /** processes whose agent has installed its SIGUSR2 handler (before that, SIGUSR2 would kill them) */
  private readonly ready = new Set<number>();
  private readonly waiting = new Map<number, (m: SnapshotMessage) => void>();

  constructor(private readonly opts: { filesSaved: boolean }) {}

  onAgentMessage(msg: AgentMessage): void {
    if (msg.type === 'hello' || msg.type === 'poll') this.ready.add(msg.pid);
    else if (msg.type === 'exit') this.ready.delete(msg.pid); // it ignores SIGUSR2 from now on
    else if (msg.type === 'snapshot') this.waiting.get(msg.parent)?.(msg);
  }

  /** True once process `pid` can be asked for a snapshot. */
  canAsk(pid: number): boolean {
    return this.ready.has(pid);
  }

  /**
   * Asks process `pid` for a stopped fork of itself; a snapshot that cannot be used is killed. Settles
   * early if the process ends first (`exited`).
   */
  take(pid: number, signal: (sig: NodeJS.Signals) => void, exited: Promise<unknown>): Promise<SnapshotOutcome> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(pid);
        resolve({ ok: false, reason: `no fork snapshot from process ${pid} within ${SNAPSHOT_TIMEOUT_MS / 1000} s` });
      }, SNAPSHOT_TIMEOUT_MS);
      void exited.then(() => {
        if (!this.waiting.has(pid)) return;
        clearTimeout(timer);
        this.waiting.delete(pid);
        resolve({ ok: false, reason: `process ${pid} ended` });
      });
      this.waiting.set(pid, (msg) => {
        clearTimeout(timer);
        this.waiting.delete(pid);
        const unusable = msg.pid <= 0 ? (msg.warnings ?? ['the agent refused to fork']).join('; ')
          : (msg.warnings ?? []).find((w) => w.startsWith('child processes'))
            ?? (this.opts.filesSaved && (msg.writableFiles ?? 0) > 0 ? `${msg.writableFiles} file(s) open for writing` : undefined);
        if (unusable) {
          if (msg.pid > 0) kill(msg.pid);
          resolve({ ok: false, reason: unusable });
        } else {
          resolve({ ok: true, pid: msg.pid, pauseMs: msg.pauseMs });
        }
      });
      signal('SIGUSR2');
    });
  }

  forget(pid: number): void {
    this.ready.delete(pid);
  }
}

export function kill(pid: number): void {
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}
