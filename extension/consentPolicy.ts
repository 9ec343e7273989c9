// Decides whether a launch needs the user's consent to send code to a model server, and what the
// consent dialog lists. No vscode import: unit-tested in test/unit/extension-consent.test.ts.
//
// Why before the launch: the adapter asks the model for a repair on its own as soon as the program
// crashes, so there is no later moment at which the extension could still stop the first request.
// The endpoint is worked out here exactly as the engine does (launch config, then $AXOLOTL_BASE_URL,
// $OPENAI_BASE_URL, the Axolotl config file, the OpenAI default) and then pinned into the launch
// configuration, so the host the user agreed to is the host the adapter talks to.
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_MODEL, isLocalEndpoint } from '../adapter/engine/repair/config';

export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

export type ConsentAnswer = 'allow' | 'deny';
/** What was answered, per endpoint origin ("https://api.openai.com"), for one workspace. */
export type ConsentMemory = Record<string, ConsentAnswer>;

export interface Endpoint {
  baseUrl: string;
  /** where the value came from, for the dialog ("launch.json", "$OPENAI_BASE_URL", "default") */
  source: string;
  model: string;
}

type Env = Record<string, string | undefined>;

/** The model endpoint and name the adapter will use, with the engine's precedence. */
export function effectiveEndpoint(
  repair: { baseUrl?: string; model?: string },
  env: Env,
  configFile: { baseUrl?: string; model?: string; path?: string } = {},
): Endpoint {
  const fileLabel = configFile.path ? `config file ${configFile.path}` : 'config file';
  const layers: Array<[string | undefined, string]> = [
    [repair.baseUrl, 'launch configuration / axolotl.baseUrl'],
    [env.AXOLOTL_BASE_URL, '$AXOLOTL_BASE_URL'],
    [env.OPENAI_BASE_URL, '$OPENAI_BASE_URL'],
    [configFile.baseUrl, fileLabel],
  ];
  const [baseUrl, source] = layers.find(([v]) => v !== undefined && v !== '') ?? [DEFAULT_BASE_URL, 'default (OpenAI)'];
  const model = [repair.model, env.AXOLOTL_MODEL, configFile.model].find((m) => m !== undefined && m !== '') ?? DEFAULT_MODEL;
  return { baseUrl: baseUrl!.replace(/\/+$/, ''), source, model };
}

/** The key consent is remembered under: scheme, host and port (a path change keeps the consent). */
export function endpointOrigin(baseUrl: string): string {
  try {
    return new URL(baseUrl).origin;
  } catch {
    return baseUrl;
  }
}

export function endpointHost(baseUrl: string): string {
  try {
    return new URL(baseUrl).host;
  } catch {
    return baseUrl;
  }
}

export type ConsentDecision =
  /** nothing will be sent: repairs are off, or the run is a plain one */
  | { kind: 'not-needed'; reason: 'repair-disabled' | 'normal-run' }
  /** the model server is on this machine */
  | { kind: 'local' }
  | { kind: 'remembered'; answer: ConsentAnswer; origin: string }
  | { kind: 'ask'; origin: string; host: string };

export function consentDecision(input: {
  repairEnabled: boolean;
  normalRun: boolean;
  baseUrl: string;
  memory: ConsentMemory;
}): ConsentDecision {
  if (!input.repairEnabled) return { kind: 'not-needed', reason: 'repair-disabled' };
  if (input.normalRun) return { kind: 'not-needed', reason: 'normal-run' };
  if (isLocalEndpoint(input.baseUrl)) return { kind: 'local' };
  const origin = endpointOrigin(input.baseUrl);
  const answer = input.memory[origin];
  if (answer === 'allow' || answer === 'deny') return { kind: 'remembered', answer, origin };
  return { kind: 'ask', origin, host: endpointHost(input.baseUrl) };
}

// ---------------------------------------------------------------------------------------------
// What the dialog lists

export interface CandidateFile {
  /** relative to the project folder, with / */
  relPath: string;
  bytes: number;
}

/** Folders never searched for candidate files: environments, caches, Axolotl's own run folders. */
const SKIP_DIRS = new Set(['.axolotl', 'node_modules', '__pycache__', 'site-packages', 'venv', '.venv', 'env', '.env', '.tox', '.nox', 'build', 'dist', '.git']);

/**
 * The Python files of the project folder whose source can be sent when they are on a crash's stack:
 * the program first, then the others by path. Bounded by depth and count (a huge tree is reported as
 * truncated, not walked).
 */
export function listCandidateFiles(
  root: string,
  program: string,
  opts: { maxFiles?: number; maxDepth?: number } = {},
): { files: CandidateFile[]; truncated: boolean } {
  const maxFiles = opts.maxFiles ?? 500;
  const maxDepth = opts.maxDepth ?? 4;
  const files: CandidateFile[] = [];
  let truncated = false;
  const walk = (dir: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (files.length >= maxFiles) {
        truncated = true;
        return;
      }
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (SKIP_DIRS.has(e.name) || e.name.startsWith('.')) continue;
        if (depth >= maxDepth) truncated = true;
        else walk(full, depth + 1);
      } else if (e.isFile() && e.name.endsWith('.py')) {
        files.push({ relPath: path.relative(root, full).split(path.sep).join('/'), bytes: safeSize(full) });
      }
    }
  };
  walk(root, 0);
  const progRel = path.relative(root, program).split(path.sep).join('/');
  const i = files.findIndex((f) => f.relPath === progRel);
  if (i > 0) files.unshift(...files.splice(i, 1));
  else if (i < 0) files.unshift({ relPath: progRel.startsWith('..') ? program : progRel, bytes: safeSize(program) });
  return { files, truncated };
}

function safeSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export interface ConsentText {
  /** the modal's title line */
  message: string;
  /** the modal's body */
  detail: string;
}

/** Files shown by name in the dialog; the rest are summed up in one line. */
export const LISTED_FILES = 12;

export function consentText(input: {
  endpoint: Endpoint;
  root: string;
  files: CandidateFile[];
  truncated: boolean;
}): ConsentText {
  const { endpoint, files } = input;
  const host = endpointHost(endpoint.baseUrl);
  const shown = files.slice(0, LISTED_FILES).map((f) => `    ${f.relPath} (${formatBytes(f.bytes)})`);
  const rest = files.slice(LISTED_FILES);
  if (rest.length > 0 || input.truncated) {
    const restBytes = rest.reduce((n, f) => n + f.bytes, 0);
    shown.push(`    … and ${rest.length}${input.truncated ? '+' : ''} more .py files (${formatBytes(restBytes)}${input.truncated ? '+' : ''})`);
  }
  const message = `Send code to ${host} for repairs?`;
  const detail = [
    `When the program crashes, Axolotl asks the model "${endpoint.model}" at ${endpoint.baseUrl} (from ${endpoint.source}) for a repair. Each request sends:`,
    `• the source of the files on the crash's stack, from these in ${input.root}:`,
    ...shown,
    '• the traceback and the exception message',
    '• the values of local variables at the crash (names and values that look like secrets are masked)',
    '• the last lines the program printed, and what earlier repair attempts changed',
    '',
    'Nothing is sent until a crash. Allow is remembered for this workspace and this server.',
    'Deny runs this workspace without repairs (checkpoints still work); "Axolotl: Reset Model Consent" asks again.',
  ].join('\n');
  return { message, detail };
}
