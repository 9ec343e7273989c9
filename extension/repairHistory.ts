// The repairs accepted in this window, grouped by run: the tree view `axolotl.repairs` in the Run and
// Debug container. Each can be shown as a diff (before → after) and undone: the files get their
// text from before the repair back through a WorkspaceEdit (Ctrl+Z-able). Undoing changes files
// only; the running program is not rewound.
import * as vscode from 'vscode';
import type { RepairStatusBody } from '../adapter/protocol/customProtocol';
import { COMMANDS, VIEWS } from './ids';
import type { OriginalContentProvider } from './originalContentProvider';
import { summary, virtualPath } from './repairProposal';
import { conflicts, writeFiles } from './workspaceWriter';

export type HistoryStatus = 'accepted' | 'verified' | 'failed' | 'undone';

export interface HistoryFile {
  path: string;
  relPath: string;
  /** the file's text before the repair was written (undefined: the repair created it) */
  before: string | undefined;
  /** the text accepted and written */
  after: string;
}

export interface HistoryEntry {
  repairId: string;
  crashId: number;
  attempt: number;
  model: string;
  explanation: string;
  files: HistoryFile[];
  status: HistoryStatus;
  /** ms since the epoch */
  acceptedAt: number;
  /** written by the adapter itself (autoAccept), not by the editor */
  auto: boolean;
}

interface Run {
  sessionId: string;
  name: string;
  startedAt: number;
  entries: HistoryEntry[];
}

type Node = { kind: 'run'; run: Run } | { kind: 'repair'; run: Run; entry: HistoryEntry };

export class RepairHistory implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly runs: Run[] = [];
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly originals: OriginalContentProvider) {}

  static register(context: vscode.ExtensionContext, originals: OriginalContentProvider): RepairHistory {
    const history = new RepairHistory(originals);
    const view = vscode.window.createTreeView(VIEWS.repairs, { treeDataProvider: history, showCollapseAll: false });
    context.subscriptions.push(
      history,
      view,
      vscode.commands.registerCommand(COMMANDS.showRepairDiff, (arg?: Node | string) => history.showDiff(history.entryOf(arg))),
      vscode.commands.registerCommand(COMMANDS.undoRepair, (arg?: Node | string) => history.undo(history.entryOf(arg))),
      vscode.commands.registerCommand(COMMANDS.clearRepairHistory, () => history.clear()),
      vscode.commands.registerCommand(COMMANDS.showRepairHistory, () => history.pick()),
    );
    return history;
  }

  add(session: vscode.DebugSession, entry: HistoryEntry): void {
    let run = this.runs.find((r) => r.sessionId === session.id);
    if (!run) {
      run = { sessionId: session.id, name: session.name, startedAt: entry.acceptedAt, entries: [] };
      this.runs.unshift(run);
    }
    run.entries = [...run.entries.filter((e) => e.repairId !== entry.repairId), entry];
    this.changed.fire(undefined);
  }

  find(repairId: string): HistoryEntry | undefined {
    for (const run of this.runs) for (const e of run.entries) if (e.repairId === repairId) return e;
    return undefined;
  }

  /** Follows the adapter's verdict on an accepted repair. */
  onStatus(session: vscode.DebugSession, body: RepairStatusBody): void {
    if (!body.repairId || (body.status !== 'verified' && body.status !== 'failed')) return;
    const entry = this.runs.find((r) => r.sessionId === session.id)?.entries.find((e) => e.repairId === body.repairId);
    if (!entry || entry.status === 'undone') return;
    entry.status = body.status;
    this.changed.fire(undefined);
  }

  async showDiff(entry: HistoryEntry | undefined): Promise<void> {
    if (!entry) return;
    for (const f of entry.files) {
      const before = this.originals.set(virtualPath(entry.repairId, f.relPath, 'before'), f.before ?? '');
      const after = this.originals.set(virtualPath(entry.repairId, f.relPath, 'after'), f.after);
      await vscode.commands.executeCommand('vscode.diff', before, after, `${f.relPath}: before ↔ after Axolotl repair (crash #${entry.crashId})`, {
        preview: entry.files.length === 1,
        preserveFocus: false,
      });
    }
  }

  async undo(entry: HistoryEntry | undefined): Promise<void> {
    if (!entry) {
      void vscode.window.showInformationMessage('Axolotl: choose a repair in the Axolotl Repairs view to undo it.');
      return;
    }
    if (entry.status === 'undone') {
      void vscode.window.showInformationMessage('Axolotl: this repair is already undone.');
      return;
    }
    const changes = entry.files.map((f) => ({ path: f.path, text: f.before, expected: f.after }));
    const changed = await conflicts(changes);
    if (changed.length > 0) {
      const go = await vscode.window.showWarningMessage(
        `Changed since the repair: ${changed.join(', ')}. Undoing puts back the text from before the repair and drops those changes.`,
        { modal: true },
        'Undo Anyway',
      );
      if (go !== 'Undo Anyway') return;
    }
    try {
      await writeFiles(changes, `Undo Axolotl repair (crash #${entry.crashId})`);
    } catch (e) {
      void vscode.window.showErrorMessage(`Axolotl: could not undo the repair: ${(e as Error).message}`);
      return;
    }
    entry.status = 'undone';
    this.changed.fire(undefined);
    void vscode.window.showInformationMessage(
      `Axolotl: repair of crash #${entry.crashId} undone in ${entry.files.map((f) => f.relPath).join(', ')}. The running program is not rewound; restart it to run the old code.`,
    );
  }

  clear(): void {
    this.runs.splice(0);
    this.changed.fire(undefined);
  }

  /** Quick pick over every repair: choose one to see its diff or undo it. */
  async pick(): Promise<void> {
    const items = this.runs.flatMap((run) =>
      run.entries.map((entry) => ({
        label: `Crash #${entry.crashId}: ${entry.files.map((f) => f.relPath).join(', ')}`,
        description: `${entry.status} · ${run.name} · ${new Date(entry.acceptedAt).toLocaleTimeString()}`,
        detail: summary(entry.explanation, 120),
        entry,
      })),
    );
    if (items.length === 0) {
      void vscode.window.showInformationMessage('Axolotl: no repair has been accepted in this window yet.');
      return;
    }
    const chosen = await vscode.window.showQuickPick(items, { title: 'Axolotl: Repair History', placeHolder: 'Choose a repair' });
    if (!chosen) return;
    const actions = chosen.entry.status === 'undone' ? ['Show Diff'] : ['Show Diff', 'Undo Repair'];
    const action = await vscode.window.showQuickPick(actions, { title: chosen.label });
    if (action === 'Show Diff') await this.showDiff(chosen.entry);
    else if (action === 'Undo Repair') await this.undo(chosen.entry);
  }

  // ---- TreeDataProvider ------------------------------------------------------------------------

  getChildren(node?: Node): Node[] {
    if (!node) return this.runs.map((run) => ({ kind: 'run', run }));
    if (node.kind === 'run') return [...node.run.entries].reverse().map((entry) => ({ kind: 'repair', run: node.run, entry }));
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'run') {
      const item = new vscode.TreeItem(node.run.name, vscode.TreeItemCollapsibleState.Expanded);
      item.description = new Date(node.run.startedAt).toLocaleTimeString();
      item.iconPath = new vscode.ThemeIcon('debug-alt');
      item.contextValue = 'axolotl.run';
      return item;
    }
    const e = node.entry;
    const item = new vscode.TreeItem(`Crash #${e.crashId}: ${e.files.map((f) => f.relPath).join(', ')}`, vscode.TreeItemCollapsibleState.None);
    item.description = `${e.status}${e.auto ? ' (auto)' : ''} · ${new Date(e.acceptedAt).toLocaleTimeString()}`;
    item.tooltip = new vscode.MarkdownString().appendText(`${e.model}, attempt ${e.attempt}: ${e.explanation}`);
    item.iconPath = new vscode.ThemeIcon(
      e.status === 'verified' ? 'pass' : e.status === 'failed' ? 'error' : e.status === 'undone' ? 'discard' : 'check',
    );
    item.contextValue = `axolotl.repair.${e.status}`;
    item.command = { command: COMMANDS.showRepairDiff, title: 'Show Diff', arguments: [e.repairId] };
    return item;
  }

  dispose(): void {
    this.changed.dispose();
  }

  private entryOf(arg: Node | string | undefined): HistoryEntry | undefined {
    if (typeof arg === 'string') return this.find(arg);
    return arg?.kind === 'repair' ? arg.entry : undefined;
  }
}
