// Applies the edits found in a reply (replyParser.ts) to the source texts, in memory: picks the
// file each edit targets, repairs what models get wrong in diffs (hunk counts, missing headers,
// blank context lines without their space), matches SEARCH text tolerantly but never ambiguously,
// and refuses complete-file blocks that are fragments or contain "# ... unchanged" placeholders.
// Errors are ReplyError with text meant for the model's next attempt.
// One file per kind of edit: diffEdits.ts, searchReplace.ts, fullFileEdits.ts; the files they
// work on: workingFiles.ts.
import { applyDiffEdit } from './diffEdits';
import { applyFullFileEdits } from './fullFileEdits';
import type { ParsedReply, ReplyEdit } from './replyParser';
import { ReplyError } from './replyParser';
import { applySearchReplaceEdit } from './searchReplace';
import type { ReplyFormat } from './types';
import { WorkingFiles, type EditContext, type EditedFile } from './workingFiles';

export type { EditContext, EditedFile, SourceFile } from './workingFiles';

export interface ResolvedEdits {
  files: EditedFile[];
  format: ReplyFormat;
}

export async function resolveEdits(parsed: ParsedReply, ctx: EditContext): Promise<ResolvedEdits> {
  const files = new WorkingFiles(ctx);
  const srEdits = parsed.edits.filter((e): e is Extract<ReplyEdit, { kind: 'search-replace' }> => e.kind === 'search-replace');
  const diffEdits = parsed.edits.filter((e): e is Extract<ReplyEdit, { kind: 'diff' }> => e.kind === 'diff');
  const fullEdits = parsed.edits.filter((e): e is Extract<ReplyEdit, { kind: 'full-file' }> => e.kind === 'full-file');
  let format: ReplyFormat;
  if (srEdits.length || diffEdits.length) {
    // complete-file blocks next to these are illustrations; the precise edits win
    format = srEdits.length ? 'search-replace' : 'diff';
    for (const e of srEdits) await applySearchReplaceEdit(files, e);
    for (const e of diffEdits) await applyDiffEdit(files, e);
  } else {
    format = 'full-file';
    await applyFullFileEdits(files, fullEdits);
  }
  const changed = files.changed();
  if (!changed.length) throw new ReplyError('the proposed change leaves every file exactly as it was; change the code that causes the crash.');
  return { files: changed, format };
}
