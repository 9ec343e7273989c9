// Finds a criu that works here. Candidates, in order: $AXOLOTL_CRIU, the private prefix written by
// scripts/install-criu.sh, then criu on PATH. "Works" means it passed a real dump and restore on this
// kernel (criuProbe.ts), not merely `criu check`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { proveCriu, type CriuProof } from './criuProbe';

export function criuCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  // An explicit choice is the only candidate: silently using another criu would hide the problem.
  if (env.AXOLOTL_CRIU) return isExecutable(env.AXOLOTL_CRIU) ? [env.AXOLOTL_CRIU] : [];
  const home = env.AXOLOTL_HOME ?? path.join(env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'axolotl');
  const list = [path.join(home, 'bin', 'criu')];
  for (const dir of (env.PATH ?? '').split(':')) if (dir) list.push(path.join(dir, 'criu'));
  for (const dir of ['/usr/sbin', '/sbin', '/usr/local/sbin']) list.push(path.join(dir, 'criu'));
  return [...new Set(list.filter((p) => isExecutable(p)))];
}

export function isExecutable(p: string): boolean {
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
  /** it passed a real dump and restore here */
  works: boolean;
  proof: CriuProof;
}

export async function criuStatus(criu: string, env: NodeJS.ProcessEnv = process.env): Promise<CriuStatus> {
  const proof = await proveCriu(criu, env);
  return { path: criu, version: proof.version, works: proof.ok, proof };
}

/** The first candidate that works here, else the first found (for error messages). */
export async function findCriu(env: NodeJS.ProcessEnv = process.env): Promise<CriuStatus | undefined> {
  let first: CriuStatus | undefined;
  for (const c of criuCandidates(env)) {
    const st = await criuStatus(c, env);
    if (st.works) return st;
    first ??= st;
  }
  return first;
}

/** `criu check`, for doctor's explanation only: passing it proves little (see criuProbe.ts). */
export async function criuCheck(criu: string, env: NodeJS.ProcessEnv = process.env): Promise<{ ok: boolean; output: string }> {
  const c = await execa(criu, ['check'], { reject: false, timeout: 30_000, all: true, env, stdin: 'ignore' });
  return { ok: c.exitCode === 0, output: String(c.all ?? '').trim() };
}

/** One line on why a criu does not work here, for messages. */
export function whyNot(st: CriuStatus): string {
  const p = st.proof;
  return `criu ${st.version ?? '?'} at ${st.path} ${p.stage === 'version' ? 'does not run' : 'cannot checkpoint on this kernel'}: ${p.error ?? 'unknown failure'}`;
}
