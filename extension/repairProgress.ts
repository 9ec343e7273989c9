// Shows where a repair stands, from the adapter's 'axolotl/repairStatus' events: a progress
// indicator while the model is asked, a status bar item (searching, review, accepted, verified,
// failed), and a notification when a repair is verified, fails again, or cannot be made.
//
// The progress goes to the window (status bar) location, not to a notification: the adapter also
// reports the search as a DAP progress event, which VS Code already shows as a cancellable
// notification ("Asking the model for a repair"); a second notification would only repeat it.
import * as vscode from 'vscode';
import type { RepairProposal, RepairStatusBody } from '../adapter/protocol/customProtocol';
import { COMMANDS } from './ids';
import { OPEN_TIMELINE_COMMAND } from './timeline/timelineView';

export class RepairProgress implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('axolotl.repairStatus', vscode.StatusBarAlignment.Left, 50);
  /** ends the progress indicator of a session's current search */
  private readonly searches = new Map<string, () => void>();

  constructor(private readonly log: (line: string) => void) {
    this.item.name = 'Axolotl Repair';
    this.item.command = OPEN_TIMELINE_COMMAND;
  }

  onStatus(session: vscode.DebugSession, body: RepairStatusBody): void {
    const crash = `crash #${body.crashId}`;
    if (body.status !== 'searching') this.stopSearch(session);
    this.log(`repair status for ${crash}: ${body.status}${body.message ? `: ${body.message}` : ''}`);
    switch (body.status) {
      case 'searching':
        this.startSearch(session, body);
        this.show('$(sync~spin) Axolotl: asking the model', `Asking the model for a repair of ${crash}${body.message ? `: ${body.message}` : ''}`);
        return;
      case 'accepted':
        this.show('$(debug-restart) Axolotl: repair accepted', `The repair of ${crash} was accepted; the program resumes with it.`);
        return;
      case 'rejected':
        this.item.hide();
        return;
      case 'verified':
        this.show('$(pass-filled) Axolotl: repair verified', `The repaired program ran past the point where ${crash} happened.`);
        void vscode.window.showInformationMessage(`Axolotl: repair verified. ${body.message ?? `The program ran past the point of ${crash}.`}`);
        return;
      case 'failed':
        this.show('$(error) Axolotl: repair failed', body.message ?? 'The repaired program crashed again.');
        void vscode.window.showWarningMessage(
          `Axolotl: the repair failed again${body.message ? `: ${body.message}` : '.'} A new proposal follows if attempts are left.`,
        );
        return;
      case 'unavailable':
        this.show('$(warning) Axolotl: no repair', body.message ?? 'No repair could be made.');
        void this.unavailable(body);
        return;
    }
  }

  onProposed(session: vscode.DebugSession, proposal: RepairProposal): void {
    this.stopSearch(session);
    this.show('$(diff) Axolotl: review the repair', `A repair of crash #${proposal.crashId} is waiting: Accept (Ctrl+Alt+Enter) or Reject (Ctrl+Alt+Backspace).`);
  }

  onSessionEnded(session: vscode.DebugSession): void {
    this.stopSearch(session);
    if (this.searches.size === 0) this.item.hide();
  }

  dispose(): void {
    for (const stop of this.searches.values()) stop();
    this.searches.clear();
    this.item.dispose();
  }

  private show(text: string, tooltip: string): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.show();
  }

  private startSearch(session: vscode.DebugSession, body: RepairStatusBody): void {
    if (this.searches.has(session.id)) return;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `Axolotl: asking the model for a repair of crash #${body.crashId}` },
      () => new Promise<void>((resolve) => this.searches.set(session.id, resolve)),
    );
  }

  private stopSearch(session: vscode.DebugSession): void {
    const stop = this.searches.get(session.id);
    this.searches.delete(session.id);
    stop?.();
  }

  private async unavailable(body: RepairStatusBody): Promise<void> {
    const message = body.message ?? 'the model gave no usable repair';
    const needsKey = /api key|apikey|401|unauthori[sz]ed/i.test(message);
    const choice = await vscode.window.showWarningMessage(`Axolotl: no repair for crash #${body.crashId}: ${message}`, ...(needsKey ? ['Set API Key'] : []));
    if (choice === 'Set API Key') await vscode.commands.executeCommand(COMMANDS.setApiKey);
  }
}
