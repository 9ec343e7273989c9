// Hosts the checkpoint timeline: as a view in the Debug container (TIMELINE_VIEW_ID), as a view in the
// panel area beside the Debug Console (TIMELINE_PANEL_VIEW_ID: wide and short, as a timeline wants)
// and as an editor panel (OPEN_TIMELINE_COMMAND). The controller keeps the timeline's state by applying every
// update it posts (the same reducer the webview uses), so a timeline that opens, or comes back after
// being hidden, gets the whole state replayed as one `init` message.
//
// Messages from the webviews are validated before anything acts on them; requests go to the
// callbacks the extension gives, and a callback that fails shows its error in the timeline.
import * as vscode from 'vscode';
import { isFromWebviewMessage, type FromWebviewMessage, type TimelineUpdate, type ToWebviewMessage } from '../../adapter/protocol/timeline';
import { apply, findCheckpoint, initialState, isLive, toInitMessage, type TimelineState } from '../../webview/timelineModel';
import { makeNonce, timelineHtml } from './timelineHtml';

export const TIMELINE_VIEW_ID = 'axolotl.timeline';
export const TIMELINE_PANEL_VIEW_ID = 'axolotl.timelinePanelView';
export const OPEN_TIMELINE_COMMAND = 'axolotl.openTimeline';
export const SHOW_TIMELINE_IN_PANEL_COMMAND = 'axolotl.showTimelineInPanel';
export const TIMELINE_PANEL_TYPE = 'axolotl.timelinePanel';

export interface TimelineCallbacks {
  /** The user confirmed "Rewind to checkpoint #n". Throw (or reject) to show why it cannot be done. */
  onRestoreRequest?(checkpointId: number): unknown;
  /** Show the diff of a repair. */
  onOpenRepair?(repairId: string): unknown;
  /** Show a crash (traceback, stack). */
  onRevealCrash?(crashId: number): unknown;
  /** Where to log ignored messages and callback failures (an OutputChannel's appendLine, say). */
  log?(message: string): void;
}

/** One open timeline: the sidebar view or the panel. */
interface Host {
  readonly webview: vscode.Webview;
  /** its script said `ready` and it was not hidden since: updates can go to it */
  ready: boolean;
}

export class TimelineController implements vscode.WebviewViewProvider, vscode.Disposable {
  private model: TimelineState = initialState();
  private readonly hosts = new Set<Host>();
  private panel: vscode.WebviewPanel | undefined;

  constructor(private readonly extensionUri: vscode.Uri, private readonly callbacks: TimelineCallbacks = {}) {}

  /** Registers the view provider, the open command and the panel serializer. */
  static register(context: vscode.ExtensionContext, callbacks: TimelineCallbacks = {}): TimelineController {
    const controller = new TimelineController(context.extensionUri, callbacks);
    context.subscriptions.push(
      controller,
      vscode.window.registerWebviewViewProvider(TIMELINE_VIEW_ID, controller),
      vscode.window.registerWebviewViewProvider(TIMELINE_PANEL_VIEW_ID, controller),
      vscode.commands.registerCommand(OPEN_TIMELINE_COMMAND, () => controller.openPanel()),
      vscode.commands.registerCommand(SHOW_TIMELINE_IN_PANEL_COMMAND, () => controller.showInPanelArea()),
      vscode.window.registerWebviewPanelSerializer(TIMELINE_PANEL_TYPE, {
        deserializeWebviewPanel: async (panel: vscode.WebviewPanel) => controller.adoptPanel(panel),
      }),
    );
    return controller;
  }

  /** The state every timeline shows (read-only). */
  get state(): TimelineState {
    return this.model;
  }

  /** Applies an update and sends it to every open timeline. */
  post(update: TimelineUpdate): void {
    this.model = apply(this.model, update);
    for (const host of this.hosts) if (host.ready) this.send(host, update);
  }

  /** Opens the timeline as an editor tab, or shows the one already open. */
  openPanel(column: vscode.ViewColumn = vscode.ViewColumn.Active): vscode.WebviewPanel {
    if (this.panel) {
      this.panel.reveal(column);
      return this.panel;
    }
    const panel = vscode.window.createWebviewPanel(TIMELINE_PANEL_TYPE, 'Axolotl Timeline', column, this.webviewOptions());
    this.adoptPanel(panel);
    return panel;
  }

  /** Shows the timeline view of the panel area (beside the Debug Console). */
  showInPanelArea(): Thenable<unknown> {
    return vscode.commands.executeCommand(`${TIMELINE_PANEL_VIEW_ID}.focus`);
  }

  /** Takes over a panel (a new one, or one VS Code restored after a reload). */
  adoptPanel(panel: vscode.WebviewPanel): void {
    if (this.panel && this.panel !== panel) this.panel.dispose();
    this.panel = panel;
    panel.webview.options = this.webviewOptions();
    const [host, messages] = this.attach(panel.webview, 'Axolotl Timeline', 'editor');
    const subs = [
      messages,
      panel.onDidChangeViewState(() => this.visibilityChanged(host, panel.visible)),
      panel.onDidDispose(() => {
        this.hosts.delete(host);
        if (this.panel === panel) this.panel = undefined;
        for (const d of subs) d.dispose();
      }),
    ];
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    view.webview.options = this.webviewOptions();
    const where = view.viewType === TIMELINE_PANEL_VIEW_ID ? 'panel' : 'sidebar';
    const [host, messages] = this.attach(view.webview, 'Axolotl Timeline', where);
    const subs = [
      messages,
      view.onDidChangeVisibility(() => this.visibilityChanged(host, view.visible)),
      view.onDidDispose(() => {
        this.hosts.delete(host);
        for (const d of subs) d.dispose();
      }),
    ];
  }

  dispose(): void {
    this.panel?.dispose();
    this.hosts.clear();
  }

  // -------------------------------------------------------------------------------------------

  private webviewOptions(): vscode.WebviewOptions {
    return {
      enableScripts: true,
      enableCommandUris: false,
      localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist'), vscode.Uri.joinPath(this.extensionUri, 'media')],
    };
  }

  /** Sets the HTML and listens to the webview; the disposable stops listening. */
  private attach(webview: vscode.Webview, title: string, where: 'sidebar' | 'panel' | 'editor'): [Host, vscode.Disposable] {
    const host: Host = { webview, ready: false };
    const uri = (...path: string[]): string => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, ...path)).toString();
    webview.html = timelineHtml({
      cspSource: webview.cspSource,
      nonce: makeNonce(),
      scriptUri: uri('dist', 'webview.js'),
      styleUri: uri('media', 'timeline.css'),
      codiconUri: uri('dist', 'codicons', 'codicon.css'),
      title,
      host: where,
    });
    const messages = webview.onDidReceiveMessage((m: unknown) => void this.receive(host, m));
    this.hosts.add(host);
    return [host, messages];
  }

  private visibilityChanged(host: Host, visible: boolean): void {
    // A hidden webview loses its page (no retainContextWhenHidden): it says `ready` again when shown.
    // Replaying on show as well covers a webview that kept its page; `init` is idempotent.
    if (!visible) host.ready = false;
    else if (!host.ready) {
      host.ready = true;
      this.send(host, this.initMessage());
    }
  }

  /**
   * The whole state, for a timeline that (re)opens. A running head is still true now, so it goes
   * with the current time: the webview's live clock counts on from when the head arrives, and would
   * otherwise lose the time since the head was sent (since the start, for a view opened mid-run).
   */
  private initMessage(): ToWebviewMessage {
    const msg = toInitMessage(this.model);
    if (msg.head?.state !== 'running' || !isLive(this.model)) return msg;
    return { ...msg, head: { ...msg.head, time: Math.max(msg.head.time, Date.now()) } };
  }

  private send(host: Host, message: ToWebviewMessage): void {
    host.webview.postMessage(message).then(
      (delivered) => {
        if (!delivered) host.ready = false;
      },
      () => {
        host.ready = false;
      },
    );
  }

  private async receive(host: Host, message: unknown): Promise<void> {
    if (!isFromWebviewMessage(message)) {
      this.log(`timeline: ignored a malformed message from the webview: ${preview(message)}`);
      return;
    }
    await this.handle(host, message);
  }

  private async handle(host: Host, message: FromWebviewMessage): Promise<void> {
    switch (message.type) {
      case 'ready':
        host.ready = true;
        this.send(host, this.initMessage());
        return;
      case 'restoreRequest': {
        const id = message.checkpointId;
        if (!findCheckpoint(this.model, id)) {
          this.notify('error', `Checkpoint #${id} is no longer kept; choose a newer one.`);
          return;
        }
        if (!this.callbacks.onRestoreRequest) {
          this.notify('error', 'Restoring is not available in this session.');
          return;
        }
        await this.run(`Could not restore checkpoint #${id}`, () => this.callbacks.onRestoreRequest?.(id));
        return;
      }
      case 'openRepair':
        await this.run('Could not open the repair', () => this.callbacks.onOpenRepair?.(message.repairId));
        return;
      case 'revealCrash':
        await this.run('Could not show the crash', () => this.callbacks.onRevealCrash?.(message.crashId));
        return;
      case 'showInPanel':
        await this.run('Could not show the timeline in the panel', () => this.showInPanelArea());
        return;
    }
  }

  private async run(what: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (err) {
      const text = `${what}: ${err instanceof Error ? err.message : String(err)}`;
      this.log(`timeline: ${text}`);
      this.notify('error', text);
    }
  }

  private notify(level: 'info' | 'warning' | 'error', text: string): void {
    this.post({ type: 'notice', notice: { level, text } });
  }

  private log(message: string): void {
    this.callbacks.log?.(message);
  }
}

function preview(value: unknown): string {
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  } catch {
    return String(value);
  }
}
