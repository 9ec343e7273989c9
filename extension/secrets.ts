// The model API key, kept in VS Code's SecretStorage (the OS keychain where there is one). It is
// read only when a debug session starts and handed to the adapter; it is never written to settings,
// launch configurations or the output channel.
import * as vscode from 'vscode';
import { COMMANDS } from './ids';

const SECRET_KEY = 'axolotl.apiKey';

export interface ApiKeyStore {
  get(): Promise<string | undefined>;
}

export class ApiKeySecrets implements ApiKeyStore {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  async get(): Promise<string | undefined> {
    return (await this.secrets.get(SECRET_KEY)) || undefined;
  }

  async set(key: string): Promise<void> {
    await this.secrets.store(SECRET_KEY, key);
  }

  async clear(): Promise<void> {
    await this.secrets.delete(SECRET_KEY);
  }
}

export function registerSecretCommands(context: vscode.ExtensionContext, store: ApiKeySecrets): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.setApiKey, async () => {
      const key = await vscode.window.showInputBox({
        title: 'Axolotl: Set API Key',
        prompt: 'API key of the model server that proposes repairs. Stored in VS Code\'s secret storage, used for new debug sessions.',
        placeHolder: 'sk-…',
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() === '' ? 'Enter a key, or press Escape to cancel.' : /\s/.test(v.trim()) ? 'A key has no spaces.' : undefined),
      });
      if (key === undefined) return;
      await store.set(key.trim());
      void vscode.window.showInformationMessage('Axolotl: API key saved. New debug sessions will use it.');
    }),
    vscode.commands.registerCommand(COMMANDS.clearApiKey, async () => {
      const had = (await store.get()) !== undefined;
      await store.clear();
      void vscode.window.showInformationMessage(
        had ? 'Axolotl: API key removed.' : 'Axolotl: no API key was stored (the adapter may still use $AXOLOTL_API_KEY or $OPENAI_API_KEY).',
      );
    }),
  );
}
