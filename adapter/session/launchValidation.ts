// Every launch configuration is checked before anything starts, also when the adapter runs outside
// VS Code (node dist/adapter.js, another editor) where the extension's resolver never saw it: the
// same rules and words as the extension (extension/configuration.ts, pure logic), with the file
// system checks (program exists, cwd exists) that only make sense once variables are substituted.
import fs from 'node:fs';
import path from 'node:path';
import { resolveLaunchConfig } from '../protocol/launchConfig';
import { AxolotlError } from '../engine/types';
import type { AxolotlLaunchArgs } from '../protocol/launchArgs';

export function checkLaunchArgs(args: unknown): AxolotlLaunchArgs {
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
  const res = resolveLaunchConfig(raw, { substituted: true, settings: {}, fileExists: isFile });
  if (!res.ok) throw new AxolotlError(res.error);
  const cwd = res.config.cwd;
  if (!fs.existsSync(cwd) || !fs.statSync(cwd).isDirectory()) throw new AxolotlError(`"cwd" is not a folder: ${cwd}. Check "cwd" in launch.json.`);
  return res.config;
}
