// The record of one kept checkpoint: plain data, no Node types, because the timeline webview's
// messages are derived from it (adapter/protocol/timeline.ts) and the browser bundle type-checks it.

/** How a checkpoint is kept: criu images of the process, a fork snapshot, or a podman container checkpoint. */
export type CheckpointKind = 'criu' | 'fork' | 'container';

/** One kept checkpoint. */
export interface Checkpoint {
  /** 1, 2, 3 … in the order taken within a run */
  id: number;
  /** ms since the epoch */
  time: number;
  /** bytes on disk of the image */
  bytes: number;
  /** how long the program was frozen, from criu's stats (ms); fork: the pause */
  frozenMs: number;
  /** wall time of the whole dump (ms) */
  dumpMs: number;
  /** code generation (number of accepted repairs) running when it was taken */
  generation: number;
  /** the checkpoint taken at a crash, with the stack alive */
  atCrash?: boolean;
  /** last line the program printed before the checkpoint, if known */
  lastOutput?: string;
  backend: CheckpointKind;
  /** image folder (criu) */
  dir?: string;
  /** held in memory as a stopped fork snapshot: a rewind wakes it in milliseconds */
  inMemory?: boolean;
  /** its criu images are on disk: it survives the session (`axolotl restore`) */
  saved?: boolean;
}
