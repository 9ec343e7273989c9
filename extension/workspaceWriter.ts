// Writes whole-file texts through one WorkspaceEdit and saves them: open editors (dirty or not) get
// the change as an edit they can undo with Ctrl+Z, and nothing is written behind their back. Used to
// accept a repair and to undo one.
import fs from 'node:fs';
import * as vscode from 'vscode';
import { sameText } from './repairProposal';

export interface FileChange {
  /** absolute path */
  path: string;
  /** complete new text; undefined deletes the file (undoing a repair that created it) */
  text: string | undefined;
  /** the text the file should have now; a file that differs is a conflict */
  expected?: string;
}

/** The current text of a file: the open document's (unsaved edits included), else the disk's. */
export async function currentText(file: string): Promise<string | undefined> {
  if (!fs.existsSync(file)) return undefined;
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  return doc.getText();
}

/** Files whose current text is not the expected one (edited since, or deleted). */
export async function conflicts(changes: FileChange[]): Promise<string[]> {
  const out: string[] = [];
  for (const c of changes) {
    if (c.expected === undefined) continue;
    const now = await currentText(c.path);
    if (now === undefined ? c.expected !== '' : !sameText(now, c.expected)) out.push(c.path);
  }
  return out;
}

/**
 * Applies the changes as one edit, saves every touched document and returns the texts as saved.
 * Throws with a message naming the file when VS Code refuses the edit or a save fails.
 */
export async function writeFiles(changes: FileChange[], label: string): Promise<Record<string, string>> {
  const edit = new vscode.WorkspaceEdit();
  const meta: vscode.WorkspaceEditEntryMetadata = { label, needsConfirmation: false };
  for (const c of changes) {
    const uri = vscode.Uri.file(c.path);
    const exists = fs.existsSync(c.path);
    if (c.text === undefined) {
      if (exists) edit.deleteFile(uri, { ignoreIfNotExists: true }, meta);
    } else if (!exists) {
      edit.createFile(uri, { ignoreIfExists: true, contents: new TextEncoder().encode(c.text) }, meta);
    } else {
      const doc = await vscode.workspace.openTextDocument(uri);
      const whole = new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length));
      edit.replace(uri, whole, c.text, meta);
    }
  }
  if (!(await vscode.workspace.applyEdit(edit))) {
    throw new Error(`VS Code did not apply the edit to ${changes.map((c) => c.path).join(', ')} (is a file read-only?).`);
  }
  const written: Record<string, string> = {};
  for (const c of changes) {
    if (c.text === undefined) continue;
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(c.path));
    if (doc.isDirty && !(await doc.save())) throw new Error(`Could not save ${c.path}.`);
    written[c.path] = doc.getText();
  }
  return written;
}
