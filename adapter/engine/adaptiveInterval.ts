// When to take the next checkpoint. A criu dump freezes the program for as long as it takes to copy
// its memory (~130 ms at 200 MB here, ~1 s at 1 GB); at a fixed 1 s interval that alone would cost
// 13% to 100% of the program's speed. So, given a pause budget, the wait after a checkpoint grows with
// what checkpoints cost:
//
//   wait = max(interval, pause / pauseBudget, work / workBudget)
//
// `pause`: how long the program is frozen (criu's frozen time, the fork pause). With the CLI's default
// budget of 2%, a dump that froze the program 130 ms is followed by at least 6.5 s of running.
// `work`: the wall time of the whole dump (criu works beside the program, mostly on another core); its
// budget of 25% keeps checkpointing from taking over a core.
//
// The pause is predicted for the program's size when the timer fires: the median of the last three
// checkpoints, scaled up if the program has grown since (a dump copies every resident page). Before the
// first checkpoint it is estimated from the size alone, so a 1 GB program is not frozen for a second
// one second after it starts. The interval is a floor; one slow dump on a busy machine does not stretch
// the wait (median). Without a budget (the engine's default, and the CLI's when --interval is given)
// checkpoints come every interval, whatever they cost.
import fs from 'node:fs';

export interface PacingOptions {
  /** the user's interval in seconds: checkpoints are never more frequent */
  intervalS: number;
  /** largest share of the program's time it may spend frozen by checkpoints; 0 or absent = fixed interval */
  pauseBudget?: number;
  /** largest share of a core the dumps may keep busy (default 0.25) */
  workBudget?: number;
  /** longest wait in seconds, however slow the dumps (default 300) */
  maxIntervalS?: number;
}

export const DEFAULT_WORK_BUDGET = 0.25;
const HISTORY = 3;
const MB = 1024 * 1024;

/** Cost of a first checkpoint, before any was measured (this machine class: see bench/). */
const FIRST_GUESS: Record<string, { fixedMs: number; msPerMB: number }> = {
  criu: { fixedMs: 15, msPerMB: 0.6 },
  fork: { fixedMs: 0.5, msPerMB: 0.03 },
  // podman + runc + criu freezing a whole container: runc's and criu's fixed work, then the export
  'container-pause': { fixedMs: 250, msPerMB: 1 },
  'container-work': { fixedMs: 500, msPerMB: 6 },
};
/** kinds whose pause and work differ: criu dumping a fork snapshot pauses for the fork only */
const FIRST_GUESS_SPLIT: Record<string, { pause: string; work: string }> = {
  'criu-fork': { pause: 'fork', work: 'criu' },
  container: { pause: 'container-pause', work: 'container-work' },
};

interface Sample {
  frozenMs: number;
  dumpMs: number;
  rss?: number;
}

export class AdaptiveInterval {
  private readonly samples: Sample[] = [];
  readonly pauseBudget: number;
  readonly workBudget: number;

  constructor(private readonly opts: PacingOptions) {
    this.pauseBudget = budget(opts.pauseBudget, 0);
    this.workBudget = budget(opts.workBudget, DEFAULT_WORK_BUDGET);
  }

  /** Records what an ordinary checkpoint of process `pid` cost. */
  observe(c: { frozenMs: number; dumpMs: number; pid?: number }): void {
    if (!Number.isFinite(c.frozenMs) || !Number.isFinite(c.dumpMs)) return;
    this.samples.push({ frozenMs: c.frozenMs, dumpMs: c.dumpMs, rss: c.pid ? residentBytes(c.pid) : undefined });
    if (this.samples.length > HISTORY) this.samples.shift();
  }

  /**
   * Milliseconds still to wait, `elapsedMs` after the last checkpoint ended, before checkpointing process
   * `pid` (read for its current size) with backend `kind`.
   */
  remainingMs(elapsedMs: number, pid?: number, kind?: string): number {
    return Math.max(0, this.waitMs(pid ? residentBytes(pid) : undefined, kind) - elapsedMs);
  }

  /** The whole wait after a checkpoint, for a program of `rss` bytes. */
  waitMs(rss?: number, kind?: string): number {
    const floor = this.opts.intervalS * 1000;
    if (this.pauseBudget === 0) return floor;
    let pause: number;
    let work: number;
    if (this.samples.length) {
      const base = median(this.samples.map((s) => s.rss ?? 0));
      const grown = rss && base ? Math.max(1, rss / base) : 1;
      pause = median(this.samples.map((s) => s.frozenMs)) * grown;
      work = median(this.samples.map((s) => s.dumpMs)) * grown;
    } else {
      const split = FIRST_GUESS_SPLIT[kind ?? ''];
      const gp = FIRST_GUESS[split?.pause ?? kind ?? ''];
      const gw = FIRST_GUESS[split?.work ?? kind ?? ''];
      if (!gp || !gw || !rss) return floor;
      pause = gp.fixedMs + gp.msPerMB * (rss / MB);
      work = gw.fixedMs + gw.msPerMB * (rss / MB);
    }
    const byPause = pause / this.pauseBudget;
    const byWork = this.workBudget > 0 ? work / this.workBudget : 0;
    const ceiling = Math.max(floor, (this.opts.maxIntervalS ?? 300) * 1000);
    return Math.min(ceiling, Math.max(floor, byPause, byWork));
  }
}

/** Resident memory of a process (bytes), undefined if it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function budget(v: number | undefined, dflt: number): number {
  return v !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
}

function median(list: number[]): number {
  const s = [...list].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
