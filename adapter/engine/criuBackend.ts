// Checkpoints with CRIU: full dumps (of a fork snapshot when the agent can make one, see
// snapshotSource.ts; else of the program itself, with --leave-running), restores through the
// subreaper wrapper.
// The debuggee's stdio are unix sockets shared with the engine; criu cannot dump the engine's end,
// so they are declared --external at dump and replaced by fresh sockets with --inherit-fd at restore.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointPages } from './checkpointPages';
import { restoreWrapperPath } from './paths';
import { runCriu } from './criuRun';
import { RestoreTimeoutError, awaitRestoredPid, dumpFailure, restoreTimeoutMs, waitIdsFree } from './restoreCheck';
import { filesActionScript, filesEnv, type FileSaveOptions } from './sideEffects';
import type { CheckpointBackend, DumpResult, ProgramCopy } from './backend';
import type { CheckpointRecord } from './runDir';
import { RunningCopy, readStdioInodes, spawnOriginal } from './runningCopy';
import { SnapshotSource, killSnapshot } from './snapshotSource';
import type { AgentMessage } from './agentProtocol';
import { AxolotlError } from './types';

/** A dump that takes longer is stopped (measured: 1 GB in under 2 s). */
const DUMP_TIMEOUT_MS = 120_000;
/** A fork snapshot takes milliseconds; a program that does not answer is dumped the usual way. */
const SNAPSHOT_TIMEOUT_MS = 5_000;

export interface CriuOptions {
  /** the criu command (a launcher script or binary) */
  criu: string;
  /** interpreter used to run the restore wrapper */
  python: string;
  verbose: boolean;
  /** save the files the program has open for writing at post-dump (sideEffects.ts) */
  files?: FileSaveOptions;
  /** dump fork snapshots the agent makes instead of freezing the program (needs the agent) */
  forkDumps?: boolean;
  log?: (level: 'debug' | 'warn', message: string) => void;
}

export class CriuBackend implements CheckpointBackend {
  readonly kind = 'criu';
  /** the last image folder written: unchanged saved files are hard-linked from it */
  private lastDir?: string;
  /** deduplicates the pages of older images (checkpointPages.ts) */
  private readonly pages = new CheckpointPages();
  private readonly snapshots?: SnapshotSource;
  /** why the last checkpoint froze the program instead of dumping a snapshot (said once per reason) */
  private lastFallback?: string;

  constructor(private readonly opts: CriuOptions) {
    if (opts.forkDumps) this.snapshots = new SnapshotSource(SNAPSHOT_TIMEOUT_MS);
  }

  /** The agent forks snapshots for criu on SIGUSR2 only when told so. */
  agentEnv(): Record<string, string> {
    return this.snapshots ? { AXOLOTL_FORK_DUMPS: '1' } : {};
  }

  /** Dumping snapshots, the program pauses like a fork while criu works as usual. */
  get pacingKind(): string {
    return this.snapshots ? 'criu-fork' : this.kind;
  }

  onAgentMessage(msg: AgentMessage): void {
    this.snapshots?.onAgentMessage(msg);
  }

  async launch(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProgramCopy> {
    return spawnOriginal(command, args, cwd, env);
  }

  async dump(copy: ProgramCopy, dir: string, opts: { atCrash?: boolean } = {}): Promise<DumpResult> {
    // A program paused on a crash is not running anyway (and its agent is busy answering for it).
    if (this.snapshots && !opts.atCrash && this.snapshots.canAsk(copy.pid)) {
      const res = await this.dumpSnapshot(this.snapshots, copy, dir);
      if (typeof res !== 'string') return res;
      if (!copy.alive) throw new AxolotlError(`no checkpoint: process ${copy.pid} ended`);
      this.fallback(res);
    }
    return this.dumpProgram(copy, dir);
  }

  /**
   * criu dump of a fork snapshot of `copy`, which criu kills once it is saved (the agent reaps it).
   * Returns why not, instead, when the snapshot would not be the whole program: other threads (the
   * agent refuses to fork), child processes (criu would not find them under the snapshot), or files
   * open for writing while they are saved (the program keeps writing to them during the dump, so the
   * copies saved would not match the sizes criu records).
   */
  private async dumpSnapshot(source: SnapshotSource, copy: ProgramCopy, dir: string): Promise<DumpResult | string> {
    const started = performance.now();
    let snap;
    try {
      snap = await source.request(copy.pid, () => copy.signal('SIGUSR2'), copy.exited);
    } catch (e) {
      return [(e as Error).message, (e as AxolotlError).hint].filter(Boolean).join(': ');
    }
    const unusable = (snap.warnings ?? []).find((w) => w.startsWith('child processes'))
      ?? (this.opts.files && (snap.writableFiles ?? 0) > 0 ? `${snap.writableFiles} file(s) open for writing` : undefined);
    if (unusable) {
      killSnapshot(snap.pid);
      return unusable;
    }
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const res = await runCriu(this.opts.criu, [
      'dump', '-t', String(snap.pid), '-D', dir, '--display-stats', '-o', 'dump.log', this.opts.verbose ? '-v4' : '-v2',
      ...copy.stdioInodes.flatMap((ino) => ['--external', `unix[${ino}]`]),
    ], {}, DUMP_TIMEOUT_MS);
    const dumpMs = performance.now() - started;
    if (res.exitCode !== 0) {
      killSnapshot(snap.pid);
      const why = logTail(path.join(dir, 'dump.log')).split('\n').filter((l) => /Error/.test(l)).pop() ?? `status ${res.exitCode}`;
      fs.rmSync(dir, { recursive: true, force: true });
      return `criu could not dump the fork snapshot: ${why}`;
    }
    this.lastDir = dir;
    this.pages.dumped(dir);
    this.lastFallback = undefined;
    return { frozenMs: snap.pauseMs ?? dumpMs, dumpMs, bytes: dirBytes(dir), pid: snap.pid };
  }

  private fallback(reason: string): void {
    if (reason === this.lastFallback) return;
    this.lastFallback = reason;
    this.opts.log?.('debug', `checkpoint freezes the program for the whole dump: ${reason}`);
  }

  /** criu dump of the program itself, frozen throughout (--leave-running). */
  private async dumpProgram(copy: ProgramCopy, dir: string): Promise<DumpResult> {
    const { pid, stdioInodes } = copy;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const started = performance.now();
    const args = [
      'dump', '-t', String(pid), '-D', dir, '--leave-running', '--display-stats',
      '-o', 'dump.log', this.opts.verbose ? '-v4' : '-v2',
      ...stdioInodes.flatMap((ino) => ['--external', `unix[${ino}]`]),
      ...(this.opts.files ? ['--action-script', filesActionScript()] : []),
    ];
    const env = this.opts.files ? filesEnv(pid, dir, this.lastDir && fs.existsSync(this.lastDir) ? this.lastDir : undefined, this.opts.files) : {};
    const res = await runCriu(this.opts.criu, args, env, DUMP_TIMEOUT_MS);
    const dumpMs = performance.now() - started;
    if (res.exitCode !== 0) throw dumpFailure(pid, dir, res, logTail(path.join(dir, 'dump.log')));
    this.lastDir = dir;
    this.pages.dumped(dir);
    const frozen = /Frozen time:\s*(\d+)\s*us/.exec(String(res.stdout));
    return { frozenMs: frozen ? Number(frozen[1]) / 1000 : dumpMs, dumpMs, bytes: dirBytes(dir) };
  }

  /**
   * Restores the image in `dir` stopped (--leave-stopped), so the caller can queue signals for the
   * agent before any user code runs; the caller sends SIGCONT.
   */
  async restore(rec: CheckpointRecord, attempt: number, retried = false): Promise<ProgramCopy> {
    const dir = rec.dir!;
    const stdioInodes = rec.stdioInodes;
    const pages = await this.pages.prepare(dir);
    const pidfile = path.join(dir, `restore-${attempt}.pid`);
    fs.rmSync(pidfile, { force: true });
    const logName = `restore-${attempt}.log`;
    const criuArgs = [
      this.opts.criu, 'restore', '-D', dir, '-d', '--leave-stopped', '--pidfile', pidfile,
      '-o', logName, this.opts.verbose ? '-v4' : '-v2',
      // A stdin whose input had ended is a half-closed socket in the image: criu restores it itself
      // (still at end-of-file); handing it a new one instead makes criu hang (criu 4.1).
      ...stdioInodes.flatMap((ino, fd) => (fd === 0 && rec.stdinClosed ? [] : ['--inherit-fd', `fd[${fd}]:socket:[${ino}]`])),
    ];
    const child = spawn(this.opts.python, [restoreWrapperPath(), pidfile, ...criuArgs], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    const timeoutMs = restoreTimeoutMs(rec);
    const pid = await awaitRestoredPid(child, timeoutMs);
    pages.done();
    if (pid === 'timeout') {
      // The one hang seen: a stdin recorded in the wrong state (it closed during the dump). Once more
      // the other way, after the half-restored task is gone.
      if (!retried) {
        await waitIdsFree([rec.pid], 10_000);
        return this.restore({ ...rec, stdinClosed: !rec.stdinClosed }, attempt, true);
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
    return new RunningCopy(pid, child, readStdioInodes(pid));
  }

  discard(rec: CheckpointRecord): void {
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
    await this.pages.close();
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
