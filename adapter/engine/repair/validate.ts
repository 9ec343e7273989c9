// Checks a proposed repair before the user sees it: it changes something, stays inside the
// project folder (symlinks resolved), respects size limits, and every Python file still compiles
// with the run's own interpreter. Problems come back as text precise enough to send to the model.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { AxolotlError } from '../types';
import { CompileChecker } from './compileCheck';
import { DEFAULT_LIMITS, type RepairLimits } from './types';

export interface ProposedFile {
  path: string;
  relPath: string;
  original: string;
  proposed: string;
  created?: boolean;
}

export interface ValidationContext {
  root: string;
  /** interpreter of the run; the compile check must use the same Python version */
  python: string;
  limits?: Partial<RepairLimits>;
  signal?: AbortSignal;
}

export interface ValidationResult {
  ok: boolean;
  /** one line (or a compiler message) per problem, for the user and the model */
  problems: string[];
}

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' ? false : !rel.startsWith('..' + path.sep) && rel !== '..' && !path.isAbsolute(rel);
}

async function realpathOrUndefined(p: string): Promise<string | undefined> {
  try {
    return await fs.realpath(p);
  } catch {
    return undefined;
  }
}

/** Where the file would really be written, or a problem. Symlinks are followed. */
async function checkLocation(f: ProposedFile, realRoot: string, root: string): Promise<string | undefined> {
  const label = f.relPath || f.path;
  if (!path.isAbsolute(f.path)) return `${label}: not an absolute path`;
  if (!isInside(root, path.resolve(f.path))) return `${label}: outside the project folder ${root}; a repair may only change files inside it`;
  if (f.relPath.split('/').includes('..') || f.path.split(path.sep).includes('..')) return `${label}: paths with ".." are not allowed`;
  const real = await realpathOrUndefined(f.path);
  if (real !== undefined) {
    if (!isInside(realRoot, real)) return `${label}: is a link to ${real}, outside the project folder`;
    const st = await fs.stat(real);
    if (!st.isFile()) return `${label}: not a regular file`;
    return undefined;
  }
  // a new file: its folder must exist, and really be inside the root
  let link: string | undefined;
  try {
    link = await fs.readlink(f.path);
  } catch {
    link = undefined;
  }
  if (link !== undefined) return `${label}: is a dangling link (to ${link})`;
  const dir = path.dirname(f.path);
  const realDir = await realpathOrUndefined(dir);
  if (realDir === undefined) return `${label}: its folder ${path.relative(root, dir) || '.'} does not exist; a repair may not create folders`;
  if (realDir !== realRoot && !isInside(realRoot, realDir)) return `${label}: its folder links to ${realDir}, outside the project folder`;
  return undefined;
}

/** Run `<python> -m py_compile` on a temporary copy; return the compiler's message, or undefined if it compiles. */
async function compileError(f: ProposedFile, python: string, tmp: string, signal?: AbortSignal): Promise<string | undefined> {
  const dir = path.join(tmp, path.dirname(f.relPath));
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(tmp, f.relPath);
  await fs.writeFile(file, f.proposed);
  // name the file as the model knows it, not by its temporary path
  const named = (out: string) => out.trim().split(file).join(f.relPath).split(tmp + path.sep).join('');
  try {
    const msg = await CompileChecker.for(python).check(file, path.join(tmp, '.pycache', f.relPath + '.pyc'));
    return msg === undefined ? undefined : named(msg) || 'py_compile failed';
  } catch {
    /* the warm checker cannot run: start py_compile itself */
  }
  let result;
  try {
    result = await execa(python, ['-m', 'py_compile', file], {
      reject: false,
      cancelSignal: signal,
      timeout: 60_000,
      env: { PYTHONDONTWRITEBYTECODE: '1', PYTHONPYCACHEPREFIX: path.join(tmp, '.pycache') },
      stripFinalNewline: true,
    });
  } catch (e) {
    throw new AxolotlError(`Could not run ${python} to check the repair compiles: ${(e as Error).message}`);
  }
  if (result.isCanceled) throw new AxolotlError('The repair check was cancelled.');
  if ((result as { code?: string }).code === 'ENOENT' || (result.exitCode === undefined && result.failed && !result.isTerminated)) {
    throw new AxolotlError(`Could not run the Python interpreter "${python}" to check the repair compiles.`, 'Set "python" in the launch configuration (or --python) to an existing interpreter.');
  }
  if (result.exitCode === 0) return undefined;
  const out = named(`${result.stderr}\n${result.stdout}`);
  return out || `py_compile failed with exit code ${result.exitCode}`;
}

/** Validate a repair. Throws AxolotlError only for problems of the environment (no interpreter). */
export async function validateRepair(files: ProposedFile[], ctx: ValidationContext): Promise<ValidationResult> {
  const limits: RepairLimits = { ...DEFAULT_LIMITS, ...ctx.limits };
  const problems: string[] = [];
  const root = path.resolve(ctx.root);
  const realRoot = (await realpathOrUndefined(root)) ?? root;

  if (!files.length || files.every((f) => f.proposed === f.original)) {
    return { ok: false, problems: ['the repair changes nothing (its diff is empty); change the code that causes the crash'] };
  }
  if (files.length > limits.maxFiles) problems.push(`the repair changes ${files.length} files; at most ${limits.maxFiles} are allowed`);
  const seen = new Set<string>();
  for (const f of files) {
    const label = f.relPath || f.path;
    if (seen.has(f.path)) problems.push(`${label}: changed twice in one repair`);
    seen.add(f.path);
    const size = Buffer.byteLength(f.proposed, 'utf8');
    if (size > limits.maxFileBytes) problems.push(`${label}: the new text is ${size} bytes; at most ${limits.maxFileBytes} are allowed`);
    if (f.proposed.includes('\u0000')) problems.push(`${label}: the new text contains NUL bytes`);
    if (f.proposed === f.original) problems.push(`${label}: listed as changed but identical to the current file`);
    const where = await checkLocation(f, realRoot, root);
    if (where) problems.push(where);
  }
  if (problems.length) return { ok: false, problems };

  const py = files.filter((f) => /\.pyw?$/i.test(f.path));
  if (py.length) {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'axolotl-check-'));
    try {
      const errors = await Promise.all(py.map((f) => compileError(f, ctx.python, tmp, ctx.signal)));
      errors.forEach((err, i) => {
        if (err) problems.push(`${py[i].relPath} does not compile:\n${err}`);
      });
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }
  return { ok: problems.length === 0, problems };
}
