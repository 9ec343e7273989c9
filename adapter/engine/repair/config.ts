// Model configuration, highest precedence first:
//   1. explicit options (CLI flags / launch.json): --model, --base-url, --api-key-env
//   2. environment: AXOLOTL_MODEL, AXOLOTL_BASE_URL / OPENAI_BASE_URL, AXOLOTL_API_KEY
//   3. the config file: $AXOLOTL_CONFIG, else $XDG_CONFIG_HOME/axolotl/config.json, else
//      ~/.config/axolotl/config.json — {model, baseUrl, apiKeyEnv, timeoutMs, maxRepairs, tokenBudget, temperature}
//   4. defaults (model "gpt-4o-mini", the OpenAI API)
// The key itself is never stored in the config file, only the name of the variable holding it.
// One deliberate exception to the order: a config file's `apiKeyEnv` beats the generic
// OPENAI_API_KEY, because a file that names its own key variable (for its own baseUrl) must not
// have an OpenAI key sent to some other provider.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RUN_DEFAULTS } from '../runDefaults';
import { AxolotlError } from '../types';
import type { ModelConfig } from './types';
import { redact } from './redact';

export { redact } from './redact';

export const DEFAULT_MODEL = 'gpt-4o-mini';
export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_MAX_REPAIRS = RUN_DEFAULTS.maxRepairAttempts;
export const DEFAULT_TOKEN_BUDGET = 16_000;
/** sent to local servers, which ignore it; the SDK refuses an empty key */
export const LOCAL_DUMMY_KEY = 'axolotl-local-no-key';

/** Explicit settings (CLI flags, debug configuration). */
export interface ModelOptions {
  model?: string;
  baseUrl?: string;
  /** name of the environment variable that holds the key */
  apiKeyEnv?: string;
  /** config file to read instead of the default location */
  configFile?: string;
  timeoutMs?: number;
  maxRepairs?: number;
  tokenBudget?: number;
  temperature?: number;
}

/** Contents of config.json. */
export interface ConfigFileContents {
  model?: string;
  baseUrl?: string;
  apiKeyEnv?: string;
  timeoutMs?: number;
  maxRepairs?: number;
  tokenBudget?: number;
  temperature?: number;
}

type Env = Record<string, string | undefined>;

/** Where the config file is looked for (it need not exist). */
export function configFilePath(env: Env = process.env, home: string = os.homedir()): string {
  if (env.AXOLOTL_CONFIG) return path.resolve(env.AXOLOTL_CONFIG);
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(home, '.config');
  return path.join(base, 'axolotl', 'config.json');
}

/** localhost, 127.x.x.x, ::1 (and *.localhost): servers on this machine need no key. */
export function isLocalEndpoint(baseUrl: string | undefined): boolean {
  if (!baseUrl) return false;
  let host: string;
  try {
    host = new URL(baseUrl).hostname.toLowerCase();
  } catch {
    return false;
  }
  host = host.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(host) || host === '::1' || host === '0:0:0:0:0:0:0:1';
}

const NUMERIC_KEYS = ['timeoutMs', 'maxRepairs', 'tokenBudget', 'temperature'] as const;
const STRING_KEYS = ['model', 'baseUrl', 'apiKeyEnv'] as const;

/** Read and check the config file; a missing default file is not an error, a missing named one is. */
export function readConfigFile(file: string, mustExist: boolean): ConfigFileContents | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !mustExist) return undefined;
    throw new AxolotlError(`Cannot read the Axolotl config file ${file}: ${(e as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new AxolotlError(`The Axolotl config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new AxolotlError(`The Axolotl config file ${file} must contain a JSON object such as {"model": "gpt-4o-mini"}.`);
  }
  const obj = data as Record<string, unknown>;
  if ('apiKey' in obj) {
    throw new AxolotlError(
      `The Axolotl config file ${file} contains "apiKey"; keys are not read from files.`,
      'Put the key in an environment variable and name it with "apiKeyEnv", e.g. {"apiKeyEnv": "OPENAI_API_KEY"}.',
    );
  }
  const out: ConfigFileContents = {};
  for (const k of STRING_KEYS) {
    if (obj[k] === undefined) continue;
    if (typeof obj[k] !== 'string' || !obj[k]) throw new AxolotlError(`In ${file}, "${k}" must be a non-empty string.`);
    out[k] = obj[k] as string;
  }
  for (const k of NUMERIC_KEYS) {
    if (obj[k] === undefined) continue;
    if (typeof obj[k] !== 'number' || !Number.isFinite(obj[k]) || (obj[k] as number) < 0) {
      throw new AxolotlError(`In ${file}, "${k}" must be a non-negative number.`);
    }
    out[k] = obj[k] as number;
  }
  return out;
}

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new AxolotlError(`${what} must be a positive whole number (got ${value}).`);
  return value;
}

function checkBaseUrl(url: string, source: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AxolotlError(`The model base URL from ${source} is not a URL: ${JSON.stringify(url)}.`, 'Example: http://localhost:11434/v1 (Ollama) or https://api.openai.com/v1.');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new AxolotlError(`The model base URL from ${source} must start with http:// or https:// (got ${u.protocol}).`);
  }
  return url.replace(/\/+$/, '');
}

function noKeyError(baseUrl: string | undefined, file: string, missingVar?: string): AxolotlError {
  const where = baseUrl ?? 'https://api.openai.com/v1 (the default)';
  const first = missingVar
    ? `The API key variable $${missingVar} is not set, and the model server ${where} needs a key.`
    : `No API key for the model server ${where}.`;
  const how = [
    'Configure one of:',
    '  • an API key:  export OPENAI_API_KEY=sk-...   (or AXOLOTL_API_KEY)',
    `  • a variable that holds it: --api-key-env MY_KEY_VAR, or {"apiKeyEnv": "MY_KEY_VAR"} in ${file}`,
    '  • a local OpenAI-compatible server, which needs no key, e.g. Ollama:',
    '      export OPENAI_BASE_URL=http://localhost:11434/v1 AXOLOTL_MODEL=qwen2.5-coder:7b',
  ].join('\n');
  return new AxolotlError(`${first}\n${how}`, how);
}

/**
 * Resolve the model configuration. Throws AxolotlError when a remote endpoint has no key, or a
 * setting is malformed. `env`/`home` are injectable for tests.
 */
export function resolveModelConfig(opts: ModelOptions = {}, env: Env = process.env, home: string = os.homedir()): ModelConfig {
  const explicitFile = opts.configFile ?? env.AXOLOTL_CONFIG;
  const file = opts.configFile ? path.resolve(opts.configFile) : configFilePath(env, home);
  const fromFile = readConfigFile(file, explicitFile !== undefined) ?? {};
  const fileUsed = Object.keys(fromFile).length > 0 || fs.existsSync(file) ? file : undefined;
  const fileLabel = `config file ${file}`;

  const pick = <T>(...layers: Array<[T | undefined, string]>): [T | undefined, string] => {
    for (const [v, src] of layers) if (v !== undefined && v !== '') return [v, src];
    return [undefined, 'default'];
  };

  const [model, modelSrc] = pick<string>([opts.model, '--model'], [env.AXOLOTL_MODEL, '$AXOLOTL_MODEL'], [fromFile.model, fileLabel]);
  const [rawUrl, urlSrc] = pick<string>(
    [opts.baseUrl, '--base-url'],
    [env.AXOLOTL_BASE_URL, '$AXOLOTL_BASE_URL'],
    [env.OPENAI_BASE_URL, '$OPENAI_BASE_URL'],
    [fromFile.baseUrl, fileLabel],
  );
  const baseUrl = rawUrl === undefined ? undefined : checkBaseUrl(rawUrl, urlSrc);
  const local = isLocalEndpoint(baseUrl);

  // API key: see the header comment for why the file's apiKeyEnv outranks OPENAI_API_KEY.
  let apiKey: string | undefined;
  let keySrc = '';
  let missingVar: string | undefined;
  if (opts.apiKeyEnv) {
    apiKey = env[opts.apiKeyEnv] || undefined;
    keySrc = `$${opts.apiKeyEnv} (--api-key-env)`;
    if (!apiKey) missingVar = opts.apiKeyEnv;
  } else if (env.AXOLOTL_API_KEY) {
    apiKey = env.AXOLOTL_API_KEY;
    keySrc = '$AXOLOTL_API_KEY';
  } else if (fromFile.apiKeyEnv) {
    apiKey = env[fromFile.apiKeyEnv] || undefined;
    keySrc = `$${fromFile.apiKeyEnv} (apiKeyEnv in ${file})`;
    if (!apiKey) missingVar = fromFile.apiKeyEnv;
  } else if (env.OPENAI_API_KEY) {
    apiKey = env.OPENAI_API_KEY;
    keySrc = '$OPENAI_API_KEY';
  }
  if (!apiKey) {
    if (!local) throw noKeyError(baseUrl, file, missingVar);
    apiKey = LOCAL_DUMMY_KEY;
    keySrc = 'none needed (local endpoint)';
  }

  const [timeoutMs, timeoutSrc] = pick<number>([opts.timeoutMs, 'option timeoutMs'], [fromFile.timeoutMs, fileLabel]);
  const [maxRepairs, maxSrc] = pick<number>([opts.maxRepairs, 'option maxRepairs'], [fromFile.maxRepairs, fileLabel]);
  const [tokenBudget, budgetSrc] = pick<number>([opts.tokenBudget, 'option tokenBudget'], [fromFile.tokenBudget, fileLabel]);
  const [temperature] = pick<number>([opts.temperature, 'option'], [fromFile.temperature, fileLabel]);

  return {
    model: model ?? DEFAULT_MODEL,
    baseUrl,
    apiKey,
    apiKeySource: keySrc,
    local,
    timeoutMs: positiveInt(timeoutMs ?? DEFAULT_TIMEOUT_MS, 'timeoutMs'),
    maxRepairs: positiveInt(maxRepairs ?? DEFAULT_MAX_REPAIRS, 'maxRepairs'),
    tokenBudget: positiveInt(tokenBudget ?? DEFAULT_TOKEN_BUDGET, 'tokenBudget'),
    temperature,
    sources: {
      model: modelSrc,
      baseUrl: urlSrc,
      apiKey: keySrc,
      timeoutMs: timeoutSrc,
      maxRepairs: maxSrc,
      tokenBudget: budgetSrc,
    },
    configFile: fileUsed,
  };
}

/** Human-readable summary for `axolotl config`-style output and logs. Never contains the key. */
export function describeModelConfig(cfg: ModelConfig): string {
  const lines = [
    `model:        ${cfg.model}  (${cfg.sources.model})`,
    `endpoint:     ${cfg.baseUrl ?? 'https://api.openai.com/v1'}  (${cfg.sources.baseUrl})`,
    `api key:      ${cfg.apiKeySource}`,
    `timeout:      ${cfg.timeoutMs} ms  (${cfg.sources.timeoutMs})`,
    `max repairs:  ${cfg.maxRepairs}  (${cfg.sources.maxRepairs})`,
    `token budget: ${cfg.tokenBudget}  (${cfg.sources.tokenBudget})`,
  ];
  return redact(lines.join('\n'), [cfg.apiKey]);
}
