// Side effects of a rewind: the files the program has open for writing are saved with each checkpoint
// and put back before a restore (so a rewind rewinds them too), and the user is told what a rewind
// put back and what it cannot undo. Files the program opened, wrote and closed between checkpoints
// are rewound by the agent's undo journal (fileRewind.ts).
//
// criu: `--action-script adapter/python/axolotl_files.sh`; at post-dump, while the program is still
// frozen, it runs axolotl_files.py, which finds the files in /proc/<pid>/fd + fdinfo (flags) for the
// whole process tree and writes <checkpoint>/files.json plus copies in <checkpoint>/files/ (reflink
// when the filesystem can, a hard link to the previous checkpoint's copy when the file did not change).
// Files in the workspace (the script's folder and the working directory) are saved whole; append-only
// files (O_APPEND without read), files outside the workspace and files over the size limit only have
// their size recorded and are cut back to it. Without this, criu refuses to restore a program whose
// 'w' / 'a+' / 'r+' file grew after the dump ("has bad size").
// criu's post-dump also starts the journal's next epoch (axolotl_files.sh, see fileRewind.ts).
// Fork snapshots share open files with the live program: the agent saves them itself, in its journal,
// just before it forks (filejournal.py), so these copies are for criu dumps only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pythonDir } from './paths';
import { processTree } from './procTree';

/** One entry of <checkpoint>/files.json (written by axolotl_files.py). */
export interface SavedFile {
  path: string;
  size: number;
  mtime_ns: number;
  dev: number;
  ino: number;
  append_only: boolean;
  /** inside the workspace */
  inside: boolean;
  /** copy: saved whole in `copy`; size: only cut back to `size` */
  mode: 'copy' | 'size';
  copy?: string;
  /** hard-linked from the previous checkpoint (unchanged) */
  reused?: boolean;
}

export interface PutBackResult {
  /** files whose saved content was written back */
  restored: string[];
  /** files cut back to their size at the checkpoint */
  truncated: string[];
  /** what could not be done, for the user */
  problems: string[];
}

export interface FileSaveOptions {
  /** folders whose files are saved whole */
  workspace: string[];
  /** interpreter that runs axolotl_files.py */
  python: string;
  /** largest file saved whole (default 256 MiB) */
  maxCopyBytes?: number;
  /** the agent's file journal, whose next epoch a dump that freezes the program starts (fileRewind.ts) */
  journal?: FrozenDumpJournal;
}

/** What criu's post-dump needs of the file journal. */
export interface FrozenDumpJournal {
  /** the page the agent maps: the epoch, then the files it is about to change */
  readonly stateFile: string;
  /** the epoch the next checkpoint starts */
  nextEpoch(): number;
}

export const DEFAULT_MAX_COPY_BYTES = 256 * 1024 * 1024;

let scriptCache: string | undefined;

/** The criu action script, executable (criu runs it directly). */
export function filesActionScript(): string {
  if (scriptCache && fs.existsSync(scriptCache)) return scriptCache;
  const shipped = path.join(pythonDir(), 'axolotl_files.sh');
  try {
    fs.accessSync(shipped, fs.constants.X_OK);
    return (scriptCache = shipped);
  } catch {
    // Unpacked without the executable bit (some archive tools drop it): run a private copy.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-files-'));
    const copy = path.join(dir, 'axolotl_files.sh');
    const text = fs.readFileSync(shipped, 'utf8').replace('"$(dirname "$0")/axolotl_files.py"', JSON.stringify(path.join(pythonDir(), 'axolotl_files.py')));
    fs.writeFileSync(copy, text, { mode: 0o755 });
    return (scriptCache = copy);
  }
}

/** Environment for criu (inherited by the action script) to save the files of `pid` into `dir`. */
export function filesEnv(pid: number, dir: string, prevDir: string | undefined, opts: FileSaveOptions): Record<string, string> {
  return {
    AXOLOTL_FILES_PID: String(pid),
    AXOLOTL_FILES_DIR: dir,
    AXOLOTL_FILES_PREV: prevDir ?? '',
    AXOLOTL_FILES_WORKSPACE: opts.workspace.join(path.delimiter),
    AXOLOTL_FILES_PYTHON: opts.python,
    AXOLOTL_FILES_MAX_COPY: String(opts.maxCopyBytes ?? DEFAULT_MAX_COPY_BYTES),
    ...(opts.journal ? {
      AXOLOTL_FILES_STATE: opts.journal.stateFile, AXOLOTL_FILES_EPOCH: String(opts.journal.nextEpoch()),
      AXOLOTL_FILES_EXCLUDE: path.dirname(opts.journal.stateFile),
    } : {}),
  };
}

export function readSavedFiles(dir: string | undefined): SavedFile[] {
  if (!dir) return [];
  try {
    const list = JSON.parse(fs.readFileSync(path.join(dir, 'files.json'), 'utf8')) as SavedFile[];
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

/**
 * Puts back the files saved with the checkpoint in `dir` (the program must not be running). `reachable`
 * (a program with less privilege than the engine, in a container): whether a file inside the workspace
 * may be written at its path (no link leads elsewhere); one only cut back must be the very file the
 * program had open (same device and inode, not a link), wherever it is.
 */
export function putBackFiles(dir: string | undefined, reachable?: (p: string) => boolean): PutBackResult {
  const out: PutBackResult = { restored: [], truncated: [], problems: [] };
  for (const f of readSavedFiles(dir)) {
    if (reachable) {
      let st: fs.Stats | undefined;
      try { st = fs.lstatSync(f.path); } catch { /* gone */ }
      const ok = f.mode === 'copy' ? f.inside && reachable(f.path) : !st || (st.isFile() && st.dev === f.dev && st.ino === f.ino);
      if (!ok) {
        out.problems.push(`${f.path} is not put back: it is no longer the file the program had open at the checkpoint`);
        continue;
      }
    }
    try {
      if (f.mode === 'copy' && f.copy) {
        const saved = path.join(dir!, f.copy);
        let same = false;
        try {
          const st = fs.statSync(f.path, { bigint: true });
          same = Number(st.size) === f.size && st.mtimeNs === BigInt(f.mtime_ns) && Number(st.ino) === f.ino;
        } catch { /* gone: written back below */ }
        if (same) continue;
        fs.mkdirSync(path.dirname(f.path), { recursive: true });
        // In place (same inode: other holders see the rewind too); reflink when possible.
        fs.copyFileSync(saved, f.path, fs.constants.COPYFILE_FICLONE);
        const t = BigInt(f.mtime_ns);
        const secs = Number(t / 1_000_000_000n) + Number(t % 1_000_000_000n) / 1e9;
        try { fs.utimesSync(f.path, secs, secs); } catch { /* cosmetic */ }
        out.restored.push(f.path);
      } else {
        let size: number;
        try {
          size = fs.statSync(f.path).size;
        } catch {
          out.problems.push(`${f.path} is gone (only its size was kept at the checkpoint)`);
          continue;
        }
        if (size > f.size) {
          fs.truncateSync(f.path, f.size);
          out.truncated.push(f.path);
        } else if (size < f.size) {
          out.problems.push(`${f.path} is shorter than at the checkpoint (${size} < ${f.size} bytes) and cannot be put back`);
        }
      }
    } catch (e) {
      out.problems.push(`${f.path}: ${(e as Error).message}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What a rewind cannot undo

export interface WritableFile {
  path: string;
  appendOnly: boolean;
}

/** Regular files some process of the tree has open for writing. */
export function openWritableFiles(pids: number[]): WritableFile[] {
  const found = new Map<string, WritableFile>();
  for (const p of pids) {
    let fds: string[] = [];
    try { fds = fs.readdirSync(`/proc/${p}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        const target = fs.readlinkSync(`/proc/${p}/fd/${fd}`);
        if (!target.startsWith('/') || target.endsWith(' (deleted)')) continue;
        if (!fs.statSync(`/proc/${p}/fd/${fd}`).isFile()) continue;
        const m = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/${p}/fdinfo/${fd}`, 'utf8'));
        if (!m) continue;
        const flags = parseInt(m[1], 8);
        const acc = flags & 3;
        if (acc === 0) continue;
        const appendOnly = acc === 1 && (flags & 0o2000) !== 0;
        const prev = found.get(target);
        found.set(target, { path: target, appendOnly: prev ? prev.appendOnly && appendOnly : appendOnly });
      } catch { /* closed meanwhile */ }
    }
  }
  return [...found.values()];
}

/** Sockets held by the tree, apart from the inodes in `ignore` (the engine's stdio sockets). */
export function openSockets(pids: number[], ignore: number[]): number {
  const seen = new Set<string>();
  for (const p of pids) {
    let fds: string[] = [];
    try { fds = fs.readdirSync(`/proc/${p}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${p}/fd/${fd}`));
        if (m && !ignore.includes(Number(m[1]))) seen.add(m[1]);
      } catch { /* closed meanwhile */ }
    }
  }
  return seen.size;
}

function socketInodes(pid: number, fds: number[]): number[] {
  return fds.flatMap((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m ? [Number(m[1])] : [];
    } catch {
      return [];
    }
  });
}

export interface RewindNotice {
  checkpointId: number;
  /** one short line per thing that stays as it is */
  items: string[];
  /** info: only output already printed (an ordinary rewind prints it again); warning: something that cannot be undone */
  level: 'info' | 'warning';
  /** the files the rewind put back, each with what was done: "results.txt (cut to 1.2 kB)" */
  rewound: string[];
  /** the whole message, one line */
  text: string;
}

export interface RewindContext {
  checkpointId: number;
  /** the live copy about to be replaced (undefined: nothing is running) */
  pid?: number;
  /** the engine's stdio socket inodes of the live copy */
  stdioInodes: number[];
  /** bytes of program output since the checkpoint was taken */
  outputSince: number;
  /** the checkpoint folder (files.json) */
  dir?: string;
  backend: string;
  /** the program was given input on stdin */
  stdinUsed?: boolean;
  /** processes of the engine's own in the tree (the agent's fork snapshots), not the program's children */
  ownProcesses?: ReadonlySet<number>;
  /** the agent journals the files the program opens (fileRewind.ts): files opened since are rewound too */
  journaled?: boolean;
}

/** What the files part of a rewind did and could not do (fileRewind.ts). */
export interface FilesRewound {
  /** "results.txt (cut to 1.2 kB)", "out/step-24.json (removed)", … */
  rewound: string[];
  /** one short line per kind of file left as it is */
  notUndone: string[];
}

export function short(files: string[], n = 3): string {
  return files.slice(0, n).join(', ') + (files.length > n ? ` and ${files.length - n} more` : '');
}

/**
 * What rewinding the live copy to checkpoint `checkpointId` cannot undo, as far as the live copy
 * tells (computed before it is stopped; the files come after, from the rewind itself).
 */
export function describeRewind(ctx: RewindContext): string[] {
  const items: string[] = [];
  if (ctx.outputSince > 0) items.push(`output already printed (${formatSize(ctx.outputSince)} since checkpoint ${ctx.checkpointId}) stays printed`);
  if (ctx.stdinUsed) items.push('input the program read from stdin after the checkpoint is not read again');
  if (ctx.pid !== undefined) {
    const tree = processTree(ctx.pid, ctx.ownProcesses);
    const kids = tree.slice(1);
    if (kids.length) {
      items.push(`child process${kids.length > 1 ? 'es' : ''} ${kids.slice(0, 5).join(', ')}${kids.length > 5 ? '…' : ''}: ${ctx.backend === 'fork' ? 'stopped, not part of the snapshot' : 'stopped; what they did stays done'}`);
    }
    // The engine's stdio sockets are not the program's connections (fork copies do not list them).
    const stdio = ctx.stdioInodes.length ? ctx.stdioInodes : socketInodes(ctx.pid, [0, 1, 2]);
    const sockets = openSockets(tree, stdio);
    if (sockets) items.push(`${sockets} open socket${sockets > 1 ? 's' : ''} (connections to other programs): what was sent stays sent`);
    if (!ctx.journaled) {
      // Without the agent's journal, only the files open at the checkpoint were saved with it.
      const savedPaths = new Set(readSavedFiles(ctx.dir).map((f) => f.path));
      const unsaved = openWritableFiles(tree).filter((f) => !savedPaths.has(f.path)).map((f) => f.path);
      if (unsaved.length) items.push(`files opened after the checkpoint keep what was written: ${short(unsaved)}`);
    }
  }
  return items;
}

/** The notice shown before the rewound program runs again. */
export function rewindNotice(checkpointId: number, items: string[], files?: FilesRewound): RewindNotice {
  const all = [...items, ...(files?.notUndone ?? [])];
  const rewound = files?.rewound ?? [];
  const text = `rewinding to checkpoint ${checkpointId}` +
    (all.length ? `; not undone: ${all.join('; ')}` : '') +
    (rewound.length ? `; rewound ${rewound.length} file${rewound.length > 1 ? 's' : ''}: ${short(rewound, 8)}` : '');
  // Output printed again is what every rewind does; anything else is worth a warning.
  const level = all.some((i) => !i.startsWith('output already printed')) ? 'warning' : 'info';
  return { checkpointId, items: all, level, rewound, text };
}

function formatSize(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
