// Files the program wrote rewind with it, also those it opened, wrote and closed between checkpoints.
//
// The agent keeps an undo journal (adapter/python/axolotl_agent/filejournal.py): before the program
// changes a file of the workspace, the first time in an epoch, it saves what puts the file back as it
// was when the epoch began (a size, a copy, a hard link to a removed inode, "did not exist"). Every
// checkpoint starts an epoch: the agent when it forks a snapshot, criu's post-dump script when criu
// froze the program itself (axolotl_files.sh); the epoch a checkpoint started is kept in
// <checkpoint>/files-epoch.
//
// A rewind to checkpoint K applies the entries of K's epoch and every later one, newest first, then
// what was saved with K itself, which is exact: the files held open at a criu dump (files.json,
// sideEffects.ts) and the files an operation was about to change when criu froze the program
// (inflight.tsv, from the agent's announcement in the shared page). The journal after K is then spent:
// its epochs are deleted, the program continues on a new timeline, and the checkpoints taken after K
// (on the old one) can no longer rewind files (<checkpoint>/files-lost says so).
import fs from 'node:fs';
import path from 'node:path';
import type { SnapshotMessage } from './agentProtocol';
import type { CheckpointRecord } from './runDir';
import { DEFAULT_MAX_COPY_BYTES, putBackFiles, readSavedFiles, short, type FilesRewound, type FrozenDumpJournal } from './sideEffects';

/** the page the agent maps: the epoch as 20 digits and a newline, then the files in flight */
const STATE_BYTES = 4096;
const EPOCH_DIGITS = 20;

/** One line of <journal>/<epoch>.log: what puts `p` back as it was when the epoch began. */
export interface JournalEntry {
  k: 'size' | 'copy' | 'link' | 'absent' | 'nodir' | 'dir' | 'symlink' | 'moved' | 'outside' | 'big';
  p: string;
  /** size: cut back to this; link: then cut to this; big: the size that was too big */
  s?: number;
  /** copy, link: the saved content, relative to the journal folder */
  b?: string;
  /** copy: the mtime (s) to put back */
  m?: number;
  /** symlink: its target; moved: where the folder went */
  t?: string;
  /** dir: its permission bits */
  mode?: number;
  /** saved because it was held open when the epoch began (fork snapshot) */
  h?: 1;
  /** outside the workspace (held open: only cut back) */
  o?: 1;
}

export interface JournalOptions {
  /** folders whose files are rewound */
  workspace: string[];
  /** folders never journaled (where the run folders are) */
  exclude: string[];
  /** files are named relative to this folder in notices */
  root: string;
  maxCopyBytes?: number;
  /** the agent saves the files held open for writing at each snapshot (fork snapshots share them) */
  heldOpenAtSnapshots: boolean;
  /** the program has less privilege than the engine (a container): see rewindFiles */
  confined?: boolean;
}

export interface FileRewindResult extends FilesRewound {
  /** what went wrong, one line each, for the log */
  problems: string[];
}

interface Lost { branch: number }

export class FileJournal implements FrozenDumpJournal {
  readonly stateFile: string;
  /** snapshot messages received since the current dump began */
  private dumpSnapshots: SnapshotMessage[] = [];
  /** per checkpoint folder: the epoch it started, and whether its timeline is gone (read once) */
  private readonly known = new Map<string, { epoch?: number; lost?: Lost }>();

  private constructor(readonly dir: string, private readonly opts: JournalOptions) {
    this.stateFile = path.join(dir, 'state');
  }

  /** The journal of a run folder, created when it has none. */
  static open(runDir: string, opts: JournalOptions): FileJournal {
    const dir = journalDir(runDir);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const j = new FileJournal(dir, opts);
    if (!fs.existsSync(j.stateFile)) {
      // Newlines after the epoch: criu's post-dump script reads the in-flight lines up to an empty one.
      const page = Buffer.alloc(STATE_BYTES, '\n');
      page.write(epochText(0));
      fs.writeFileSync(j.stateFile, page, { mode: 0o600 });
    }
    return j;
  }

  /** What the agent needs to journal (filejournal.py). */
  agentEnv(): Record<string, string> {
    const both = (dirs: string[]) => [...new Set(dirs.flatMap((d) => [d, realpath(d)]))].join(path.delimiter);
    return {
      AXOLOTL_FILES_JOURNAL: this.dir,
      AXOLOTL_FILES_WORKSPACE: both(this.opts.workspace),
      AXOLOTL_FILES_EXCLUDE: both(this.opts.exclude),
      AXOLOTL_FILES_MAX_COPY: String(this.maxCopy),
      AXOLOTL_FILES_HELD: this.opts.heldOpenAtSnapshots ? '1' : '0',
    };
  }

  get maxCopy(): number {
    return this.opts.maxCopyBytes ?? DEFAULT_MAX_COPY_BYTES;
  }

  /** The current epoch (the agent and criu's post-dump advance it). */
  epoch(): number {
    const fd = fs.openSync(this.stateFile, 'r');
    try {
      const buf = Buffer.alloc(EPOCH_DIGITS);
      fs.readSync(fd, buf, 0, EPOCH_DIGITS, 0);
      const n = Number(buf.toString('latin1'));
      return Number.isSafeInteger(n) ? n : 0;
    } finally {
      fs.closeSync(fd);
    }
  }

  nextEpoch(): number {
    return this.epoch() + 1;
  }

  private setEpoch(n: number): void {
    const fd = fs.openSync(this.stateFile, 'r+');
    try {
      fs.writeSync(fd, epochText(n), 0, 'latin1');
    } finally {
      fs.closeSync(fd);
    }
  }

  /** A dump begins: the epoch it starts comes from a snapshot message received from now on, or post-dump. */
  beginDump(): void {
    this.dumpSnapshots = [];
  }

  onSnapshot(msg: SnapshotMessage): void {
    this.dumpSnapshots.push(msg);
  }

  /**
   * Records which epoch the checkpoint in `dir` started: written by criu's post-dump when it froze the
   * program, else the one the agent reported with the snapshot (`snapshotPid`: the one dumped).
   */
  checkpointTaken(dir: string, snapshotPid?: number): number | undefined {
    this.known.delete(dir);
    const recorded = this.about(dir).epoch;
    const snap = [...this.dumpSnapshots].reverse().find((m) => m.pid > 0 && (snapshotPid === undefined || m.pid === snapshotPid));
    this.dumpSnapshots = [];
    if (recorded !== undefined || typeof snap?.epoch !== 'number') return recorded;
    fs.writeFileSync(path.join(dir, 'files-epoch'), `${snap.epoch}\n`);
    this.known.set(dir, { epoch: snap.epoch });
    return snap.epoch;
  }

  /**
   * Puts the files back as they were at checkpoint `rec` (the program must not be running). `kept`:
   * every checkpoint of the run (those taken after `rec` lose their files: their timeline is gone).
   */
  rewind(rec: CheckpointRecord, kept: readonly CheckpointRecord[]): FileRewindResult {
    const plan = this.plan(rec);
    const res = rewindFiles(rec, {
      root: this.opts.root, maxCopy: this.maxCopy, entries: plan.entries, journalDir: this.dir, workspace: this.opts.workspace, confined: this.opts.confined,
    });
    res.notUndone.unshift(...plan.notUndone);
    this.spend(plan.from, plan.branch, kept);
    return res;
  }

  /**
   * Which journal entries put the files back as they were at checkpoint `rec`, newest last: those of its
   * epoch and later. For a checkpoint of a timeline that was rewound, the files can only go back to
   * where the current timeline began (`branch`).
   */
  private plan(rec: CheckpointRecord): { entries: JournalEntry[]; from?: number; branch: number; notUndone: string[] } {
    const { epoch, lost } = this.about(rec.dir);
    if (lost) {
      const timeline = this.readTimeline();
      const branch = timeline?.checkpoint ?? lost.branch;
      return {
        entries: timeline ? this.entriesFrom(timeline.epoch) : [], from: timeline?.epoch, branch,
        notUndone: [`files changed after checkpoint ${branch} are as they were at checkpoint ${branch}: checkpoint ${rec.id} belongs to a timeline that was rewound`],
      };
    }
    if (epoch === undefined) {
      return { entries: [], branch: rec.id, notUndone: ['files the program opened and closed since the checkpoint keep what was written (no journal was kept with this checkpoint)'] };
    }
    return { entries: this.entriesFrom(epoch), from: epoch, branch: rec.id, notUndone: [] };
  }

  /** After a rewind to `branch`: the journal from `spent` on, and the checkpoints after `branch`, are of a timeline that is gone. */
  private spend(spent: number | undefined, branch: number, kept: readonly CheckpointRecord[]): void {
    const later = kept.filter((c) => c.id > branch);
    const from = spent ?? Math.min(...later.map((c) => this.about(c.dir).epoch ?? Infinity));
    const recorded = this.epochs();
    const fresh = Math.max(this.epoch(), ...recorded) + 1;
    if (Number.isFinite(from)) for (const e of recorded) if (e >= from) this.dropEpoch(e);
    this.setEpoch(fresh);
    fs.writeFileSync(path.join(this.dir, 'timeline.json'), JSON.stringify({ epoch: fresh, checkpoint: branch }) + '\n');
    for (const c of later) {
      if (!c.dir || this.about(c.dir).lost) continue;
      writeLost(c.dir, { branch });
      this.known.set(c.dir, { ...this.about(c.dir), lost: { branch } });
    }
  }

  /** Frees the journal no kept checkpoint needs any more (epochs before the oldest one's). */
  collect(kept: readonly CheckpointRecord[]): void {
    const dirs = new Set(kept.map((c) => c.dir));
    for (const d of this.known.keys()) if (!dirs.has(d)) this.known.delete(d);
    const epochs = kept.map((c) => this.about(c.dir)).filter((a) => !a.lost).map((a) => a.epoch).filter((e): e is number => e !== undefined);
    const keepFrom = Math.min(this.timelineStart(), epochs.length ? Math.min(...epochs) : this.epoch());
    for (const e of this.epochs()) if (e < keepFrom) this.dropEpoch(e);
  }

  /** The journal entries of epochs `from` and later, oldest first. */
  entriesFrom(from: number): JournalEntry[] {
    const out: JournalEntry[] = [];
    for (const e of this.epochs().filter((n) => n >= from)) {
      let text = '';
      try { text = fs.readFileSync(path.join(this.dir, `${e}.log`), 'utf8'); } catch { continue; }
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          const entry = JSON.parse(line) as JournalEntry;
          if (entry && typeof entry.p === 'string' && typeof entry.k === 'string') out.push(entry);
        } catch { /* a line cut short by a crash of the program: nothing was done after it */ }
      }
    }
    return out;
  }

  private about(dir: string | undefined): { epoch?: number; lost?: Lost } {
    if (!dir) return {};
    let a = this.known.get(dir);
    if (!a) this.known.set(dir, a = { epoch: checkpointEpoch(dir), lost: readLost(dir) });
    return a;
  }

  private epochs(): number[] {
    let names: string[] = [];
    try { names = fs.readdirSync(this.dir); } catch { return []; }
    return [...new Set(names.map((n) => /^(\d+)(\.log)?$/.exec(n)).filter((m) => m).map((m) => Number(m![1])))].sort((a, b) => a - b);
  }

  private dropEpoch(e: number): void {
    fs.rmSync(path.join(this.dir, `${e}.log`), { force: true });
    fs.rmSync(path.join(this.dir, String(e)), { recursive: true, force: true });
  }

  private readTimeline(): { epoch: number; checkpoint: number } | undefined {
    try {
      const t = JSON.parse(fs.readFileSync(path.join(this.dir, 'timeline.json'), 'utf8')) as { epoch: number; checkpoint: number };
      return typeof t.epoch === 'number' ? t : undefined;
    } catch {
      return undefined;
    }
  }

  private timelineStart(): number {
    return this.readTimeline()?.epoch ?? Infinity;
  }
}

export function journalDir(runDir: string): string {
  return path.join(runDir, 'journal');
}

/** The epoch checkpoint `dir` started, if it was recorded. */
export function checkpointEpoch(dir: string | undefined): number | undefined {
  if (!dir) return undefined;
  try {
    const n = Number(fs.readFileSync(path.join(dir, 'files-epoch'), 'utf8').trim());
    return Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** What was saved with the checkpoint itself, by path: held open at a criu dump, or at a fork snapshot. */
export function savedWithCheckpoint(runDir: string, rec: CheckpointRecord): Record<string, 'copy' | 'size'> {
  const out: Record<string, 'copy' | 'size'> = {};
  for (const f of readSavedFiles(rec.dir)) out[f.path] = f.mode;
  const epoch = checkpointEpoch(rec.dir);
  if (epoch === undefined) return out;
  const text = (() => { try { return fs.readFileSync(path.join(journalDir(runDir), `${epoch}.log`), 'utf8'); } catch { return ''; } })();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as JournalEntry;
    if (e.h) out[e.p] = e.k === 'size' ? 'size' : 'copy';
  }
  return out;
}

/**
 * Puts back, for checkpoint `rec`: the journal `entries` (newest applied first), then what was saved
 * with the checkpoint itself (files.json, inflight.tsv); says which files changed and what is left.
 */
export function rewindFiles(rec: CheckpointRecord, o: {
  root: string; maxCopy: number; entries?: JournalEntry[]; journalDir?: string; workspace?: string[];
  /**
   * The program has less privilege than the engine (it ran in a container, as root there): it may have
   * put links in the workspace since, so only what still resolves inside the workspace is changed,
   * never through a link, and nothing outside it is cut back except the very file it had open.
   */
  confined?: boolean;
}): FileRewindResult {
  const problems: string[] = [];
  const notUndone: string[] = [];
  const show = (p: string) => shown(o.root, p);
  // The journal and the in-flight lines come from the program: nothing outside the workspace is touched
  // (what is outside is only named), and copies are read from the journal's own folders only.
  const folders = [...new Set((o.workspace ?? []).flatMap((d) => [d, realpath(d)]))];
  const ours = (p: string) => path.isAbsolute(p) && folders.some((d) => p === d || p.startsWith(d.endsWith('/') ? d : `${d}/`)) && !p.split('/').includes('..');
  const named = (e: JournalEntry) => e.k === 'outside' || e.k === 'big' || (e.k === 'size' && e.o === 1);
  const reachable = (p: string) => !o.confined || (resolvesInside(path.dirname(p), folders) && !lstat(p)?.isSymbolicLink());
  const entries = (o.entries ?? []).filter((e) => {
    let ok = named(e) || (ours(e.p) && (e.t === undefined || e.k === 'symlink' || ours(e.t)) && (e.b === undefined || /^\d+\/\d+-\d+$/.test(e.b)));
    if (ok && o.confined && e.k !== 'outside' && e.k !== 'big') {
      ok = e.o !== 1 && resolvesInside(path.dirname(e.p), folders) && (e.k !== 'size' || reachable(e.p)) && (e.t === undefined || e.k === 'symlink' || reachable(e.t));
    }
    if (!ok) problems.push(`a journal entry for ${e.p} was ignored: it is not a file of the workspace`);
    return ok;
  });
  const saved = readSavedFiles(rec.dir);
  const inflight = readInflight(rec.dir).filter((f) => ours(f.path) && reachable(f.path) && /^(-|big|inflight-\d+)$/.test(f.copy));

  const touched = new Set<string>();
  for (const e of entries) if (!e.o && e.k !== 'outside' && e.k !== 'big') touched.add(e.p).add(e.t ?? e.p);
  for (const f of saved) if (f.inside) touched.add(f.path);
  for (const f of inflight) touched.add(f.path);
  const before = new Map([...touched].map((p) => [p, look(p)]));
  const cutOnly = new Map<string, boolean>();
  const did = (p: string, cut: boolean) => cutOnly.set(p, (cutOnly.get(p) ?? true) && cut);

  for (const e of [...entries].reverse()) {
    try {
      applyEntry(o.journalDir!, e, did, problems);
    } catch (err) {
      problems.push(`${e.p}: ${(err as Error).message}`);
    }
  }
  const put = putBackFiles(rec.dir, o.confined ? reachable : undefined);
  problems.push(...put.problems);
  for (const f of put.restored) did(f, false);
  for (const f of put.truncated) did(f, true);
  for (const f of inflight) {
    try {
      applyInflight(rec.dir!, f, did, problems);
    } catch (err) {
      problems.push(`${f.path}: ${(err as Error).message}`);
    }
  }

  const rewound: string[] = [];
  for (const p of [...touched].sort()) {
    const [b, a] = [before.get(p), look(p)];
    if (same(b, a)) continue;
    const name = show(p) + (a?.dir || (!a && b?.dir) ? '/' : '');
    if (!a) rewound.push(`${name} (removed)`);
    else if (a.dir) rewound.push(`${name} (put back)`);
    else if (cutOnly.get(p) && b && !b.dir && a.size < b.size) rewound.push(`${name} (cut to ${sizeText(a.size)})`);
    else rewound.push(`${name} (restored)`);
  }

  const cutBack = [...new Set([
    ...saved.filter((f) => f.mode === 'size' && !f.inside).map((f) => f.path),
    ...entries.filter((e) => e.k === 'size' && e.o).map((e) => e.p),
  ])];
  const outside = [...new Set(entries.filter((e) => e.k === 'outside').map((e) => e.p))].filter((p) => !cutBack.includes(p));
  const big = [...new Set([...entries.filter((e) => e.k === 'big').map((e) => e.p), ...inflight.filter((f) => f.copy === 'big').map((f) => f.path)])];
  if (outside.length) notUndone.push(`files outside the workspace keep what was written since the checkpoint: ${short(outside)}`);
  if (cutBack.length) notUndone.push(`files outside the workspace are only cut back to their size at the checkpoint: ${short(cutBack)}`);
  if (big.length) notUndone.push(`files over the ${sizeText(o.maxCopy)} copy limit keep what was written: ${short(big.map(show))}`);
  return { rewound, notUndone, problems };
}

/** A path as the user knows it: relative to the project when inside it. */
function shown(root: string, p: string): string {
  const rel = path.relative(root, p);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : p;
}

function applyEntry(dir: string, e: JournalEntry, did: (p: string, cut: boolean) => void, problems: string[]): void {
  const p = e.p;
  const blob = e.b ? path.join(dir, e.b) : undefined;
  switch (e.k) {
    case 'absent': {
      const st = lstat(p);
      if (st && !st.isDirectory()) { fs.unlinkSync(p); did(p, false); }
      return;
    }
    case 'nodir':
      try { fs.rmdirSync(p); did(p, false); } catch { /* not empty (files outside the journal) or gone */ }
      return;
    case 'dir':
      if (!lstat(p)) { fs.mkdirSync(p, { recursive: true, mode: e.mode ?? 0o777 }); did(p, false); }
      return;
    case 'size': {
      const st = lstat(p);
      if (!st) { problems.push(`${p} is gone (only its size was kept)`); return; }
      if (st.size > e.s!) { fs.truncateSync(p, e.s!); did(p, true); }
      else if (st.size < e.s!) problems.push(`${p} is shorter than at the checkpoint (${st.size} < ${e.s} bytes) and cannot be put back`);
      return;
    }
    case 'copy':
      fs.mkdirSync(path.dirname(p), { recursive: true });
      if (lstat(p)?.isSymbolicLink()) fs.unlinkSync(p);
      // In place: whoever holds the file open (a woken fork snapshot) sees the rewind too.
      fs.copyFileSync(blob!, p);
      if (e.m !== undefined) try { fs.utimesSync(p, e.m, e.m); } catch { /* cosmetic */ }
      did(p, false);
      return;
    case 'link': {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      const tmp = `${p}.axolotl-rewind-${process.pid}`;
      fs.rmSync(tmp, { force: true });
      try { fs.linkSync(blob!, tmp); } catch { fs.copyFileSync(blob!, tmp); }
      fs.renameSync(tmp, p);
      if (e.s !== undefined) fs.truncateSync(p, e.s);
      did(p, false);
      return;
    }
    case 'symlink':
      if (lstat(p)) fs.rmSync(p, { force: true });
      fs.symlinkSync(e.t!, p);
      did(p, false);
      return;
    case 'moved':
      if (e.t && lstat(e.t) && !lstat(p)) { fs.renameSync(e.t, p); did(p, false); }
      return;
    default:
      return; // outside, big: named, not rewound
  }
}

// ---------------------------------------------------------------------------------------------

interface InflightFile {
  /** a: appended to (its size is enough), c: its content changes */
  kind: string;
  /** size:mtime:inode when the agent announced it, or - (did not exist) */
  announced: string;
  /** the same at the freeze */
  atFreeze: string;
  /** the copy taken at the freeze (relative to the checkpoint folder), '-' or 'big' */
  copy: string;
  path: string;
}

function readInflight(dir: string | undefined): InflightFile[] {
  if (!dir) return [];
  let text = '';
  try { text = fs.readFileSync(path.join(dir, 'inflight.tsv'), 'utf8'); } catch { return []; }
  return text.split('\n').filter(Boolean).map((l) => l.split('\t')).filter((f) => f.length >= 5)
    .map(([kind, announced, atFreeze, copy, ...rest]) => ({ kind, announced, atFreeze, copy, path: rest.join('\t') }));
}

/** The state at the freeze of a file an operation was changing (see axolotl_files.sh). */
function applyInflight(dir: string, f: InflightFile, did: (p: string, cut: boolean) => void, problems: string[]): void {
  const st = lstat(f.path);
  if (f.atFreeze === '-') {
    if (st && !st.isDirectory()) { fs.unlinkSync(f.path); did(f.path, false); }
    return;
  }
  if (f.kind === 'a') {
    const size = Number(f.atFreeze.split(':')[0]);
    if (st && st.size > size) { fs.truncateSync(f.path, size); did(f.path, true); }
    else if (!st || st.size < size) problems.push(`${f.path} cannot be put back to its ${size} bytes at the checkpoint`);
    return;
  }
  if (f.kind === 'c' && f.copy.startsWith('inflight-')) {
    fs.mkdirSync(path.dirname(f.path), { recursive: true });
    fs.copyFileSync(path.join(dir, f.copy), f.path);
    did(f.path, false);
  }
}

interface Look { dir: boolean; size: number; ino: number; mtimeMs: number }

function lstat(p: string): fs.Stats | undefined {
  try { return fs.lstatSync(p); } catch { return undefined; }
}

function look(p: string): Look | undefined {
  const st = lstat(p);
  return st && { dir: st.isDirectory(), size: st.size, ino: st.ino, mtimeMs: st.mtimeMs };
}

function same(a: Look | undefined, b: Look | undefined): boolean {
  if (!a || !b) return a === b;
  return a.dir === b.dir && (a.dir || (a.size === b.size && a.ino === b.ino && a.mtimeMs === b.mtimeMs));
}

function readLost(dir: string | undefined): Lost | undefined {
  if (!dir) return undefined;
  try { return JSON.parse(fs.readFileSync(path.join(dir, 'files-lost'), 'utf8')) as Lost; } catch { return undefined; }
}

function writeLost(dir: string, lost: Lost): void {
  try { fs.writeFileSync(path.join(dir, 'files-lost'), JSON.stringify(lost) + '\n'); } catch { /* the checkpoint is gone */ }
}

function epochText(n: number): string {
  return `${String(n).padStart(EPOCH_DIGITS, '0')}\n`;
}

function realpath(p: string): string {
  try { return fs.realpathSync(p); } catch { return p; }
}

/** The folder `dir`, its links resolved as far as it exists, lies inside one of `folders`. */
export function resolvesInside(dir: string, folders: string[]): boolean {
  const rest: string[] = [];
  for (let head = dir; ; head = path.dirname(head)) {
    let real: string;
    try {
      real = fs.realpathSync(head);
    } catch {
      if (head === path.dirname(head)) return false;
      rest.unshift(path.basename(head));
      continue;
    }
    const full = path.join(real, ...rest);
    return !rest.includes('..') && folders.some((d) => full === d || full.startsWith(d.endsWith('/') ? d : `${d}/`));
  }
}

/** 1.2 kB, 34 MB: sizes for people. */
export function sizeText(n: number): string {
  if (n < 1000) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}
