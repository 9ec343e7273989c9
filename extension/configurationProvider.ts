// The vscode side of launch configurations: offers "Axolotl: Run current file" for a new launch.json
// and in the Run and Debug picker, and resolves each launch with adapter/protocol/launchConfig.ts
// (defaults, errors shown to the user) and then the model consent.
import fs from 'node:fs';
import * as vscode from 'vscode';
import { defaultLaunchConfig, resolveLaunchConfig, type AxolotlSettings, type ResolveContext } from '../adapter/protocol/launchConfig';
import type { ModelConsent } from './consent';
import { SETTINGS } from './ids';
import { selectedInterpreter } from './pythonInterpreter';

export class AxolotlConfigurationProvider implements vscode.DebugConfigurationProvider {
  constructor(private readonly consent: ModelConsent, private readonly log: (line: string) => void) {}

  provideDebugConfigurations(): vscode.DebugConfiguration[] {
    return [defaultLaunchConfig()];
  }

  /** First pass, before ${variables} are substituted: defaults and type checks. */
  resolveDebugConfiguration(folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): vscode.DebugConfiguration | undefined {
    const result = resolveLaunchConfig(config, this.context(folder, false));
    if (!result.ok) return this.reject(result.error);
    return result.config;
  }

  /**
   * Second pass, with final values: paths and the program checked, the interpreter selected in the
   * Python extension when nothing else names one, then the model consent.
   */
  async resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const ctx = this.context(folder, true);
    if (!config.python || config.pythonSource === 'default') {
      const program = typeof config.program === 'string' && config.program ? vscode.Uri.file(config.program) : undefined;
      ctx.pythonFromExtension = await selectedInterpreter(program ?? folder?.uri, this.log);
    }
    const result = resolveLaunchConfig(config, ctx);
    if (!result.ok) return this.reject(result.error);
    return this.consent.check(result.config);
  }

  private context(folder: vscode.WorkspaceFolder | undefined, substituted: boolean): ResolveContext {
    const doc = vscode.window.activeTextEditor?.document;
    const workspaceFolder = folder ?? (doc ? vscode.workspace.getWorkspaceFolder(doc.uri) : undefined) ?? vscode.workspace.workspaceFolders?.[0];
    return {
      activeFile: doc && doc.uri.scheme === 'file' ? doc.uri.fsPath : undefined,
      workspaceFolder: workspaceFolder?.uri.scheme === 'file' ? workspaceFolder.uri.fsPath : undefined,
      settings: readSettings(workspaceFolder?.uri),
      substituted,
      fileExists: (file) => fs.existsSync(file),
    };
  }

  private reject(error: string): undefined {
    this.log(`launch configuration rejected: ${error}`);
    void vscode.window.showErrorMessage(`Axolotl: ${error}`);
    return undefined;
  }
}

export function readSettings(scope?: vscode.Uri): AxolotlSettings {
  const c = vscode.workspace.getConfiguration('axolotl', scope);
  return {
    model: c.get<string | null>(SETTINGS.model),
    baseUrl: c.get<string | null>(SETTINGS.baseUrl),
    python: explicit(c, SETTINGS.python),
    checkpointInterval: c.get<number | null>(SETTINGS.checkpointInterval),
    maxCheckpoints: c.get<number | null>(SETTINGS.maxCheckpoints),
    backend: c.get<string | null>(SETTINGS.backend),
  };
}

/** A setting's value only where the user set it (not its default). */
function explicit(c: vscode.WorkspaceConfiguration, key: string): string | undefined {
  const i = c.inspect<string>(key);
  return i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
}
