// Fills in and checks an `axolotl` launch configuration, for the extension (before VS Code starts a
// session) and for the debug adapter (which may be driven by another editor). Pure logic: no vscode
// import, so every default and every error message is unit-tested (test/unit/protocol-launchConfig.test.ts).
//
// VS Code resolves a configuration in two passes: before variables such as ${file} are substituted
// and after. The first pass (`substituted: false`) fills defaults and checks types; checks that need
// final values (a relative path, the .py extension, the file existing) wait for the second pass
// when a value still holds a ${variable}.
//
// The debug adapter resolves again what it is given (another editor has no extension to do it), with
// the file system checks; session/launchOptions.ts then maps the result to the engine's options
// without checking anything twice.
import path from 'node:path';
import { BACKENDS, parseSnapshotMemory, RESUME_MODES, RUN_DEFAULTS, type BackendKind } from '../engine/runDefaults';
import { isObj, type Obj } from './guards';
import { DEBUG_TYPE, type AxolotlLaunchArgs, type ContainerLaunchArgs, type PythonSource, type RepairLaunchArgs } from './launchArgs';

export const DEFAULT_CONFIG_NAME = 'Axolotl: Run current file';

export const MISSING_PROGRAM = 'Open a Python file or set "program" in launch.json';

/** The `axolotl.*` settings that feed launch defaults (as read from the workspace configuration). */
export interface AxolotlSettings {
  model?: string | null;
  baseUrl?: string | null;
  /** only when the user set it (its default does not count: the Python extension's choice comes first) */
  python?: string | null;
  checkpointInterval?: number | null;
  /** 0 or null: unlimited */
  maxCheckpoints?: number | null;
  backend?: string | null;
}

export interface ResolveContext {
  /** absolute path of the file in the active editor, if any */
  activeFile?: string;
  /** absolute path of the workspace folder the configuration belongs to */
  workspaceFolder?: string;
  settings: AxolotlSettings;
  /** true in the second pass, after VS Code substituted ${variables} */
  substituted?: boolean;
  /** checks that the program exists (second pass only); omitted: not checked */
  fileExists?: (file: string) => boolean;
  /** checks that cwd is a folder (second pass only); omitted: not checked */
  dirExists?: (dir: string) => boolean;
  /** the interpreter selected in the Python extension, if it is installed and has one (second pass) */
  pythonFromExtension?: string;
}

/** A launch configuration with every default filled in. */
export type ResolvedLaunchConfig = AxolotlLaunchArgs & {
  type: string;
  request: string;
  name: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  python: string;
  pythonSource: PythonSource;
  checkpointInterval: number;
  backend: BackendKind;
  repair: RepairLaunchArgs & { autoAccept: boolean; maxAttempts: number; enabled: boolean };
  normalRun: boolean;
  [key: string]: unknown;
};

export type ResolveResult = { ok: true; config: ResolvedLaunchConfig } | { ok: false; error: string };

class ConfigError extends Error {}

/** still holds a ${variable} that VS Code substitutes later */
const hasVariable = (s: string): boolean => s.includes('${');
const quote = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};
const isPython = (file: string): boolean => path.extname(file).toLowerCase() === '.py';
const fail = (message: string): never => {
  throw new ConfigError(message);
};

function optString(config: Obj, key: string, where = ''): string | undefined {
  const v = config[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(`"${where}${key}" must be a string (got ${quote(v)}).`);
  return (v as string).trim() === '' ? undefined : (v as string);
}

function optBoolean(config: Obj, key: string, where = ''): boolean | undefined {
  const v = config[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(`"${where}${key}" must be true or false (got ${quote(v)}).`);
  return v as boolean;
}

function positiveNumber(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${what} must be a number of seconds (got ${quote(v)}).`);
  if ((v as number) <= 0) fail(`${what} must be a positive number of seconds (got ${quote(v)}); for example 1 or 0.5.`);
  return v as number;
}

function positiveInteger(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`${what} must be a whole number of at least 1 (got ${quote(v)}).`);
  return v as number;
}

function nonEmpty(v: string | null | undefined): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function checkUrl(url: string, what: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return fail(`${what} is not a URL (got ${quote(url)}); for example http://localhost:11434/v1 or https://api.openai.com/v1.`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(`${what} must start with http:// or https:// (got ${quote(url)}).`);
  return url;
}

function resolveRepair(config: Obj, settings: AxolotlSettings, substituted: boolean): ResolvedLaunchConfig['repair'] {
  const raw = config.repair;
  if (raw !== undefined && raw !== null && !isObj(raw)) {
    fail(`"repair" must be an object such as {"model": "gpt-4o-mini", "autoAccept": false} (got ${quote(raw)}).`);
  }
  const r: Obj = isObj(raw) ? raw : {};
  const model = optString(r, 'model', 'repair.') ?? nonEmpty(settings.model);
  let baseUrl = optString(r, 'baseUrl', 'repair.');
  if (baseUrl !== undefined) {
    if (substituted || !hasVariable(baseUrl)) checkUrl(baseUrl, '"repair.baseUrl"');
  } else {
    const fromSettings = nonEmpty(settings.baseUrl);
    if (fromSettings !== undefined) baseUrl = checkUrl(fromSettings, 'The setting "axolotl.baseUrl"');
  }
  const maxAttempts = r.maxAttempts === undefined || r.maxAttempts === null ? RUN_DEFAULTS.maxRepairAttempts : positiveInteger(r.maxAttempts, '"repair.maxAttempts"');
  const repair: ResolvedLaunchConfig['repair'] = {
    ...r,
    enabled: optBoolean(r, 'enabled', 'repair.') ?? true,
    autoAccept: optBoolean(r, 'autoAccept', 'repair.') ?? false,
    maxAttempts,
  };
  if (model !== undefined) repair.model = model;
  else delete repair.model;
  if (baseUrl !== undefined) repair.baseUrl = baseUrl;
  else delete repair.baseUrl;
  return repair;
}

function resolveContainer(raw: unknown): ContainerLaunchArgs {
  if (!isObj(raw)) fail(`"container" must be an object such as {"image": "localhost/my-env:latest"} (got ${quote(raw)}).`);
  const c = raw as Obj;
  const image = optString(c, 'image', 'container.');
  if (image === undefined) fail('"container.image" must name the image to run, such as "localhost/my-env:latest" (podman images lists them).');
  const mounts = c.mounts ?? [];
  if (!Array.isArray(mounts) || !mounts.every((m) => typeof m === 'string' && m.trim() !== '')) {
    fail(`"container.mounts" must be a list of "SRC[:DST][:ro]" strings such as ["./data:/data:ro"] (got ${quote(c.mounts)}).`);
  }
  const env = c.env ?? {};
  if (!isObj(env) || !Object.values(env).every((v) => typeof v === 'string')) {
    fail(`"container.env" must be an object of string values such as {"OMP_NUM_THREADS": "2"} (got ${quote(c.env)}).`);
  }
  const unknown = Object.keys(c).filter((k) => !['image', 'mounts', 'env', 'python'].includes(k));
  if (unknown.length) fail(`"container" has no attribute ${quote(unknown[0])}: use image, mounts, env and python.`);
  return { image: image!, mounts: mounts as string[], env: env as Record<string, string>, python: optString(c, 'python', 'container.') ?? RUN_DEFAULTS.python };
}

/**
 * The program's absolute path: "program", else (F5 without a launch.json) the Python file in the
 * active editor; a relative one is taken from `cwd`, else the workspace folder. Checked here only.
 */
function resolveProgram(config: Obj, ctx: ResolveContext, cwd: string | undefined): string {
  const given = optString(config, 'program');
  let program = given ?? ctx.activeFile ?? fail(MISSING_PROGRAM);
  if (!(ctx.substituted ?? false) && hasVariable(program)) return program;
  if (!path.isAbsolute(program)) {
    const base = cwd ?? ctx.workspaceFolder;
    if (!base) fail(`"program" is relative (${quote(program)}) but no folder is open to resolve it from; use an absolute path or \${workspaceFolder}/….`);
    program = path.resolve(base!, program);
  }
  if (!isPython(program)) {
    fail(given === undefined ? MISSING_PROGRAM : `"program" must be a Python file (.py), got ${quote(program)}. Open the Python file to run, or point "program" at one.`);
  }
  if (ctx.substituted && ctx.fileExists && !ctx.fileExists(program)) fail(`Cannot find the program ${program}. Check "program" in launch.json.`);
  return program;
}

function resolve(input: unknown, ctx: ResolveContext): ResolvedLaunchConfig {
  if (!isObj(input)) fail(`The launch configuration must be an object (got ${quote(input)}).`);
  const config: Obj = { ...(input as Obj) };
  const substituted = ctx.substituted ?? false;
  const settings = ctx.settings;
  const final = (s: string): boolean => substituted || !hasVariable(s);

  // F5 with no launch.json hands us an empty configuration.
  if (config.type === undefined || config.type === '') config.type = DEBUG_TYPE;
  if (config.request === undefined || config.request === '') config.request = 'launch';
  if (config.name === undefined || config.name === '') config.name = DEFAULT_CONFIG_NAME;
  if (config.request !== 'launch') fail(`Axolotl can only launch a program: set "request": "launch" (got ${quote(config.request)}).`);

  // cwd first: a relative program is found from it.
  let cwd = optString(config, 'cwd');
  if (cwd !== undefined && final(cwd) && !path.isAbsolute(cwd)) {
    if (!ctx.workspaceFolder) fail(`"cwd" is relative (${quote(cwd)}) but no folder is open to resolve it from; use an absolute path.`);
    cwd = path.resolve(ctx.workspaceFolder!, cwd);
  }

  const program = resolveProgram(config, ctx, cwd !== undefined && final(cwd) ? cwd : undefined);
  config.program = program;
  config.cwd = cwd ?? ctx.workspaceFolder ?? path.dirname(program);
  if (substituted && ctx.dirExists && !ctx.dirExists(config.cwd as string)) {
    fail(`"cwd" is not a folder: ${config.cwd as string}. Check "cwd" in launch.json.`);
  }

  const args = config.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    fail(`"args" must be a list of strings such as ["--epochs", "3"] (got ${quote(config.args)}).`);
  }
  config.args = args;

  const env = config.env ?? {};
  if (!isObj(env) || !Object.values(env).every((v) => typeof v === 'string')) {
    fail(`"env" must be an object of string values such as {"DEBUG": "1"} (got ${quote(config.env)}).`);
  }
  config.env = env;

  // The interpreter: the launch configuration's, else the setting axolotl.python, else the one selected
  // in the Python extension (a venv, a conda environment), else python3. The first pass marks where it
  // came from, so the second pass (the only one that asks the Python extension) knows it may replace it.
  const sources: readonly PythonSource[] = ['launch', 'setting', 'python-extension', 'default'];
  const marked = (sources as readonly unknown[]).includes(config.pythonSource) ? config.pythonSource as PythonSource : undefined;
  const given = optString(config, 'python');
  const fromSetting = nonEmpty(settings.python);
  if (given !== undefined) {
    config.python = given;
    config.pythonSource = marked ?? 'launch';
  } else {
    config.python = fromSetting ?? RUN_DEFAULTS.python;
    config.pythonSource = fromSetting !== undefined ? 'setting' : 'default';
  }
  const fromExtension = nonEmpty(ctx.pythonFromExtension);
  if (config.pythonSource === 'default' && fromExtension !== undefined) {
    config.python = fromExtension;
    config.pythonSource = 'python-extension';
  }

  if (config.checkpointInterval !== undefined && config.checkpointInterval !== null) {
    config.checkpointInterval = positiveNumber(config.checkpointInterval, '"checkpointInterval"');
  } else if (settings.checkpointInterval !== undefined && settings.checkpointInterval !== null) {
    config.checkpointInterval = positiveNumber(settings.checkpointInterval, 'The setting "axolotl.checkpointInterval"');
  } else {
    config.checkpointInterval = RUN_DEFAULTS.interval;
  }

  if (config.pauseBudget !== undefined && config.pauseBudget !== null) {
    const b = config.pauseBudget;
    if (typeof b !== 'number' || !Number.isFinite(b) || b < 0 || b >= 100) {
      fail(`"pauseBudget" must be a percentage from 0 up to (not including) 100 (got ${quote(b)}); 0 checkpoints every "checkpointInterval" whatever it costs.`);
    }
  } else {
    delete config.pauseBudget;
  }

  if (config.maxCheckpoints !== undefined && config.maxCheckpoints !== null) {
    config.maxCheckpoints = positiveInteger(config.maxCheckpoints, '"maxCheckpoints"');
  } else {
    delete config.maxCheckpoints;
    const fromSettings = settings.maxCheckpoints;
    // 0 in the settings means unlimited (a number setting cannot be left empty in the UI)
    if (fromSettings !== undefined && fromSettings !== null && fromSettings !== 0) {
      config.maxCheckpoints = positiveInteger(fromSettings, 'The setting "axolotl.maxCheckpoints"');
    }
  }

  const snapshotMemory = optString(config, 'snapshotMemory');
  if (snapshotMemory === undefined) delete config.snapshotMemory;
  else if (!parseSnapshotMemory(snapshotMemory)) {
    fail(`"snapshotMemory" must be a multiple of the program's size ("1x", "1.5x") or an amount ("512M", "2G") (got ${quote(snapshotMemory)}).`);
  }

  const workingDir = optString(config, 'workingDir');
  if (workingDir === undefined) delete config.workingDir;

  const backend = config.backend ?? nonEmpty(settings.backend) ?? RUN_DEFAULTS.backend;
  if (typeof backend !== 'string' || !(BACKENDS as readonly string[]).includes(backend)) {
    const where = config.backend !== undefined ? '"backend"' : 'The setting "axolotl.backend"';
    fail(`${where} must be one of ${BACKENDS.join(', ')} (got ${quote(backend)}).`);
  }
  config.backend = backend;

  if (config.resume !== undefined && !(RESUME_MODES as readonly unknown[]).includes(config.resume)) {
    fail(`"resume" must be one of ${RESUME_MODES.join(', ')} (got ${quote(config.resume)}).`);
  }

  config.normalRun = optBoolean(config, 'normalRun') ?? false;
  config.repair = resolveRepair(config, settings, substituted);
  if (config.container !== undefined && config.container !== null) {
    config.container = resolveContainer(config.container);
    if (config.normalRun) fail('"normalRun" runs plain Python on this machine: it cannot be combined with "container".');
    if (config.backend === 'fork') fail('"container" runs the program in a container that podman checkpoints with criu: "backend": "fork" does not apply.');
  } else {
    delete config.container;
  }
  return config as ResolvedLaunchConfig;
}

/**
 * Fills defaults (program = the active .py file; cwd = the workspace folder, else the program's
 * folder; python from the settings, else python3; checkpointInterval 1; backend auto; repair model
 * and baseUrl from the settings, autoAccept false, maxAttempts 3, enabled true) and checks every
 * attribute. Never throws: a bad configuration gives `{ ok: false, error }` with what to fix.
 */
export function resolveLaunchConfig(config: unknown, ctx: ResolveContext): ResolveResult {
  try {
    return { ok: true, config: resolve(config, ctx) };
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, error: e.message };
    throw e;
  }
}

/** The configuration offered in a new launch.json and by the dynamic "Axolotl" picker. */
export function defaultLaunchConfig(): { type: string; request: string; name: string; program: string } {
  return { type: DEBUG_TYPE, request: 'launch', name: DEFAULT_CONFIG_NAME, program: '${file}' };
}
