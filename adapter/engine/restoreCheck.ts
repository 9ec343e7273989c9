// Checks made before a restore kills the live program, so that a checkpoint that cannot come back
// (image folder deleted or damaged, a process ID it needs taken by another process, snapshot gone)
// is refused with a clear message while the program is still there, instead of leaving the user with
// nothing. Also turns criu's own failure words into advice when a restore fails anyway.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { CheckpointRecord } from './runDir';
import { keeperPids } from './sessionKeeper';
import { AxolotlError } from './types';

const IMG_COMMON_MAGIC = 0x54564319;
const PSTREE_MAGIC = 0x50273030;

export interface PstreeEntry {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  threads: number[];
}

/** The process tree of a criu image (pstree.img): every PID and thread ID the restore will need. */
export function readPstree(dir: string): PstreeEntry[] {
  const buf = fs.readFileSync(path.join(dir, 'pstree.img'));
  if (buf.length < 8 || buf.readUInt32LE(0) !== IMG_COMMON_MAGIC || buf.readUInt32LE(4) !== PSTREE_MAGIC) {
    throw new Error('pstree.img is not a criu process tree image');
  }
  const out: PstreeEntry[] = [];
  let off = 8;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new Error('pstree.img is truncated');
    const len = buf.readUInt32LE(off);
    off += 4;
    if (off + len > buf.length) throw new Error('pstree.img is truncated');
    out.push(decodePstreeEntry(buf.subarray(off, off + len)));
    off += len;
  }
  if (!out.length) throw new Error('pstree.img lists no process');
  return out;
}

function decodePstreeEntry(b: Buffer): PstreeEntry {
  const e: PstreeEntry = { pid: 0, ppid: 0, pgid: 0, sid: 0, threads: [] };
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (i >= b.length) throw new Error('pstree.img entry is truncated');
      const byte = b[i++];
      v += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) return v;
      shift += 7;
      if (shift > 63) throw new Error('pstree.img entry is malformed');
    }
  };
  while (i < b.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const v = varint();
      if (field === 1) e.pid = v;
      else if (field === 2) e.ppid = v;
      else if (field === 3) e.pgid = v;
      else if (field === 4) e.sid = v;
      else if (field === 5) e.threads.push(v);
    } else if (wire === 2) {
      const len = varint();
      const end = i + len;
      if (field === 5) while (i < end) e.threads.push(varint()); // packed
      i = end;
    } else if (wire === 5) {
      i += 4;
    } else if (wire === 1) {
      i += 8;
    } else {
      throw new Error('pstree.img entry is malformed');
    }
  }
  if (!e.pid) throw new Error('pstree.img entry has no pid');
  return e;
}

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

function idInUse(id: number): boolean {
  // /proc/<tid> exists (hidden from readdir) for every thread ID as well as for processes.
  try {
    fs.statSync(`/proc/${id}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws an AxolotlError when checkpoint `rec` certainly cannot be restored; `replaced` are the
 * process and thread IDs of the copy that the restore will kill first (those may be reused).
 * Returns the IDs the restore needs that the replaced copy still holds: wait for them after the kill
 * (killed children are reaped by PID 1, which can take a second or two).
 */
export function checkRestorable(rec: CheckpointRecord, kind: string, replaced: number[]): number[] {
  const dir = rec.dir;
  const hint = 'The program was left as it was. Restore another checkpoint, or start the run again.';
  if (!dir || !fs.existsSync(dir)) {
    throw new AxolotlError(`checkpoint ${rec.id} cannot be restored: its folder ${dir ?? '(none)'} is gone`, hint);
  }
  if (kind !== 'criu') return [];
  // Images kept by the pkexec helper (helperBackend.ts) live in its root-only store and are checked
  // by the helper; helper.json here lists the process and thread IDs they need.
  const held = heldByHelper(dir);
  const missing = held ? [] : ['inventory.img', 'pstree.img', `core-${rec.pid}.img`].filter((f) => {
    try { return fs.statSync(path.join(dir, f)).size === 0; } catch { return true; }
  });
  if (missing.length) {
    throw new AxolotlError(`checkpoint ${rec.id} cannot be restored: its images are incomplete (${missing.join(', ')} missing or empty in ${dir})`, hint);
  }
  let tree: PstreeEntry[];
  try {
    tree = held ?? readPstree(dir);
  } catch (e) {
    throw new AxolotlError(`checkpoint ${rec.id} cannot be restored: its images are damaged (${(e as Error).message})`, hint);
  }
  const free = new Set(replaced);
  const needed = [...new Set(tree.flatMap((t) => [t.pid, ...t.threads]))];
  const busy = needed.filter((id) => !free.has(id) && idInUse(id));
  if (busy.length) {
    const who = busy.slice(0, 3).map((id) => describeProcess(id)).join(', ');
    throw new AxolotlError(
      `checkpoint ${rec.id} cannot be restored now: process ID${busy.length > 1 ? 's' : ''} ${busy.join(', ')} ${busy.length > 1 ? 'are' : 'is'} taken by another process: ${who}`,
      'A restored program gets back its own process IDs. Nothing was stopped; end that process and try again, or restore another checkpoint.',
    );
  }
  return needed.filter((id) => free.has(id) && idInUse(id));
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

/** The IDs a checkpoint kept by the pkexec helper needs, as a process tree; undefined for other checkpoints. */
function heldByHelper(dir: string): PstreeEntry[] | undefined {
  let ref: { ids?: unknown };
  try { ref = JSON.parse(fs.readFileSync(path.join(dir, 'helper.json'), 'utf8')) as { ids?: unknown }; } catch { return undefined; }
  const ids = Array.isArray(ref.ids) ? ref.ids.filter((n): n is number => Number.isInteger(n)) : [];
  return ids.map((pid) => ({ pid, ppid: 0, pgid: 0, sid: 0, threads: [] }));
}

/** Advice for a criu restore log, or undefined when nothing specific is recognised. */
export function explainRestoreFailure(log: string): string | undefined {
  if (/Can't fork for \d+|File exists|set_tid/.test(log) && /fork|clone/i.test(log)) {
    return 'A process ID the checkpoint needs was taken by another process while restoring.';
  }
  if (/has bad size/.test(log)) return 'A file the program had open changed size since the checkpoint and could not be put back.';
  if (/No such file or directory/.test(log) && /open|reg/i.test(log)) return 'A file the program had open at the checkpoint is gone.';
  if (/No space left on device/.test(log)) return 'The disk is full.';
  if (/Unexpected EOF|Corrupted|Error reading/i.test(log)) return 'The checkpoint images are damaged.';
  return undefined;
}

/** The error for a failed `criu dump`, with the reason in words when it is recognised. */
export function dumpFailure(pid: number, dir: string, res: { signal?: string; stderr?: unknown; timedOut?: boolean }, log: string): AxolotlError {
  const stderr = String(res.stderr ?? '');
  if (/No space left on device|ENOSPC/.test(log + stderr)) {
    return new AxolotlError(
      `the disk is full: no space left for the checkpoint images in ${path.dirname(path.dirname(path.dirname(dir)))}`,
      'Free some space or choose another folder with --working-dir.',
    );
  }
  if (res.timedOut) {
    return new AxolotlError(`criu could not checkpoint process ${pid}: it did not finish in time and was stopped`, 'The program was left running; the next checkpoint is taken at the next interval.', log || undefined);
  }
  if (res.signal) {
    return new AxolotlError(`criu could not checkpoint process ${pid}: criu was killed (${res.signal})`, 'The program was left running; the next checkpoint is taken at the next interval.');
  }
  // glibc opens a named semaphore under a temporary name it then renames: criu finds the mapping's file
  // deleted yet linked, and wants --link-remap, whose links a restore uses up. Named semaphores are what
  // multiprocessing's spawn and forkserver start methods use (fork unlinks them at once).
  if (/link remap for \/?dev\/shm\/sem\./.test(log)) {
    return new AxolotlError(
      `criu cannot checkpoint process ${pid}: it holds named semaphores (/dev/shm/sem.*), as multiprocessing's spawn and forkserver start methods make`,
      'Start its workers with the fork method (multiprocessing.get_context("fork"), the default on Linux before Python 3.14): criu then checkpoints the program with its workers.',
      log || undefined,
    );
  }
  const ours = /^axolotl: .*$/m.exec(stderr)?.[0];
  if (ours) return new AxolotlError(`criu could not checkpoint process ${pid}: ${ours.replace(/^axolotl: /, '')}`, undefined, log || undefined);
  return new AxolotlError(`criu could not checkpoint process ${pid}`, 'See the criu log below; `axolotl doctor` checks the environment.', log || stderr);
}

/** criu restore did not finish in time (it was stopped, with everything it had started). */
export class RestoreTimeoutError extends AxolotlError {}

/** How long a restore may take: far above the measured times (1 GB: under 2 s), never under 30 s. */
export function restoreTimeoutMs(rec: CheckpointRecord): number {
  return Math.max(30_000, 20 * (rec.dumpMs || 0));
}

/**
 * The restored PID the wrapper reports on fd 3; undefined if the wrapper exits first (criu failed);
 * 'timeout' after `timeoutMs`, when the wrapper, criu and the half-restored task are SIGKILLed.
 */
export function awaitRestoredPid(child: ChildProcess, timeoutMs: number): Promise<number | 'timeout' | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    let settled = false;
    const done = (v: number | 'timeout' | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        for (const p of processTree(child.pid).reverse()) {
          try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
        }
      }
      done('timeout');
    }, timeoutMs);
    const control = child.stdio[3] as NodeJS.ReadableStream;
    control.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /pid (\d+)\n/.exec(buf);
      if (m) done(Number(m[1]));
    });
    child.once('exit', () => done(undefined));
    child.once('error', () => done(undefined));
  });
}
