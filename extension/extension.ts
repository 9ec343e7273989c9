// Entry point: chooses how the debug adapter runs and hands over to activate.ts.
//   inline (default): the adapter runs inside the extension host (fast, one process to debug)
//   external: `node dist/adapter.js` as a child process, as other editors and the DAP tests run it
// The setting `axolotl.adapter.mode` chooses (read at activation: a change needs a window reload);
// $AXOLOTL_ADAPTER_MODE, when set, wins, so tests can force a mode without touching settings.
import * as vscode from 'vscode';
import { activateAxolotl } from './activate';
import { parseAdapterMode } from './adapterPlan';
import { SETTINGS } from './ids';

export function activate(context: vscode.ExtensionContext): void {
  const setting = vscode.workspace.getConfiguration('axolotl').get<string>(SETTINGS.adapterMode);
  activateAxolotl(context, parseAdapterMode(process.env.AXOLOTL_ADAPTER_MODE || setting));
}

export function deactivate(): void {
  // everything is disposed through context.subscriptions
}
