// Decides how the debug adapter runs, without vscode: in the extension host (inline, the default)
// or as a separate `node dist/adapter.js` process (external: for debugging the adapter, or when
// the inline one must not share the extension host). adapterFactory.ts turns the plan into a
// vscode descriptor; unit tests check the plan.
import path from 'node:path';

export const ADAPTER_MODES = ['inline', 'external'] as const;
export type AdapterMode = (typeof ADAPTER_MODES)[number];

/** The variable that hands the API key to an external adapter (read by adapter/adapterMain.ts). */
export const API_KEY_ENV = 'AXOLOTL_API_KEY';

export type AdapterPlan =
  | { kind: 'inline'; apiKey?: string }
  | { kind: 'external'; command: string; args: string[]; env: Record<string, string> };

/** A setting or environment value → a mode; anything unknown falls back to inline. */
export function parseAdapterMode(value: unknown): AdapterMode {
  return typeof value === 'string' && (ADAPTER_MODES as readonly string[]).includes(value.trim()) ? (value.trim() as AdapterMode) : 'inline';
}

export interface PlanInput {
  /** the extension's install folder */
  extensionPath: string;
  /** the runtime to start the external adapter with (process.execPath in the extension host) */
  execPath: string;
  /** from SecretStorage; undefined when none is stored */
  apiKey?: string;
}

export function planAdapter(mode: AdapterMode, input: PlanInput): AdapterPlan {
  const apiKey = input.apiKey || undefined;
  if (mode === 'inline') return apiKey ? { kind: 'inline', apiKey } : { kind: 'inline' };
  // In desktop VS Code process.execPath is the Electron binary: ELECTRON_RUN_AS_NODE makes it
  // behave as plain node (and is ignored by node itself, as in code-server).
  const env: Record<string, string> = { ELECTRON_RUN_AS_NODE: '1' };
  // The key travels in the environment of the child only, never on its command line.
  if (apiKey) env[API_KEY_ENV] = apiKey;
  return { kind: 'external', command: input.execPath, args: [path.join(input.extensionPath, 'dist', 'adapter.js')], env };
}
