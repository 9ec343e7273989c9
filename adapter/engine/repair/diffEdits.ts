// Unified diffs from a model: made parseable first (hunk counts recounted, missing headers added,
// blank context lines given back their space), then applied with growing tolerance (whitespace, one
// line of fuzz) but never to a place a hunk without line numbers only might mean.
import { applyPatch, parsePatch } from 'diff';
import type { StructuredPatch, StructuredPatchHunk } from 'diff';
import { collapsed, countOccurrences, exact, trimEnd, type LineCompare } from './lineMatch';
import { ReplyError, type ReplyEdit } from './replyParser';
import type { WorkingFiles } from './workingFiles';

export interface RepairedDiff {
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

/** Applies one unified diff (several files, several hunks) to the working copies. */
export async function applyDiffEdit(files: WorkingFiles, e: Extract<ReplyEdit, { kind: 'diff' }>): Promise<void> {
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
    if (hint) abs = await files.resolvePath(hint);
    else if (e.path) abs = await files.resolvePath(e.path);
    else if (files.onlyFile) abs = files.onlyFile;
    else throw new ReplyError('the diff has no ---/+++ file names, and the prompt showed several files; add the headers.');
    if (create && !files.isOpen(abs) && (await files.exists(abs)) && (await files.read(abs))?.trim()) {
      throw new ReplyError(`the diff creates ${files.relOf(abs)}, which already exists; diff against the current file instead.`);
    }
    const w = await files.open(abs, create);
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
