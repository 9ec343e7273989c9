// SEARCH/REPLACE blocks from a model: the SEARCH lines must occur exactly once, matched exactly, then
// ignoring trailing whitespace, then ignoring indentation (the replacement re-indented to fit).
import { countOccurrences, exact, trimEnd, type LineCompare } from './lineMatch';
import { ReplyError, type ReplyEdit } from './replyParser';
import type { WorkingFiles } from './workingFiles';

type SearchReplace = Extract<ReplyEdit, { kind: 'search-replace' }>;

/** Applies one block to the file it names (or the only file shown). */
export async function applySearchReplaceEdit(files: WorkingFiles, e: SearchReplace): Promise<void> {
  let abs: string;
  if (e.path) abs = await files.resolvePath(e.path);
  else if (files.onlyFile) abs = files.onlyFile;
  else throw new ReplyError(`SEARCH/REPLACE block ${e.block} does not say which file it is for; put the file path on the line before it.`);
  const w = await files.open(abs, !e.search.trim());
  w.text = applySearchReplace(w.text, e, w.relPath);
}

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

/** `text` with the block's SEARCH lines (found exactly once) replaced. */
function applySearchReplace(text: string, edit: SearchReplace, rel: string): string {
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
