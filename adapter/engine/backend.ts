// What a checkpoint backend must provide. The supervisor drives every backend the same way:
// launch a copy, dump it now and then, restore a dump as a new copy (stopped, so the agent can be
// told about repaired code before any user code runs).
import type { Readable, Writable } from 'node:stream';
import type { AgentMessage } from './agentProtocol';
import type { CheckpointRecord } from './runDir';
import type { ExitEvent } from './types';

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
}

export interface CheckpointBackend {
  readonly kind: 'criu' | 'fork';
  launch(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProgramCopy>;
  /** checkpoints `copy` into `dir` (created by the backend) while it keeps running */
  dump(copy: ProgramCopy, dir: string, opts?: { atCrash?: boolean }): Promise<DumpResult>;
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
  /** the criu log (or other detail) for a failed restore, for the engine log */
  restoreLog?(rec: CheckpointRecord, attempt: number): string | undefined;
  close(): Promise<void>;
}
