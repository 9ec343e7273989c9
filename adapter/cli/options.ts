// `axolotl run` arguments → RunOptions, with the checks that deserve a clear message instead of a trace.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CONTAINER_MAX_SAVES, parseMount } from '../engine/containerSpec';
import { BACKENDS, parseSnapshotMemory, RESUME_MODES, RUN_DEFAULTS, type BackendKind, type RepairResume } from '../engine/runDefaults';
import { AxolotlError, type ContainerOptions, type RunOptions } from '../engine/types';

export interface CliRunOptions extends RunOptions {
  normalRun: boolean;
  yes: boolean;
  model?: string;
  baseUrl?: string;
  maxRepairs: number;
  resume: RepairResume;
  repair: boolean;
  /** `axolotl restore`: continue this run from this checkpoint instead of starting afresh */
  from?: { runDir: string; id: number };
}

const D = RUN_DEFAULTS;
export const RUN_USAGE = `usage: axolotl run [options] script.py [args...]

  --interval SECONDS     time between checkpoints (default ${D.interval}, stretched when checkpoints are slow)
  --pause-budget PCT     most of the run spent frozen by checkpoints; the interval grows to stay
                         under it (default ${D.pauseBudget * 100} without --interval; 0 = every interval, whatever it costs)
  --max-saves N          keep at most N checkpoints, oldest deleted (default unlimited; ${CONTAINER_MAX_SAVES} with
                         --container, whose checkpoints are whole archives)
  --snapshot-memory SIZE memory the fork snapshots held as rewind points may cost: ${D.snapshotMemory} (the
                         program's size, default), 1.5x, or an amount (512M, 2G); oldest go first
  --working-dir DIR      where run folders go (default ${D.workingDirName}/ next to the script)
  --log FILE             engine log, including criu's logs (default <run dir>/engine.log)
  --python PATH          interpreter (default ${D.python}; with --container, the one in the image)
  --backend KIND         ${BACKENDS.join(' | ')} (default ${D.backend})
  --container IMAGE      run in a podman container of IMAGE, checkpointed whole (needs root, podman,
                         runc); the script's folder and the working directory are mounted at their
                         own paths
  --mount SRC[:DST][:ro] with --container: also mount SRC (at DST, default the same path); repeatable
  --env NAME[=VALUE]     with --container: set NAME in the container (without a value: this
                         environment's); repeatable. The host's environment is not passed on
  --normal-run           plain python, no supervision
  --no-agent             no in-process agent: crashes are seen only when the program exits
  --no-repair            report crashes but do not ask a model for a repair
  --model NAME           model for repairs (env AXOLOTL_MODEL)
  --base-url URL         OpenAI-compatible endpoint (env OPENAI_BASE_URL)
  --max-repairs N        repair attempts per crash (default ${D.maxRepairAttempts})
  --resume MODE          ${RESUME_MODES.join(' | ')} (default ${D.resume})
  --yes                  accept proposed repairs without asking
  --verbose              more engine output on stderr`;

export function parseRunArgs(rawArgv: string[], cwd = process.cwd()): CliRunOptions {
  // `--interval -1` would otherwise be read as a missing value followed by a flag.
  const argv: string[] = [];
  for (let i = 0; i < rawArgv.length; i++) {
    if (takesValue(rawArgv[i]) && i + 1 < rawArgv.length && argv.every((a) => a.startsWith('-'))) {
      argv.push(`${rawArgv[i]}=${rawArgv[++i]}`);
    } else {
      argv.push(rawArgv[i]);
    }
  }
  // Everything after the script belongs to the script, including things that look like our flags.
  const scriptAt = argv.findIndex((a) => !a.startsWith('-'));
  const ours = scriptAt < 0 ? argv : argv.slice(0, scriptAt);
  const rest = scriptAt < 0 ? [] : argv.slice(scriptAt);
  let parsed;
  try {
    parsed = parseArgs({
      args: ours,
      allowPositionals: false,
      options: {
        interval: { type: 'string' }, 'pause-budget': { type: 'string' }, 'max-saves': { type: 'string' }, 'working-dir': { type: 'string' },
        'snapshot-memory': { type: 'string' },
        log: { type: 'string' }, python: { type: 'string' }, backend: { type: 'string' },
        container: { type: 'string' }, mount: { type: 'string', multiple: true }, env: { type: 'string', multiple: true },
        'normal-run': { type: 'boolean' }, 'no-agent': { type: 'boolean' }, 'no-repair': { type: 'boolean' },
        model: { type: 'string' }, 'base-url': { type: 'string' }, 'max-repairs': { type: 'string' },
        resume: { type: 'string' }, yes: { type: 'boolean', short: 'y' }, verbose: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    throw new AxolotlError((e as Error).message, RUN_USAGE);
  }
  const v = parsed.values;
  if (rest.length === 0) throw new AxolotlError('no script given', RUN_USAGE);
  const program = path.resolve(cwd, rest[0]);
  checkProgram(program);
  const backend = (v.backend ?? RUN_DEFAULTS.backend) as BackendKind;
  if (!BACKENDS.includes(backend)) throw new AxolotlError(`unknown backend "${v.backend}"`, `Use ${words(BACKENDS)}.`);
  const resume = (v.resume ?? RUN_DEFAULTS.resume) as RepairResume;
  if (!RESUME_MODES.includes(resume)) throw new AxolotlError(`unknown resume mode "${resume}"`, `Use ${words(RESUME_MODES)}.`);
  const scriptDir = path.dirname(program);
  if (v.container === undefined && (v.mount?.length || v.env?.length)) {
    throw new AxolotlError(`${v.mount?.length ? '--mount' : '--env'} needs --container`, 'Without a container the program runs with this environment and these folders.');
  }
  const container = v.container === undefined ? undefined : containerOptions(v.container, v.mount ?? [], v.env ?? [], v.python, cwd);
  return {
    program,
    args: rest.slice(1),
    cwd,
    env: {},
    // With --container, --python names the interpreter in the image; the engine's own helpers use the host's.
    python: container ? RUN_DEFAULTS.python : v.python ?? RUN_DEFAULTS.python,
    ...(container ? { container } : {}),
    interval: v.interval === undefined ? RUN_DEFAULTS.interval : positiveNumber('--interval', v.interval),
    // An explicit --interval is taken literally unless a budget is given too (adaptiveInterval.ts).
    pauseBudget: v['pause-budget'] !== undefined ? percent('--pause-budget', v['pause-budget'])
      : v.interval === undefined ? RUN_DEFAULTS.pauseBudget : 0,
    maxSaves: v['max-saves'] === undefined ? (container ? CONTAINER_MAX_SAVES : RUN_DEFAULTS.maxSaves) : wholeNumber('--max-saves', v['max-saves'], 1),
    snapshotMemory: v['snapshot-memory'] === undefined ? undefined : memory('--snapshot-memory', v['snapshot-memory']),
    workingDir: path.resolve(cwd, v['working-dir'] ?? path.join(scriptDir, RUN_DEFAULTS.workingDirName)),
    backend,
    agent: !v['no-agent'],
    root: scriptDir,
    logFile: v.log ? path.resolve(cwd, v.log) : undefined,
    verbose: !!v.verbose,
    normalRun: !!v['normal-run'],
    yes: !!v.yes,
    model: v.model,
    baseUrl: v['base-url'],
    maxRepairs: v['max-repairs'] === undefined ? RUN_DEFAULTS.maxRepairAttempts : wholeNumber('--max-repairs', v['max-repairs'], 1),
    resume,
    repair: !v['no-repair'],
  };
}

/** "auto, criu or fork" */
function words(values: readonly string[]): string {
  return `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}

function takesValue(flag: string | undefined): boolean {
  return !!flag && ['--interval', '--pause-budget', '--max-saves', '--snapshot-memory', '--working-dir', '--log', '--python', '--backend', '--model',
    '--base-url', '--max-repairs', '--resume', '--container', '--mount', '--env'].includes(flag);
}

function containerOptions(image: string, mounts: string[], env: string[], python: string | undefined, cwd: string): ContainerOptions {
  if (!image.trim()) throw new AxolotlError('--container needs an image name', 'For example --container localhost/my-env:latest (podman images lists them).');
  return { image, mounts: mounts.map((m) => parseMount(m, cwd)), env: Object.fromEntries(env.map(parseEnv)), python: python ?? RUN_DEFAULTS.python };
}

function parseEnv(text: string): [string, string] {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new AxolotlError(`--env ${text}: "${name}" is not a variable name`, 'Use --env NAME=VALUE, or --env NAME to pass on this environment\'s value.');
  if (eq >= 0) return [name, text.slice(eq + 1)];
  const value = process.env[name];
  if (value === undefined) throw new AxolotlError(`--env ${name}: ${name} is not set here`, 'Give the value: --env NAME=VALUE.');
  return [name, value];
}

export function checkProgram(program: string): void {
  if (!fs.existsSync(program)) throw new AxolotlError(`script not found: ${program}`, 'Check the path.');
  if (!fs.statSync(program).isFile()) throw new AxolotlError(`not a file: ${program}`, 'Give the path of a .py file.');
  if (path.extname(program) !== '.py') throw new AxolotlError(`not a Python script (.py): ${program}`, 'Axolotl runs Python scripts ending in .py.');
}

function positiveNumber(flag: string, s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new AxolotlError(`${flag} must be a positive number of seconds, got "${s}"`);
  return n;
}

function percent(flag: string, s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new AxolotlError(`${flag} must be a percentage from 0 to 100, got "${s}"`);
  return n / 100;
}

function memory(flag: string, s: string): RunOptions['snapshotMemory'] {
  const m = parseSnapshotMemory(s);
  if (!m) throw new AxolotlError(`${flag} must be a multiple of the program's size (1x, 1.5x) or an amount (512M, 2G), got "${s}"`);
  return m;
}

function wholeNumber(flag: string, s: string, min: number): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new AxolotlError(`${flag} must be a whole number ≥ ${min}, got "${s}"`);
  return n;
}
