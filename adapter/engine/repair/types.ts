// Types of the repair engine: crash report → prompt → model → parsed, validated patch → written files.
// Nothing here imports vscode or DAP types.

/** Where the model lives and how much it may be asked. Built by `resolveModelConfig` (config.ts). */
export interface ModelConfig {
  model: string;
  /** OpenAI-compatible endpoint ending in /v1; undefined means the OpenAI API itself */
  baseUrl?: string;
  /** Secret: never log it or put it in an error message (see redact.ts). A dummy for local endpoints. */
  apiKey: string;
  /** Where the key came from, safe to show: "$OPENAI_API_KEY", "none needed (local endpoint)" */
  apiKeySource: string;
  /** localhost / 127.x / ::1: no key needed */
  local: boolean;
  /** longest silence from the server (before the first byte and between chunks) before giving up */
  timeoutMs: number;
  /** model attempts per crash (a failed parse or validation is fed back for another try) */
  maxRepairs: number;
  /** prompt size limit in estimated tokens (chars / 4) */
  tokenBudget: number;
  /** sent only when configured: some models reject any temperature */
  temperature?: number;
  /** which layer supplied each setting ("--model", "$AXOLOTL_MODEL", "config file", "default") */
  sources: Record<'model' | 'baseUrl' | 'apiKey' | 'timeoutMs' | 'maxRepairs' | 'tokenBudget', string>;
  /** config file that was read, if any */
  configFile?: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One file changed by a repair. */
export interface RepairFile {
  /** absolute path */
  path: string;
  /** path relative to the project root, '/'-separated, as shown to the model and the user */
  relPath: string;
  /** text before the repair ('' for a created file) */
  original: string;
  /** complete text after the repair */
  proposed: string;
  /** unified diff original → proposed (a/relPath, b/relPath) */
  diff: string;
  /** the repair creates this file */
  created?: boolean;
}

/** How the model expressed its change. */
export type ReplyFormat = 'full-file' | 'diff' | 'search-replace';

/** A validated repair ready to show the user. */
export interface Repair {
  /** "repair-<N>-attempt-<k>": unique within a run */
  id: string;
  /** which crash of the run this repairs (1-based) */
  repairNumber: number;
  /** 1-based attempt number for this crash */
  attempt: number;
  /** the model's prose: cause and fix */
  explanation: string;
  files: RepairFile[];
  format: ReplyFormat;
  /** the raw model reply */
  reply: string;
  model: string;
  /** code generation of the crashed program */
  generation: number;
}

/** Why an attempt did not lead to a working program; fed back to the model on the next attempt. */
export interface AttemptFailure {
  /** parse: no usable repair in the reply; validation: the patch did not apply/compile/stay in the root;
   *  crash: it was applied and the program crashed again; rejected: the user declined it */
  kind: 'parse' | 'validation' | 'crash' | 'rejected';
  /** precise text for the model (error, validation problems, new traceback, the user's comment) */
  message: string;
}

/** One model attempt. Pass earlier ones to `proposeRepair` as `previousAttempts` to continue a crash. */
export interface RepairAttempt {
  attempt: number;
  /** present when the reply was parsed into a patch (even if it then failed validation) */
  repair?: Repair;
  /** raw reply (kept for parse failures, where there is no repair) */
  reply?: string;
  failure?: AttemptFailure;
  /** the repair was written to disk (so the current sources already contain it) */
  applied?: boolean;
  /** log files of this attempt */
  promptLog?: string;
  replyLog?: string;
}

export type RepairAttemptResult =
  | { ok: true; repair: Repair; attempts: RepairAttempt[] }
  | { ok: false; reason: string; attempts: RepairAttempt[] };

/** Network-level progress of one model call (modelClient.ts). */
export type ModelProgress =
  | { type: 'request'; streaming: boolean; try: number }
  /** chars of reply text so far; tokens estimated (chars / 4); reasoningChars for models that stream thoughts */
  | { type: 'receiving'; chars: number; tokens: number; reasoningChars: number }
  | { type: 'retry'; reason: string; delayMs: number; retry: number; of: number }
  | { type: 'stream-unsupported'; reason: string };

/** Progress of `proposeRepair` (includes the model's). */
export type RepairProgress =
  | ModelProgress
  | { type: 'attempt'; attempt: number; maxAttempt: number }
  | { type: 'prompt'; attempt: number; tokens: number; trimmed: string[]; logFile: string }
  | { type: 'reply'; attempt: number; chars: number; finishReason: string | null; logFile: string }
  | { type: 'validating'; attempt: number }
  /** this attempt failed; another follows if attempts remain */
  | { type: 'attempt-failed'; attempt: number; failure: AttemptFailure }
  | { type: 'proposed'; repair: Repair };

/** Size limits on a repair (validate.ts). */
export interface RepairLimits {
  /** per file, bytes of UTF-8 */
  maxFileBytes: number;
  maxFiles: number;
}

export const DEFAULT_LIMITS: RepairLimits = { maxFileBytes: 1_000_000, maxFiles: 20 };

/** One accepted repair on disk: `<runDir>/repairs/<N>/manifest.json`. */
export interface RepairManifest {
  /** N: folder name under repairs/ */
  number: number;
  repairId: string;
  explanation: string;
  /** 'applying' until every file is renamed into place; a crash in between leaves it for undo */
  status: 'applying' | 'applied' | 'undone';
  appliedAt: string;
  undoneAt?: string;
  files: Array<{
    path: string;
    relPath: string;
    /** the repair created the file: undo deletes it */
    created: boolean;
    /** permission bits kept across the rewrite */
    mode: number;
    sha256Before: string;
    sha256After: string;
    /** backup of the original, relative to the repair folder (absent for created files) */
    backup?: string;
  }>;
}
