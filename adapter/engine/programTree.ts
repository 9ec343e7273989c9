// The processes of a program besides the one the engine started: multiprocessing pool workers, forked
// children, a spawned interpreter. criu dumps and restores them with the program (the whole tree);
// after a restore every one of them is stopped (--leave-stopped) and must be continued, and those
// running the agent must first be told to poll for repaired code, as the program itself is.
//
// Which processes run the agent: a process forked from the program inherits it, and announces itself
// (a `worker` message); a spawned worker the agent set up does the same. What a process says is not
// trusted: it is signalled only if it is in the program's tree and has a SIGUSR1 handler (the agent's),
// so the signal can never kill a process that does not expect it (a `sleep` the program started).
import fs from 'node:fs';
import os from 'node:os';
import { processTree } from './procTree';

/** How many announced processes are remembered (a program forking forever must not grow the engine). */
const MAX_KNOWN = 4096;
const SIGUSR1_BIT = 1n << BigInt(os.constants.signals.SIGUSR1 - 1);

/** The processes under `root` (itself excluded), leaving out the `spare` ones (held snapshots) and theirs. */
export function descendantsOf(root: number, spare: ReadonlySet<number> = new Set()): number[] {
  return processTree(root, spare).slice(1);
}

/** `pid` has a handler for SIGUSR1: the agent's "poll me" cannot kill it. */
export function catchesSigusr1(pid: number): boolean {
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return !!m && (BigInt(`0x${m[1]}`) & SIGUSR1_BIT) !== 0n;
  } catch {
    return false;
  }
}

/** The state letter /proc shows for `pid` (R, S, D, T, t, Z…), undefined when it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}

/** Stopped by a signal (T), not traced (t): nothing but a SIGCONT makes it run again. */
export function isStopped(pid: number): boolean {
  return processState(pid) === 'T';
}

/** The processes that said they run the agent. */
export class AgentProcesses {
  private readonly known = new Set<number>();

  add(pid: number): void {
    if (!Number.isInteger(pid) || pid <= 1) return;
    this.known.delete(pid);
    this.known.add(pid);
    if (this.known.size > MAX_KNOWN) this.known.delete(this.known.values().next().value!);
  }

  has(pid: number): boolean {
    return this.known.has(pid);
  }

  /** Of `pids`, those that run the agent (announced, or listed in `also`) and can take its SIGUSR1. */
  among(pids: number[], also: readonly number[] = []): number[] {
    return pids.filter((p) => (this.known.has(p) || also.includes(p)) && catchesSigusr1(p));
  }
}

/** Sends `sig` to each of `pids`; processes already gone (or not ours to signal) are skipped. */
export function signalAll(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try { process.kill(p, sig); } catch { /* gone, or not ours */ }
  }
}
