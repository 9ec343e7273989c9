// Processes as /proc shows them now: a process's descendants and threads, whether an ID is taken, and
// the SIGKILLs of last resort (a session, everything the engine started).
import fs from 'node:fs';
import path from 'node:path';
import { keeperPids } from './sessionKeeper';

/** pid and all its descendants (threads' children included), as /proc shows them now; `skip` and
 *  their descendants left out. */
export function processTree(root: number, skip: ReadonlySet<number> = new Set()): number[] {
  const pids = [root];
  for (let i = 0; i < pids.length; i++) {
    let tids: string[] = [];
    try { tids = fs.readdirSync(`/proc/${pids[i]}/task`); } catch { continue; }
    for (const tid of tids) {
      try {
        for (const c of fs.readFileSync(`/proc/${pids[i]}/task/${tid}/children`, 'utf8').split(/\s+/)) {
          const n = Number(c);
          if (c && !skip.has(n) && !pids.includes(n)) pids.push(n);
        }
      } catch { /* gone */ }
    }
  }
  return pids;
}

/** Thread IDs of every process in `pids` (a restore needs each one free). */
export function threadIds(pids: number[]): number[] {
  const out: number[] = [];
  for (const p of pids) {
    try { for (const t of fs.readdirSync(`/proc/${p}/task`)) out.push(Number(t)); } catch { /* gone */ }
  }
  return out;
}

/**
 * SIGKILLs every process left in session `sid` (the program is started as a session leader, so its
 * children are there unless they made their own session). The kernel does not hand out a number
 * that is still some process's session ID, so this never hits an unrelated process.
 */
export function killSession(sid: number): number {
  let killed = 0;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[0] state, f[1] ppid, f[2] pgrp, f[3] session
      if (Number(f[3]) === sid && f[0] !== 'Z') {
        process.kill(Number(d), 'SIGKILL');
        killed++;
      }
    } catch { /* gone */ }
  }
  return killed;
}

/**
 * The last resort when the engine must leave at once (a second Ctrl-C, a client that will not wait):
 * SIGKILL everything it started — every descendant, and what is left in the sessions they lead (the
 * program's children). Nothing is waited for.
 */
export function killDescendants(root = process.pid): void {
  // The session keepers stay: once we are gone they end what this misses (a snapshot forked meanwhile).
  const tree = processTree(root, keeperPids).slice(1);
  const leaders = tree.filter((p) => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]) === p;
    } catch {
      return false;
    }
  });
  for (const p of tree.reverse()) {
    try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const sid of leaders) killSession(sid);
}

/** Short description of a running process: "sleep (pid 123)". */
export function describeProcess(pid: number): string {
  let name = '?';
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    name = cmd.slice(0, 3).map((a) => (a.startsWith('/') ? path.basename(a) : a)).join(' ') || fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch { /* gone */ }
  return `${name.length > 80 ? name.slice(0, 77) + '…' : name} (pid ${pid})`;
}

/** The ID is some process's or thread's now (zombies included). */
export function idInUse(id: number): boolean {
  // /proc/<tid> exists (hidden from readdir) for every thread ID as well as for processes.
  try {
    fs.statSync(`/proc/${id}`);
    return true;
  } catch {
    return false;
  }
}

/** Waits until none of `ids` exists any more (zombies included); false after `timeoutMs`. */
export async function waitIdsFree(ids: number[], timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!ids.some(idInUse)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}
