// Proof that a criu works here: a real dump and restore of throwaway processes (one running, one
// stopped the way fork snapshots are), done by adapter/python/axolotl_criu_probe.py. `criu check` is
// not enough: on some kernels a criu passes it and then hangs in every dump, resuming stopped tasks.
// A proof is cached per kernel, criu binary and version, and taken again when any of them changes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { pythonDir } from './paths';

export interface CriuProof {
  ok: boolean;
  version?: string;
  /** environment criu needs here (CRIU_FAULT=130: criu 4.1.x without hardware breakpoints) */
  env: Record<string, string>;
  /** where it failed: version, dump-running, dump-stopped, restore, setup */
  stage?: string;
  error?: string;
  /** the end of criu's log at the failure */
  log?: string;
  /** how long the proof took, when it was taken */
  ms: number;
  /** the proof came from the cache */
  cached?: boolean;
  /** when it was taken (ms since the epoch) */
  at?: number;
}

/** criu 4.1.x's fault-injection switch that makes it skip hardware breakpoints. */
const NO_BREAKPOINTS = { CRIU_FAULT: '130' };
const PROBE_TIMEOUT_S = 8;
/** A failed proof is taken again after this long; a passed one stands until kernel or criu change. */
const FAILURE_TTL_MS = 3600_000;

/** Proves `criu` (cached); when it fails as 4.1.x, tries again without hardware breakpoints. */
export async function proveCriu(criu: string, env: NodeJS.ProcessEnv = process.env): Promise<CriuProof> {
  const version = await criuVersion(criu, env);
  const key = cacheKey(criu, version);
  const cache = readCache(env);
  const known = key ? cache[key] : undefined;
  if (known && (known.ok || Date.now() - (known.at ?? 0) < FAILURE_TTL_MS)) return { ...known, cached: true };
  let proof = await runProbe(criu, {}, env);
  // A failure that is not a hang is taken once more: a machine under load must not lose criu for good.
  if (!proof.ok && proof.stage !== 'version' && !/did not finish/.test(proof.error ?? '')) proof = await runProbe(criu, {}, env);
  if (!proof.ok && /^4\.1(\.|$)/.test(version ?? '') && proof.stage !== 'version') {
    const retry = await runProbe(criu, NO_BREAKPOINTS, env);
    if (retry.ok) proof = retry;
  }
  proof.at = Date.now();
  if (key) writeCache(env, { ...cache, [key]: proof });
  return proof;
}

async function runProbe(criu: string, extra: Record<string, string>, env: NodeJS.ProcessEnv): Promise<CriuProof> {
  const script = path.join(pythonDir(), 'axolotl_criu_probe.py');
  const args = [script, criu, '--timeout', String(PROBE_TIMEOUT_S), ...Object.entries(extra).flatMap(([k, v]) => ['--env', `${k}=${v}`])];
  // Three criu commands at most, each bounded by the probe itself; this bounds the probe as a whole.
  const res = await execa(probePython(), args, { reject: false, env, stdin: 'ignore', timeout: (4 * PROBE_TIMEOUT_S + 10) * 1000 });
  try {
    const r = JSON.parse(String(res.stdout).trim().split('\n').pop() ?? '') as Partial<CriuProof> & { version?: string | null };
    return {
      ok: r.ok === true, version: r.version ?? undefined, env: extra, stage: r.stage ?? undefined,
      error: r.error ?? undefined, log: r.log || undefined, ms: Number(r.ms) || 0,
    };
  } catch {
    const why = res.timedOut ? 'the probe itself did not finish' : `the probe failed: ${String(res.stderr).trim().split('\n').pop() ?? res.exitCode}`;
    return { ok: false, env: extra, stage: 'setup', error: why, ms: 0 };
  }
}

/** The probe needs only the standard library of any Python 3. */
function probePython(): string {
  return fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

export async function criuVersion(criu: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const v = await execa(criu, ['--version'], { reject: false, timeout: 10_000, env, stdin: 'ignore' });
  return /Version:\s*(\S+)/.exec(String(v.stdout))?.[1];
}

/** Kernel, criu binary (its real path, size and time) and version: a change in any means a new proof. */
function cacheKey(criu: string, version: string | undefined): string | undefined {
  try {
    const real = fs.realpathSync(criu);
    const st = fs.statSync(real);
    return [os.release(), os.version(), real, st.size, st.mtimeMs, version ?? '?'].join('|');
  } catch {
    return undefined;
  }
}

function cacheFile(env: NodeJS.ProcessEnv): string {
  return path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'axolotl', 'criu-proof.json');
}

function readCache(env: NodeJS.ProcessEnv): Record<string, CriuProof> {
  try {
    return JSON.parse(fs.readFileSync(cacheFile(env), 'utf8')) as Record<string, CriuProof>;
  } catch {
    return {};
  }
}

function writeCache(env: NodeJS.ProcessEnv, cache: Record<string, CriuProof>): void {
  const file = cacheFile(env);
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Only the newest few: keys of replaced binaries and old kernels are dead weight.
    const recent = Object.fromEntries(Object.entries(cache).slice(-16));
    fs.writeFileSync(`${file}.${process.pid}`, JSON.stringify(recent, null, 1) + '\n');
    fs.renameSync(`${file}.${process.pid}`, file);
  } catch { /* a cache we cannot write only costs a probe next time */ }
}
