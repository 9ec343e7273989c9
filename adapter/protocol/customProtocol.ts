// Axolotl's custom DAP requests and events, between the debug adapter and the extension.
// Plain types only (no vscode, no DAP library imports), so both sides share this file.
//
// Timeline updates travel as the custom event TIMELINE_DAP_EVENT ('axolotl/timeline', body: one
// TimelineUpdate from timeline.ts). Repairs use the names below.

import type { RepairProposal } from '../engine/repairFlow';
import type { RepairResume } from '../engine/runDefaults';

export type { RepairProposal };

/** Event 'axolotl/repairProposed': a validated repair is ready for review. */
export const REPAIR_PROPOSED_EVENT = 'axolotl/repairProposed';
export type RepairProposedBody = RepairProposal;

/** Event 'axolotl/repairStatus': what happened to a repair (and, when no repair could be made, why). */
export const REPAIR_STATUS_EVENT = 'axolotl/repairStatus';
export interface RepairStatusBody {
  repairId?: string;
  crashId: number;
  /** searching: the model is being asked; unavailable: no usable repair after all attempts or no model
   *  configured; failed: accepted but the program crashed again before passing the crash point */
  status: 'searching' | 'accepted' | 'rejected' | 'failed' | 'verified' | 'unavailable';
  /** human-readable: why it is unavailable, the new error, … */
  message?: string;
}

/** Request 'axolotl/proposeRepair': ask the model (again) for a repair of the current paused crash. */
export const PROPOSE_REPAIR_REQUEST = 'axolotl/proposeRepair';
export interface ProposeRepairArgs {
  /** optional guidance from the user, added to the prompt */
  hint?: string;
}
export interface ProposeRepairResponse {
  repair?: RepairProposal;
  /** set when no repair could be made */
  reason?: string;
}

/** Request 'axolotl/applyRepair': the user accepted; resume with these sources. */
export const APPLY_REPAIR_REQUEST = 'axolotl/applyRepair';
export interface ApplyRepairArgs {
  repairId: string;
  /** what was accepted (the user may have edited the proposal): absolute path → complete text */
  files: Record<string, string>;
  /** the extension already wrote the files (WorkspaceEdit, for undo); the adapter must not write them */
  written: boolean;
  /** default: the launch configuration's resume mode */
  resume?: RepairResume;
}
export interface ApplyRepairResponse {
  /** the checkpoint restored, when resume was 'checkpoint' */
  restoredCheckpoint?: number;
  generation: number;
}

/** Request 'axolotl/rejectRepair': the user declined; the exception ends the run. */
export const REJECT_REPAIR_REQUEST = 'axolotl/rejectRepair';
export interface RejectRepairArgs {
  repairId: string;
}

/** Request 'axolotl/checkpoints': the kept checkpoints. */
export const CHECKPOINTS_REQUEST = 'axolotl/checkpoints';

/** Request 'axolotl/restore': rewind to a kept checkpoint. */
export const RESTORE_REQUEST = 'axolotl/restore';
export interface RestoreArgs {
  checkpointId: number;
}
