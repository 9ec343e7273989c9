// Container mode: the program runs in a podman container (runc), and a checkpoint is the whole
// container, taken and restored by podman itself:
//   - launch: `podman create --init` (then init, start) with the workspace, the agent's socket folder,
//     journal and code bind-mounted at their own paths (the run folders read-only), so tracebacks,
//     diffs and repairs name the user's files and a repair written on the host is what the restored
//     container runs;
//   - dump: `podman container checkpoint --leave-running --export <checkpoint>/container.tar` (runc runs
//     criu, which freezes the container's cgroup for the dump: criu's frozen time is the pause);
//   - restore: `podman container restore --import` as a new container, left stopped: runc reads criu's
//     configuration file named by the container's `org.criu.config` annotation (one per run, in
//     /run/axolotl/containers/), which says `leave-stopped` while a restore runs, so the engine can queue its
//     SIGUSR1 (repaired code) before any user code runs, as with criu restores of a process. Sending
//     SIGSTOP before a dump instead hangs criu here: PTRACE_SEIZE of a stopped task in a frozen
//     cgroup-v1 freezer never returns.
// The same configuration file gives criu an action script at dumps: the files the program holds open
// for writing are saved while the container is frozen, and the file journal's epoch starts there, as
// criu's post-dump does for a process (sideEffects.ts, fileRewind.ts).
// Containers are removed when their copy ends and when the engine stops; the session keeper removes
// them if the engine dies, and a later run sweeps those whose engine is gone (their owner label).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { BackendContext, CheckpointBackend, DumpResult, ProgramCopy } from './backend';
import { ContainerCopy } from './containerCopy';
import { ContainerLogReader } from './containerLog';
import { dumpTimeoutMs } from './criuHealth';
import { residentBytes } from './adaptiveInterval';
import { pythonDir } from './paths';
import {
  OWNER_LABEL, ownerLabel, podmanEnv, runPodman, runtimeDir, shellQuote, sweepOrphans, type ContainerCriu, type PodmanResult, type PodmanTools,
} from './podman';
import { restoreTimeoutMs } from './criuRun';
import type { CheckpointRecord } from './runDir';
import { filesActionScript, filesEnv, type FileSaveOptions } from './sideEffects';
import { AxolotlError, type ContainerOptions } from './types';

/** The checkpoint of a container, as podman exported it (criu images, config, rootfs changes). */
export const CONTAINER_ARCHIVE = 'container.tar';
/** Folders never bind-mounted over the image's own: the program would not find its system. */
const SYSTEM_DIRS = new Set(['/', '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/proc', '/run', '/sbin', '/sys', '/usr', '/var']);
/** podman's own work around criu: starting runc, writing and reading the archive. */
const PODMAN_SLACK_MS = 60_000;

export interface ContainerBackendOptions {
  spec: ContainerOptions;
  tools: PodmanTools;
  criu: ContainerCriu;
  /** folders mounted at their own path: the script's folder and the working directory */
  workspace: string[];
  /** the launch configuration's environment (the host's own is not passed on) */
  env: Record<string, string>;
}

export class ContainerBackend implements CheckpointBackend {
  readonly kind = 'container';
  readonly pacingKind = 'container';
  /** the engine's files for runc and criu (engineDir), and what takes back the keeper's removal of them */
  private readonly dir: string;
  private readonly forgetDir: () => void;
  private readonly podmanEnv: Record<string, string>;
  private readonly copies = new Set<ContainerCopy>();
  /** containers being removed (close() waits for them) */
  private readonly removals = new Set<Promise<unknown>>();
  private readonly restoreLogs = new Map<string, string>();
  /** container name → what takes back its removal from the session keeper's list */
  private readonly registered = new Map<string, () => void>();
  private files?: FileSaveOptions;
  /** the last checkpoint folder with saved files: unchanged ones are hard-linked from it */
  private lastDir?: string;
  private swept?: Promise<unknown>;
  private seq = 0;

  constructor(private readonly o: ContainerBackendOptions, private readonly ctx: BackendContext) {
    this.dir = engineDir(ctx.runDir);
    this.forgetDir = ctx.atExit(['rm', '-rf', this.dir]);
    this.podmanEnv = podmanEnv(o.criu, this.dir);
    this.writeCriuConf('dump');
  }

  saveFiles(opts: FileSaveOptions): void {
    this.files = opts;
  }

  /** `_command` is the host's interpreter: the program runs with the image's (spec.python). */
  async launch(_command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProgramCopy> {
    await this.sweep();
    const name = this.nextName();
    const createArgs = [
      'create', '-i', '--init', '--runtime', 'runc', '--pull=never', '--network', 'none',
      '--name', name, '--label', `${OWNER_LABEL}=${ownerLabel()}`,
      '--annotation', `org.criu.config=${this.criuConf}`,
      '--log-driver', 'k8s-file', '-w', cwd,
      ...this.mounts(cwd, env).flatMap((m) => ['-v', `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`]),
      ...Object.entries(this.programEnv(env)).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      this.o.spec.image, this.o.spec.python, ...args,
    ];
    // Created and set up (`podman init`: its init exists, stopped before it runs anything) before it
    // starts, so that its PID is known even when the program ends at once.
    for (const args of [createArgs, ['init', name]]) {
      const res = await this.podman(args, 120_000);
      if (res.exitCode !== 0) {
        this.remove(name);
        throw new AxolotlError(`podman could not start the container (image ${this.o.spec.image})`, launchHint(res.error, this.o.spec), res.stderr.trim() || res.error);
      }
    }
    this.ctx.log('info', `in container ${name} of ${this.o.spec.image}: ${this.o.spec.python} ${args.join(' ')}`);
    return this.adopt(name, 'launch');
  }

  async dump(copy: ProgramCopy, dir: string): Promise<DumpResult> {
    const c = copy as ContainerCopy;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.writeCriuConf('dump', c, dir);
    const archive = path.join(dir, CONTAINER_ARCHIVE);
    const started = performance.now();
    const timeout = 2 * dumpTimeoutMs(residentBytes(c.pid)) + PODMAN_SLACK_MS;
    const res = await this.podman(['container', 'checkpoint', '--leave-running', '--compress', 'none', '--print-stats', '--export', archive, c.name], timeout);
    const dumpMs = performance.now() - started;
    if (res.exitCode !== 0) {
      const log = await this.criuLog(c.name, 'dump.log');
      if (log) fs.writeFileSync(path.join(dir, 'dump.log'), log);
      fs.rmSync(archive, { force: true });
      throw new AxolotlError(`podman could not checkpoint the container ${c.name}: ${res.error}`,
        'See the criu log below; `axolotl doctor` checks podman, runc and criu.', tail(log) || res.stderr.trim());
    }
    if (fs.existsSync(path.join(dir, 'files.json'))) this.lastDir = dir;
    const frozenUs = criuStat(res.stdout, 'frozen_time');
    return { frozenMs: frozenUs !== undefined ? frozenUs / 1000 : dumpMs, dumpMs, bytes: fileBytes(archive), saved: true };
  }

  /** Refused while the program is still there: the archive is gone, or the image it needs. */
  async prepareRestore(rec: CheckpointRecord): Promise<void> {
    const archive = rec.dir && path.join(rec.dir, CONTAINER_ARCHIVE);
    if (!archive || fileBytes(archive) === 0) {
      throw new AxolotlError(`checkpoint ${rec.id} cannot be restored: its container archive ${archive ?? ''} is missing`,
        'The program was left as it was. Restore another checkpoint, or start the run again.');
    }
    const image = await this.podman(['image', 'exists', this.o.spec.image], 30_000);
    if (image.exitCode !== 0) {
      throw new AxolotlError(`checkpoint ${rec.id} cannot be restored: the image ${this.o.spec.image} is not on this machine any more`,
        'The program was left as it was. Import or build the image again (podman images lists them).');
    }
  }

  /** A new container from `rec`'s archive, every task stopped until the engine sends SIGCONT. */
  async restore(rec: CheckpointRecord, attempt: number): Promise<ProgramCopy> {
    await this.sweep();
    const name = this.nextName();
    const archive = path.join(rec.dir!, CONTAINER_ARCHIVE);
    this.writeCriuConf('restore');
    let res: PodmanResult;
    try {
      res = await this.podman(['container', 'restore', '--import', archive, '--name', name, '--print-stats'], restoreTimeoutMs(rec) + PODMAN_SLACK_MS);
    } finally {
      this.writeCriuConf('dump');
    }
    if (res.exitCode !== 0) {
      const log = await this.criuLog(name, 'restore.log');
      this.restoreLogs.set(`${rec.id}/${attempt}`, log || res.stderr);
      this.remove(name);
      throw new AxolotlError(`podman could not restore checkpoint ${rec.id}: ${res.error}`, 'See the criu log below.', tail(log) || res.stderr.trim());
    }
    return this.adopt(name, 'restore');
  }

  discard(rec: CheckpointRecord): void {
    if (rec.dir) fs.rmSync(rec.dir, { recursive: true, force: true });
  }

  restoreLog(rec: CheckpointRecord, attempt: number): string | undefined {
    return this.restoreLogs.get(`${rec.id}/${attempt}`);
  }

  async close(): Promise<void> {
    for (const c of this.copies) void c.kill();
    await Promise.all([...this.copies].map((c) => c.exited));
    await Promise.all([...this.removals]);
    // written again by the next session of this run (axolotl restore) before it is needed
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.forgetDir();
  }

  // -------------------------------------------------------------------------------------------

  /**
   * The container `name`, set up but not started (launch), or restored with every task stopped: its
   * init and program on the host, its log; then started (launch).
   */
  private async adopt(name: string, how: 'launch' | 'restore'): Promise<ContainerCopy> {
    const info = await this.podman(['container', 'inspect', '--format', '{{.State.Pid}}\t{{.HostConfig.LogConfig.Path}}', name], 30_000);
    const [pidText, logFile] = info.stdout.trim().split('\t');
    const initPid = Number(pidText);
    // Never a PID of 0 or less: the engine signals copies, and kill(0) is its own process group.
    if (info.exitCode !== 0 || !logFile || !(initPid > 1)) {
      this.remove(name);
      throw new AxolotlError(`podman ${how === 'launch' ? 'set up' : 'restored'} the container ${name} but cannot say where it runs: ${info.error || `PID ${pidText}`}`);
    }
    // A restored container's log begins with the old container's, which was shown already.
    const offset = how === 'restore' ? ContainerLogReader.sizeOf(logFile) : 0;
    if (how === 'launch') {
      const started = await this.podman(['start', name], 120_000);
      if (started.exitCode !== 0) {
        this.remove(name);
        throw new AxolotlError(`podman could not start the container (image ${this.o.spec.image})`, launchHint(started.error, this.o.spec), started.stderr.trim() || started.error);
      }
    }
    // The program, or the init when the program has ended already (it forwards signals to its child).
    const pid = await programPid(initPid);
    const copy = new ContainerCopy({
      name, podman: this.o.tools.podman, env: this.podmanEnv, initPid, pid: pid ?? initPid, logFile, logOffset: offset,
      track: (sid) => this.ctx.track(sid), python: this.o.spec.python,
    });
    this.copies.add(copy);
    void copy.exited.then(() => {
      this.copies.delete(copy);
      // Its checkpoints are archives: the container itself is of no more use.
      this.remove(name);
    });
    if (pid === undefined && how === 'restore') {
      void copy.kill();
      throw new AxolotlError(`the restored container ${name} has no program in it`, 'The checkpoint may be damaged; restore another one.');
    }
    return copy;
  }

  /**
   * Folders bind-mounted at their own path, outermost only: the workspace, the agent's socket folder and
   * journal; the run folders read-only where the workspace holds them (the checkpoints podman restores
   * must not be the program's to change); the agent's code read-only; then the user's mounts.
   */
  private mounts(cwd: string, env: NodeJS.ProcessEnv): ContainerOptions['mounts'] {
    const journal = env.AXOLOTL_FILES_JOURNAL;
    const own = [...this.o.workspace, cwd, journal, env.AXOLOTL_SOCKET ? path.dirname(env.AXOLOTL_SOCKET) : undefined]
      .filter((d): d is string => !!d).map((d) => path.resolve(d));
    for (const d of own) {
      if (SYSTEM_DIRS.has(d)) {
        throw new AxolotlError(`${d} cannot be mounted in the container: it would hide the image's own ${d}`,
          'Run from the project\'s folder (the script\'s folder and the working directory are mounted at their own paths).');
      }
    }
    const within = (d: string, o: string) => d.startsWith(o.endsWith('/') ? o : `${o}/`);
    const outer = [...new Set(own)].filter((d, _, all) => !all.some((o) => o !== d && within(d, o)));
    const runs = path.dirname(this.ctx.runDir);
    const locked = outer.some((o) => runs === o || within(runs, o))
      ? [{ source: runs, target: runs, readOnly: true }, ...(journal ? [{ source: journal, target: journal }] : [])]
      : [];
    const agent = env.AXOLOTL_SOCKET ? [{ source: pythonDir(), target: pythonDir(), readOnly: true }] : [];
    const all = [...outer.map((d) => ({ source: d, target: d })), ...locked, ...agent, ...this.o.spec.mounts];
    const odd = all.flatMap((m) => [m.source, m.target]).find((p) => p.includes(':'));
    if (odd) throw new AxolotlError(`${odd} cannot be mounted in the container: podman's mounts cannot name a path with ":"`, 'Rename the folder, or run from another one.');
    return all;
  }

  /**
   * The program's environment: the launch configuration's and the container's own, and what the
   * engine adds for the agent. The host's environment (its PATH, HOME, a PYTHONHOME) stays on the host.
   */
  private programEnv(env: NodeJS.ProcessEnv): Record<string, string> {
    const out: Record<string, string> = { ...this.o.env, ...this.o.spec.env };
    for (const [k, v] of Object.entries(env)) if (v !== undefined && k.startsWith('AXOLOTL_')) out[k] = v;
    if (env.PYTHONUNBUFFERED !== undefined) out.PYTHONUNBUFFERED = env.PYTHONUNBUFFERED;
    if (env.AXOLOTL_SOCKET) out.PYTHONPATH = [pythonDir(), this.o.spec.env.PYTHONPATH ?? this.o.env.PYTHONPATH].filter(Boolean).join(':');
    return out;
  }

  /**
   * criu's configuration for this run's containers, read by runc at every checkpoint and restore:
   * restores leave every task stopped (and mount the way podman's injected init needs); dumps run the
   * action script that saves the files held open for writing.
   */
  private writeCriuConf(mode: 'dump' | 'restore', copy?: ContainerCopy, dir?: string): void {
    let text = '# written by Axolotl before each checkpoint and restore (containerBackend.ts)\n';
    if (mode === 'restore') {
      // mntns-compat-mode: criu 4's default mount engine cannot restore the bind-mounted init file
      text += 'leave-stopped\nmntns-compat-mode\n';
    } else if (copy && dir && this.files) {
      text += `action-script ${criuConfValue(this.writeActionScript(copy, dir, this.files))}\n`;
    }
    fs.writeFileSync(this.criuConf, text, { mode: 0o600 });
  }

  /** The action script for one dump: axolotl_files.sh with that dump's environment (runc passes none on). */
  private writeActionScript(copy: ContainerCopy, dir: string, files: FileSaveOptions): string {
    const script = path.join(this.dir, 'post-dump.sh');
    const prev = this.lastDir && fs.existsSync(this.lastDir) ? this.lastDir : undefined;
    const env = filesEnv(copy.pid, dir, prev, files);
    const done = path.join(dir, '.files-saved');
    fs.writeFileSync(script, [
      '#!/bin/sh',
      '# criu calls this at every action of a checkpoint (written before each one by containerBackend.ts)',
      '[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] || exit 0',
      '# runc has criu read its configuration twice, so each action comes twice: once is enough',
      `[ -e ${shellQuote(done)} ] && exit 0`,
      ...Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
      `${shellQuote(filesActionScript())} && : > ${shellQuote(done)}`,
      '',
    ].join('\n'), { mode: 0o700 });
    return script;
  }

  private get criuConf(): string {
    return path.join(this.dir, 'criu.conf');
  }

  private podman(args: string[], timeoutMs: number): Promise<PodmanResult> {
    return runPodman(this.o.tools.podman, args, this.podmanEnv, timeoutMs, { onStart: (sid) => this.ctx.track(sid) });
  }

  /** Removes container `name` in the background; the keeper does it if the engine dies first. */
  private remove(name: string): void {
    const forget = this.registered.get(name);
    const p = this.podman(['rm', '-f', '-t', '0', name], 60_000).then((r) => {
      if (r.exitCode === 0 || /no such container/i.test(r.error)) forget?.();
      this.registered.delete(name);
    });
    this.removals.add(p);
    void p.finally(() => this.removals.delete(p));
  }

  private nextName(): string {
    const name = `axolotl-${process.pid}-${Date.now().toString(36)}-${++this.seq}`;
    this.registered.set(name, this.ctx.atExit([this.o.tools.podman, 'rm', '-f', '-t', '0', name]));
    return name;
  }

  /** Containers of engines that died with their keeper: removed once per run, before the first start. */
  private sweep(): Promise<unknown> {
    this.swept ??= sweepOrphans(this.o.tools.podman, this.podmanEnv).then((gone) => {
      if (gone.length) this.ctx.log('info', `removed ${gone.length} container(s) left by an earlier run: ${gone.join(', ')}`);
    }, () => undefined);
    return this.swept;
  }

  /** criu's log of the last checkpoint or restore of container `name` (in podman's folder for it). */
  private async criuLog(name: string, file: string): Promise<string> {
    const r = await this.podman(['container', 'inspect', '--format', '{{.StaticDir}}', name], 30_000);
    const dir = r.stdout.trim();
    if (r.exitCode !== 0 || !dir) return '';
    try { return fs.readFileSync(path.join(dir, file), 'utf8'); } catch { return ''; }
  }
}

/**
 * Where the engine keeps what runc and criu run as root for a run's containers (the criu launcher,
 * criu's configuration, the action script): in a root-only folder the containers never see. In the
 * run folder the program could rewrite them, and have the host's root run its code at the next dump.
 * Named by the run folder, as the containers' `org.criu.config` annotation (in every checkpoint) is.
 */
function engineDir(runDir: string): string {
  return runtimeDir('containers', createHash('sha256').update(path.resolve(runDir)).digest('hex').slice(0, 16));
}

/**
 * The program: the child of the container's init that it forked first (the lowest PID inside the
 * container; processes the program orphaned are the init's children too, with later PIDs).
 */
async function programPid(initPid: number, timeoutMs = 5000): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const kids = fs.readFileSync(`/proc/${initPid}/task/${initPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      if (kids.length) return kids.sort((a, b) => innerPid(a) - innerPid(b))[0];
    } catch {
      return undefined; // the container has ended already
    }
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `pid`'s number in its own PID namespace (the last of NSpid), Infinity when it is gone. */
function innerPid(pid: number): number {
  try {
    const m = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1].trim().split(/\s+/).pop() ?? pid);
  } catch {
    return Infinity;
  }
}

/** One of criu's statistics (microseconds, counts) from `podman … --print-stats`. */
function criuStat(stdout: string, key: string): number | undefined {
  try {
    const stats = JSON.parse(stdout) as { container_statistics?: { criu_statistics?: Record<string, number> }[] };
    const v = stats.container_statistics?.[0]?.criu_statistics?.[key];
    return typeof v === 'number' ? v : undefined;
  } catch {
    return undefined;
  }
}

function launchHint(error: string, spec: ContainerOptions): string {
  if (/executable file .* not found|no such file or directory/i.test(error)) {
    return `The image has no ${spec.python}: give the interpreter inside the image with --python (launch: "container.python").`;
  }
  if (/image not known|no such image|unable to find/i.test(error)) return 'Import or build the image first (podman images lists those on this machine).';
  return '`axolotl doctor` checks podman, runc and criu.';
}

function criuConfValue(p: string): string {
  return /[\s"#]/.test(p) ? `"${p.replace(/(["\\])/g, '\\$1')}"` : p;
}

function fileBytes(file: string): number {
  try { return fs.statSync(file).size; } catch { return 0; }
}

function tail(text: string | undefined, lines = 15): string {
  return (text ?? '').trimEnd().split('\n').slice(-lines).join('\n');
}
