// Asks, once per workspace and model server, before code may be sent to a model that does not run
// on this machine. Runs while the launch configuration is resolved (see consentPolicy.ts for why
// then): Allow launches with repairs, Deny launches with `repair.enabled: false`, closing the dialog
// cancels the launch. Answers live in workspaceState; "Axolotl: Reset Model Consent" forgets them.
import path from 'node:path';
import * as vscode from 'vscode';
import { configFilePath, readConfigFile } from '../adapter/engine/repair/config';
import type { ResolvedLaunchConfig } from '../adapter/protocol/launchConfig';
import {
  consentDecision, consentText, effectiveEndpoint, endpointHost, listCandidateFiles, type ConsentMemory,
} from './consentPolicy';
import { COMMANDS } from './ids';

const MEMORY_KEY = 'axolotl.modelConsent';
const ALLOW = 'Allow';
const DENY = 'Deny';

export class ModelConsent {
  /** origins whose remembered "deny" was already pointed out in this window */
  private readonly toldDenied = new Set<string>();

  constructor(private readonly state: vscode.Memento, private readonly log: (line: string) => void) {}

  /**
   * The configuration to launch (repair endpoint pinned, or repairs turned off), or undefined when
   * the user closed the dialog without answering: then nothing is launched.
   */
  async check(config: ResolvedLaunchConfig): Promise<ResolvedLaunchConfig | undefined> {
    const endpoint = effectiveEndpoint(config.repair, process.env, readEngineConfigFile());
    const decision = consentDecision({
      repairEnabled: config.repair.enabled,
      normalRun: config.normalRun,
      baseUrl: endpoint.baseUrl,
      memory: this.memory(),
    });
    const pinned = (): ResolvedLaunchConfig => ({ ...config, repair: { ...config.repair, baseUrl: endpoint.baseUrl } });
    const withoutRepairs = (): ResolvedLaunchConfig => ({ ...config, repair: { ...config.repair, enabled: false } });

    switch (decision.kind) {
      case 'not-needed':
        return config;
      case 'local':
        return pinned();
      case 'remembered':
        if (decision.answer === 'allow') return pinned();
        this.log(`repairs off: sending code to ${decision.origin} was denied for this workspace`);
        if (!this.toldDenied.has(decision.origin)) {
          this.toldDenied.add(decision.origin);
          void vscode.window
            .showInformationMessage(`Axolotl: repairs are off in this workspace (you denied sending code to ${endpointHost(endpoint.baseUrl)}).`, 'Ask Again Next Run')
            .then((choice) => (choice ? this.reset() : undefined));
        }
        return withoutRepairs();
      case 'ask': {
        const root = path.dirname(config.program);
        const { files, truncated } = listCandidateFiles(root, config.program);
        const text = consentText({ endpoint, root, files, truncated });
        const choice = await vscode.window.showWarningMessage(text.message, { modal: true, detail: text.detail }, ALLOW, DENY);
        if (choice === undefined) {
          this.log('launch cancelled: the model consent dialog was closed');
          return undefined;
        }
        const answer = choice === ALLOW ? 'allow' : 'deny';
        await this.state.update(MEMORY_KEY, { ...this.memory(), [decision.origin]: answer });
        this.log(`model consent for ${decision.origin}: ${answer}`);
        this.toldDenied.add(decision.origin);
        return answer === 'allow' ? pinned() : withoutRepairs();
      }
    }
  }

  async reset(): Promise<void> {
    await this.state.update(MEMORY_KEY, undefined);
    this.toldDenied.clear();
  }

  private memory(): ConsentMemory {
    const m = this.state.get<unknown>(MEMORY_KEY);
    return typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as ConsentMemory) : {};
  }
}

/** The Axolotl config file's endpoint, if it has one (a broken file is the adapter's to report). */
function readEngineConfigFile(): { baseUrl?: string; model?: string; path?: string } {
  const file = configFilePath(process.env);
  try {
    const contents = readConfigFile(file, false);
    return contents ? { baseUrl: contents.baseUrl, model: contents.model, path: file } : {};
  } catch {
    return {};
  }
}

export function registerConsentCommands(context: vscode.ExtensionContext, consent: ModelConsent): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(COMMANDS.resetConsent, async () => {
      await consent.reset();
      void vscode.window.showInformationMessage('Axolotl: the next run asks again before sending code to a remote model.');
    }),
  );
}
