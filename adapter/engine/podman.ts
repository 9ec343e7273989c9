// Podman as container mode uses it (containerBackend.ts): which podman and runc, the environment every
// podman command gets, and the checks behind `axolotl doctor` and the errors of `--container`.
//
// Why podman and runc: podman 4.3 (Debian 12) checkpoints and restores a container with its own
// commands (`podman container checkpoint --leave-running --export`, `podman container restore
// --import`), daemonless, so an exported checkpoint outlives the session. Its default runtime here,
// crun 1.8, is built without CRIU; runc is not, and runs the `criu` it finds first on PATH: every podman
// command gets a PATH whose first folder holds the criu this project proved on this kernel
// (criuProbe.ts). Debian 12's Docker 20.10 checkpoints only in its daemon's experimental mode and
// restores only into the container a checkpoint was taken from (`docker start --checkpoint`): no archive
// to restore as a new container, as every rewind and a later `axolotl restore` need.
//
// Root without CAP_SYS_RESOURCE (some VMs and containers) cannot set the rlimits podman asks runc for
// by default ("error setting rlimit type 7"): podman then gets a containers.conf of ours without
// default ulimits (CONTAINERS_CONF, which replaces the system's file), and doctor says so.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { isExecutable } from './criuLocator';
import { runCriu, type CriuRun } from './criuRun';

/** Where Debian's podman looks for the init it injects with --init. */
const INIT_PATHS = ['/usr/libexec/podman/catatonit', '/usr/lib/podman/catatonit', '/usr/bin/catatonit', '/usr/libexec/catatonit/catatonit'];
const CAP_SYS_RESOURCE = 24;

export interface PodmanTools {
  podman: string;
  runc: string;
  /** the init podman injects (--init): the program is not PID 1, which ignores default signals */
  init: string;
}

/**
 * podman, runc and catatonit, or what is missing, with the command that installs it. `dirs`: where
 * to look (PATH, then where Debian puts them: podman itself looks for runc in /usr/sbin).
 */
export function findPodmanTools(
  env: NodeJS.ProcessEnv = process.env, dirs = [...(env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/bin'], initPaths = INIT_PATHS,
): { tools?: PodmanTools; missing: { name: string; fix: string }[] } {
  const which = (name: string) => dirs.filter(Boolean).map((d) => path.join(d, name)).find(isExecutable);
  const podman = which('podman');
  const runc = which('runc');
  const init = initPaths.find(isExecutable);
  const missing: { name: string; fix: string }[] = [];
  if (!podman) missing.push({ name: 'podman', fix: 'sudo apt-get install podman' });
  if (!runc) missing.push({ name: 'runc', fix: 'sudo apt-get install runc (podman\'s default runtime crun cannot checkpoint here)' });
  if (!init) missing.push({ name: 'catatonit', fix: 'sudo apt-get install catatonit' });
  return missing.length ? { missing } : { tools: { podman: podman!, runc: runc!, init: init! }, missing };
}

/** The criu runc must run: a proven criu and the environment its proof needed (criuProbe.ts). */
export interface ContainerCriu {
  path: string;
  env: Record<string, string>;
}

/**
 * The environment of every podman command: a PATH that finds `criu` (a wrapper in `dir`/bin running
 * the proven criu with its environment; runc passes podman's PATH on, nothing else) and, where root
 * cannot set rlimits, our containers.conf.
 */
export function podmanEnv(criu: ContainerCriu, dir: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true, mode: 0o700 });
  const exports = Object.entries(criu.env).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`).join('');
  writeIfChanged(path.join(bin, 'criu'), `#!/bin/sh\n# the criu Axolotl proved on this kernel, for runc\n${exports}exec ${shellQuote(criu.path)} "$@"\n`, 0o755);
  const out: Record<string, string> = { PATH: [bin, env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':') };
  if (needsOwnContainersConf(env)) out.CONTAINERS_CONF = ownContainersConf(dir);
  return out;
}

/** True when podman's default ulimits would fail here and the user has not chosen a containers.conf. */
export function needsOwnContainersConf(env: NodeJS.ProcessEnv = process.env): boolean {
  return !env.CONTAINERS_CONF && !hasCapability(CAP_SYS_RESOURCE);
}

function ownContainersConf(dir: string): string {
  const file = path.join(dir, 'containers.conf');
  writeIfChanged(file, '# Axolotl: root here lacks CAP_SYS_RESOURCE, so runc cannot set the default rlimits\n[containers]\ndefault_ulimits = []\n', 0o644);
  return file;
}

function hasCapability(bit: number): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? (BigInt(`0x${m[1]}`) >> BigInt(bit)) % 2n === 1n : false;
  } catch {
    return false;
  }
}

export interface PodmanResult extends CriuRun {
  /** the last line podman printed on stderr ("Error: …"), for messages */
  error: string;
}

/** Runs one podman command in a session of its own (`onStart` learns it), bounded by `timeoutMs`. */
export async function runPodman(
  podman: string, args: string[], env: Record<string, string>, timeoutMs: number,
  opts: { onStart?: (pid: number) => void; signal?: AbortSignal } = {},
): Promise<PodmanResult> {
  const res = await runCriu(podman, args, env, timeoutMs, opts);
  const lines = res.stderr.trim().split('\n').filter((l) => l.trim() && !/level=warning/.test(l));
  const error = res.timedOut ? `podman ${args[0]} did not finish within ${Math.round(timeoutMs / 1000)} s`
    : lines.filter((l) => /^Error:/.test(l)).pop() ?? lines.pop() ?? (res.exitCode === 0 ? '' : `podman ${args[0]} failed (status ${res.exitCode ?? res.signal})`);
  return { ...res, error: error.replace(/^Error:\s*/, '') };
}

export async function podmanVersion(podman: string): Promise<string | undefined> {
  const r = await execa(podman, ['--version'], { reject: false, timeout: 10_000, stdin: 'ignore' });
  return /version\s+(\S+)/.exec(String(r.stdout))?.[1];
}

export async function runcVersion(runc: string): Promise<string | undefined> {
  const r = await execa(runc, ['--version'], { reject: false, timeout: 10_000, stdin: 'ignore' });
  return /runc version\s+(\S+)/.exec(String(r.stdout))?.[1];
}

/** Whether podman has `image` locally (no registry is asked). */
export async function imageExists(podman: string, image: string, env: Record<string, string>): Promise<boolean> {
  const r = await execa(podman, ['image', 'exists', image], { reject: false, timeout: 30_000, stdin: 'ignore', env: { ...process.env, ...env } });
  return r.exitCode === 0;
}

// ---------------------------------------------------------------------------------------------
// Containers a dead engine left behind

/** Label on every container Axolotl starts: the engine's PID and start time, so a sweep knows its owner. */
export const OWNER_LABEL = 'dev.axolotl.owner';

/** This process as an owner label value: PID and start time (a PID alone is reused). */
export function ownerLabel(pid = process.pid): string {
  return `${pid}:${startTime(pid) ?? 0}`;
}

function startTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The owner `label` (ownerLabel) is gone: its containers are nobody's. */
export function ownerGone(label: string): boolean {
  const [pid, start] = label.split(':');
  return !/^\d+$/.test(pid ?? '') || startTime(Number(pid)) !== start;
}

/**
 * Removes the containers of engines that are gone (killed together with their session keeper, a
 * machine that lost power). Returns their names.
 */
export async function sweepOrphans(podman: string, env: Record<string, string>): Promise<string[]> {
  const list = await runPodman(podman, ['ps', '-a', '--filter', `label=${OWNER_LABEL}`, '--format', `{{.Names}}\t{{index .Labels "${OWNER_LABEL}"}}`], env, 30_000);
  if (list.exitCode !== 0) return [];
  const orphans = list.stdout.split('\n').map((l) => l.split('\t')).filter(([name, owner]) => name && owner && ownerGone(owner)).map(([name]) => name);
  if (orphans.length) await runPodman(podman, ['rm', '-f', '-t', '0', ...orphans], env, 60_000);
  return orphans;
}

// ---------------------------------------------------------------------------------------------

function writeIfChanged(file: string, text: string, mode: number): void {
  try { if (fs.readFileSync(file, 'utf8') === text) return; } catch { /* new */ }
  const tmp = `${file}.${process.pid}`;
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * A folder of the engine's under /run/axolotl (root-only; container mode runs as root): never in /tmp,
 * where another user could have made it first, and never in a folder a container sees.
 */
export function runtimeDir(...parts: string[]): string {
  let dir = '/run/axolotl';
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? 0) || st.mode & 0o022) {
    throw new Error(`${dir} is not a folder of this user's that only it can write`);
  }
  for (const p of parts) {
    dir = path.join(dir, p);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  return dir;
}

/** A folder for podman's environment when there is no run folder (the image check, doctor). */
export function scratchDir(): string {
  return runtimeDir('scratch');
}
