// The `axolotl` launch configuration: mirrors `contributes.debuggers[0].configurationAttributes.launch`
// in package.json (a unit test keeps the two in step).
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { BackendKind, RepairResume } from '../engine/runDefaults';

/** The debug type of Axolotl's launch configurations (package.json: contributes.debuggers[0].type). */
export const DEBUG_TYPE = 'axolotl';

export interface RepairLaunchArgs {
  /** ask a model for repairs on a crash (default true) */
  enabled?: boolean;
  model?: string;
  baseUrl?: string;
  /** accept proposals without review (CI) */
  autoAccept?: boolean;
  /** model attempts per crash (default 3) */
  maxAttempts?: number;
}

/** Container mode: the program runs in a podman container that is checkpointed whole (root only). */
export interface ContainerLaunchArgs {
  /** the image, as podman names it; it must be on this machine */
  image: string;
  /** more bind mounts, "SRC[:DST][:ro]" (the workspace is always mounted at its own path) */
  mounts?: string[];
  /** the program's environment in the container, besides "env" (the host's is not passed on) */
  env?: Record<string, string>;
  /** the interpreter in the image (default python3) */
  python?: string;
}

export interface AxolotlLaunchArgs extends DebugProtocol.LaunchRequestArguments {
  program: string;
  args?: string[];
  cwd?: string;
  env?: Record<string, string>;
  python?: string;
  /** shortest time between checkpoints, in seconds (default 1) */
  checkpointInterval?: number;
  /**
   * most of the run, in percent, the program may spend frozen by checkpoints (default 2): large
   * programs are checkpointed less often than checkpointInterval; 0 takes the interval literally
   */
  pauseBudget?: number;
  /** keep at most this many checkpoints (default unlimited) */
  maxCheckpoints?: number;
  /** memory the fork snapshots held as rewind points may cost: "1x" (default), "1.5x", "512M" */
  snapshotMemory?: string;
  /** parent of the run folders (default .axolotl next to the program) */
  workingDir?: string;
  backend?: BackendKind;
  repair?: RepairLaunchArgs;
  /** run with plain python: no checkpoints, no agent */
  normalRun?: boolean;
  /** how an accepted repair resumes (default checkpoint) */
  resume?: RepairResume;
  /** run the program in a container (podman, runc), checkpointed whole */
  container?: ContainerLaunchArgs;
}

/** Where the interpreter came from; shown in the Debug Console's first line. */
export type PythonSource = 'launch' | 'setting' | 'python-extension' | 'default';
