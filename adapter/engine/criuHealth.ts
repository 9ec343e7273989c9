// How far a run still trusts criu, after the dumps that failed. A criu can pass its proof
// (criuProbe.ts) and still fail in real use; a run must then go on with what works, not hang or
// retry forever:
//   - criu dumps of held fork snapshots (the program runs on meanwhile) are the normal way;
//   - one such dump that fails with an error: the next checkpoints freeze the program for criu instead;
//   - a dump that hangs, or a second failure in a row: criu is off for the rest of the run, and rewind
//     points stay in memory (fork snapshots) as with --backend fork.
// A hang never leads to (more) frozen dumps: criu killed while it holds the live program could leave
// the parasite's code running in it.
export type CriuMode = 'snapshots' | 'frozen' | 'off';

export interface DumpFailure {
  /** the dump ran into its watchdog and criu was killed */
  hung: boolean;
  message: string;
}

/** Failures in a row after which criu is not used again in this run. */
const MAX_FAILURES = 2;

export class CriuHealth {
  private failures = 0;
  private current: CriuMode;

  constructor(snapshots: boolean) {
    this.current = snapshots ? 'snapshots' : 'frozen';
  }

  get mode(): CriuMode { return this.current; }

  /** criu may still dump something (a snapshot, or the program frozen). */
  get usable(): boolean { return this.current !== 'off'; }

  /** Records a failed dump; returns what to tell the user when the run's use of criu changes. */
  failed(kind: 'snapshot' | 'frozen', f: DumpFailure): string | undefined {
    this.failures++;
    const before = this.current;
    if (f.hung || this.failures >= MAX_FAILURES) this.current = 'off';
    else if (kind === 'snapshot') this.current = 'frozen';
    if (this.current === before) return undefined;
    return this.current === 'frozen'
      ? `criu could not save a snapshot (${f.message}); checkpoints now freeze the program while criu saves it`
      : `criu is off for the rest of this run: ${f.message}${f.hung ? ' (it hung and was killed)' : ''}. ` +
        'Rewind points stay in memory as fork snapshots; they do not survive the session.';
  }

  /** A dump worked: one bad dump long ago does not count towards turning criu off. */
  succeeded(): void {
    if (this.current !== 'off') this.failures = 0;
  }
}

/** How long a dump of `bytes` of memory may take before it is killed: far above what it needs here
 *  (1 GB dumps in 0.3–1.4 s; disks write ~100 MB/s at worst), far below a hang's forever. */
export function dumpTimeoutMs(bytes: number | undefined): number {
  return 5_000 + ((bytes ?? 0) / (25 * 1024 * 1024)) * 1000;
}
