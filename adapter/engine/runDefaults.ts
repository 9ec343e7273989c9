// What a run does when nobody says otherwise, and the words its options take: written once here for
// the CLI (cli/options.ts), the launch configuration (protocol/launchConfig.ts) and the mapping of a
// launch to the engine (session/launchOptions.ts). package.json's schema repeats them for VS Code's
// editor; a unit test (extension-package.test.ts) keeps it in step. No imports: the extension loads
// this at activation.

/** How checkpoints are taken: criu when it works here (else fork), criu, or fork snapshots. */
export const BACKENDS = ['auto', 'criu', 'fork'] as const;
export type BackendKind = (typeof BACKENDS)[number];

/** How an accepted repair resumes: from the last checkpoint before the crash, or in place. */
export const RESUME_MODES = ['checkpoint', 'in-place'] as const;
export type RepairResume = (typeof RESUME_MODES)[number];

export const RUN_DEFAULTS = {
  python: 'python3',
  /** seconds between checkpoints: a floor, stretched to stay within the pause budget */
  interval: 1,
  /**
   * share of the run checkpoints may keep the program frozen (adaptiveInterval.ts); the CLI takes
   * an explicit --interval literally unless a budget is given too
   */
  pauseBudget: 0.02,
  /** what the fork snapshots held as rewind points may cost: a multiple of the program's size */
  snapshotMemory: '1x',
  /** checkpoints kept: all (a number makes a ring buffer) */
  maxSaves: undefined,
  backend: 'auto',
  resume: 'checkpoint',
  /** model attempts per crash */
  maxRepairAttempts: 3,
  /** the run folders' parent, next to the script */
  workingDirName: '.axolotl',
} as const satisfies {
  python: string; interval: number; pauseBudget: number; snapshotMemory: string; maxSaves: number | undefined; backend: BackendKind; resume: RepairResume;
  maxRepairAttempts: number; workingDirName: string;
};

/** What the fork snapshots held as rewind points may cost (forkBackend.ts poolLimits). */
export interface SnapshotMemory {
  /** bytes the held snapshots may cost together; when absent, `rssFactor` times the program's size */
  bytes?: number;
  rssFactor?: number;
}

/**
 * A memory budget for held snapshots as users write it: "1x" (times the program's size; the default),
 * "1.5x", or an amount ("512M", "2G", "0" for none beyond the newest snapshot). Undefined when it is
 * neither.
 */
export function parseSnapshotMemory(text: string): SnapshotMemory | undefined {
  const t = text.trim();
  const factor = /^(\d+(?:\.\d+)?)x$/i.exec(t);
  if (factor) return { rssFactor: Number(factor[1]) };
  const amount = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(t);
  if (!amount) return undefined;
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[amount[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return { bytes: Math.round(Number(amount[1]) * unit) };
}
