// Checkpoints with CRIU, in two layers:
//   - every interval, a fork snapshot of the program (a few ms at any size) is held in memory as a
//     rewind point (snapshotPool.ts): a crash rewinds to one taken at most an interval before it;
//   - in the background, paced by criu's cost, criu saves the newest held snapshot to disk while the
//     program runs on. Saved checkpoints survive the session (`axolotl restore`) and share their pages
//     (checkpointPages.ts).
// Where a snapshot would not be the whole program (other threads, child processes, files open for
// writing while they are saved) the program itself is dumped, frozen for the dump (--leave-running).
// Dumps are bounded by a watchdog; after failures the run stops trusting criu (criuHealth.ts).
//
// The debuggee's stdio are unix sockets shared with the engine; criu cannot dump the engine's end,
// so they are declared --external at dump and replaced by fresh sockets with --inherit-fd at restore.
// Snapshots live in the program's session and process group, so criu takes them as shell jobs
// (--shell-job, recorded in the image folder and used again at restore); the program itself leads its
// own session and is dumped without.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { residentBytes } from './adaptiveInterval';
import type { AgentMessage } from './agentProtocol';
import type { BackendEvents, CheckpointBackend, DumpResult, ProgramCopy } from './backend';
import { CheckpointPages } from './checkpointPages';
import { readPstree } from './criuImages';
import { CriuHealth, dumpTimeoutMs } from './criuHealth';
import { RestoreTimeoutError, awaitRestoredPid, dumpFailure, restoreTimeoutMs, runCriu, type CriuRun } from './criuRun';
import { poolLimits } from './forkBackend';
import { restoreWrapperPath } from './paths';
import { waitIdsFree } from './procTree';
import { LiveCopy, keepStdin, readStdioInodes, spawnProgram } from './programCopy';
import type { SnapshotMemory } from './runDefaults';
import type { CheckpointRecord } from './runDir';
import { filesActionScript, filesEnv, type FileSaveOptions } from './sideEffects';
import { SnapshotPool, type HeldSnapshot, type WakeVerdict } from './snapshotPool';
import { StdioChannel } from './stdioChannel';
import { AxolotlError } from './types';

/** A fork snapshot takes milliseconds; a program that does not answer is dumped the usual way. */
const SNAPSHOT_TIMEOUT_MS = 5_000;
/** criu's background work may keep at most this share of a core busy. */
const WORK_BUDGET = 0.25;

export interface CriuOptions {
  /** the criu command (a launcher script or binary) */
  criu: string;
  /** environment criu needs here (criuProbe.ts) */
  criuEnv?: Record<string, string>;
  /** interpreter used to run the restore wrapper */
  python: string;
  verbose: boolean;
  /** save the files the program has open for writing at post-dump (sideEffects.ts) */
  files?: FileSaveOptions;
  /** hold fork snapshots as rewind points and save some with criu (needs the agent) */
  snapshots?: boolean;
  memory?: SnapshotMemory;
  /** the shortest time between two saves, in seconds (the run's interval) */
  intervalS?: number;
  log?: (level: 'debug' | 'info' | 'warn', message: string) => void;
  /** every process the backend starts leads its own session: the session keeper ends them with the run */
  track?: (sid: number) => void;
}

export class CriuBackend implements CheckpointBackend {
  readonly kind = 'criu';
  private readonly pool?: SnapshotPool;
  private readonly health: CriuHealth;
  /** the last image folder written: unchanged saved files are hard-linked from it */
  private lastDir?: string;
  /** deduplicates the pages of older images (checkpointPages.ts) */
  private readonly pages = new CheckpointPages();
  private readonly copies = new Map<number, LiveCopy>();
  /** checkpoint id → its folder, for snapshots held but not saved yet */
  private readonly dirs = new Map<number, string>();
  private readonly saved = new Set<number>();
  private events?: BackendEvents;
  /** the background save in progress, and of which checkpoint */
  private persisting?: { id: number; done: Promise<void>; abort: AbortController };
  private persistTimer?: NodeJS.Timeout;
  private nextPersistAt = 0;
  /** checkpoints discarded while criu was saving them: that dump's failure is no failure */
  private readonly discarded = new Set<number>();
  /** why the last checkpoint froze the program instead of holding a snapshot (said once per reason) */
  private lastFallback?: string;
  /** held snapshots let go so that a restore gets its process IDs back: it waits until they are gone */
  private readonly leaving: number[] = [];
  private closed = false;

  constructor(private readonly opts: CriuOptions) {
    if (opts.snapshots) this.pool = new SnapshotPool(SNAPSHOT_TIMEOUT_MS, (l, m) => opts.log?.(l, m));
    this.health = new CriuHealth(!!opts.snapshots);
  }

  attach(events: BackendEvents): void {
    this.events = events;
  }

  /** The agent forks snapshots on SIGUSR2 only when told so. */
  agentEnv(): Record<string, string> {
    return this.pool ? { AXOLOTL_SNAPSHOTS: '1' } : {};
  }

  /** With snapshots, a checkpoint pauses the program for a fork; criu's work is paced here. */
  get pacingKind(): string {
    return this.pool && this.health.mode !== 'frozen' ? 'fork' : 'criu';
  }

  /** criu is off after failures, and there are no snapshots to take instead */
  get canCheckpoint(): boolean {
    return this.health.usable || !!this.pool;
  }

  onAgentMessage(msg: AgentMessage): void {
    if (msg.type === 'exit') {
      const copy = this.copies.get(msg.pid);
      if (copy) copy.exitCode = msg.code;
    }
    this.pool?.onAgentMessage(msg);
  }

  wakeVerdict(pid: number): WakeVerdict {
    return this.pool?.wakeVerdict(pid) ?? 'stop';
  }

  async prepareRestore(rec: CheckpointRecord): Promise<void> {
    if (this.persisting?.id === rec.id) await this.persisting.done;
    await this.pool?.settled();
    if (this.pool && !this.pool.get(rec.id)) await this.freeSessionIds(this.pool, rec);
  }

  /**
   * Held snapshots live in the program's session and process group, whose ID is the program's process
   * ID: while one lives, that ID is taken and criu cannot give it back to the program ("Can't fork for
   * N: File exists"). A restore of images of the program itself (dumped frozen: a pool, threads) lets
   * them go first, while the program still reaps its children.
   */
  private async freeSessionIds(pool: SnapshotPool, rec: CheckpointRecord): Promise<void> {
    let needed: Set<number>;
    try { needed = new Set(readPstree(rec.dir!).map((t) => t.pid)); } catch { return; }
    const gone: number[] = [];
    for (const id of pool.ids()) {
      const h = pool.get(id);
      const taken = h && sessionIds(h.pid).find((n) => needed.has(n));
      if (!h || taken === undefined) continue;
      pool.drop(id);
      this.release(id, `checkpoint ${rec.id} is restored from its images and needs process ID ${taken}, which this snapshot keeps as its session`);
      gone.push(h.pid);
    }
    this.leaving.push(...gone);
    if (gone.length) await waitIdsFree(gone, 2000);
  }

  heldPids(): ReadonlySet<number> {
    return this.spare();
  }

  holds(id: number): boolean {
    return this.pool?.get(id) !== undefined;
  }

  async launch(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProgramCopy> {
    const copy = spawnProgram(command, args, cwd, env, () => this.spare());
    this.opts.track?.(copy.pid);
    return this.adopt(copy);
  }

  async dump(copy: ProgramCopy, dir: string, opts: { id: number; atCrash?: boolean }): Promise<DumpResult> {
    // A copy whose agent has not said hello yet (just started, just restored) is waited for: freezing
    // it for a dump instead would cost far more than the snapshot.
    if (this.pool && this.health.mode !== 'frozen' && !this.pool.canAsk(copy.pid)) await this.pool.whenReady(copy).catch(() => undefined);
    if (this.pool && this.health.mode !== 'frozen' && this.pool.canAsk(copy.pid)) {
      const res = await this.holdSnapshot(this.pool, copy, dir, opts.id);
      if (typeof res !== 'string') return res;
      if (!copy.alive) throw new AxolotlError(`no checkpoint: process ${copy.pid} ended`);
      this.fallback(res);
    }
    if (!this.health.usable) {
      throw new AxolotlError('no checkpoint: criu is off for this run, and the program cannot be held as a fork snapshot',
        this.lastFallback ? `Why no snapshot: ${this.lastFallback}.` : undefined);
    }
    // criu dumps the program's whole process tree, and held snapshots are its children.
    for (const id of this.pool?.ids() ?? []) {
      this.pool!.drop(id);
      this.release(id, 'the program is dumped frozen, with its whole process tree');
    }
    return this.dumpProgram(copy, dir);
  }

  /**
   * A fork snapshot of `copy` held in memory as checkpoint `id`; criu saves it later. Returns why not,
   * instead, when the snapshot would not be the whole program: other threads (the agent refuses to
   * fork), child processes (criu would not find them under the snapshot), or files open for writing
   * while they are saved (the program writes on, so copies saved later would not match the snapshot).
   */
  private async holdSnapshot(pool: SnapshotPool, copy: ProgramCopy, dir: string, id: number): Promise<DumpResult | string> {
    const started = performance.now();
    let snap;
    try {
      snap = await pool.take(copy.pid, () => copy.signal('SIGUSR2'), copy.exited);
    } catch (e) {
      return [(e as Error).message, (e as AxolotlError).hint].filter(Boolean).join(': ');
    }
    // Without criu (off for this run) a snapshot is the only rewind point there is, whole or not, as
    // with the fork backend.
    const unusable = !this.health.usable ? undefined : (snap.warnings ?? []).find((w) => w.startsWith('child processes'))
      ?? (this.opts.files && (snap.writableFiles ?? 0) > 0 ? `${snap.writableFiles} file(s) open for writing` : undefined);
    if (unusable) {
      try { process.kill(snap.pid, 'SIGKILL'); } catch { /* gone */ }
      return unusable;
    }
    const dumpMs = performance.now() - started;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    pool.hold(id, snap, (copy as LiveCopy).channel);
    this.dirs.set(id, dir);
    this.lastFallback = undefined;
    for (const { id: gone, why } of pool.trim(poolLimits(this.opts.memory ?? {}, copy.pid), this.persisting?.id)) this.release(gone, why);
    this.schedulePersist();
    return { frozenMs: snap.pauseMs ?? dumpMs, dumpMs, bytes: 0, pid: snap.pid, inMemory: true, saved: false };
  }

  private fallback(reason: string): void {
    if (reason === this.lastFallback) return;
    this.lastFallback = reason;
    this.opts.log?.('debug', `checkpoint freezes the program for the whole dump: ${reason}`);
  }

  // -------------------------------------------------------------------------------------------
  // Saving held snapshots in the background

  /** Saves the newest held snapshot that is not saved yet, when criu's pacing allows. */
  private schedulePersist(): void {
    if (!this.pool || this.closed || this.persisting || this.health.mode !== 'snapshots') return;
    const wait = this.nextPersistAt - Date.now();
    if (wait > 0) {
      this.persistTimer ??= setTimeout(() => { this.persistTimer = undefined; this.schedulePersist(); }, wait);
      return;
    }
    const id = this.pool.ids().reverse().find((i) => !this.saved.has(i));
    const h = id === undefined ? undefined : this.pool.get(id);
    if (!h) return;
    const abort = new AbortController();
    const done = this.persist(h, abort.signal).finally(() => {
      this.persisting = undefined;
      this.schedulePersist();
    });
    this.persisting = { id: h.id, done, abort };
  }

  private async persist(h: HeldSnapshot, signal: AbortSignal): Promise<void> {
    const dir = this.dirs.get(h.id);
    if (!dir || !fs.existsSync(dir)) return;
    const started = performance.now();
    const bytes = residentBytes(h.pid);
    const res = await this.criuDump(h.pid, dir, h.channel.inodes, [], {}, bytes, signal).catch((e: Error): CriuRun => (
      { exitCode: undefined, stdout: '', stderr: e.message, timedOut: false }));
    const dumpMs = performance.now() - started;
    // Pacing: criu's work stays under a quarter of a core, and never more often than the interval.
    this.nextPersistAt = Date.now() + Math.max((this.opts.intervalS ?? 1) * 1000, dumpMs / WORK_BUDGET);
    if (this.closed || this.discarded.delete(h.id)) return;
    if (res.exitCode === 0 && fs.existsSync(dir)) {
      this.health.succeeded();
      this.saved.add(h.id);
      this.dirs.delete(h.id);
      this.lastDir = dir;
      this.pages.dumped(dir);
      // (A woken snapshot's replacement holds the checkpoint under another pid than the first.)
      this.events?.saved(h.id, { bytes: dirBytes(dir), dumpMs, pid: h.pid });
      return;
    }
    // A snapshot criu failed on may hold criu's parasite: it is no rewind point any more.
    try { for (const f of fs.readdirSync(dir)) if (f.endsWith('.img')) fs.rmSync(path.join(dir, f), { force: true }); } catch { /* gone */ }
    this.pool?.drop(h.id);
    const why = res.timedOut
      ? `saving checkpoint ${h.id} took over ${Math.round(dumpTimeoutMs(bytes) / 1000)} s`
      : `criu could not save checkpoint ${h.id}: ${errorLine(dir) ?? `status ${res.exitCode ?? res.signal}`}`;
    this.release(h.id, why);
    this.noteFailure('snapshot', res.timedOut, why);
  }

  private noteFailure(kind: 'snapshot' | 'frozen', hung: boolean, message: string): void {
    const change = this.health.failed(kind, { hung, message });
    if (change) this.opts.log?.('warn', change);
    else this.opts.log?.('debug', message);
  }

  private release(id: number, why: string): void {
    this.dirs.delete(id);
    this.events?.released(id, why);
  }

  // -------------------------------------------------------------------------------------------
  // criu dump

  /** criu dump of the program itself, frozen throughout (--leave-running). */
  private async dumpProgram(copy: ProgramCopy, dir: string): Promise<DumpResult> {
    const { pid, stdioInodes } = copy;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const started = performance.now();
    const extra = this.opts.files ? ['--action-script', filesActionScript()] : [];
    const env = this.opts.files ? filesEnv(pid, dir, this.lastDir && fs.existsSync(this.lastDir) ? this.lastDir : undefined, this.opts.files) : {};
    const res = await this.criuDump(pid, dir, stdioInodes, extra, env, residentBytes(pid));
    const dumpMs = performance.now() - started;
    if (res.exitCode !== 0) {
      const err = dumpFailure(pid, dir, res, logTail(path.join(dir, 'dump.log')));
      // The program ending mid-dump is no verdict on criu. What changes is said with the failure.
      const change = copy.alive ? this.health.failed('frozen', { hung: res.timedOut, message: err.message }) : undefined;
      if (change) throw new AxolotlError(err.message, [err.hint, change].filter(Boolean).join('\n'), err.details);
      throw err;
    }
    this.health.succeeded();
    this.lastDir = dir;
    this.pages.dumped(dir);
    const frozen = /Frozen time:\s*(\d+)\s*us/.exec(String(res.stdout));
    return { frozenMs: frozen ? Number(frozen[1]) / 1000 : dumpMs, dumpMs, bytes: dirBytes(dir), saved: true };
  }

  /** One criu dump of the tree at `pid`, left running (or stopped, for a snapshot), under a watchdog. */
  private criuDump(
    pid: number, dir: string, stdioInodes: number[], extra: string[], env: NodeJS.ProcessEnv, bytes: number | undefined, signal?: AbortSignal,
  ): Promise<CriuRun> {
    return runCriu(this.opts.criu, [
      'dump', '-t', String(pid), '-D', dir, '--leave-running', ...(leadsSession(pid) ? [] : ['--shell-job']), '--display-stats',
      '-o', 'dump.log', this.opts.verbose ? '-v4' : '-v2',
      ...stdioInodes.flatMap((ino) => ['--external', `unix[${ino}]`]),
      ...extra,
    ], { ...this.opts.criuEnv, ...env }, dumpTimeoutMs(bytes), { signal, onStart: (sid) => this.opts.track?.(sid) });
  }

  // -------------------------------------------------------------------------------------------
  // Restore

  /**
   * A new copy from checkpoint `rec`, left stopped (the caller queues signals for the agent, then sends
   * SIGCONT): its held snapshot when there is one, else its images (criu restore --leave-stopped).
   */
  async restore(rec: CheckpointRecord, attempt: number): Promise<ProgramCopy> {
    if (this.pool?.get(rec.id)) {
      const h = this.pool.wake(rec.id);
      return this.adopt(new LiveCopy(h.pid, h.channel, { kind: 'watch' }, () => this.spare()));
    }
    if (rec.saved === false && !this.saved.has(rec.id)) {
      throw new AxolotlError(`checkpoint ${rec.id} is gone: it was held in memory only`, 'Pick a checkpoint saved on disk.');
    }
    return this.restoreImage(rec, attempt);
  }

  private async restoreImage(rec: CheckpointRecord, attempt: number, retried = false): Promise<ProgramCopy> {
    const dir = rec.dir!;
    // Snapshots let go in prepareRestore were orphaned by the program's kill if it had not reaped them.
    await waitIdsFree(this.leaving.splice(0), 10_000);
    const stdioInodes = rec.stdioInodes;
    const pages = await this.pages.prepare(dir);
    const pidfile = path.join(dir, `restore-${attempt}.pid`);
    fs.rmSync(pidfile, { force: true });
    const logName = `restore-${attempt}.log`;
    const criuArgs = [
      this.opts.criu, 'restore', '-D', dir, '-d', '--leave-stopped', ...(shellJob(dir) ? ['--shell-job'] : []), '--pidfile', pidfile,
      '-o', logName, this.opts.verbose ? '-v4' : '-v2',
      // A stdin whose input had ended is a half-closed socket in the image: criu restores it itself
      // (still at end-of-file); handing it a new one instead makes criu hang (criu 4.1).
      // The wrapper hands criu the new sockets as fds 10-12 (axolotl_restore.py).
      ...stdioInodes.flatMap((ino, fd) => (fd === 0 && rec.stdinClosed ? [] : ['--inherit-fd', `fd[${10 + fd}]:socket:[${ino}]`])),
    ];
    const child = spawn(this.opts.python, [restoreWrapperPath(), pidfile, ...criuArgs], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...this.opts.criuEnv },
    });
    if (child.pid !== undefined) this.opts.track?.(child.pid);
    const timeoutMs = restoreTimeoutMs(rec);
    const pid = await awaitRestoredPid(child, timeoutMs);
    pages.done();
    if (pid === 'timeout') {
      // The one hang seen: a stdin recorded in the wrong state (it closed during the dump). Once more
      // the other way, after the half-restored task is gone.
      if (!retried) {
        await waitIdsFree([rec.pid], 10_000);
        return this.restoreImage({ ...rec, stdinClosed: !rec.stdinClosed }, attempt, true);
      }
      throw new RestoreTimeoutError(
        `criu did not finish restoring checkpoint ${path.basename(dir)} within ${Math.round(timeoutMs / 1000)} s; it was stopped`,
        'See the criu log below.',
        logTail(path.join(dir, logName)),
      );
    }
    if (pid === undefined) {
      throw new AxolotlError(
        `criu could not restore checkpoint ${path.basename(dir)}`,
        'See the criu log below.',
        logTail(path.join(dir, logName)),
      );
    }
    // An image of a held snapshot wakes in the agent's snapshot code and asks whether it may run.
    this.pool?.allowWake(pid);
    const channel = new StdioChannel(keepStdin(child), child.stdout!, child.stderr!, readStdioInodes(pid));
    return this.adopt(new LiveCopy(pid, channel, { kind: 'wrapper', child }, () => this.spare()));
  }

  discard(rec: CheckpointRecord): void {
    // A dump the supervisor throws away has no id yet; neither is a save in progress.
    if (this.persisting && this.persisting.id === rec.id) {
      this.discarded.add(rec.id);
      this.persisting.abort.abort();
    }
    this.pool?.drop(rec.id);
    this.dirs.delete(rec.id);
    this.saved.delete(rec.id);
    if (rec.dir) {
      fs.rmSync(rec.dir, { recursive: true, force: true });
      this.pages.discarded(rec.dir);
    }
  }

  restoreLog(rec: CheckpointRecord, attempt: number): string | undefined {
    try {
      return fs.readFileSync(path.join(rec.dir!, `restore-${attempt}.log`), 'utf8');
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persisting?.abort.abort();
    await this.persisting?.done;
    this.pool?.close();
    await this.pages.close();
  }

  /** Processes a kill of the program must spare: its held snapshots. */
  private spare(): ReadonlySet<number> {
    return this.pool?.pids() ?? new Set();
  }

  private adopt(copy: LiveCopy): LiveCopy {
    this.copies.set(copy.pid, copy);
    void copy.exited.then(() => this.copies.delete(copy.pid));
    return copy;
  }
}

export function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += dirBytes(p);
    else if (entry.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

/** The last lines of a criu log: errors are at the end. */
export function logTail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** `pid` leads its own session (criu needs --shell-job for a task whose session is someone else's). */
function leadsSession(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]) === pid;
  } catch {
    return true;
  }
}

/** The process group and session IDs of `pid` (empty when it is gone). */
function sessionIds(pid: number): number[] {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [Number(f[2]), Number(f[3])];
  } catch {
    return [];
  }
}

/** The image in `dir` was dumped as a shell job: its root's session was not its own. */
function shellJob(dir: string): boolean {
  try {
    const root = readPstree(dir)[0];
    return root.sid !== root.pid;
  } catch {
    return false;
  }
}

function errorLine(dir: string): string | undefined {
  return logTail(path.join(dir, 'dump.log')).split('\n').filter((l) => /Error/.test(l)).pop();
}
