// Reviews a proposed repair: one diff editor per file (read-only original on the left, editable
// in-memory proposal on the right), the model's explanation in a notification and in the diff
// titles, and Accept / Reject in the editor title bar, the notification and on keybindings while the
// context key `axolotl.repairPending` is set. The notification is a progress notification with links,
// because VS Code closes those when their task ends: it goes away with the review, however it ended. Accept writes exactly what the proposal editors show
// through a WorkspaceEdit, saves, and tells the adapter to resume; Reject tells it to give up.
// Either way the review's tabs are closed.
import * as vscode from 'vscode';
import {
  APPLY_REPAIR_REQUEST, REJECT_REPAIR_REQUEST, type ApplyRepairArgs, type ApplyRepairResponse, type RejectRepairArgs,
  type RepairProposal, type RepairStatusBody,
} from '../adapter/protocol/customProtocol';
import { COMMANDS, CONTEXT_KEYS, ORIGINAL_SCHEME, PROPOSED_SCHEME } from './ids';
import type { OriginalContentProvider } from './originalContentProvider';
import type { ProposedFileSystem } from './proposedFileSystem';
import type { HistoryFile, RepairHistory } from './repairHistory';
import { belongsToRepair, diffTitle, reviewNotice, virtualPath } from './repairProposal';
import { conflicts, currentText, writeFiles } from './workspaceWriter';

interface ReviewFile {
  file: RepairProposal['files'][number];
  original: vscode.Uri;
  proposed: vscode.Uri;
}

interface Review {
  session: vscode.DebugSession;
  proposal: RepairProposal;
  files: ReviewFile[];
  /** Accept or Reject is under way: further clicks are ignored */
  busy: boolean;
  /** resolves when the review ends: its notification closes */
  ended: Promise<void>;
  close(): void;
}

export class RepairReview implements vscode.Disposable {
  private pending: Review | undefined;
  /** every proposal of the live sessions, by repair id: for the timeline's "open repair" and autoAccept */
  private readonly proposals = new Map<string, { session: vscode.DebugSession; proposal: RepairProposal }>();

  constructor(
    private readonly originals: OriginalContentProvider,
    private readonly proposedFs: ProposedFileSystem,
    private readonly history: RepairHistory,
    private readonly log: (line: string) => void,
  ) {}

  static register(
    context: vscode.ExtensionContext,
    originals: OriginalContentProvider,
    proposedFs: ProposedFileSystem,
    history: RepairHistory,
    log: (line: string) => void,
  ): RepairReview {
    const review = new RepairReview(originals, proposedFs, history, log);
    context.subscriptions.push(
      review,
      vscode.commands.registerCommand(COMMANDS.acceptRepair, () => review.accept()),
      vscode.commands.registerCommand(COMMANDS.rejectRepair, () => review.reject()),
      vscode.commands.registerCommand(COMMANDS.showProposedRepair, () => review.showPending()),
    );
    return review;
  }

  get pendingRepairId(): string | undefined {
    return this.pending?.proposal.repairId;
  }

  /** Event 'axolotl/repairProposed'. */
  async onProposed(session: vscode.DebugSession, proposal: RepairProposal): Promise<void> {
    this.proposals.set(proposal.repairId, { session, proposal });
    const config = session.configuration as { repair?: { autoAccept?: boolean } };
    if (config.repair?.autoAccept) {
      this.log(`repair ${proposal.repairId} proposed; autoAccept is on, so the adapter applies it without review`);
      return;
    }
    // A new attempt replaces the review of an earlier one (the adapter dropped that one).
    if (this.pending) await this.end(this.pending);
    const files = proposal.files.map((file): ReviewFile => ({
      file,
      original: this.originals.set(virtualPath(proposal.repairId, file.relPath), file.created ? '' : file.original),
      proposed: this.proposedFs.put(virtualPath(proposal.repairId, file.relPath), file.proposed),
    }));
    let close!: () => void;
    const ended = new Promise<void>((resolve) => { close = resolve; });
    const review: Review = { session, proposal, files, busy: false, ended, close };
    this.pending = review;
    await vscode.commands.executeCommand('setContext', CONTEXT_KEYS.repairPending, true);
    this.log(`repair ${proposal.repairId} proposed for crash #${proposal.crashId}: ${proposal.files.map((f) => f.relPath).join(', ')}`);
    await this.openDiffs(review);
    this.notify(review);
  }

  /** Event 'axolotl/repairStatus': closes a review that the adapter settled by itself. */
  async onStatus(session: vscode.DebugSession, body: RepairStatusBody): Promise<void> {
    const review = this.pending;
    if (body.status === 'accepted' && body.repairId) {
      const known = this.proposals.get(body.repairId);
      if (known && known.session.id === session.id && (session.configuration as { repair?: { autoAccept?: boolean } }).repair?.autoAccept) {
        this.history.add(session, historyEntry(known.proposal, known.proposal.files.map(historyFileOf), true));
      }
    }
    if (!review || review.busy || review.session.id !== session.id) return;
    if ((body.status === 'accepted' || body.status === 'rejected') && (!body.repairId || body.repairId === review.proposal.repairId)) {
      // e.g. Continue (F5) on the paused crash rejects the repair in the adapter
      this.log(`repair ${review.proposal.repairId} ${body.status} by the adapter; closing its review`);
      await this.end(review);
    }
  }

  /** The debug session ended: its repair can no longer be applied. */
  async onSessionEnded(session: vscode.DebugSession): Promise<void> {
    for (const [id, p] of this.proposals) if (p.session.id === session.id) this.proposals.delete(id);
    if (this.pending && this.pending.session.id === session.id) await this.end(this.pending);
  }

  /** Opens the diffs of the repair waiting for review (the notification's "Show Diff"). */
  async showPending(): Promise<void> {
    if (this.pending) await this.openDiffs(this.pending);
    else void vscode.window.showInformationMessage('Axolotl: no repair is waiting for review.');
  }

  /** Opens a repair (the timeline's "open repair"): the pending review, or a past repair's diff. */
  async show(repairId: string): Promise<void> {
    if (this.pending?.proposal.repairId === repairId) return this.openDiffs(this.pending);
    const past = this.history.find(repairId);
    if (past) return this.history.showDiff(past);
    const known = this.proposals.get(repairId);
    if (!known) throw new Error(`repair ${repairId} is no longer available`);
    // A proposal that was rejected or replaced: show it read-only.
    for (const f of known.proposal.files) {
      const left = this.originals.set(virtualPath(repairId, f.relPath, 'before'), f.original);
      const right = this.originals.set(virtualPath(repairId, f.relPath, 'proposed'), f.proposed);
      await vscode.commands.executeCommand('vscode.diff', left, right, `${diffTitle(known.proposal, f)} (not applied)`, { preview: false });
    }
  }

  async accept(): Promise<void> {
    const review = this.pending;
    if (!review) {
      void vscode.window.showInformationMessage('Axolotl: no repair is waiting for review.');
      return;
    }
    if (review.busy) return;
    review.busy = true;
    try {
      await this.acceptReview(review);
    } finally {
      review.busy = false;
    }
  }

  async reject(): Promise<void> {
    const review = this.pending;
    if (!review || review.busy) return;
    review.busy = true;
    const args: RejectRepairArgs = { repairId: review.proposal.repairId };
    try {
      await review.session.customRequest(REJECT_REPAIR_REQUEST, args);
      this.log(`repair ${args.repairId} rejected`);
    } catch (e) {
      void vscode.window.showErrorMessage(`Axolotl: could not reject the repair: ${messageOf(e)}`);
    } finally {
      review.busy = false;
      await this.end(review);
    }
  }

  dispose(): void {
    this.pending = undefined;
    this.proposals.clear();
  }

  // ---------------------------------------------------------------------------------------------

  private async acceptReview(review: Review): Promise<void> {
    const { proposal, session } = review;
    // What is accepted is what the proposal editors show, unsaved edits included.
    const accepted = review.files.map((f) => ({ ...f, text: this.proposedText(f) }));
    const changes = accepted.map((f) => ({ path: f.file.path, text: f.text, expected: f.file.created ? undefined : f.file.original }));
    const changed = await conflicts(changes);
    if (changed.length > 0) {
      const go = await vscode.window.showWarningMessage(
        `Changed since the crash: ${changed.join(', ')}. Accepting replaces the whole file with the repaired text.`,
        { modal: true },
        'Overwrite',
      );
      if (go !== 'Overwrite') return;
    }
    const before = new Map<string, string | undefined>();
    for (const f of accepted) before.set(f.file.path, await currentText(f.file.path));

    let written: Record<string, string>;
    try {
      written = await writeFiles(changes, `Axolotl repair (crash #${proposal.crashId})`);
    } catch (e) {
      void vscode.window.showErrorMessage(`Axolotl: the repair was not written: ${messageOf(e)}`);
      return;
    }
    const files: HistoryFile[] = accepted.map((f) => ({
      path: f.file.path,
      relPath: f.file.relPath,
      before: before.get(f.file.path),
      after: written[f.file.path] ?? f.text,
    }));
    this.history.add(session, historyEntry(proposal, files, false));
    await this.end(review);

    const args: ApplyRepairArgs = { repairId: proposal.repairId, files: written, written: true };
    try {
      const res = (await session.customRequest(APPLY_REPAIR_REQUEST, args)) as ApplyRepairResponse | undefined;
      const where = res?.restoredCheckpoint !== undefined ? `resumed from checkpoint #${res.restoredCheckpoint}` : 'resumed';
      this.log(`repair ${proposal.repairId} accepted (${Object.keys(written).length} file(s)); ${where}`);
      vscode.window.setStatusBarMessage(`$(check) Axolotl: repair accepted, ${where}`, 8000);
    } catch (e) {
      const choice = await vscode.window.showErrorMessage(
        `Axolotl: the repaired files were written, but the program could not resume with them: ${messageOf(e)}`,
        'Undo File Changes',
      );
      if (choice) await this.history.undo(this.history.find(proposal.repairId));
    }
  }

  private proposedText(f: ReviewFile): string {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === f.proposed.toString());
    return open?.getText() ?? this.proposedFs.text(f.proposed) ?? f.file.proposed;
  }

  private async openDiffs(review: Review): Promise<void> {
    for (const f of review.files) {
      await vscode.commands.executeCommand('vscode.diff', f.original, f.proposed, diffTitle(review.proposal, f.file), {
        preserveFocus: true,
        preview: false,
      });
    }
  }

  private notify(review: Review): void {
    // A message's buttons could not be taken back when the review ends elsewhere (Accept in the diff
    // editor's title, a new attempt, the session stopped); a progress notification ends with its task.
    const notice = reviewNotice(review.proposal);
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: notice.title, cancellable: false },
      async (progress) => {
        progress.report({ message: notice.message });
        await review.ended;
      },
    );
  }

  /** Closes the review's tabs, forgets its texts and clears the context key. */
  private async end(review: Review): Promise<void> {
    review.close();
    if (this.pending === review) {
      this.pending = undefined;
      await vscode.commands.executeCommand('setContext', CONTEXT_KEYS.repairPending, false);
    }
    const id = review.proposal.repairId;
    // Keep the user's edits in memory, so closing a dirty proposal does not ask to save it.
    for (const doc of vscode.workspace.textDocuments) {
      if (doc.uri.scheme === PROPOSED_SCHEME && belongsToRepair(doc.uri.path, id) && doc.isDirty) await doc.save();
    }
    await closeTabs(id);
    for (const f of review.files) {
      this.originals.delete(f.original);
      this.proposedFs.remove(f.proposed);
    }
  }
}

/** Closes every editor tab showing a virtual document of the repair (its diffs, or a side alone). */
async function closeTabs(repairId: string): Promise<void> {
  const ours = (uri: vscode.Uri | undefined): boolean =>
    !!uri && (uri.scheme === PROPOSED_SCHEME || uri.scheme === ORIGINAL_SCHEME) && belongsToRepair(uri.path, repairId);
  const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => {
    const input = t.input;
    if (input instanceof vscode.TabInputTextDiff) return ours(input.modified) || ours(input.original);
    if (input instanceof vscode.TabInputText) return ours(input.uri);
    return false;
  });
  if (tabs.length > 0) await vscode.window.tabGroups.close(tabs, true);
}

function historyFileOf(f: RepairProposal['files'][number]): HistoryFile {
  return { path: f.path, relPath: f.relPath, before: f.created ? undefined : f.original, after: f.proposed };
}

function historyEntry(p: RepairProposal, files: HistoryFile[], auto: boolean) {
  return {
    repairId: p.repairId,
    crashId: p.crashId,
    attempt: p.attempt,
    model: p.model,
    explanation: p.explanation,
    files,
    status: 'accepted' as const,
    acceptedAt: Date.now(),
    auto,
  };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
