// Applies the edits found in a reply (replyParser.ts) to the source texts, in memory: picks the
// file each edit targets, repairs what models get wrong in diffs (hunk counts, missing headers,
// blank context lines without their space), matches SEARCH text tolerantly but never ambiguously,
// and refuses complete-file blocks that are fragments or contain "# ... unchanged" placeholders.
// Errors are ReplyError with text meant for the model's next attempt.
import fs from 'node:fs/promises';
import path from 'node:path';
import { applyPatch, parsePatch } from 'diff';
import type { StructuredPatch, StructuredPatchHunk } from 'diff';
import { ReplyError, type ParsedReply, type ReplyEdit } from './replyParser';
import type { ReplyFormat } from './types';

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

export interface ResolvedEdits {
  files: EditedFile[];
  format: ReplyFormat;
}

interface WorkingFile {
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

function nonBlankLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Fraction of the original's non-blank lines that also appear in the candidate. */
function similarity(candidate: string, original: string): number {
  const orig = nonBlankLines(original);
  if (!orig.length) return 0;
  const cand = new Set(nonBlankLines(candidate));
  return orig.filter((l) => cand.has(l)).length / orig.length;
}

/** Placeholders models write instead of code they did not repeat. */
const ELISION_PATTERNS = [
  /^\s*#\s*\.{3}\s*$/,
  /^\s*#\s*(?:\.{3}|…)?.*\b(?:rest of (?:the )?(?:code|file|function|class|module|script|implementation)|remains? (?:unchanged|the same)|remaining (?:code|functions|methods)|unchanged|existing code|code omitted|omitted for brevity|same as (?:before|above)|as before|other (?:functions|methods|code)(?: here)?)\b/i,
  /^\s*(?:\.{3}|…)\s*$/,
  /^\s*#\s*…\s*$/,
];

function findElision(candidate: string, original: string): string | undefined {
  const origLines = new Set(original.split('\n').map((l) => l.trim()));
  for (const line of candidate.split('\n')) {
    if (origLines.has(line.trim())) continue;
    if (ELISION_PATTERNS.some((re) => re.test(line))) return line.trim();
  }
  return undefined;
}

/** `  12 | code` / `> 12 | code` prefixes copied from an excerpt: remove them if nearly every line has one. */
function stripLineNumbers(text: string): string {
  const lines = text.split('\n');
  const nonEmpty = lines.filter((l) => l.trim());
  const re = /^\s*>?\s*\d+\s*\| ?/;
  if (nonEmpty.length < 2 || nonEmpty.filter((l) => re.test(l)).length < nonEmpty.length * 0.8) return text;
  return lines.map((l) => l.replace(re, '')).join('\n');
}

/** Back to the file's own conventions: CRLF, BOM. */
function finish(w: WorkingFile): string {
  let out = w.crlf ? w.text.replace(/\n/g, '\r\n') : w.text;
  if (w.bom) out = '\uFEFF' + out;
  return out;
}

// ---------------------------------------------------------------- unified diffs

interface RepairedDiff {
  text: string;
  /** per hunk, in order: the header had no line numbers, so the hunk may match in several places */
  unanchored: boolean[];
}

/**
 * Make a model's diff parseable by jsdiff: recount every hunk header from its body, give number-less
 * `@@` headers a start of 1 (jsdiff then searches the whole file), add a missing `---`/`+++` partner,
 * restore the leading space of blank context lines, drop trailing blank lines of a hunk.
 */
export function repairDiffText(input: string): RepairedDiff {
  const lines = input.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  const unanchored: boolean[] = [];
  const isHeaderStart = (k: number) =>
    /^diff --git |^Index: |^diff -/.test(lines[k]) ||
    (/^--- /.test(lines[k]) && /^\+\+\+ /.test(lines[k + 1] ?? '')) ||
    (/^\+\+\+ /.test(lines[k]) && !/^--- /.test(lines[k - 1] ?? ''));
  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    if (/^--- /.test(line) && !/^\+\+\+ /.test(lines[i + 1] ?? '') && /^@@/.test(lines[i + 1] ?? '')) {
      out.push(line, '+++ ' + line.slice(4));
      i++;
      continue;
    }
    if (/^\+\+\+ /.test(line) && !/^--- /.test(lines[i - 1] ?? '')) {
      out.push('--- ' + line.slice(4), line);
      i++;
      continue;
    }
    if (!/^@@/.test(line)) {
      out.push(line);
      i++;
      continue;
    }
    const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j];
      if (/^@@/.test(l) || isHeaderStart(j)) break;
      if (l === '') body.push(' ');
      else if (/^[ +\-\\]/.test(l)) body.push(l);
      else if (/^\t/.test(l)) body.push(' ' + l); // context line whose leading space was lost before a tab
      else break; // prose after the diff
    }
    while (body.length && body[body.length - 1].trim() === '') body.pop();
    let oldCount = 0;
    let newCount = 0;
    for (const l of body) {
      if (l[0] === ' ') {
        oldCount++;
        newCount++;
      } else if (l[0] === '-') oldCount++;
      else if (l[0] === '+') newCount++;
    }
    let oldStart = m ? Number(m[1]) : 1;
    let newStart = m ? Number(m[3]) : 1;
    // "-0,0" is how a diff says "insert at the top"; keep that convention consistent with the counts
    if (oldCount === 0 && oldStart > 0 && m && Number(m[2] ?? 1) !== 0) oldStart -= 1;
    if (newCount === 0 && newStart > 0 && m && Number(m[4] ?? 1) !== 0) newStart -= 1;
    if (oldCount > 0 && oldStart === 0) oldStart = 1;
    if (newCount > 0 && newStart === 0) newStart = 1;
    out.push(`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@`, ...body);
    unanchored.push(!m);
    i = j;
  }
  return { text: out.join('\n'), unanchored };
}

type LineCompare = (a: string, b: string) => boolean;
const exact: LineCompare = (a, b) => a === b;
const trimEnd: LineCompare = (a, b) => a.trimEnd() === b.trimEnd();
const collapsed: LineCompare = (a, b) => a.replace(/\s+/g, ' ').trim() === b.replace(/\s+/g, ' ').trim();

/** Tolerance steps: exact, then trailing whitespace, then any whitespace, then one line of fuzz. */
const DIFF_LEVELS: Array<{ cmp: LineCompare; fuzz: number }> = [
  { cmp: exact, fuzz: 0 },
  { cmp: trimEnd, fuzz: 0 },
  { cmp: collapsed, fuzz: 0 },
  { cmp: trimEnd, fuzz: 1 },
];

function tryApply(text: string, patch: StructuredPatch): string | undefined {
  for (const { cmp, fuzz } of DIFF_LEVELS) {
    const res = applyPatch(text, patch, {
      fuzzFactor: fuzz,
      compareLine: (_n, line, _op, content) => line !== undefined && cmp(line, content),
    });
    if (res !== false) return res;
  }
  return undefined;
}

function oldSide(h: StructuredPatchHunk): string[] {
  return h.lines.filter((l) => l[0] === ' ' || l[0] === '-').map((l) => l.slice(1));
}

function countOccurrences(fileLines: string[], seq: string[], cmp: LineCompare): number[] {
  const at: number[] = [];
  if (!seq.length) return at;
  for (let i = 0; i + seq.length <= fileLines.length; i++) {
    let ok = true;
    for (let k = 0; k < seq.length && ok; k++) ok = cmp(fileLines[i + k], seq[k]);
    if (ok) at.push(i + 1);
  }
  return at;
}

function hunkHeader(h: StructuredPatchHunk): string {
  return `@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`;
}

/** Why a hunk does not apply: the first line it expects that the file does not have. */
function explainHunkFailure(text: string, h: StructuredPatchHunk, rel: string, k: number): string {
  const have = new Set(text.split('\n').map((l) => l.trim()));
  const missing = oldSide(h).find((l) => l.trim() && !have.has(l.trim()));
  const where = `hunk ${k} of the diff for ${rel} (${hunkHeader(h)})`;
  if (missing !== undefined) {
    return `${where} does not apply: ${rel} has no line \`${missing.trim()}\`. Context and removed lines must be copied exactly from the current file.`;
  }
  return `${where} does not apply: its context and removed lines exist in ${rel} but not together in that order. Copy a contiguous block from the current file.`;
}

// ---------------------------------------------------------------- SEARCH/REPLACE

function leadingWs(s: string): string {
  return /^\s*/.exec(s)![0];
}

function usesTabs(lines: string[]): boolean {
  const indented = lines.filter((l) => /^\s+\S/.test(l));
  return indented.length > 0 && indented.every((l) => l.startsWith('\t'));
}

/** Re-indent replacement lines by the offset between where the SEARCH text was found and how it was written. */
function reindent(replace: string[], searchIndent: string, fileIndent: string, fileTabs: boolean): string[] {
  let out = replace.map((l) => {
    if (!l.trim()) return l;
    if (l.startsWith(searchIndent)) return fileIndent + l.slice(searchIndent.length);
    return l;
  });
  if (fileTabs) {
    const spaces = out.map((l) => /^ +/.exec(l)?.[0].length ?? 0).filter((n) => n > 0);
    const unit = spaces.length ? Math.min(4, ...spaces) : 4;
    out = out.map((l) => l.replace(/^(\t*)( +)/, (_m, tabs: string, sp: string) => tabs + '\t'.repeat(Math.round(sp.length / unit))));
  }
  return out;
}

function applySearchReplace(text: string, edit: Extract<ReplyEdit, { kind: 'search-replace' }>, rel: string): string {
  const name = `SEARCH/REPLACE block ${edit.block} (${rel})`;
  let search = edit.search.split('\n');
  let replace = edit.replace === '' ? [] : edit.replace.split('\n');
  const fileLines = text.split('\n');
  if (!edit.search.trim()) {
    if (!text.trim()) return replace.join('\n') + (replace.length ? '\n' : '');
    throw new ReplyError(`${name} has an empty SEARCH section but ${rel} is not empty; copy the lines to replace into SEARCH.`);
  }
  // blank lines padding the SEARCH text are not worth a mismatch
  while (search.length && !search[0].trim()) {
    search = search.slice(1);
    if (replace.length && !replace[0].trim()) replace = replace.slice(1);
  }
  while (search.length && !search[search.length - 1].trim()) {
    search = search.slice(0, -1);
    if (replace.length && !replace[replace.length - 1].trim()) replace = replace.slice(0, -1);
  }
  const levels: Array<{ cmp: LineCompare; reindent: boolean }> = [
    { cmp: exact, reindent: false },
    { cmp: trimEnd, reindent: false },
    { cmp: (a, b) => a.trim() === b.trim(), reindent: true },
  ];
  for (const level of levels) {
    const at = countOccurrences(fileLines, search, level.cmp);
    if (at.length > 1) {
      throw new ReplyError(
        `${name} matches ${at.length} places in ${rel} (lines ${at.slice(0, 5).join(', ')}); add surrounding lines to the SEARCH section so that it matches exactly one place.`,
      );
    }
    if (at.length === 1) {
      const start = at[0] - 1;
      let lines = replace;
      if (level.reindent) {
        const firstIdx = search.findIndex((l) => l.trim());
        lines = reindent(replace, leadingWs(search[firstIdx]), leadingWs(fileLines[start + firstIdx]), usesTabs(fileLines));
      }
      return [...fileLines.slice(0, start), ...lines, ...fileLines.slice(start + search.length)].join('\n');
    }
  }
  // say which line broke the match, so the next attempt can copy it right
  const fileSet = new Set(fileLines.map((l) => l.trim()));
  const bad = search.find((l) => l.trim() && !fileSet.has(l.trim()));
  const detail = bad !== undefined ? `; ${rel} has no line \`${bad.trim()}\`` : '; its lines exist but not consecutively in this order';
  throw new ReplyError(`${name} does not match ${rel}${detail}. The SEARCH section must be copied exactly from the current file.`);
}

// ---------------------------------------------------------------- resolution

export async function resolveEdits(parsed: ParsedReply, ctx: EditContext): Promise<ResolvedEdits> {
  const root = path.resolve(ctx.root);
  const load = ctx.loadFile ?? defaultLoad;
  const work = new Map<string, WorkingFile>();
  const known = new Map(ctx.files.map((f) => [path.resolve(f.path), f]));

  const relOf = (abs: string) => toPosix(path.relative(root, abs));

  const cleanHint = (hint: string) =>
    hint
      .trim()
      .replace(/^[`*"']+|[`*"':]+$/g, '')
      .replace(/\\/g, '/')
      .replace(/^\.\//, '');

  async function exists(abs: string): Promise<boolean> {
    return known.has(abs) || (await load(abs)) !== undefined;
  }

  /** Map a path as the model wrote it to an absolute path (existence is not required). */
  async function resolvePath(hint: string): Promise<string> {
    const h = cleanHint(hint);
    if (!h) throw new ReplyError('an edit names an empty file path');
    if (h.split('/').includes('..')) {
      throw new ReplyError(`the reply names the path "${h}", which uses ".."; only files inside the project folder may be changed, named relative to it as in the prompt.`);
    }
    if (path.isAbsolute(h)) return path.normalize(h);
    const candidates = [h];
    if (/^[ab]\//.test(h)) candidates.push(h.slice(2));
    const files = [...known.values()];
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
      const abs = path.resolve(root, c);
      if (await exists(abs)) return abs;
    }
    return path.resolve(root, candidates[candidates.length - 1]);
  }

  async function open(abs: string, create: boolean): Promise<WorkingFile> {
    const have = work.get(abs);
    if (have) return have;
    const text = known.get(abs)?.text ?? (await load(abs));
    if (text === undefined && !create) {
      throw new ReplyError(`the reply edits ${relOf(abs)}, which does not exist; edit the files shown in the prompt.`);
    }
    const original = text ?? '';
    const bom = original.startsWith('\uFEFF');
    const body = bom ? original.slice(1) : original;
    const w: WorkingFile = {
      path: abs,
      relPath: relOf(abs),
      original,
      text: body.replace(/\r\n/g, '\n'),
      crlf: (body.match(/\r\n/g)?.length ?? 0) > body.split('\n').length / 2,
      bom,
      created: text === undefined,
    };
    work.set(abs, w);
    return w;
  }

  const srEdits = parsed.edits.filter((e): e is Extract<ReplyEdit, { kind: 'search-replace' }> => e.kind === 'search-replace');
  const diffEdits = parsed.edits.filter((e): e is Extract<ReplyEdit, { kind: 'diff' }> => e.kind === 'diff');
  const fullEdits = parsed.edits.filter((e): e is Extract<ReplyEdit, { kind: 'full-file' }> => e.kind === 'full-file');
  const onlyFile = ctx.files.length === 1 ? path.resolve(ctx.files[0].path) : undefined;
  let format: ReplyFormat;

  if (srEdits.length || diffEdits.length) {
    // complete-file blocks next to these are illustrations; the precise edits win
    format = srEdits.length ? 'search-replace' : 'diff';
    for (const e of srEdits) {
      let abs: string;
      if (e.path) abs = await resolvePath(e.path);
      else if (onlyFile) abs = onlyFile;
      else throw new ReplyError(`SEARCH/REPLACE block ${e.block} does not say which file it is for; put the file path on the line before it.`);
      const w = await open(abs, !e.search.trim());
      w.text = applySearchReplace(w.text, e, w.relPath);
    }
    for (const e of diffEdits) await applyDiff(e);
  } else {
    format = 'full-file';
    await applyFullFiles(fullEdits);
  }

  async function applyDiff(e: Extract<ReplyEdit, { kind: 'diff' }>): Promise<void> {
    const repaired = repairDiffText(e.text);
    let patches: StructuredPatch[];
    try {
      patches = parsePatch(repaired.text);
    } catch (err) {
      throw new ReplyError(`the diff could not be read (${(err as Error).message}); send a unified diff with ---/+++ headers and @@ hunks.`);
    }
    patches = patches.filter((p) => p.hunks.length || p.isDelete || p.isRename);
    if (!patches.length) throw new ReplyError('the diff has no hunks (no @@ sections with changed lines).');
    let hunkIdx = 0;
    for (const p of patches) {
      const anchored = p.hunks.map(() => !repaired.unanchored[hunkIdx++]);
      let oldName = p.oldFileName;
      let newName = p.newFileName;
      if (newName === '/dev/null' || p.isDelete) throw new ReplyError(`the diff deletes ${oldName}; a repair may not delete files.`);
      if (p.isRename) throw new ReplyError(`the diff renames ${oldName} to ${newName}; a repair may not rename files.`);
      const create = oldName === '/dev/null' || p.isCreate === true;
      // git-style a/ b/ prefixes
      const strip = (n: string | undefined) => (n && n !== '/dev/null' ? n.replace(/^[ab]\//, '') : n);
      if ((oldName?.startsWith('a/') || oldName === '/dev/null') && newName?.startsWith('b/')) {
        oldName = strip(oldName);
        newName = strip(newName);
      }
      const hint = newName && newName !== '/dev/null' ? newName : oldName;
      let abs: string;
      if (hint) abs = await resolvePath(hint);
      else if (e.path) abs = await resolvePath(e.path);
      else if (onlyFile) abs = onlyFile;
      else throw new ReplyError('the diff has no ---/+++ file names, and the prompt showed several files; add the headers.');
      if (create && work.get(abs) === undefined && (await exists(abs)) && (known.get(abs)?.text ?? (await load(abs)))?.trim()) {
        throw new ReplyError(`the diff creates ${relOf(abs)}, which already exists; diff against the current file instead.`);
      }
      const w = await open(abs, create);
      const rel = w.relPath;
      // a hunk without line numbers may fit several places: refuse to guess
      p.hunks.forEach((h, k) => {
        if (anchored[k]) return;
        const at = countOccurrences(w.text.split('\n'), oldSide(h), trimEnd);
        if (at.length > 1) {
          throw new ReplyError(`hunk ${k + 1} of the diff for ${rel} has no line numbers and matches ${at.length} places (lines ${at.slice(0, 5).join(', ')}); add line numbers or more context.`);
        }
      });
      if (anchored.every(Boolean)) p.hunks.sort((a, b) => a.oldStart - b.oldStart);
      const result = tryApply(w.text, p);
      if (result === undefined) {
        // find the first hunk that fails on its own, for a precise message
        for (let k = 0; k < p.hunks.length; k++) {
          if (tryApply(w.text, { ...p, hunks: [p.hunks[k]] }) === undefined) throw new ReplyError(explainHunkFailure(w.text, p.hunks[k], rel, k + 1));
        }
        throw new ReplyError(`the diff for ${rel} does not apply: its hunks overlap or are out of order.`);
      }
      w.text = result;
    }
  }

  async function applyFullFiles(edits: Array<Extract<ReplyEdit, { kind: 'full-file' }>>): Promise<void> {
    // which file each block is for
    const byTarget = new Map<string, typeof edits>();
    const unassigned: typeof edits = [];
    for (const e of edits) {
      let target: string | undefined;
      if (e.path) target = await resolvePath(e.path);
      else if (onlyFile) target = onlyFile;
      else {
        // several files and no label: the file this block resembles most, if clearly one
        const scored = [...known.values()].map((f) => ({ f, s: similarity(e.content, f.text) })).sort((a, b) => b.s - a.s);
        if (scored.length && scored[0].s >= 0.3 && (scored.length === 1 || scored[0].s - scored[1].s >= 0.15)) target = path.resolve(scored[0].f.path);
      }
      if (!target) {
        unassigned.push(e);
        continue;
      }
      byTarget.set(target, [...(byTarget.get(target) ?? []), e]);
    }
    if (!byTarget.size) {
      if (unassigned.length) {
        throw new ReplyError(
          `code block${unassigned.length > 1 ? 's' : ''} ${unassigned.map((e) => e.block).join(', ')} do${unassigned.length > 1 ? '' : 'es'} not say which file ${unassigned.length > 1 ? 'they are' : 'it is'} for; label each complete file with its path (\`\`\`python path/to/file.py) or use SEARCH/REPLACE blocks.`,
        );
      }
      throw new ReplyError('the reply has no code for any of the files');
    }
    for (const [abs, candidates] of byTarget) {
      const original = known.get(abs)?.text ?? (await load(abs));
      const rel = relOf(abs);
      const prepared = candidates.map((e) => {
        let content = stripLineNumbers(e.content);
        // a "# path.py" first line used as a label is not part of the file
        if (original !== undefined && e.path) {
          const first = content.split('\n', 1)[0];
          if (/^#\s*(?:file(?:name)?\s*:\s*)?\S+\s*$/i.test(first) && first.includes(e.path) && !original.replace(/\r\n/g, '\n').startsWith(first)) {
            content = content.slice(first.length + 1);
          }
        }
        return { e, content };
      });
      let chosen: (typeof prepared)[number] | undefined;
      if (original === undefined) {
        chosen = prepared.filter((c) => c.e.path).pop();
        if (!chosen) continue;
      } else {
        const origLF = original.replace(/\r\n/g, '\n');
        const origCount = nonBlankLines(origLF).length;
        const plausible = prepared.filter((c) => {
          const count = nonBlankLines(c.content).length;
          const sim = similarity(c.content, origLF);
          const longEnough = origCount < 5 || count >= origCount * 0.6;
          return longEnough && (c.e.path !== undefined || origCount < 5 || sim >= 0.5);
        });
        chosen = plausible.pop();
        if (!chosen) {
          // a fragment with a placeholder: the placeholder is the better explanation
          const last = prepared[prepared.length - 1];
          const elided = findElision(last.content, origLF);
          if (elided) throw new ReplyError(`the complete file for ${rel} contains the placeholder \`${elided}\` instead of code; send every line of the file, or use SEARCH/REPLACE blocks.`);
          throw new ReplyError(
            `the code block for ${rel} holds only part of the file (${nonBlankLines(prepared[prepared.length - 1].content).length} of ${origCount} lines). Send the complete file, or use SEARCH/REPLACE blocks.`,
          );
        }
        const shown = known.get(abs);
        if (shown && !shown.shownWhole && similarity(chosen.content, origLF) < 0.95) {
          throw new ReplyError(`only excerpts of ${rel} were shown, so a complete-file reply would lose the rest of it; use SEARCH/REPLACE blocks for ${rel}.`);
        }
      }
      if (!chosen.e.closed) throw new ReplyError(`the reply ended inside the code block for ${rel} (it was cut off); use SEARCH/REPLACE blocks to keep the reply short.`);
      const placeholder = findElision(chosen.content, original ?? '');
      if (placeholder) {
        throw new ReplyError(`the complete file for ${rel} contains the placeholder \`${placeholder}\` instead of code; send every line of the file, or use SEARCH/REPLACE blocks.`);
      }
      const w = await open(abs, true);
      let text = chosen.content;
      // keep the original's final-newline convention
      const hadFinalNewline = w.text === '' || w.text.endsWith('\n');
      if (!hadFinalNewline) text = text.replace(/\n$/, '');
      w.text = text;
    }
  }

  const files: EditedFile[] = [];
  for (const w of work.values()) {
    const proposed = finish(w);
    if (proposed === w.original && !w.created) continue;
    files.push({ path: w.path, relPath: w.relPath, original: w.created ? '' : w.original, proposed, created: w.created });
  }
  if (!files.length) throw new ReplyError('the proposed change leaves every file exactly as it was; change the code that causes the crash.');
  return { files, format };
}
