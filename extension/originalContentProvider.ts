// Read-only texts behind `axolotl-original:` URIs: the original side of a repair diff, and both
// sides of a past repair's diff. Texts are registered by the review or the history and dropped
// when they are done with them.
import * as vscode from 'vscode';
import { ORIGINAL_SCHEME } from './ids';

export class OriginalContentProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  static register(context: vscode.ExtensionContext): OriginalContentProvider {
    const provider = new OriginalContentProvider();
    context.subscriptions.push(provider, vscode.workspace.registerTextDocumentContentProvider(ORIGINAL_SCHEME, provider));
    return provider;
  }

  /** Registers a text and returns its URI. */
  set(path: string, text: string): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: ORIGINAL_SCHEME, path });
    this.texts.set(uri.toString(), text);
    this.changed.fire(uri);
    return uri;
  }

  delete(uri: vscode.Uri): void {
    this.texts.delete(uri.toString());
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  dispose(): void {
    this.changed.dispose();
    this.texts.clear();
  }
}
