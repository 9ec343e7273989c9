// What the user reviews: unified diffs of a repair, optionally colored for a terminal.
import { createTwoFilesPatch } from 'diff';
import type { Repair, RepairFile } from './types';

/** Unified diff of one file, `a/<rel>` → `b/<rel>` (git-style names so `git apply` accepts it). */
export function fileDiff(relPath: string, original: string, proposed: string, created = false, context = 3): string {
  // file headers only: no "Index:"/"====" banner, so the text is a plain unified diff
  return createTwoFilesPatch(created ? '/dev/null' : `a/${relPath}`, `b/${relPath}`, original, proposed, undefined, undefined, {
    context,
    headerOptions: { includeIndex: false, includeUnderline: false, includeFileHeaders: true },
  });
}

/** The whole repair as one diff, files in the order the repair lists them. */
export function repairDiff(repair: Pick<Repair, 'files'> | RepairFile[]): string {
  const files = Array.isArray(repair) ? repair : repair.files;
  return files.map((f) => f.diff || fileDiff(f.relPath, f.original, f.proposed, f.created)).join('');
}

const ANSI = {
  reset: '\x1b[0m',
  bold: '\x1b[1m',
  red: '\x1b[31m',
  green: '\x1b[32m',
  cyan: '\x1b[36m',
};

/** ANSI colors for a TTY. Only when `enabled` (callers decide from isTTY / NO_COLOR / --color). */
export function colorizeDiff(diff: string, enabled = true): string {
  if (!enabled) return diff;
  return diff
    .split('\n')
    .map((line) => {
      if (/^(---|\+\+\+) /.test(line) || /^diff --git /.test(line)) return ANSI.bold + line + ANSI.reset;
      if (line.startsWith('@@')) return ANSI.cyan + line + ANSI.reset;
      if (line.startsWith('+')) return ANSI.green + line + ANSI.reset;
      if (line.startsWith('-')) return ANSI.red + line + ANSI.reset;
      return line;
    })
    .join('\n');
}

/** "2 files changed, +5 −3" for one-line summaries. */
export function diffStat(repair: Pick<Repair, 'files'>): string {
  let add = 0;
  let del = 0;
  for (const f of repair.files) {
    for (const line of (f.diff || fileDiff(f.relPath, f.original, f.proposed, f.created)).split('\n')) {
      if (line.startsWith('+') && !line.startsWith('+++')) add++;
      else if (line.startsWith('-') && !line.startsWith('---')) del++;
    }
  }
  const n = repair.files.length;
  return `${n} file${n === 1 ? '' : 's'} changed, +${add} -${del}`;
}
