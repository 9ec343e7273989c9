// The interpreter selected in the Python extension (ms-python.python), through its public API
// (@vscode/python-extension), so a venv or conda environment chosen there runs the program. Only asked
// when neither the launch configuration nor the setting axolotl.python names one
// (adapter/protocol/launchConfig.ts).
import { PVSC_EXTENSION_ID, PythonExtension } from '@vscode/python-extension';
import * as vscode from 'vscode';

/** Activating the Python extension can take a while; a launch does not wait longer than this for it. */
const API_TIMEOUT_MS = 15_000;

/** The selected interpreter's executable for `resource`'s folder; undefined without the extension or a selection. */
export async function selectedInterpreter(resource: vscode.Uri | undefined, log: (line: string) => void): Promise<string | undefined> {
  if (!vscode.extensions.getExtension(PVSC_EXTENSION_ID)) return undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${API_TIMEOUT_MS / 1000} s`)), API_TIMEOUT_MS);
    });
    const api = await Promise.race([PythonExtension.api(), timeout]);
    const active = api.environments.getActiveEnvironmentPath(resource);
    const env = await Promise.race([api.environments.resolveEnvironment(active), timeout]);
    const executable = env?.executable.uri?.fsPath;
    if (!executable) log(`the Python extension has no interpreter selected for ${resource?.fsPath ?? 'this window'} (${active.path})`);
    return executable;
  } catch (e) {
    log(`could not ask the Python extension for its interpreter: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
