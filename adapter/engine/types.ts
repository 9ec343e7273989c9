// Domain types shared by the engine's consumers (CLI, debug adapter, extension, webview).
// Nothing here may import vscode or DAP types.
import type { CrashReport } from './agentProtocol';
import type { Checkpoint, CheckpointKind } from './checkpoint';
import type { BackendKind, SnapshotMemory } from './runDefaults';

export type { BackendKind, Checkpoint, CheckpointKind };

/** Container mode (containerBackend.ts): the program runs in a podman container that is checkpointed whole. */
export interface ContainerOptions {
  /** the image, as podman names it (e.g. localhost/python-env:latest) */
  image: string;
  /** extra bind mounts besides the workspace, which is always mounted at its own path */
  mounts: ContainerMount[];
  /** the program's environment in the container (the host's is not passed on) */
  env: Record<string, string>;
  /** the interpreter inside the container (default python3) */
  python: string;
}

export interface ContainerMount {
  /** absolute path on the host */
  source: string;
  /** absolute path in the container */
  target: string;
  readOnly?: boolean;
}

export interface RunOptions {
  /** absolute path of the .py file */
  program: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** interpreter (runDefaults.ts: python3) */
  python: string;
  /** seconds between checkpoints; a floor when dumps are slow (adaptiveInterval.ts) */
  interval: number;
  /**
   * largest share of the run the program may spend frozen by checkpoints, e.g. 0.02: the interval
   * stretches to stay under it (adaptiveInterval.ts); absent or 0 = every `interval`, whatever it costs
   */
  pauseBudget?: number;
  /** keep at most this many checkpoints (ring buffer); undefined = unlimited */
  maxSaves?: number;
  /** how much memory the fork snapshots held as rewind points may cost (default: 1x the program's size) */
  snapshotMemory?: SnapshotMemory;
  /** parent of the run folders; default `<script dir>/.axolotl` */
  workingDir: string;
  backend: BackendKind;
  /** run under the agent (crash reports before unwinding, hot swap); default true */
  agent: boolean;
  /** folder whose files count as the user's code; default the script's folder */
  root: string;
  /** engine log file (includes criu logs); default `<run dir>/engine.log` */
  logFile?: string;
  verbose: boolean;
  /** run the program in a container, checkpointed with podman (containerBackend.ts) */
  container?: ContainerOptions;
}

export interface OutputEvent {
  stream: 'stdout' | 'stderr';
  /** exactly the bytes the program wrote */
  data: Buffer;
}

/** The program ended with an uncaught exception (with or without the agent's report). */
export interface CrashEvent {
  /** formatted traceback text */
  traceback: string;
  /** present when the agent paused the program with its stack alive */
  report?: CrashReport;
  /** the program is still alive, paused on the crash (agent), waiting for a decision */
  paused: boolean;
  generation: number;
}

export interface RestoredEvent {
  checkpoint: Checkpoint;
  pid: number;
  /** restore wall time (ms) until the program was running again */
  ms: number;
  generation: number;
}

export interface ExitEvent {
  /** exit status as a shell would report it: code, or 128 + signal */
  status: number;
  signal?: NodeJS.Signals;
  /** why the program ended when it was not its own doing (e.g. the pkexec helper died), for the user */
  reason?: string;
}

export interface EngineEvents {
  started: [{ pid: number; runDir: string; backend: CheckpointKind | 'none' }];
  checkpoint: [Checkpoint];
  /** a checkpoint left the ring buffer, or its in-memory snapshot was let go before it was saved */
  checkpointDeleted: [Checkpoint];
  /** a checkpoint changed where it is kept (saved to disk, no longer held in memory) */
  checkpointUpdated: [Checkpoint];
  output: [OutputEvent];
  crash: [CrashEvent];
  restored: [RestoredEvent];
  exit: [ExitEvent];
  /** a dump began (consumers show progress when it takes long) */
  checkpointStarted: [{ atCrash: boolean }];
  /** the agent swapped in repaired code (ok) or could not (error) */
  patched: [{ generation: number; ok: boolean; restarted?: string; error?: string; /** resuming in place would re-run top-level code */ cannotResume?: boolean }];
  /** the repaired code ran past the crash point */
  verified: [{ generation: number }];
  /** a rewind is about to replace the live program: the files it put back, what it cannot undo (sideEffects.ts) */
  rewind: [{ checkpointId: number; items: string[]; level: 'info' | 'warning'; rewound: string[]; text: string }];
  /** human-readable progress and warnings ("dumping…", "criu failed: …") */
  log: [{ level: 'debug' | 'info' | 'warn' | 'error'; message: string }];
}

/** An error meant for the user: message says what happened and what to do; no stack trace shown. */
export class AxolotlError extends Error {
  constructor(message: string, readonly hint?: string, readonly details?: string) {
    super(message);
    this.name = 'AxolotlError';
  }
}
