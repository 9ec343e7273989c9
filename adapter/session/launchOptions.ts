// A launch configuration → the engine's options. Every configuration is checked before anything
// starts, also when the adapter runs outside VS Code (node dist/adapter.js, another editor) where the
// extension's resolver never saw it: the same rules and words as the extension
// (protocol/launchConfig.ts), with the file system checks (program exists, cwd exists) that only make
// sense once variables are substituted. The mapping then checks nothing again.
import fs from 'node:fs';
import path from 'node:path';
import { CONTAINER_MAX_SAVES, parseMount } from '../engine/containerSpec';
import { parseSnapshotMemory, RUN_DEFAULTS } from '../engine/runDefaults';
import { AxolotlError, type ContainerOptions, type RunOptions } from '../engine/types';
import type { ContainerLaunchArgs } from '../protocol/launchArgs';
import { resolveLaunchConfig, type ResolvedLaunchConfig } from '../protocol/launchConfig';

export function checkLaunchArgs(args: unknown): ResolvedLaunchConfig {
  args ??= {}; // a client may send no arguments at all
  if (typeof args !== 'object' || Array.isArray(args)) {
    throw new AxolotlError('The launch configuration must be an object.');
  }
  const raw: Record<string, unknown> = { ...(args as Record<string, unknown>) };
  // Relative paths are taken from the adapter's own folder (as the engine always did).
  if (typeof raw.cwd === 'string' && raw.cwd && !path.isAbsolute(raw.cwd)) raw.cwd = path.resolve(raw.cwd);
  if (typeof raw.program === 'string' && raw.program && !path.isAbsolute(raw.program)) {
    raw.program = path.resolve(typeof raw.cwd === 'string' && raw.cwd ? raw.cwd : process.cwd(), raw.program);
  }
  const isFile = (f: string) => { try { return fs.statSync(f).isFile(); } catch { return false; } };
  const isDir = (d: string) => { try { return fs.statSync(d).isDirectory(); } catch { return false; } };
  const res = resolveLaunchConfig(raw, { substituted: true, settings: {}, fileExists: isFile, dirExists: isDir });
  if (!res.ok) throw new AxolotlError(res.error);
  return res.config;
}

/** A checked configuration → engine options, with the CLI's defaults (engine/runDefaults.ts). */
export function runOptionsFrom(config: ResolvedLaunchConfig): RunOptions {
  const dir = path.dirname(config.program);
  return {
    program: config.program,
    args: config.args,
    cwd: config.cwd,
    env: config.env,
    python: config.python,
    interval: config.checkpointInterval,
    // As in the CLI: the interval is a floor, and a large program is checkpointed less often so that
    // checkpoints freeze it at most this share of the time (adaptiveInterval.ts).
    pauseBudget: config.pauseBudget !== undefined ? config.pauseBudget / 100 : RUN_DEFAULTS.pauseBudget,
    maxSaves: config.maxCheckpoints ?? (config.container ? CONTAINER_MAX_SAVES : RUN_DEFAULTS.maxSaves),
    snapshotMemory: config.snapshotMemory === undefined ? undefined : parseSnapshotMemory(config.snapshotMemory),
    workingDir: config.workingDir ? path.resolve(dir, config.workingDir) : path.join(dir, RUN_DEFAULTS.workingDirName),
    backend: config.backend,
    agent: true,
    root: dir,
    verbose: false,
    ...(config.container ? { container: containerOptionsFrom(config.container, config.cwd) } : {}),
  };
}

/** "container" → the engine's options: mounts parsed from the launch's cwd. */
function containerOptionsFrom(c: ContainerLaunchArgs, cwd: string): ContainerOptions {
  return {
    image: c.image,
    mounts: (c.mounts ?? []).map((m) => parseMount(m, cwd, '"container.mounts":')),
    env: c.env ?? {},
    python: c.python ?? RUN_DEFAULTS.python,
  };
}
