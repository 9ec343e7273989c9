// Complete files from a model: which file each block is for (its label, the only file shown, or the
// file it clearly resembles), and refusals of what would lose code: fragments, "# ... unchanged"
// placeholders, a block cut off, a whole file when the prompt showed only excerpts of it.
import path from 'node:path';
import { ReplyError, type ReplyEdit } from './replyParser';
import type { WorkingFiles } from './workingFiles';

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

type FullFile = Extract<ReplyEdit, { kind: 'full-file' }>;

/** Applies complete-file blocks: each to the file it names or clearly resembles, if it is the whole file. */
export async function applyFullFileEdits(files: WorkingFiles, edits: FullFile[]): Promise<void> {
  for (const [abs, candidates] of await blocksByFile(files, edits)) {
    const original = await files.read(abs);
    const rel = files.relOf(abs);
    const chosen = chooseBlock(files, abs, original, candidates);
    if (!chosen) continue;
    if (!chosen.e.closed) throw new ReplyError(`the reply ended inside the code block for ${rel} (it was cut off); use SEARCH/REPLACE blocks to keep the reply short.`);
    const placeholder = findElision(chosen.content, original ?? '');
    if (placeholder) {
      throw new ReplyError(`the complete file for ${rel} contains the placeholder \`${placeholder}\` instead of code; send every line of the file, or use SEARCH/REPLACE blocks.`);
    }
    const w = await files.open(abs, true);
    let text = chosen.content;
    // keep the original's final-newline convention
    const hadFinalNewline = w.text === '' || w.text.endsWith('\n');
    if (!hadFinalNewline) text = text.replace(/\n$/, '');
    w.text = text;
  }
}

/** Which file each block is for: its label, the only file shown, or the one file it clearly resembles. */
async function blocksByFile(files: WorkingFiles, edits: FullFile[]): Promise<Map<string, FullFile[]>> {
  const byTarget = new Map<string, FullFile[]>();
  const unassigned: FullFile[] = [];
  for (const e of edits) {
    let target: string | undefined;
    if (e.path) target = await files.resolvePath(e.path);
    else if (files.onlyFile) target = files.onlyFile;
    else {
      // several files and no label: the file this block resembles most, if clearly one
      const scored = files.shownFiles.map((f) => ({ f, s: similarity(e.content, f.text) })).sort((a, b) => b.s - a.s);
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
  return byTarget;
}

/**
 * The last block for a file that can be the whole file (long and similar enough), its label line
 * dropped; a new file takes its last labelled block. Undefined: no labelled block for a new file.
 */
function chooseBlock(files: WorkingFiles, abs: string, original: string | undefined, candidates: FullFile[]): { e: FullFile; content: string } | undefined {
  const rel = files.relOf(abs);
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
  if (original === undefined) return prepared.filter((c) => c.e.path).pop();
  const origLF = original.replace(/\r\n/g, '\n');
  const origCount = nonBlankLines(origLF).length;
  const plausible = prepared.filter((c) => {
    const count = nonBlankLines(c.content).length;
    const sim = similarity(c.content, origLF);
    const longEnough = origCount < 5 || count >= origCount * 0.6;
    return longEnough && (c.e.path !== undefined || origCount < 5 || sim >= 0.5);
  });
  const chosen = plausible.pop();
  if (!chosen) {
    // a fragment with a placeholder: the placeholder is the better explanation
    const last = prepared[prepared.length - 1];
    const elided = findElision(last.content, origLF);
    if (elided) throw new ReplyError(`the complete file for ${rel} contains the placeholder \`${elided}\` instead of code; send every line of the file, or use SEARCH/REPLACE blocks.`);
    throw new ReplyError(
      `the code block for ${rel} holds only part of the file (${nonBlankLines(prepared[prepared.length - 1].content).length} of ${origCount} lines). Send the complete file, or use SEARCH/REPLACE blocks.`,
    );
  }
  const shown = files.shown(abs);
  if (shown && !shown.shownWhole && similarity(chosen.content, origLF) < 0.95) {
    throw new ReplyError(`only excerpts of ${rel} were shown, so a complete-file reply would lose the rest of it; use SEARCH/REPLACE blocks for ${rel}.`);
  }
  return chosen;
}
