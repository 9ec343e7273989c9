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
}

/** Where the interpreter came from; shown in the Debug Console's first line. */
export type PythonSource = 'launch' | 'setting' | 'python-extension' | 'default';
