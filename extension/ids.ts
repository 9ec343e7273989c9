// Names the extension shares with package.json: the debug type, command ids, context keys, views,
// URI schemes and settings. Plain constants (no vscode import) so unit tests can check package.json
// against them.

export { DEBUG_TYPE } from '../adapter/protocol/launchArgs';

/** Every command the extension registers, except the timeline's own (extension/timeline). */
export const COMMANDS = {
  runCurrentFile: 'axolotl.runCurrentFile',
  checkEnvironment: 'axolotl.checkEnvironment',
  setApiKey: 'axolotl.setApiKey',
  clearApiKey: 'axolotl.clearApiKey',
  resetConsent: 'axolotl.resetConsent',
  acceptRepair: 'axolotl.acceptRepair',
  rejectRepair: 'axolotl.rejectRepair',
  showRepairHistory: 'axolotl.showRepairHistory',
  showRepairDiff: 'axolotl.showRepairDiff',
  showProposedRepair: 'axolotl.showProposedRepair',
  undoRepair: 'axolotl.undoRepair',
  clearRepairHistory: 'axolotl.clearRepairHistory',
} as const;

export const CONTEXT_KEYS = {
  /** a repair proposal is open for review: Accept/Reject buttons and keybindings are live */
  repairPending: 'axolotl.repairPending',
  /** an Axolotl session ran in this window: shows the timeline and repair views */
  hasRun: 'axolotl.hasRun',
} as const;

export const VIEWS = {
  repairs: 'axolotl.repairs',
} as const;

/** Read-only original side of a repair diff. */
export const ORIGINAL_SCHEME = 'axolotl-original';
/** Editable, in-memory proposed side of a repair diff (saving it never touches the real file). */
export const PROPOSED_SCHEME = 'axolotl-proposed';

/** Settings under the `axolotl.` section, without the prefix. */
export const SETTINGS = {
  model: 'model',
  baseUrl: 'baseUrl',
  python: 'python',
  checkpointInterval: 'checkpointInterval',
  maxCheckpoints: 'maxCheckpoints',
  backend: 'backend',
  adapterMode: 'adapter.mode',
} as const;

export const OUTPUT_CHANNEL_NAME = 'Axolotl';
