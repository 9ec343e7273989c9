// The files a reply's edits work on, in memory: which file a path as the model wrote it means (only
// inside the project folder), each file's text with its conventions (CRLF, BOM) set aside while the
// edits apply, and in the end what changed, back in those conventions.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ReplyError } from './replyParser';

/** A file the model was shown (or may touch). */
export interface SourceFile {
  /** absolute */
  path: string;
  /** relative to the root, '/'-separated */
  relPath: string;
  text: string;
  /** the prompt showed the whole file (not excerpts): a complete-file reply is acceptable */
  shownWhole: boolean;
}

export interface EditContext {
  root: string;
  files: SourceFile[];
  /** reads a file the prompt did not include; undefined if it does not exist. Default: fs, UTF-8. */
  loadFile?: (absPath: string) => Promise<string | undefined>;
}

export interface EditedFile {
  path: string;
  relPath: string;
  original: string;
  proposed: string;
  created: boolean;
}

export interface WorkingFile {
  path: string;
  relPath: string;
  /** as on disk */
  original: string;
  /** LF-only, no BOM: what edits work on */
  text: string;
  crlf: boolean;
  bom: boolean;
  created: boolean;
}

async function defaultLoad(p: string): Promise<string | undefined> {
  try {
    return await fs.readFile(p, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** Back to the file's own conventions: CRLF, BOM. */
function finish(w: WorkingFile): string {
  let out = w.crlf ? w.text.replace(/\n/g, '\r\n') : w.text;
  if (w.bom) out = '\uFEFF' + out;
  return out;
}

/** A path as a model writes it: quotes, backticks, a trailing colon, backslashes, a leading ./ removed. */
function cleanHint(hint: string): string {
  return hint
    .trim()
    .replace(/^[`*"']+|[`*"':]+$/g, '')
    .replace(/\\/g, '/')
    .replace(/^\.\//, '');
}

export class WorkingFiles {
  readonly root: string;
  /** the file an edit naming none is for, when the prompt showed just one */
  readonly onlyFile?: string;
  private readonly load: (absPath: string) => Promise<string | undefined>;
  private readonly known: Map<string, SourceFile>;
  private readonly work = new Map<string, WorkingFile>();

  constructor(ctx: EditContext) {
    this.root = path.resolve(ctx.root);
    this.load = ctx.loadFile ?? defaultLoad;
    this.known = new Map(ctx.files.map((f) => [path.resolve(f.path), f]));
    this.onlyFile = ctx.files.length === 1 ? path.resolve(ctx.files[0].path) : undefined;
  }

  relOf(abs: string): string {
    return toPosix(path.relative(this.root, abs));
  }

  /** The files the prompt showed. */
  get shownFiles(): SourceFile[] {
    return [...this.known.values()];
  }

  shown(abs: string): SourceFile | undefined {
    return this.known.get(abs);
  }

  /** The text the prompt showed, else the file's on disk; undefined when there is none. */
  async read(abs: string): Promise<string | undefined> {
    return this.known.get(abs)?.text ?? (await this.load(abs));
  }

  async exists(abs: string): Promise<boolean> {
    return this.known.has(abs) || (await this.load(abs)) !== undefined;
  }

  /** An edit already works on this file. */
  isOpen(abs: string): boolean {
    return this.work.has(abs);
  }

  /** Map a path as the model wrote it to an absolute path (existence is not required). */
  async resolvePath(hint: string): Promise<string> {
    const h = cleanHint(hint);
    if (!h) throw new ReplyError('an edit names an empty file path');
    if (h.split('/').includes('..')) {
      throw new ReplyError(`the reply names the path "${h}", which uses ".."; only files inside the project folder may be changed, named relative to it as in the prompt.`);
    }
    if (path.isAbsolute(h)) return path.normalize(h);
    const candidates = [h];
    if (/^[ab]\//.test(h)) candidates.push(h.slice(2));
    const files = this.shownFiles;
    for (const c of candidates) {
      const f = files.find((x) => x.relPath === c);
      if (f) return path.resolve(f.path);
    }
    for (const c of candidates) {
      const hits = files.filter((x) => x.relPath.endsWith('/' + c) || toPosix(x.path).endsWith('/' + c));
      if (hits.length === 1) return path.resolve(hits[0].path);
      if (hits.length > 1) throw new ReplyError(`the path "${h}" could mean ${hits.map((x) => x.relPath).join(' or ')}; name the file exactly as in the prompt.`);
    }
    for (const c of candidates) {
      const abs = path.resolve(this.root, c);
      if (await this.exists(abs)) return abs;
    }
    return path.resolve(this.root, candidates[candidates.length - 1]);
  }

  /** The working copy of a file, read once; `create`: a file that does not exist starts empty. */
  async open(abs: string, create: boolean): Promise<WorkingFile> {
    const have = this.work.get(abs);
    if (have) return have;
    const text = await this.read(abs);
    if (text === undefined && !create) {
      throw new ReplyError(`the reply edits ${this.relOf(abs)}, which does not exist; edit the files shown in the prompt.`);
    }
    const original = text ?? '';
    const bom = original.startsWith('\uFEFF');
    const body = bom ? original.slice(1) : original;
    const w: WorkingFile = {
      path: abs,
      relPath: this.relOf(abs),
      original,
      text: body.replace(/\r\n/g, '\n'),
      crlf: (body.match(/\r\n/g)?.length ?? 0) > body.split('\n').length / 2,
      bom,
      created: text === undefined,
    };
    this.work.set(abs, w);
    return w;
  }

  /** The files the edits changed (or created), in their own conventions again. */
  changed(): EditedFile[] {
    const files: EditedFile[] = [];
    for (const w of this.work.values()) {
      const proposed = finish(w);
      if (proposed === w.original && !w.created) continue;
      files.push({ path: w.path, relPath: w.relPath, original: w.created ? '' : w.original, proposed, created: w.created });
    }
    return files;
  }
}
