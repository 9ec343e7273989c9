// Wires the extension together: launch configurations, the debug adapter, commands, the timeline,
// and the repair review. Custom DAP events are routed here: 'axolotl/timeline' by the timeline's
// own bridge, 'axolotl/repairProposed' and 'axolotl/repairStatus' to the review, its progress and
// the history.
import * as vscode from 'vscode';
import { REPAIR_PROPOSED_EVENT, REPAIR_STATUS_EVENT, RESTORE_REQUEST, type RestoreArgs } from '../adapter/protocol/customProtocol';
import { AxolotlAdapterFactory } from './adapterFactory';
import type { AdapterMode } from './adapterPlan';
import { registerCommands } from './commands';
import { defaultLaunchConfig } from '../adapter/protocol/launchConfig';
import { AxolotlConfigurationProvider } from './configurationProvider';
import { ModelConsent, registerConsentCommands } from './consent';
import { CONTEXT_KEYS, DEBUG_TYPE, OUTPUT_CHANNEL_NAME } from './ids';
import { OriginalContentProvider } from './originalContentProvider';
import { ProposedFileSystem } from './proposedFileSystem';
import { RepairHistory } from './repairHistory';
import { RepairProgress } from './repairProgress';
import { isRepairProposal, isRepairStatusBody } from './repairProposal';
import { RepairReview } from './repairReview';
import { ApiKeySecrets, registerSecretCommands } from './secrets';
import { TimelineDebugBridge } from './timeline/timelineDebugBridge';
import { TimelineController } from './timeline/timelineView';
import { crashKey, type CrashItem } from '../webview/timelineModel';

export function activateAxolotl(context: vscode.ExtensionContext, mode: AdapterMode): void {
  const output = vscode.window.createOutputChannel(OUTPUT_CHANNEL_NAME);
  context.subscriptions.push(output);
  // toTimeString, not toLocaleTimeString: the first locale-aware call loads ICU data (~25 ms of activation).
  const log = (line: string): void => output.appendLine(`[${new Date().toTimeString().slice(0, 8)}] ${line}`);
  log(`activated (debug adapter: ${mode})`);

  // Launching: configurations, consent, the adapter.
  const keys = new ApiKeySecrets(context.secrets);
  registerSecretCommands(context, keys);
  const consent = new ModelConsent(context.workspaceState, log);
  registerConsentCommands(context, consent);
  const provider = new AxolotlConfigurationProvider(consent, log);
  context.subscriptions.push(
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, provider, vscode.DebugConfigurationProviderTriggerKind.Initial),
    vscode.debug.registerDebugConfigurationProvider(
      DEBUG_TYPE,
      { provideDebugConfigurations: () => [defaultLaunchConfig()] },
      vscode.DebugConfigurationProviderTriggerKind.Dynamic,
    ),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new AxolotlAdapterFactory(mode, context.extensionUri.fsPath, keys)),
  );
  registerCommands(context, output);

  // Repairs: virtual documents, history, review, progress.
  const originals = OriginalContentProvider.register(context);
  const proposedFs = ProposedFileSystem.register(context);
  const history = RepairHistory.register(context, originals);
  const review = RepairReview.register(context, originals, proposedFs, history, log);
  const progress = new RepairProgress(log);
  context.subscriptions.push(progress);

  // The timeline: fed by its bridge, asking back through the followed session.
  let bridge: TimelineDebugBridge | undefined;
  const timeline = TimelineController.register(context, {
    onRestoreRequest: async (checkpointId) => {
      const session = bridge?.session;
      if (!session) throw new Error('no Axolotl session is running');
      const args: RestoreArgs = { checkpointId };
      await session.customRequest(RESTORE_REQUEST, args);
    },
    onOpenRepair: (repairId) => review.show(repairId),
    onRevealCrash: (crashId) => revealCrash(timeline, crashId),
    log,
  });
  bridge = new TimelineDebugBridge(timeline, DEBUG_TYPE, log);
  context.subscriptions.push(bridge);

  context.subscriptions.push(
    vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => {
      if (e.session.type !== DEBUG_TYPE) return;
      if (e.event === REPAIR_PROPOSED_EVENT) {
        if (!isRepairProposal(e.body)) return log(`ignored a malformed ${REPAIR_PROPOSED_EVENT} event`);
        progress.onProposed(e.session, e.body);
        review.onProposed(e.session, e.body).catch((err: unknown) => showError('could not open the repair for review', err, log));
      } else if (e.event === REPAIR_STATUS_EVENT) {
        if (!isRepairStatusBody(e.body)) return log(`ignored a malformed ${REPAIR_STATUS_EVENT} event`);
        progress.onStatus(e.session, e.body);
        history.onStatus(e.session, e.body);
        review.onStatus(e.session, e.body).catch((err: unknown) => showError('could not close the repair review', err, log));
      }
    }),
    vscode.debug.onDidStartDebugSession((session) => {
      if (session.type === DEBUG_TYPE) void vscode.commands.executeCommand('setContext', CONTEXT_KEYS.hasRun, true);
    }),
    vscode.debug.onDidTerminateDebugSession((session) => {
      if (session.type !== DEBUG_TYPE) return;
      progress.onSessionEnded(session);
      review.onSessionEnded(session).catch((err: unknown) => showError('could not close the repair review', err, log));
    }),
  );
}

/** Opens the file and line where a crash happened, as far as the timeline knows them. */
async function revealCrash(timeline: TimelineController, crashId: number): Promise<void> {
  const item = timeline.state.items.find((i): i is CrashItem => i.key === crashKey(crashId) && i.kind === 'crash');
  const crash = item?.crash;
  if (!crash?.file) throw new Error(`no source location is known for crash #${crashId}`);
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(crash.file));
  const line = Math.max(0, (crash.line ?? 1) - 1);
  const range = doc.lineAt(Math.min(line, doc.lineCount - 1)).range;
  await vscode.window.showTextDocument(doc, { selection: range, preview: false });
}

function showError(what: string, err: unknown, log: (line: string) => void): void {
  const message = err instanceof Error ? err.message : String(err);
  log(`${what}: ${message}`);
  void vscode.window.showErrorMessage(`Axolotl: ${what}: ${message}`);
}
