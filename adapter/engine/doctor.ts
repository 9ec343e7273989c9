// `axolotl doctor`: what this machine offers for checkpointing and, for each problem, how to fix it.
import os from 'node:os';
import { execa } from 'execa';
import { containerDoctorItems } from './containerChoice';
import { criuCandidates, criuCheck, criuStatus, whyNot, type CriuStatus } from './criuLocator';
import { HELPER_CRIU, HELPER_PATH, helperChecks } from './helperBackend';
import { pythonDir } from './paths';

export interface DoctorItem {
  name: string;
  ok: boolean;
  detail: string;
  /** one sentence: how to fix it (only when !ok) */
  fix?: string;
  /** a problem that does not stop `axolotl run` from checkpointing */
  optional?: boolean;
}

export interface DoctorReport {
  items: DoctorItem[];
  /** true when `axolotl run` can checkpoint here */
  canCheckpoint: boolean;
  criu?: CriuStatus;
}

const PY_NAMES = ['python3', 'python3.8', 'python3.9', 'python3.10', 'python3.11', 'python3.12', 'python3.13', 'python3.14'];

export async function runDoctor(env: NodeJS.ProcessEnv = process.env): Promise<DoctorReport> {
  const items: DoctorItem[] = [];
  items.push({ name: 'kernel', ok: true, detail: `${os.type()} ${os.release()} (${os.arch()})` });

  const root = process.getuid?.() === 0;
  // A criu is trusted only after a real dump and restore here (criuProbe.ts), which needs root.
  const candidates = criuCandidates(env);
  const statuses: CriuStatus[] = [];
  if (root) {
    for (const c of candidates) {
      const st = await criuStatus(c, env);
      statuses.push(st);
      if (st.works) break;
    }
  }
  const working = statuses.find((s) => s.works);
  if (working) {
    const p = working.proof;
    items.push({
      name: 'criu', ok: true,
      detail: `${working.path} (version ${working.version ?? '?'}): passed a real dump and restore on this kernel` +
        `${Object.keys(p.env).length ? ` with ${Object.entries(p.env).map(([k, v]) => `${k}=${v}`).join(' ')} (no hardware breakpoints)` : ''}` +
        `${p.cached ? ' (proof cached for this kernel and criu)' : ` in ${p.ms} ms`}`,
    });
  } else if (candidates.length === 0) {
    items.push({
      name: 'criu', ok: false, detail: 'criu not found',
      fix: 'Run `npm run setup` (scripts/install-criu.sh) to install a criu proven on this kernel into a private prefix, or set AXOLOTL_CRIU.',
    });
  } else if (!root) {
    items.push({ name: 'criu', ok: false, optional: true, detail: `${candidates[0]}: not proven (a real dump needs root)` });
  } else {
    const s = statuses[0];
    const check = await criuCheck(s.path, env);
    const vdso = /vDSO/i.test(check.output);
    items.push({
      name: 'criu', ok: false,
      detail: check.ok
        ? `criu ${s.version ?? '?'} at ${s.path} passes \`criu check\` but cannot checkpoint on this kernel: ${s.proof.error ?? '?'} (at ${s.proof.stage ?? '?'})`
        : `${whyNot(s)}; criu check failed: ${lastLine(check.output)}`,
      fix: vdso
        ? `criu ${s.version ?? ''} predates kernel ${os.release()} (vDSO layout changed in 6.13); run scripts/install-criu.sh, which keeps the first criu that passes a real dump and restore here.`
        : 'Run scripts/install-criu.sh: it tries the system\'s, trixie\'s and sid\'s criu and keeps the first that passes a real dump and restore here (sid\'s 4.2 works where 4.1 hangs). Until then Axolotl uses fork snapshots.',
    });
  }

  // Not root: criu runs through the pkexec helper (as this user, with one capability).
  const helper = root ? [] : helperChecks();
  const helperReady = !root && helper.every((c) => c.ok || c.optional);
  if (helperReady) {
    // The criu that matters is the helper's (root-owned, run as this user); one found here is unused.
    const at = items.findIndex((i) => i.name === 'criu');
    items[at] = { name: 'criu', ok: true, detail: `${HELPER_CRIU} (the helper's; not checked here: \`criu check\` needs the capabilities the helper grants)` };
  }
  items.push(...helper);
  items.push(root
    ? { name: 'privileges', ok: true, detail: 'running as root: criu runs directly' }
    : helperReady
      ? {
          name: 'privileges', ok: true,
          detail: `running as uid ${process.getuid?.()}: criu runs through the pkexec helper ${HELPER_PATH} (polkit may ask for an administrator password)`,
        }
      : {
          name: 'privileges', ok: false,
          detail: `running as uid ${process.getuid?.()}: criu needs root or CAP_CHECKPOINT_RESTORE`,
          fix: 'Run as root, or fix the items above (`sudo bash scripts/install-helper.sh` installs the helper, its polkit policy and a root-owned criu).' +
            ' Alternative without pkexec: a root-owned copy of a criu binary with file capabilities, runnable by one group only' +
            ' (sudo install -o root -g axolotl -m 0750 /usr/sbin/criu /usr/local/bin/criu-axolotl &&' +
            ' sudo setcap cap_checkpoint_restore,cap_sys_ptrace+eip /usr/local/bin/criu-axolotl; members run it with --unprivileged);' +
            " it needs a criu that runs without the private prefix's loader (never setcap that ld.so), and Axolotl does not drive criu that way itself.",
        });

  const pythons = await findPythons(env);
  items.push(pythons.length
    ? { name: 'python', ok: true, detail: pythons.map((p) => `${p.version} (${p.path})`).join(', ') }
    : { name: 'python', ok: false, detail: 'no python3 found on PATH', fix: 'Install python3 (3.8 or newer) or pass --python.' });

  const agent = findAgentDir();
  items.push(agent
    ? { name: 'agent', ok: true, detail: agent }
    : { name: 'agent', ok: false, detail: 'adapter/python/axolotl_agent is missing', fix: 'Reinstall Axolotl; the Python agent ships with it.' });

  // Container mode (--container): optional, the process modes need none of it.
  items.push(...await containerDoctorItems(working, env));

  const canCheckpoint = (root ? !!working : helperReady) && pythons.length > 0 && !!agent;
  return { items, canCheckpoint, criu: working ?? statuses[0] };
}

export function formatDoctor(r: DoctorReport): string {
  const lines = r.items.map((i) => `${i.ok ? '✓' : i.optional ? '!' : '✗'} ${i.name.padEnd(11)} ${i.detail}${!i.ok && i.fix ? `\n  ${' '.repeat(12)}→ ${i.fix}` : ''}`);
  lines.push(r.canCheckpoint ? 'axolotl run can checkpoint here.' : 'axolotl run cannot checkpoint here yet (see → above).');
  return lines.join('\n');
}

async function findPythons(env: NodeJS.ProcessEnv): Promise<{ path: string; version: string }[]> {
  const found = new Map<string, { path: string; version: string }>();
  for (const name of PY_NAMES) {
    const res = await execa(name, ['-c', 'import sys; print(sys.executable); print(sys.version.split()[0])'], {
      reject: false, env, timeout: 10_000, stdin: 'ignore',
    });
    const [exe, version] = String(res.stdout ?? '').trim().split('\n');
    if (res.exitCode === 0 && exe && version && !found.has(exe)) found.set(exe, { path: exe, version });
  }
  return [...found.values()];
}

function findAgentDir(): string | undefined {
  try {
    return `${pythonDir()}/axolotl_agent`;
  } catch {
    return undefined;
  }
}

function lastLine(s: string): string {
  return s.trim().split('\n').pop() ?? '';
}
