// Writes an accepted repair to disk and can take it back.
// Each file is replaced atomically (temp file in the same folder, fsync, rename) so the program
// never imports a half-written module, and its permission bits are kept. Before anything is
// renamed, the originals and a manifest go to <runDir>/repairs/<N>/, so even a crash halfway
// through leaves enough to undo. Files are written through symlinks to their real targets.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AxolotlError } from '../types';
import type { PatchFiles } from '../agentProtocol';
import { fileDiff } from './diffView';
import type { Repair, RepairManifest } from './types';

export interface AppliedRepair {
  /** N: the folder <runDir>/repairs/<N> */
  number: number;
  dir: string;
  manifest: RepairManifest;
  /** absolute path → new text, ready for the agent's `patch` message */
  files: PatchFiles;
}

export interface UndoResult {
  number: number;
  /** relative paths restored to their originals */
  restored: string[];
  /** relative paths the repair had created, now deleted */
  deleted: string[];
  /** absolute path → restored text, for a `patch` message that swaps the old code back in */
  files: PatchFiles;
}

export function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

function repairsDir(runDir: string): string {
  return path.join(runDir, 'repairs');
}

async function fsyncDir(dir: string): Promise<void> {
  // not supported everywhere (e.g. some network filesystems); the rename itself is still atomic
  try {
    const h = await fs.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    /* best effort */
  }
}

async function writeDurable(file: string, data: string | Buffer, mode?: number): Promise<void> {
  const h = await fs.open(file, 'w', mode);
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
}

/** The file a path really names (links followed); the path itself if it does not exist yet. */
async function realTarget(p: string): Promise<string> {
  try {
    return await fs.realpath(p);
  } catch {
    return path.join(await fs.realpath(path.dirname(p)), path.basename(p));
  }
}

async function tempPathFor(target: string): Promise<string> {
  const rand = Math.random().toString(36).slice(2, 10);
  return path.join(path.dirname(target), `.${path.basename(target)}.axolotl-${process.pid}-${rand}.tmp`);
}

interface FileWrite {
  target: string;
  data: string | Buffer;
  mode: number;
  /** what to put back if a later rename fails (undefined: the file did not exist) */
  previous?: Buffer;
}

/**
 * Replace several files so that each is either old or new, never partial. All temp files are
 * written and synced first; if a rename then fails, the files already renamed are put back.
 */
async function replaceFiles(writes: FileWrite[]): Promise<void> {
  const temps: string[] = [];
  try {
    for (const w of writes) {
      const temp = await tempPathFor(w.target);
      temps.push(temp);
      await writeDurable(temp, w.data, w.mode);
      await fs.chmod(temp, w.mode); // the umask may have narrowed the mode given to open()
    }
  } catch (e) {
    await Promise.all(temps.map((t) => fs.rm(t, { force: true })));
    throw e;
  }
  let done = 0;
  try {
    for (; done < writes.length; done++) await fs.rename(temps[done], writes[done].target);
  } catch (e) {
    await Promise.all(temps.slice(done).map((t) => fs.rm(t, { force: true })));
    for (const w of writes.slice(0, done).reverse()) {
      try {
        if (w.previous === undefined) await fs.rm(w.target, { force: true });
        else await writeDurable(w.target, w.previous, w.mode);
      } catch {
        /* the manifest still allows an undo */
      }
    }
    throw new AxolotlError(`Could not write ${writes[done]?.target}: ${(e as Error).message}. Files already written were put back.`);
  }
  await Promise.all([...new Set(writes.map((w) => path.dirname(w.target)))].map(fsyncDir));
}

async function readManifest(dir: string): Promise<RepairManifest> {
  return JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')) as RepairManifest;
}

async function writeManifest(dir: string, m: RepairManifest): Promise<void> {
  const file = path.join(dir, 'manifest.json');
  const tmp = file + '.tmp';
  await writeDurable(tmp, JSON.stringify(m, null, 2) + '\n');
  await fs.rename(tmp, file);
}

async function existingNumbers(runDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.readdir(repairsDir(runDir));
  } catch {
    return [];
  }
  return names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
}

/** Manifests of all repairs of the run, oldest first. */
export async function listRepairs(runDir: string): Promise<RepairManifest[]> {
  const out: RepairManifest[] = [];
  for (const n of await existingNumbers(runDir)) {
    try {
      out.push(await readManifest(path.join(repairsDir(runDir), String(n))));
    } catch {
      /* a folder without a manifest was never applied */
    }
  }
  return out;
}

export interface ApplyOptions {
  /** write even if a file changed on disk since the repair was proposed */
  force?: boolean;
}

/**
 * Write an accepted repair. Refuses (AxolotlError) if a file changed on disk since the repair was
 * proposed, unless forced, because the repair's text would silently discard that change.
 */
export async function applyRepair(repair: Repair, runDir: string, opts: ApplyOptions = {}): Promise<AppliedRepair> {
  if (!repair.files.length) throw new AxolotlError('The repair has no files to write.');
  // the current state of every file, checked before anything is written
  const plan: Array<{ file: Repair['files'][number]; target: string; mode: number; exists: boolean; current?: Buffer }> = [];
  for (const file of repair.files) {
    const target = await realTarget(file.path);
    let current: Buffer | undefined;
    let mode = 0o644;
    try {
      current = await fs.readFile(target);
      mode = (await fs.stat(target)).mode & 0o7777;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const expected = file.created ? undefined : file.original;
    const unchanged = expected === undefined ? current === undefined : current !== undefined && current.equals(Buffer.from(expected, 'utf8'));
    if (!unchanged && !opts.force) {
      throw new AxolotlError(
        current === undefined
          ? `${file.relPath} was deleted after the repair was proposed; not applying it.`
          : file.created
            ? `${file.relPath} now exists, but the repair would create it; not applying it.`
            : `${file.relPath} changed on disk after the repair was proposed (or is not UTF-8); applying it would discard that change.`,
        'Ask for a new repair, or apply with force to overwrite.',
      );
    }
    plan.push({ file, target, mode, exists: current !== undefined, current });
  }

  await fs.mkdir(repairsDir(runDir), { recursive: true });
  // claim the next number atomically: mkdir fails if another process took it
  let number = ((await existingNumbers(runDir)).pop() ?? 0) + 1;
  let dir: string;
  for (;;) {
    dir = path.join(repairsDir(runDir), String(number));
    try {
      await fs.mkdir(dir);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      number++;
    }
  }

  const manifest: RepairManifest = {
    number,
    repairId: repair.id,
    explanation: repair.explanation,
    status: 'applying',
    appliedAt: new Date().toISOString(),
    files: [],
  };
  for (const [i, p] of plan.entries()) {
    let backup: string | undefined;
    if (p.exists && p.current) {
      backup = path.join('originals', String(i), path.basename(p.file.relPath));
      await fs.mkdir(path.join(dir, path.dirname(backup)), { recursive: true });
      await writeDurable(path.join(dir, backup), p.current);
    }
    manifest.files.push({
      path: p.file.path,
      relPath: p.file.relPath,
      created: !p.exists,
      mode: p.mode,
      sha256Before: p.current ? sha256(p.current) : '',
      sha256After: sha256(Buffer.from(p.file.proposed, 'utf8')),
      backup,
    });
  }
  // recomputed: the user may have edited the proposal before accepting it
  await fs.writeFile(path.join(dir, 'repair.diff'), repair.files.map((f) => fileDiff(f.relPath, f.original, f.proposed, f.created)).join(''));
  await writeManifest(dir, manifest);
  await fsyncDir(dir);

  try {
    await replaceFiles(plan.map((p) => ({ target: p.target, data: p.file.proposed, mode: p.mode, previous: p.current })));
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
  manifest.status = 'applied';
  await writeManifest(dir, manifest);
  const files: PatchFiles = {};
  for (const f of repair.files) files[f.path] = f.proposed;
  return { number, dir, manifest, files };
}

export interface UndoOptions {
  /** restore even if a file changed since the repair was applied (that change is lost) */
  force?: boolean;
}

/**
 * Restore the originals of the last applied (not yet undone) repair of the run. Refuses if a file
 * changed since the repair was written, unless forced. Throws AxolotlError when there is nothing to undo.
 */
export async function undoLastRepair(runDir: string, opts: UndoOptions = {}): Promise<UndoResult> {
  const manifests = await listRepairs(runDir);
  const last = [...manifests].reverse().find((m) => m.status === 'applied' || m.status === 'applying');
  if (!last) throw new AxolotlError(`There is no applied repair to undo in ${runDir}.`);
  const dir = path.join(repairsDir(runDir), String(last.number));

  const changed: string[] = [];
  const targets: Array<{ entry: RepairManifest['files'][number]; target: string; current?: Buffer }> = [];
  for (const entry of last.files) {
    const target = await realTarget(entry.path);
    let current: Buffer | undefined;
    try {
      current = await fs.readFile(target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const hash = current ? sha256(current) : '';
    // 'applying': a file may still hold its original; that is not a change by the user
    const expected = last.status === 'applying' ? [entry.sha256After, entry.sha256Before] : [entry.sha256After];
    if (!expected.includes(hash)) changed.push(entry.relPath);
    targets.push({ entry, target, current });
  }
  if (changed.length && !opts.force) {
    throw new AxolotlError(
      `Not undoing repair ${last.number}: ${changed.join(', ')} changed after the repair was applied, and undoing would discard ${changed.length > 1 ? 'those changes' : 'that change'}.`,
      'Undo with force to restore the originals anyway.',
    );
  }

  const writes: FileWrite[] = [];
  const restored: string[] = [];
  const deleted: string[] = [];
  const files: PatchFiles = {};
  for (const { entry, target, current } of targets) {
    if (entry.created) continue;
    const data = await fs.readFile(path.join(dir, entry.backup!));
    writes.push({ target, data, mode: entry.mode, previous: current });
    restored.push(entry.relPath);
    files[entry.path] = data.toString('utf8');
  }
  await replaceFiles(writes);
  for (const { entry, target } of targets) {
    if (!entry.created) continue;
    await fs.rm(target, { force: true });
    deleted.push(entry.relPath);
  }
  last.status = 'undone';
  last.undoneAt = new Date().toISOString();
  await writeManifest(dir, last);
  return { number: last.number, restored, deleted, files };
}
