// The palette commands that start things: run the current file under Axolotl, and check what this
// machine offers for checkpointing. (Open Timeline is registered by extension/timeline; the API key,
// consent, review and history commands by their own files.)
import path from 'node:path';
import * as vscode from 'vscode';
import type { DoctorReport } from '../adapter/engine/doctor';
import { MISSING_PROGRAM } from '../adapter/protocol/launchConfig';
import { COMMANDS, DEBUG_TYPE } from './ids';

export function registerCommands(context: vscode.ExtensionContext, output: vscode.OutputChannel): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.runCurrentFile, (resource?: unknown) => runCurrentFile(resource)),
    vscode.commands.registerCommand(COMMANDS.checkEnvironment, () => checkEnvironment(output)),
  );
}

/** Starts an Axolotl session for a Python file: the one clicked (editor title) or the active one. */
export async function runCurrentFile(resource?: unknown): Promise<boolean> {
  const editorDoc = vscode.window.activeTextEditor?.document;
  const uri = resource instanceof vscode.Uri ? resource : editorDoc?.uri;
  const doc = uri ? vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString()) : undefined;
  const isPython = !!uri && (uri.path.toLowerCase().endsWith('.py') || doc?.languageId === 'python');
  if (!uri || !isPython) {
    void vscode.window.showErrorMessage(`Axolotl: ${MISSING_PROGRAM}.`);
    return false;
  }
  if (uri.scheme !== 'file') {
    void vscode.window.showErrorMessage('Axolotl: save the file to disk first; Axolotl runs files from disk.');
    return false;
  }
  // The program runs from disk: unsaved edits would not run.
  if (doc?.isDirty && !(await doc.save())) {
    void vscode.window.showErrorMessage(`Axolotl: could not save ${path.basename(uri.fsPath)}; not started.`);
    return false;
  }
  const folder = vscode.workspace.getWorkspaceFolder(uri);
  // Only the program is given: the configuration provider fills in the rest from the settings,
  // checks it and asks for model consent, exactly as for a launch.json entry.
  return vscode.debug.startDebugging(folder, {
    type: DEBUG_TYPE,
    request: 'launch',
    name: `Axolotl: ${path.basename(uri.fsPath)}`,
    program: uri.fsPath,
  });
}

/** The doctor (and the engine behind it) loads on first use, not with the extension. */
function doctor(): typeof import('../adapter/engine/doctor') {
  return require('../adapter/engine/doctor') as typeof import('../adapter/engine/doctor');
}

/** Runs `axolotl doctor` in-process, prints the report to the Axolotl output and sums it up. */
export async function checkEnvironment(output: vscode.OutputChannel): Promise<DoctorReport | undefined> {
  let report: DoctorReport;
  try {
    report = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Axolotl: checking criu, privileges and Python…' },
      () => doctor().runDoctor(process.env),
    );
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    output.appendLine(`Check Environment failed: ${message}`);
    void vscode.window.showErrorMessage(`Axolotl: the environment check failed: ${message}`);
    return undefined;
  }
  output.appendLine(`--- Axolotl: Check Environment (${new Date().toLocaleString()})`);
  output.appendLine(doctor().formatDoctor(report));
  output.show(true);

  const criu = report.items.find((i) => i.name === 'criu');
  if (report.canCheckpoint) {
    void vscode.window.showInformationMessage(`Axolotl can checkpoint here: ${criu?.detail ?? 'criu works'}.`);
  } else {
    const problems = report.items.filter((i) => !i.ok && !i.optional);
    const first = problems[0];
    const choice = await vscode.window.showWarningMessage(
      `Axolotl cannot checkpoint here yet (${problems.map((p) => p.name).join(', ')}). ${first?.fix ?? ''} (criu: ${criu?.detail ?? 'not checked'})`,
      'Show Details',
    );
    if (choice) output.show(false);
  }
  return report;
}
