// Finds a criu that works here. Order: $AXOLOTL_CRIU, the private prefix written by
// scripts/install-criu.sh, then criu on PATH (Debian 12's 3.17 is found but fails `criu check`
// on kernels >= 6.13, which doctor explains).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export function criuCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  // An explicit choice is the only candidate: silently using another criu would hide the problem.
  if (env.AXOLOTL_CRIU) return isExecutable(env.AXOLOTL_CRIU) ? [env.AXOLOTL_CRIU] : [];
  const home = env.AXOLOTL_HOME ?? path.join(env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'axolotl');
  const list = [path.join(home, 'bin', 'criu')];
  for (const dir of (env.PATH ?? '').split(':')) if (dir) list.push(path.join(dir, 'criu'));
  for (const dir of ['/usr/sbin', '/sbin', '/usr/local/sbin']) list.push(path.join(dir, 'criu'));
  return [...new Set(list.filter((p) => isExecutable(p)))];
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export interface CriuStatus {
  path: string;
  version?: string;
  checkOk: boolean;
  checkOutput: string;
}

export async function probeCriu(criu: string): Promise<CriuStatus> {
  const v = await execa(criu, ['--version'], { reject: false, timeout: 10_000 });
  const version = /Version:\s*(\S+)/.exec(String(v.stdout))?.[1];
  const c = await execa(criu, ['check'], { reject: false, timeout: 30_000, all: true });
  return { path: criu, version, checkOk: c.exitCode === 0, checkOutput: String(c.all ?? '').trim() };
}

/** The first candidate whose `criu check` passes, else the first found (for error messages). */
export async function findCriu(env: NodeJS.ProcessEnv = process.env): Promise<CriuStatus | undefined> {
  let first: CriuStatus | undefined;
  for (const c of criuCandidates(env)) {
    const st = await probeCriu(c);
    if (st.checkOk) return st;
    first ??= st;
  }
  return first;
}
