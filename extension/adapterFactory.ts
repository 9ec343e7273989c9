// Creates the debug adapter for each `axolotl` session: inline in the extension host (default) or
// as a child process. The API key comes from SecretStorage at session start and goes only to the
// adapter (constructor or child environment): never into the launch configuration or a log.
import * as vscode from 'vscode';
import type { AxolotlSession } from '../adapter/session/axolotlSession';
import { planAdapter, type AdapterMode } from './adapterPlan';
import type { ApiKeyStore } from './secrets';

export class AxolotlAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(
    private readonly mode: AdapterMode,
    private readonly extensionPath: string,
    private readonly keys: ApiKeyStore,
  ) {}

  async createDebugAdapterDescriptor(): Promise<vscode.DebugAdapterDescriptor> {
    const plan = planAdapter(this.mode, { extensionPath: this.extensionPath, execPath: process.execPath, apiKey: await this.keys.get() });
    if (plan.kind === 'inline') {
      // Loaded with the first session, not at activation: the engine is most of the bundle.
      const { AxolotlSession: Session } = require('../adapter/session/axolotlSession') as { AxolotlSession: typeof AxolotlSession };
      return new vscode.DebugAdapterInlineImplementation(new Session({ apiKey: plan.apiKey }));
    }
    return new vscode.DebugAdapterExecutable(plan.command, plan.args, { env: plan.env });
  }
}
