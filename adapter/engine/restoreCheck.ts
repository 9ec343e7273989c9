// Checks made before a restore kills the live program, so that a checkpoint that cannot come back
// (image folder deleted or damaged, a process ID it needs taken by another process, snapshot gone)
// is refused with a clear message while the program is still there, instead of leaving the user with
// nothing. Also turns criu's own failure words into advice when a restore fails anyway.
import fs from 'node:fs';
import path from 'node:path';
import { readPstree, type PstreeEntry } from './criuImages';
import { describeProcess, idInUse } from './procTree';
import type { CheckpointRecord } from './runDir';
import { AxolotlError } from './types';

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
