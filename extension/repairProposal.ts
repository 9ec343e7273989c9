// Pure helpers of the repair review (no vscode import, unit-tested): run-time checks of the
// adapter's repair events, the virtual paths the diff editors use, and the texts shown.
import type { RepairProposal, RepairStatusBody } from '../adapter/protocol/customProtocol';
import { isInt, isObj, isStr } from '../adapter/protocol/guards';
import { COMMANDS } from './ids';

const isPosInt = (v: unknown): v is number => isInt(v, 1);

/** At most this many files in one proposal (a sane bound on editors opened at once). */
export const MAX_FILES = 50;

export function isRepairProposal(v: unknown): v is RepairProposal {
  return (
    isObj(v) &&
    isStr(v.repairId) &&
    v.repairId.length > 0 &&
    isPosInt(v.crashId) &&
    isPosInt(v.attempt) &&
    isPosInt(v.maxAttempts) &&
    isStr(v.explanation) &&
    isStr(v.model) &&
    Array.isArray(v.files) &&
    v.files.length > 0 &&
    v.files.length <= MAX_FILES &&
    v.files.every(
      (f: unknown) =>
        isObj(f) &&
        isStr(f.path) &&
        f.path.startsWith('/') &&
        isStr(f.relPath) &&
        isStr(f.original) &&
        isStr(f.proposed) &&
        isStr(f.diff) &&
        (f.created === undefined || typeof f.created === 'boolean'),
    )
  );
}

const STATUSES: ReadonlyArray<RepairStatusBody['status']> = ['searching', 'accepted', 'rejected', 'failed', 'verified', 'unavailable'];

export function isRepairStatusBody(v: unknown): v is RepairStatusBody {
  return (
    isObj(v) &&
    Number.isSafeInteger(v.crashId) &&
    (STATUSES as readonly unknown[]).includes(v.status) &&
    (v.repairId === undefined || isStr(v.repairId)) &&
    (v.message === undefined || isStr(v.message))
  );
}

/** A path segment safe in a URI path: no separators, no `..`, nothing empty. */
function segment(s: string): string {
  const clean = s.replace(/[^\w.\-+@=,]/g, '_');
  return clean === '' || clean === '.' || clean === '..' ? '_' : clean;
}

/**
 * Path of a file of a repair inside the virtual schemes: `/<repairId>/<relPath>`, keeping the
 * file name (so the editor picks the Python language and shows a sensible tab title).
 * `side` separates texts of the same file (history: before/after).
 */
export function virtualPath(repairId: string, relPath: string, side?: string): string {
  const parts = relPath.split(/[\\/]+/).filter((p) => p !== '' && p !== '.').map((p) => (p === '..' ? '_up_' : segment(p)));
  return ['', segment(repairId), ...(side ? [segment(side)] : []), ...(parts.length ? parts : ['file.py'])].join('/');
}

/** True when the path belongs to the repair (all of its virtual documents live under /<repairId>/). */
export function belongsToRepair(uriPath: string, repairId: string): boolean {
  return uriPath.startsWith(`/${segment(repairId)}/`);
}

/** Line endings do not count as a change (a CRLF file the model answered with LF, say). */
export function sameText(a: string, b: string): boolean {
  return a.replace(/\r\n/g, '\n') === b.replace(/\r\n/g, '\n');
}

/** The first sentence (or line) of the model's explanation, at most `max` characters. */
export function summary(explanation: string, max = 80): string {
  const text = explanation.trim().replace(/\s+/g, ' ');
  const sentence = /^(.+?[.!?])(\s|$)/.exec(text)?.[1] ?? text;
  return sentence.length > max ? `${sentence.slice(0, max - 1).trimEnd()}…` : sentence;
}

export function diffTitle(p: RepairProposal, file: RepairProposal['files'][number]): string {
  const name = file.relPath.split('/').pop() || file.relPath;
  const attempt = p.maxAttempts > 1 ? ` ${p.attempt}/${p.maxAttempts}` : '';
  return `${name}: Axolotl repair${attempt}${file.created ? ' (new file)' : ''}: ${summary(p.explanation, 60)}`;
}

export function proposalNotice(p: RepairProposal, max = 400): string {
  const files = p.files.map((f) => f.relPath).join(', ');
  const text = p.explanation.trim().replace(/\s+/g, ' ');
  const explanation = text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text;
  return unlinked(`Axolotl: ${p.model} proposes a repair for crash #${p.crashId} (attempt ${p.attempt} of ${p.maxAttempts}) in ${files}. ${explanation}`);
}

/**
 * The review's notification: a progress notification (it closes when the review ends) offers its
 * choices as links, first, so a collapsed notification (one line) still shows them; the proposal's
 * words follow.
 */
export function reviewNotice(p: RepairProposal, max = 400): { title: string; message: string } {
  const links = [['Accept', COMMANDS.acceptRepair], ['Reject', COMMANDS.rejectRepair], ['Show Diff', COMMANDS.showProposedRepair]]
    .map(([label, command]) => `[${label}](command:${command})`).join(' · ');
  return { title: `Axolotl repair for crash #${p.crashId}: ${links}`, message: proposalNotice(p, max).replace(/^Axolotl: /, '') };
}

/**
 * Notifications turn `[label](command:…)` into links that run the command: the model's text (which a
 * crashed program's data can steer) must never become one.
 */
export function unlinked(text: string): string {
  return text.replace(/\]\(/g, '] (');
}
