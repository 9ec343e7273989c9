// What a checkpoint backend must provide. The supervisor drives every backend the same way:
// launch a copy, dump it now and then, restore a dump as a new copy (stopped, so the agent can be
// told about repaired code before any user code runs).
import type { Readable, Writable } from 'node:stream';
import type { AgentMessage } from './agentProtocol';
import type { WakeVerdict } from './snapshotPool';
import type { CheckpointRecord } from './runDir';
import type { FileSaveOptions } from './sideEffects';
import type { CheckpointKind, ExitEvent } from './types';

/** One live copy of the debuggee. */
export interface ProgramCopy {
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** settles once the copy has exited and been reaped */
  readonly exited: Promise<ExitEvent>;
  readonly alive: boolean;
  /** inodes of the sockets behind fds 0-2 (criu needs them; other backends may leave them empty) */
  readonly stdioInodes: number[];
  /** kills the copy and everything it started; resolves once it is gone */
  kill(): Promise<ExitEvent>;
  signal(sig: NodeJS.Signals): void;
}

export interface DumpResult {
  /** how long the program itself was paused */
  frozenMs: number;
  dumpMs: number;
  bytes: number;
  /** the image's root process ID when it is not the program's (criu dumped a fork snapshot) */
  pid?: number;
  /** held in memory as a stopped fork snapshot (a rewind wakes it) */
  inMemory?: boolean;
  /** its images are on disk (it survives the session); default true */
  saved?: boolean;
}

/** What a backend tells the supervisor about checkpoints after it has taken them. */
export interface BackendEvents {
  /** checkpoint `id` now has images on disk too (a held snapshot persisted with criu) */
  saved(id: number, info: { bytes: number; dumpMs: number; /** the image's root process */ pid: number }): void;
  /** checkpoint `id` lost its in-memory snapshot (memory budget, a failed dump of it) */
  released(id: number, why: string): void;
}

/** What the supervisor gives a backend it did not build itself (SupervisorDeps.backend). */
export interface BackendContext {
  /** the run folder (checkpoints/, journal/, …) */
  runDir: string;
  /** `sid` leads a session of processes the backend started: the session keeper ends it with the run */
  track(sid: number): void;
  /** a command the session keeper runs if the engine dies (e.g. removing a container); returns its cancel */
  atExit(argv: string[]): () => void;
  log(level: 'debug' | 'info' | 'warn', message: string): void;
}

export interface CheckpointBackend {
  readonly kind: CheckpointKind;
  launch(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProgramCopy>;
  /** checkpoints `copy` into `dir` (created by the backend) as checkpoint `id`, while it keeps running */
  dump(copy: ProgramCopy, dir: string, opts: { id: number; atCrash?: boolean }): Promise<DumpResult>;
  /** a new copy from `rec`, left stopped: the caller queues signals, then sends SIGCONT */
  restore(rec: CheckpointRecord, attempt: number): Promise<ProgramCopy>;
  /** frees what `rec` holds (image folder, snapshot process) */
  discard(rec: CheckpointRecord): void;
  /** what the agent needs to know of this backend, besides AXOLOTL_BACKEND */
  agentEnv?(): Record<string, string>;
  /** what one checkpoint costs is first guessed from this kind (adaptiveInterval.ts); default `kind` */
  readonly pacingKind?: string;
  /** agent messages meant for the backend (fork snapshots) */
  onAgentMessage?(msg: AgentMessage): void;
  /** may process `pid`, a fork snapshot that was continued, run? (see snapshotPool.ts) */
  wakeVerdict?(pid: number): WakeVerdict;
  /** false once the backend can take no more checkpoints in this run */
  readonly canCheckpoint?: boolean;
  /** checkpoint `id` is held in memory (a restore wakes it rather than reading images) */
  holds?(id: number): boolean;
  /** the processes holding checkpoints in memory (children of the program, but not the user's) */
  heldPids?(): ReadonlySet<number>;
  /**
   * Awaited before a restore of `rec` kills the live copy: snapshots the live copy is about to fork
   * must be known first, and a save of `rec` in progress must end (it may fail and lose `rec`).
   */
  prepareRestore?(rec: CheckpointRecord): Promise<void>;
  /** where the backend reports later changes to checkpoints it took */
  attach?(events: BackendEvents): void;
  /** the criu log (or other detail) for a failed restore, for the engine log */
  restoreLog?(rec: CheckpointRecord, attempt: number): string | undefined;
  /**
   * The backend saves the files held open for writing at each dump, while the program is frozen, and
   * starts the file journal's next epoch there (as criu's post-dump does for CriuBackend).
   */
  saveFiles?(opts: FileSaveOptions): void;
  close(): Promise<void>;
}
