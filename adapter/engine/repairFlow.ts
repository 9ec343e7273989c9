// Crash → proposal → decision → resume, the same for the CLI and the debug adapter.
//
// A "crash chain" is one crash plus the crashes of repairs that did not get past it: an accepted
// repair that crashes again before the agent reports `verified` is a failed attempt of the same chain
// (its new traceback is fed back to the model), up to maxAttempts model attempts per chain.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { PatchFiles } from './agentProtocol';
import {
  applyRepair, proposeRepair, resolveModelConfig, type ModelConfig, type Repair, type RepairAttempt, type RepairFile, type RepairProgress,
} from './repair';
import { RUN_DEFAULTS } from './runDefaults';
import type { Supervisor } from './supervisor';
import { AxolotlError, type CrashEvent } from './types';

/** A proposed repair as a reviewer sees it (the debug adapter sends it to VS Code's diff review). */
export interface RepairProposal {
  /** unique within the run */
  repairId: string;
  /** the crash it answers (1-based within the session) */
  crashId: number;
  attempt: number;
  maxAttempts: number;
  /** the model's explanation, prose */
  explanation: string;
  model: string;
  /** the same records the repair engine produces (absolute path, display path, both texts, diff) */
  files: RepairFile[];
}

export interface RepairFlowOptions {
  model: { model?: string; baseUrl?: string; apiKey?: string; configFile?: string };
  /** model attempts per crash chain (default: config, else RUN_DEFAULTS) */
  maxAttempts?: number;
  /** how an accepted repair resumes: restore the last checkpoint before the crash, or in place */
  resume: 'checkpoint' | 'in-place';
  env?: NodeJS.ProcessEnv;
}

export interface RepairStatus {
  repairId?: string;
  status: 'searching' | 'accepted' | 'rejected' | 'failed' | 'verified' | 'unavailable';
  message?: string;
  /** failed: the repair is written, but the program cannot resume from where it crashed */
  cannotResume?: boolean;
  attempt?: number;
  proposedAt?: number;
}

export interface RepairFlowEvents {
  status: [RepairStatus];
  /** one line of model progress ("received 1,204 characters") */
  progress: [string];
  proposed: [RepairProposal];
  /** a propose() call finished, whatever its outcome */
  settled: [];
}

export type ProposeResult = { ok: true; proposal: RepairProposal; repair: Repair } | { ok: false; reason: string };

export interface AcceptResult {
  generation: number;
  restoredCheckpoint?: number;
  /** where the originals were saved (when Axolotl wrote the files) */
  backupDir?: string;
}

export class RepairFlow extends EventEmitter<RepairFlowEvents> {
  private config?: ModelConfig;
  private chain = 0;
  private attempts: RepairAttempt[] = [];
  private readonly pending = new Map<string, Repair>();
  private proposedAt = new Map<string, number>();
  private accepted?: { repair: Repair; generation: number };
  private controller?: AbortController;
  /** file:qualname of the user frames of the crash that started the current chain */
  private chainFrames = new Set<string>();
  /** the last accepted repair, after the agent said it ran past the crash point */
  private verifiedRepair?: { repair: Repair; generation: number };

  constructor(private readonly sup: Supervisor, private readonly opts: RepairFlowOptions) {
    super();
    sup.on('crash', (c) => this.onCrash(c));
    sup.on('verified', ({ generation }) => this.onVerified(generation));
    sup.on('exit', (ev) => { if (ev.status === 0 && this.accepted) this.onVerified(this.accepted.generation); });
    sup.on('patched', (p) => {
      if (!p.ok && this.accepted?.generation === p.generation) {
        const criu = this.sup.backendKind !== 'fork' ? '' : ' (with `--backend criu` it resumes from a checkpoint instead)';
        const message = p.cannotResume
          ? `${p.error ?? 'cannot resume in place'}, repeating what it did before the crash. The repair is written: run the program again${criu}; \`--resume in-place\` resumes in place anyway.`
          : `the repaired code could not be swapped in: ${p.error ?? 'unknown error'}`;
        this.emit('status', { repairId: this.accepted.repair.id, status: 'failed', message, ...(p.cannotResume ? { cannotResume: true } : {}) });
      }
    });
  }

  get maxAttempts(): number {
    return this.opts.maxAttempts ?? this.config?.maxRepairs ?? RUN_DEFAULTS.maxRepairAttempts;
  }

  /** Asks the model for a repair of the paused crash, continuing the crash chain's attempts. */
  async propose(args: { hint?: string; crashId?: number } = {}): Promise<ProposeResult> {
    const report = this.sup.crashReport;
    if (!report) return this.unavailable('There is no crash report to repair (the program runs without the agent).');
    let config: ModelConfig;
    try {
      config = this.modelConfig();
    } catch (e) {
      return this.unavailable(e instanceof AxolotlError ? [e.message, e.hint].filter(Boolean).join(' ') : String(e));
    }
    const used = this.attempts.filter((a) => a.repair || a.failure).length;
    if (used >= this.maxAttempts) return this.unavailable(`No repair attempts left for this crash (${used} of ${this.maxAttempts} used).`);
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.emit('status', { status: 'searching', attempt: used + 1, message: `${config.model} at ${config.baseUrl ?? 'the OpenAI API'}` });
    const previous = args.hint
      ? [...this.attempts, { attempt: used, failure: { kind: 'rejected' as const, message: `The user says: ${args.hint}` } }]
      : this.attempts;
    try {
      const result = await proposeRepair(report, {
        root: this.sup.opts.root,
        python: this.sup.opts.python,
        logDir: path.join(this.sup.runDir, 'repairs-log'),
        repairNumber: this.chain || 1,
        model: config,
        log: (level, message) => this.sup.emit('log', { level, message }),
      }, {
        signal: controller.signal,
        onProgress: (p) => this.emit('progress', progressText(p)),
        previousAttempts: previous,
        maxAttempts: Math.max(1, this.maxAttempts - used),
      });
      this.attempts.push(...result.attempts.filter((a) => !a.repair || !result.ok || a.repair.id !== result.repair.id));
      if (!result.ok) return this.unavailable(result.reason);
      this.pending.set(result.repair.id, result.repair);
      this.proposedAt.set(result.repair.id, Date.now());
      const proposal = toProposal(result.repair, args.crashId ?? this.chain, this.maxAttempts);
      this.emit('proposed', proposal);
      return { ok: true, proposal, repair: result.repair };
    } catch (e) {
      return this.unavailable(e instanceof AxolotlError ? [e.message, e.hint].filter(Boolean).join(' ') : (e as Error).message);
    } finally {
      if (this.controller === controller) this.controller = undefined;
      this.emit('settled');
    }
  }

  /**
   * The user accepted `repairId`, possibly edited: `files` is what was accepted (absolute path →
   * text). Unless the caller already wrote them (VS Code's WorkspaceEdit), they are written
   * atomically with the originals kept under <run>/repairs/N. Then the program resumes.
   */
  async accept(repairId: string, files?: Record<string, string>, how: { written?: boolean; resume?: 'checkpoint' | 'in-place' } = {}): Promise<AcceptResult> {
    const repair = this.pending.get(repairId);
    if (!repair) throw new AxolotlError(`No pending repair "${repairId}" (it was already decided, or superseded).`);
    const accepted: Repair = files
      ? { ...repair, files: repair.files.filter((f) => f.path in files || !files).map((f) => ({ ...f, proposed: files[f.path] ?? f.proposed })) }
      : repair;
    let backupDir: string | undefined;
    let patch: PatchFiles = Object.fromEntries(accepted.files.map((f) => [f.path, f.proposed]));
    if (!how.written) {
      const applied = await applyRepair(accepted, this.sup.runDir);
      backupDir = applied.dir;
      patch = applied.files;
    }
    this.pending.clear();
    const generation = this.sup.acceptRepair(patch);
    this.accepted = { repair: accepted, generation };
    this.attempts.push({ attempt: accepted.attempt, repair: accepted, applied: true });
    this.emit('status', { repairId, status: 'accepted', proposedAt: this.proposedAt.get(repairId) });
    const mode = how.resume ?? this.opts.resume;
    // A checkpoint taken after the exception was raised holds it on its way to the report. Where the
    // exception went up to the top level (a `with Pool()` block closing its pool on the way), a copy
    // restored there reaches the top level again, where the repair can only re-run the statement: such
    // checkpoints are passed over. (Caught with its frames alive, a copy restored on the way takes the
    // repair and restarts the frame: see the supervisor's stale crashes.)
    const report = this.sup.crashReport;
    const raisedAt = report?.unwound ? report.raisedAt : undefined;
    const candidates = [...this.sup.checkpoints].reverse()
      .filter((c) => !c.atCrash && (typeof raisedAt !== 'number' || c.time <= raisedAt)).slice(0, 3);
    if (mode === 'checkpoint' && candidates.length) {
      let refused: Error | undefined;
      for (const checkpoint of candidates) {
        try {
          await this.sup.restore(checkpoint.id);
          return { generation, restoredCheckpoint: checkpoint.id, backupDir };
        } catch (e) {
          // Refused before the paused program was touched (images gone or damaged, a snapshot let go,
          // a PID taken): try the one before. Otherwise the run has ended.
          if (!this.sup.pausedOnCrash) throw e;
          refused = e as Error;
          this.sup.emit('log', { level: 'warn', message: `${refused.message}; trying an earlier checkpoint` });
        }
      }
      // The repair is written: continue in place rather than lose the run (not by running top-level
      // code again from its start: that repeats what the program did, and is refused).
      this.sup.decide({ type: 'patch', topLevel: false });
      this.sup.emit('log', { level: 'warn', message: `${refused?.message ?? 'no checkpoint could be restored'}; resuming in place instead` });
      return { generation, backupDir };
    }
    // No checkpoint yet (or in-place asked): the paused process restarts the changed frame itself. A
    // restart that would run top-level code again from its start (the whole `if __name__ ==
    // "__main__":` block) repeats the work before the crash: only when the user asked for in place.
    this.sup.decide({ type: 'patch', topLevel: mode === 'in-place' });
    return { generation, backupDir };
  }

  /** The user declined: the exception propagates and ends the program with Python's traceback. */
  reject(repairId?: string): void {
    const id = repairId ?? [...this.pending.keys()].pop();
    this.pending.clear();
    this.controller?.abort();
    if (id) this.emit('status', { repairId: id, status: 'rejected', proposedAt: this.proposedAt.get(id) });
    this.sup.decide({ type: 'abort' });
  }

  cancel(): void {
    this.controller?.abort();
  }

  /**
   * Restart Frame after the user edited the code by hand: swap in what is on disk for the user files
   * on the crashed stack, or retry with the current code when nothing changed.
   */
  async restartWithDiskSources(crash: CrashEvent): Promise<void> {
    const files = [...new Set((crash.report?.frames ?? []).filter((f) => f.user).map((f) => f.file))];
    const known = this.sup.repairedSources;
    const changed: PatchFiles = {};
    for (const f of files) {
      const disk = await fs.promises.readFile(f, 'utf8').catch(() => undefined);
      const running = known[f] ?? this.sup.launchSource(f);
      if (disk !== undefined && disk !== running) changed[f] = disk;
    }
    if (Object.keys(changed).length) {
      this.sup.acceptRepair(changed);
      this.sup.decide({ type: 'patch' });
    } else {
      this.sup.decide({ type: 'retry' });
    }
  }

  private modelConfig(): ModelConfig {
    if (this.config) return this.config;
    const env = { ...(this.opts.env ?? process.env) };
    if (this.opts.model.apiKey) env.AXOLOTL_API_KEY = this.opts.model.apiKey;
    this.config = resolveModelConfig({
      model: this.opts.model.model, baseUrl: this.opts.model.baseUrl, configFile: this.opts.model.configFile,
      maxRepairs: this.opts.maxAttempts,
    }, env);
    return this.config;
  }

  private onCrash(crash: CrashEvent): void {
    if (!crash.paused) return;
    const tried = this.accepted ?? this.verifiedRepair;
    const at = innermostUserFrame(crash);
    if (tried && at !== undefined && this.chainFrames.has(at)) {
      // It crashed again in a function of the original crash's stack (even after the restarted
      // frame itself returned): the repair did not get the program past that point, so this is a
      // failed attempt of the same chain and the model sees what happened.
      const last = this.attempts[this.attempts.length - 1];
      if (last?.repair?.id === tried.repair.id) last.failure = { kind: 'crash', message: crash.traceback };
      this.emit('status', { repairId: tried.repair.id, status: 'failed', message: firstLine(crash.report?.exception ? `${crash.report.exception.type}: ${crash.report.exception.message}` : crash.traceback) });
      this.accepted = undefined;
      this.verifiedRepair = undefined;
      return;
    }
    // Anywhere else: the accepted repair got past its own crash point and this is a new problem with
    // its own attempts (a long job with several bugs must not run out of attempts).
    if (this.accepted) this.onVerified(this.accepted.generation);
    this.verifiedRepair = undefined;
    this.chain++;
    this.attempts = [];
    this.chainFrames = new Set((crash.report?.frames ?? []).filter((f) => f.user).map((f) => `${f.file}:${f.qualname}`));
  }

  private onVerified(generation: number): void {
    if (!this.accepted || this.accepted.generation > generation) return;
    this.emit('status', { repairId: this.accepted.repair.id, status: 'verified', proposedAt: this.proposedAt.get(this.accepted.repair.id) });
    // Kept until the next crash shows whether the program really got past the crash point.
    this.verifiedRepair = this.accepted;
    this.accepted = undefined;
  }

  private unavailable(reason: string): ProposeResult {
    this.emit('status', { status: 'unavailable', message: reason });
    return { ok: false, reason };
  }
}

function toProposal(r: Repair, crashId: number, maxAttempts: number): RepairProposal {
  return {
    repairId: r.id, crashId, attempt: r.attempt, maxAttempts, explanation: r.explanation, model: r.model,
    files: r.files.map((f) => ({ path: f.path, relPath: f.relPath, original: f.original, proposed: f.proposed, diff: f.diff, ...(f.created ? { created: true } : {}) })),
  };
}

function progressText(p: RepairProgress): string {
  switch (p.type) {
    case 'attempt': return `attempt ${p.attempt} of ${p.maxAttempt}`;
    case 'prompt': return `sending ${p.tokens.toLocaleString('en')} tokens`;
    case 'request': return p.try > 1 ? `asking again (try ${p.try})` : 'waiting for the model';
    case 'receiving': return `receiving: ${p.chars.toLocaleString('en')} characters`;
    case 'retry': return `${p.reason}; retrying in ${(p.delayMs / 1000).toFixed(1)} s (${p.retry}/${p.of})`;
    case 'stream-unsupported': return 'streaming unsupported; waiting for the whole reply';
    case 'reply': return `reply received (${p.chars.toLocaleString('en')} characters)`;
    case 'validating': return 'checking the patch applies and compiles';
    case 'attempt-failed': return `attempt ${p.attempt} failed: ${firstLine(p.failure.message)}`;
    case 'proposed': return 'repair ready';
  }
}

/** file:qualname of the innermost user frame (not the line: a repair moves lines). */
function innermostUserFrame(crash: CrashEvent): string | undefined {
  const f = [...(crash.report?.frames ?? [])].reverse().find((x) => x.user);
  return f ? `${f.file}:${f.qualname}` : undefined;
}

function firstLine(s: string): string {
  return (s.trim().split('\n').pop() ?? '').slice(0, 300);
}
