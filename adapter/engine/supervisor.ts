// The engine's core: runs the program, checkpoints it on a timer, restores checkpoints, and turns
// exits and agent messages into typed events. The CLI and the debug adapter are thin consumers.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { AdaptiveInterval } from './adaptiveInterval';
import { AgentChannel } from './agentChannel';
import type { AgentMessage, CrashReport, EngineReply, PatchFiles, WorkerMessage } from './agentProtocol';
import { CriuBackend } from './criuBackend';
import { DebugControl } from './debugControl';
import { EngineLog } from './engineLog';
import { resolveInterpreter, type Interpreter } from './interpreter';
import { pythonDir } from './paths';
import {
  checkpointDir, createRunDir, deleteCheckpoint, listCheckpoints, readRunInfo, writeCheckpointRecord, writeRunInfo,
  type CheckpointRecord, type RunInfo,
} from './runDir';
import type { BackendContext, BackendEvents, CheckpointBackend, ProgramCopy } from './backend';
import { AgentProcesses, descendantsOf, isStopped, signalAll } from './programTree';
import { describeProcess, killSession, processTree, threadIds, waitIdsFree } from './procTree';
import { checkRestorable, explainRestoreFailure } from './restoreCheck';
import { restoreTimeoutMs } from './criuRun';
import { SessionKeeper } from './sessionKeeper';
import { FileJournal, rewindFiles, type FileRewindResult } from './fileRewind';
import { DEFAULT_MAX_COPY_BYTES, describeRewind, rewindNotice, type FileSaveOptions } from './sideEffects';
import { AxolotlError, type CheckpointKind, type CrashEvent, type EngineEvents, type ExitEvent, type RunOptions } from './types';

/** What the paused agent is told to do with its crash. */
export type CrashDecision =
  /** `topLevel`: the agent may re-run top-level code from its start to resume (the user asked for in place) */
  | { type: 'patch'; topLevel?: boolean }
  | { type: 'abort' }
  | { type: 'retry' };

/** paused: stopped by the debugger (a breakpoint, a step, a pause): no checkpoints are taken meanwhile */
type State = 'idle' | 'running' | 'crashed' | 'paused' | 'restoring' | 'exited' | 'stopped';

const TRACEBACK_MARK = 'Traceback (most recent call last):';
/** stderr kept to find a traceback when the program runs without the agent */
const STDERR_TAIL = 64 * 1024;

export interface SupervisorDeps {
  /** the criu command, for the default backend (criu run directly, as root) */
  criu?: string;
  /** environment that criu needs here (criuProbe.ts) */
  criuEnv?: Record<string, string>;
  /** another backend (the pkexec helper, fork snapshots, a container); given the resolved interpreter */
  backend?: (python: string, ctx: BackendContext) => CheckpointBackend;
}

export class Supervisor extends EventEmitter<EngineEvents> {
  private state: State = 'idle';
  private current?: ProgramCopy;
  private channel?: AgentChannel;
  private backend?: CheckpointBackend;
  private log?: EngineLog;
  /** ends whatever this run started if the engine dies without stopping it (sessionKeeper.ts) */
  private keeper?: SessionKeeper;
  private interpreter?: Interpreter;
  private timer?: NodeJS.Timeout;
  /** the wait between checkpoints: the interval, longer when dumps are slow (adaptiveInterval.ts) */
  private readonly pacer: AdaptiveInterval;
  /** serializes dumps and restores: criu must never act on a copy that is being replaced */
  private ops: Promise<unknown> = Promise.resolve();
  private kept: CheckpointRecord[] = [];
  private nextId = 1;
  private restores = 0;
  /** crash reports received, to spot a dump that overlapped one */
  private crashes = 0;
  /** debugger stops, likewise */
  private stops = 0;
  /** agent messages received (snapshots aside), to spot a dump that failed because the agent was connected */
  private agentMessages = 0;
  /** the agent has said hello: from then on a restored copy can take the SIGUSR1 a restore sends */
  private agentReady = false;
  private generation = 0;
  private patchFiles: PatchFiles = {};
  private decision?: EngineReply;
  private lastReport?: CrashReport;
  /** a crash reported from code older than the accepted repair, answered with the repair (see 'crash') */
  private staleCrash?: CrashReport;
  private stderrTail = '';
  private readonly launchSources = new Map<string, string>();
  /** stdin received before the first copy started (null: end of input) */
  private pendingStdin: Array<Buffer | string | null> = [];
  private lastLine = '';
  /** program output bytes on the current timeline, and where each checkpoint was in it */
  private outputBytes = 0;
  private readonly outputAt = new Map<number, number>();
  /** the agent's undo journal of the files the program changes (fileRewind.ts) */
  private files?: FileJournal;
  /** the last checkpoint failure shown: the same failure again is only logged, not shown again */
  private failedDump?: string;
  /** the program's input has ended (every later copy gets end-of-file too) */
  private stdinEnded = false;
  private stdinBytes = 0;
  private outputPaused = false;
  /** copies whose stdin has no live peer any more: their images hold a half-closed stdin */
  private readonly stdinGone = new WeakSet<ProgramCopy>();
  private readonly debugCtl: DebugControl;
  /** the program's other processes that run the agent (forked workers): they poll for repaired code too */
  private readonly agents = new AgentProcesses();
  /** the copy just restored, until its agent has answered (see watchRestore) */
  private restoreWatch?: { pid: number; answered: boolean };
  runDir = '';

  constructor(readonly opts: RunOptions, private readonly deps: SupervisorDeps = {}) {
    super();
    this.pacer = new AdaptiveInterval({ intervalS: opts.interval, pauseBudget: opts.pauseBudget });
    this.debugCtl = new DebugControl({
      // Before its hello the agent has no SIGUSR1 handler (the signal would kill it); it gets the
      // debugger's configuration in the reply to that hello anyway.
      poke: () => { if (this.agentReady && this.current?.alive && this.state !== 'restoring') this.current.signal('SIGUSR1'); },
      stopped: (stopped) => {
        if (stopped) {
          this.stops++;
          this.state = 'paused';
          if (this.timer) clearTimeout(this.timer);
        } else if (this.state === 'paused') {
          this.state = 'running';
          this.schedule();
        }
      },
    }, this);
  }

  /** Breakpoints, pause, steps and evaluation in the paused program (debugControl.ts). */
  get debug(): DebugControl { return this.debugCtl; }

  get pid(): number | undefined { return this.current?.pid; }
  /** the interpreter the program runs with, once started */
  get python(): Interpreter | undefined { return this.interpreter; }
  get checkpoints(): readonly CheckpointRecord[] { return this.kept; }
  get codeGeneration(): number { return this.generation; }
  /** the backend taking the checkpoints, once started */
  get backendKind(): CheckpointKind | undefined { return this.backend?.kind; }
  get crashReport(): CrashReport | undefined { return this.lastReport; }
  /** the program is alive, paused on a crash, waiting for a decision */
  get pausedOnCrash(): boolean { return this.state === 'crashed' && !!this.current?.alive; }
  get logFile(): string | undefined { return this.log?.file; }
  /** accepted repaired sources so far (absolute path → text) */
  get repairedSources(): Readonly<PatchFiles> { return this.patchFiles; }

  /** The text a user file had when the program first crashed in it (what generation 0 runs). */
  launchSource(file: string): string | undefined {
    return this.launchSources.get(file);
  }

  /** Starts the program from scratch in a new run folder. */
  async start(): Promise<void> {
    await this.prepare();
    const [cmd, args] = this.command();
    this.note('info', `run dir ${this.runDir}; starting ${cmd} ${args.join(' ')}`);
    const copy = await this.backend!.launch(cmd, args, this.opts.cwd, this.childEnv());
    this.keeper?.track(copy.pid);
    this.adopt(copy);
    this.state = 'running';
    this.emit('started', { pid: copy.pid, runDir: this.runDir, backend: this.backend!.kind });
    this.schedule();
  }

  /** Continues an earlier run (this or another session) from one of its kept checkpoints. */
  async startFrom(runDir: string, id: number): Promise<void> {
    await this.prepare(runDir);
    this.emit('started', { pid: 0, runDir: this.runDir, backend: this.backend!.kind });
    await this.restore(id);
  }

  private async prepare(existingRunDir?: string): Promise<void> {
    if (this.state !== 'idle') throw new Error('already started');
    this.interpreter = await resolveInterpreter(this.opts.python, this.opts.cwd);
    let info: RunInfo | undefined;
    if (existingRunDir) {
      this.runDir = existingRunDir;
      info = readRunInfo(existingRunDir);
      this.kept = listCheckpoints(existingRunDir);
      this.nextId = Math.max(0, ...this.kept.map((c) => c.id)) + 1;
      this.generation = Math.max(0, ...this.kept.map((c) => c.generation));
    } else {
      try {
        this.runDir = createRunDir(this.opts.workingDir);
      } catch (e) {
        throw new AxolotlError(
          `cannot create the checkpoint folder under ${this.opts.workingDir}`,
          'Choose a writable folder with --working-dir.',
          (e as Error).message,
        );
      }
    }
    this.log = new EngineLog(this.opts.logFile ?? path.join(this.runDir, 'engine.log'));
    this.keeper = new SessionKeeper(this.interpreter.executable);
    if (this.deps.backend) {
      this.backend = this.deps.backend(this.interpreter.executable, this.backendContext());
      // Fork snapshots start the journal's epochs themselves; the helper's dumps would not; a backend
      // that saves the files held open at its dumps (a container's criu) starts them there.
      if (this.journaled() && this.backend.kind === 'fork') this.files = this.openJournal(true);
      else if (this.backend.saveFiles) {
        if (this.journaled()) this.files = this.openJournal(false);
        this.backend.saveFiles(this.fileSaving());
      }
    } else {
      if (!this.deps.criu) throw new AxolotlError('no working criu found', 'Run `axolotl doctor` to see why and how to fix it.');
      // With snapshots the agent starts the epochs (and saves the files held open at each); criu's
      // post-dump starts those of frozen dumps.
      if (this.journaled()) this.files = this.openJournal(this.snapshotsWanted());
      this.backend = new CriuBackend({
        criu: this.deps.criu, criuEnv: this.deps.criuEnv, python: this.interpreter.executable, verbose: this.opts.verbose, files: this.fileSaving(),
        // Rewind points are fork snapshots held in memory; criu saves some of them beside the program.
        snapshots: this.snapshotsWanted(),
        memory: this.opts.snapshotMemory, intervalS: this.opts.interval,
        log: (level, message) => this.note(level, message),
        track: (sid) => this.keeper?.track(sid),
      });
    }
    this.backend.attach?.(this.backendEvents());
    if (this.opts.agent) {
      this.channel = new AgentChannel((m) => this.onAgentMessage(m), info?.socketPath);
      this.channel.on('error', (e) => this.note('warn', `agent channel: ${e.message}`));
      await this.channel.listen();
    }
    if (!existingRunDir) {
      writeRunInfo(this.runDir, {
        program: this.opts.program, args: this.opts.args, cwd: this.opts.cwd,
        python: this.interpreter.executable, started: new Date().toISOString(), backend: this.backend.kind,
        socketPath: this.channel?.socketPath, agent: this.opts.agent,
        ...(this.opts.container ? { container: this.opts.container } : {}),
      });
    }
  }

  /** Takes a checkpoint now (also used for the crash checkpoint, with the stack alive). */
  checkpoint(atCrash = false): Promise<CheckpointRecord | undefined> {
    return this.serialize(() => this.dump(atCrash));
  }

  /**
   * Kills the current copy and restores checkpoint `id`. The restored task starts stopped; with the
   * agent we queue SIGUSR1 before SIGCONT so it polls for repaired code before running user code.
   */
  restore(id: number): Promise<void> {
    return this.serialize(async () => {
      const rec = this.kept.find((c) => c.id === id);
      if (!rec) throw new AxolotlError(`no checkpoint ${id} is kept`, `Kept: ${this.kept.map((c) => c.id).join(', ') || 'none'}.`);
      const before = this.state;
      await this.backend!.prepareRestore?.(rec);
      // Held in memory only, and let go meanwhile (a save that failed, the memory budget): refused
      // while the program is still there.
      if (rec.saved === false && !this.backend!.holds?.(id)) {
        throw new AxolotlError(`checkpoint ${id} is gone: it was held in memory only`, 'The program was left as it was. Restore another checkpoint.');
      }
      const live = this.current?.alive ? this.current : undefined;
      // Refused while the program is still there: images gone or damaged, a process ID taken.
      // A checkpoint held in memory is woken, not read from images.
      const fromImages = this.backend!.kind === 'criu' && !this.backend!.holds?.(id);
      const held = checkRestorable(rec, fromImages ? 'criu' : 'fork', live ? threadIds(processTree(live.pid)) : []);
      const items = describeRewind({
        checkpointId: id, pid: live?.pid, stdioInodes: live?.stdioInodes ?? [], dir: rec.dir, backend: this.backend!.kind,
        stdinUsed: this.stdinBytes > 0, ownProcesses: this.backend!.heldPids?.(), journaled: !!this.files,
        outputSince: live ? Math.max(0, this.outputBytes - (this.outputAt.get(id) ?? this.outputBytes)) : 0,
      });
      this.state = 'restoring';
      const started = performance.now();
      if (live) {
        this.note('info', `stopping process ${live.pid} to restore checkpoint ${id}`);
        await live.kill();
        // Its children (in the checkpoint too) must be reaped before criu can give their IDs back.
        if (!(await waitIdsFree(held))) this.note('warn', `process IDs ${held.join(', ')} are still in use; the restore may fail`);
      }
      const files = this.rewindFiles(rec);
      for (const p of files.problems) this.note('warn', `cannot rewind a file: ${p}`);
      const notice = rewindNotice(id, items, files);
      this.note('info', notice.text);
      if (notice.items.length || notice.rewound.length) this.emit('rewind', notice);
      let copy: ProgramCopy;
      try {
        copy = await this.backend!.restore(rec, ++this.restores);
      } catch (e) {
        this.logRestore(rec);
        const log = this.backend?.restoreLog?.(rec, this.restores) ?? '';
        const why = explainRestoreFailure(log);
        const err = e instanceof AxolotlError
          ? new AxolotlError(e.message, e.hint, [why && `Likely cause: ${why}`, live && 'The program was stopped for the restore and is not running any more.', e.details].filter(Boolean).join('\n'))
          : e;
        if (live) {
          // The program is gone: end the run cleanly (consumers wait for an exit) instead of hanging.
          this.state = 'exited';
          this.current = undefined;
          if (this.timer) clearTimeout(this.timer);
          this.note('error', `could not restore checkpoint ${id}: ${(e as Error).message}`);
          this.emit('exit', { status: 1 });
        } else {
          this.state = before === 'running' ? 'exited' : before;
        }
        throw err;
      }
      this.logRestore(rec);
      this.keeper?.track(copy.pid);
      this.outputBytes = this.outputAt.get(id) ?? 0;
      // Input that ended stays ended: a copy restored with a fresh stdin gets end-of-file at once.
      if (rec.stdinClosed) this.stdinGone.add(copy);
      else if (this.stdinEnded) { copy.stdin.end(); this.stdinGone.add(copy); }
      this.adopt(copy);
      // A copy restored at a crash is paused on it again: it polls with crashed=true.
      const crash = rec.atCrash ? readCrash(rec) : undefined;
      this.decision = crash && this.generation > rec.generation
        ? { type: 'patch', generation: this.generation, files: this.patchFiles }
        : undefined;
      // criu leaves every process of the tree stopped (--leave-stopped): the program's workers as well,
      // or it would wait on them for ever. Those running the agent poll for repaired code first, too.
      const others = descendantsOf(copy.pid, this.backend!.heldPids?.());
      this.watchRestore(copy, rec);
      if (this.channel) {
        copy.signal('SIGUSR1');
        signalAll(this.agents.among(others, rec.agents), 'SIGUSR1');
      }
      signalAll(others, 'SIGCONT');
      copy.signal('SIGCONT');
      this.state = crash && !this.decision ? 'crashed' : 'running';
      const ms = performance.now() - started;
      this.note('info', `restored checkpoint ${id} as process ${copy.pid} in ${ms.toFixed(0)} ms`);
      this.emit('restored', { checkpoint: rec, pid: copy.pid, ms, generation: this.generation });
      if (crash && !this.decision) {
        this.lastReport = crash;
        this.emit('crash', { traceback: crash.traceback, report: crash, paused: true, generation: crash.generation });
      }
      this.schedule();
    });
  }

  /**
   * Records accepted repaired sources (absolute path → complete text). Every later poll from an agent
   * running older code gets them, whether that agent is paused on the crash or was just restored.
   */
  acceptRepair(files: PatchFiles): number {
    this.patchFiles = { ...this.patchFiles, ...files };
    return ++this.generation;
  }

  /** Answers the agent paused on a crash (in place, no restore). */
  decide(decision: CrashDecision): void {
    if (this.state !== 'crashed' || !this.current) throw new Error('no paused crash to decide');
    this.decision = decision.type === 'patch'
      ? { type: 'patch', generation: this.generation, files: this.patchFiles, ...(decision.topLevel === false ? { topLevel: false } : {}) }
      : decision;
    this.debugCtl.crashDecided();
    this.state = 'running';
    // The repaired code may run in the program's workers (a pool's work function): they swap it in too.
    if (decision.type === 'patch') signalAll(this.agentWorkers(this.current), 'SIGUSR1');
    this.current.signal('SIGUSR1');
    if (decision.type !== 'abort') this.schedule();
  }

  writeStdin(data: Buffer | string): void {
    this.stdinBytes += data.length;
    // Input that arrives before the program exists (a pipe into the CLI) waits for it.
    if (!this.current) this.pendingStdin.push(data);
    else if (this.current.alive) this.current.stdin.write(data);
  }

  /** Stops reading the program's output (the consumer is behind): the program blocks on its writes. */
  pauseOutput(): void {
    this.outputPaused = true;
    this.current?.stdout.pause();
    this.current?.stderr.pause();
  }

  resumeOutput(): void {
    this.outputPaused = false;
    this.current?.stdout.resume();
    this.current?.stderr.resume();
  }

  endStdin(): void {
    this.stdinEnded = true;
    if (!this.current) this.pendingStdin.push(null);
    else {
      this.stdinGone.add(this.current);
      this.current.stdin.end();
    }
  }

  /** Stops the program (every copy), the timer and the channel. Checkpoint images stay on disk. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    await this.ops.catch(() => undefined);
    if (this.current?.alive) await this.current.kill();
    // Children the program left behind in its session (it was started as a session leader) end with it.
    if (this.current) killSession(this.current.pid);
    await this.backend?.close();
    // Checkpoints held only in memory are gone with the session.
    for (const c of this.kept) if (c.saved === false) deleteCheckpoint(c);
    this.channel?.close();
    this.keeper?.close();
    this.log?.close();
  }

  private command(): [string, string[]] {
    const py = this.interpreter!.executable;
    return this.opts.agent
      ? [py, ['-m', 'axolotl_agent', this.opts.program, ...this.opts.args]]
      : [py, [this.opts.program, ...this.opts.args]];
  }

  private childEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.opts.env };
    // Output must reach the user live, and a dump must not capture half-written buffers that the
    // restored copy would print a second time.
    env.PYTHONUNBUFFERED ??= '1';
    if (this.channel) {
      env.PYTHONPATH = [pythonDir(), env.PYTHONPATH].filter(Boolean).join(path.delimiter);
      env.AXOLOTL_SOCKET = this.channel.socketPath;
      env.AXOLOTL_ROOT = this.opts.root;
      env.AXOLOTL_GENERATION = String(this.generation);
      env.AXOLOTL_BACKEND = this.backend?.kind ?? 'criu';
      Object.assign(env, this.backend?.agentEnv?.(), this.files?.agentEnv());
    }
    return env;
  }

  private adopt(copy: ProgramCopy): void {
    this.current = copy;
    for (const chunk of this.pendingStdin.splice(0)) {
      if (chunk === null) { copy.stdin.end(); this.stdinGone.add(copy); } else copy.stdin.write(chunk);
    }
    this.stderrTail = '';
    const forward = (stream: 'stdout' | 'stderr') => (data: Buffer) => {
      // Bytes a replaced copy wrote before it was killed belong to a timeline that was rewound.
      if (copy !== this.current) return;
      this.outputBytes += data.length;
      if (stream === 'stderr') this.stderrTail = (this.stderrTail + data.toString('utf8')).slice(-STDERR_TAIL);
      const text = data.toString('utf8').replace(/\n+$/, '');
      const nl = text.lastIndexOf('\n');
      if (text) this.lastLine = text.slice(nl + 1);
      this.emit('output', { stream, data });
    };
    copy.stdout.on('data', forward('stdout'));
    copy.stderr.on('data', forward('stderr'));
    if (this.outputPaused) { copy.stdout.pause(); copy.stderr.pause(); }
    copy.stdin.on('error', () => undefined); // the program may close stdin; not our error
    void copy.exited.then(async (ev) => {
      // Let the last output arrive before the exit is reported.
      await Promise.all([streamEnd(copy.stdout), streamEnd(copy.stderr)]);
      // Output held back for a slow reader is still the program's: wait for it (it does end).
      while (this.outputPaused && copy === this.current && !(ended(copy.stdout) && ended(copy.stderr))) {
        await new Promise((r) => setTimeout(r, 50));
      }
      this.onExit(copy, ev);
    });
  }

  private onExit(copy: ProgramCopy, ev: ExitEvent): void {
    if (copy !== this.current || this.state === 'restoring' || this.state === 'stopped') return;
    if (this.timer) clearTimeout(this.timer);
    this.state = 'exited';
    this.note('info', `process ${copy.pid} exited with status ${ev.status}`);
    if (!this.channel && ev.status !== 0) {
      const at = this.stderrTail.lastIndexOf(TRACEBACK_MARK);
      if (at >= 0) {
        const crash: CrashEvent = { traceback: this.stderrTail.slice(at), paused: false, generation: this.generation };
        this.emit('crash', crash);
      }
    }
    this.emit('exit', ev);
  }

  private onAgentMessage(msg: AgentMessage): EngineReply {
    // Snapshots and their wake-ups are not talk that spoils a dump.
    if (msg.type !== 'snapshot' && msg.type !== 'wake') this.agentMessages++;
    if (this.restoreWatch?.pid === msg.pid && msg.type !== 'wake') this.restoreWatch.answered = true;
    // The program's workers (forked from it, with the agent) poll and swap like the program; what they
    // say is theirs alone: they never pause on a crash (the pool hands its exceptions to the program).
    if (msg.type === 'worker') return this.onWorker(msg);
    if (msg.type === 'patched' && this.current && msg.pid !== this.current.pid) {
      this.note(msg.ok ? 'debug' : 'warn', msg.ok
        ? `worker process ${msg.pid} swapped in generation ${msg.generation}`
        : `worker process ${msg.pid} could not apply generation ${msg.generation}: ${msg.error}`);
      return { type: 'ok' };
    }
    this.backend?.onAgentMessage?.(msg);
    if (msg.type === 'snapshot') {
      this.files?.onSnapshot(msg);
    }
    switch (msg.type) {
      case 'wake':
        // Only a copy the backend continued on purpose may run (snapshotPool.ts).
        return { type: this.backend?.wakeVerdict?.(msg.pid) ?? 'stop' };
      case 'hello':
        this.agentReady = true;
        this.note('debug', `agent ready in process ${msg.pid} (Python ${msg.python}, generation ${msg.generation})`);
        return { type: 'ok', ...this.debugCtl.extras() };
      case 'crash': {
        this.crashes++;
        const older = Math.min(msg.generation, msg.raisedGeneration ?? msg.generation);
        if (older < this.generation && this.restores > 0) {
          // A restored copy reports a crash of code older than the accepted repair: its checkpoint was
          // taken while the agent was already handling this crash (after the exception, before the
          // report reached us), so it never got to swap the repair in; or the exception was raised by
          // older code (a worker's, on its way to the program) before the copy swapped. Answer with the
          // repair, as for a restored crash checkpoint, rather than reporting a crash of the repaired code.
          this.staleCrash = msg;
          this.state = 'crashed';
          if (this.timer) clearTimeout(this.timer);
          this.decision = { type: 'patch', generation: this.generation, files: this.patchFiles };
          this.note('info', `process ${msg.pid} reported a crash of generation ${older} (restored while handling it): swapping in generation ${this.generation}`);
          setImmediate(() => this.current?.signal('SIGUSR1'));
          return { type: 'wait' };
        }
        if (!this.debugCtl.stopsOnUncaught) {
          this.note('info', `process ${msg.pid}: uncaught ${msg.exception.type}; not stopping, the "Uncaught Exceptions" filter is off`);
          return { type: 'abort' };
        }
        this.reportCrash(msg);
        return { type: 'wait' };
      }
      case 'poll': {
        if (msg.crashed) {
          const d = this.decision;
          if (!d) return this.debugCtl.onPausedPoll(false);
          this.decision = undefined;
          if (this.staleCrash && this.state === 'crashed') {
            this.state = 'running';
            this.schedule();
          }
          return { ...d, debug: this.debugCtl.config } as EngineReply;
        }
        if (msg.stopped) return this.debugCtl.onPausedPoll(true);
        const extras = this.debugCtl.extras();
        return msg.generation < this.generation
          ? { type: 'patch', generation: this.generation, files: this.patchFiles, ...extras }
          : { type: 'continue', ...extras };
      }
      case 'patched': {
        const stale = this.staleCrash;
        this.staleCrash = undefined;
        this.emit('patched', {
          generation: msg.generation, ok: msg.ok, restarted: msg.restarted, error: msg.error, ...(msg.cannotResume ? { cannotResume: true } : {}),
        });
        // The repair could not be swapped in to answer a stale crash: it is a crash like any other.
        if (stale && !msg.ok) setImmediate(() => this.reportCrash(stale));
        // A refusal to resume is the repair flow's to explain (repairFlow.ts).
        this.note(msg.ok ? 'info' : msg.cannotResume ? 'debug' : 'warn', msg.ok
          ? `agent swapped in generation ${msg.generation}${msg.restarted ? `; ${msg.restarted}` : ''}`
          : `agent could not apply generation ${msg.generation}: ${msg.error}`);
        for (const w of msg.warnings ?? []) this.note('warn', `repair ${msg.generation}: ${w}`);
        return { type: 'ok' };
      }
      case 'verified':
        this.emit('verified', { generation: msg.generation });
        this.note('info', `generation ${msg.generation} ran past the crash point`);
        return { type: 'ok' };
      case 'stopped':
        this.note('debug', `process ${msg.pid} stopped (${msg.reason})`);
        return this.debugCtl.onStopped(msg);
      case 'debugResult':
        return this.debugCtl.onResult(msg);
      case 'debugOutput':
        return this.debugCtl.onOutput(msg);
      default:
        return { type: 'ok' };
    }
  }

  /**
   * A process forked from the program announces that it runs the agent. One forked from code older than
   * the current generation (a pool replacing a worker before the restored program swapped) is told to
   * poll at once.
   */
  private onWorker(msg: WorkerMessage): EngineReply {
    this.agents.add(msg.pid);
    this.note('debug', `process ${msg.pid} (forked from ${msg.parent}) runs the agent`);
    if (this.current && msg.generation < this.generation && this.agentWorkers(this.current).includes(msg.pid)) {
      signalAll([msg.pid], 'SIGUSR1');
    }
    return { type: 'ok' };
  }

  /** The processes of `copy` besides itself that run the agent (held snapshots left out). */
  private agentWorkers(copy: ProgramCopy): number[] {
    return this.agents.among(descendantsOf(copy.pid, this.backend?.heldPids?.()));
  }

  /**
   * A restore has finished once the restored program's agent has answered (it polls for repaired code
   * before it runs anything) and no process of its tree is left stopped. One that has not within the
   * restore's time limit, with processes still stopped or a repair it never took, is stopped, saying
   * what was missing, rather than left hanging for ever or running the code that crashed.
   */
  private watchRestore(copy: ProgramCopy, rec: CheckpointRecord): void {
    const watch = { pid: copy.pid, answered: !this.channel };
    this.restoreWatch = watch;
    const limit = restoreAnswerMs(rec);
    const started = Date.now();
    const tick = () => {
      if (copy !== this.current || !copy.alive || this.restoreWatch !== watch) return;
      const stopped = [copy.pid, ...descendantsOf(copy.pid, this.backend?.heldPids?.())].filter(isStopped);
      if (watch.answered && !stopped.length) {
        this.restoreWatch = undefined;
        return;
      }
      if (Date.now() - started < limit) {
        setTimeout(tick, 100).unref();
        return;
      }
      this.restoreWatch = undefined;
      if (!stopped.length && this.generation <= rec.generation) {
        this.note('debug', `the agent of restored process ${copy.pid} has not answered yet; no repair waits for it`);
        return;
      }
      const missing = [
        !watch.answered && `its agent (process ${copy.pid}) did not answer`,
        stopped.length && `${stopped.slice(0, 4).map(describeProcess).join(', ')} ${stopped.length > 1 ? 'are' : 'is'} still stopped`,
      ].filter(Boolean).join('; ');
      this.note('error', `the restore of checkpoint ${rec.id} did not finish within ${Math.round(limit / 1000)} s: ${missing}. The restored program was stopped.`);
      void copy.kill();
    };
    setTimeout(tick, 100).unref();
  }

  /** The agent is paused on an uncaught exception: tell the consumers, keep the moment as a checkpoint. */
  private reportCrash(msg: CrashReport): void {
    this.state = 'crashed';
    this.lastReport = msg;
    this.decision = undefined;
    for (const f of msg.frames) {
      if (f.user && !this.launchSources.has(f.file) && !(f.file in this.patchFiles)) {
        try { this.launchSources.set(f.file, fs.readFileSync(f.file, 'utf8')); } catch { /* gone */ }
      }
    }
    if (this.timer) clearTimeout(this.timer);
    this.note('info', `crash in process ${msg.pid}: ${msg.exception.type}: ${msg.exception.message}`);
    setImmediate(() => {
      this.emit('crash', { traceback: msg.traceback, report: msg, paused: true, generation: msg.generation });
      // Keep the crash moment itself, stack alive, as a checkpoint (the agent has closed its
      // connection by the time the serialized dump runs).
      // The same failure as the timed checkpoints' (fork cannot snapshot the program) was said already.
      void this.checkpoint(true).catch((e: Error) => this.note(e.message === this.failedDump ? 'debug' : 'warn', `could not save the crash as a checkpoint: ${e.message}`));
    });
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.state !== 'running') return;
    // Nothing left that can take one (criu off after failures, and no snapshots): said with the failure.
    if (this.backend?.canCheckpoint === false) {
      this.note('debug', 'no more checkpoints in this run');
      return;
    }
    const since = performance.now();
    // The wait depends on the program's size: checked again when it is over, in case it grew.
    const kind = this.backend?.pacingKind ?? this.backend?.kind;
    const wait = () => this.pacer.remainingMs(performance.now() - since, this.current?.pid, kind);
    const due = () => {
      const more = wait();
      if (more > 0) {
        this.timer = setTimeout(due, more);
        return;
      }
      void this.serialize(() => this.dump(false))
        .catch((e: Error) => this.dumpFailed(e))
        .finally(() => this.schedule());
    };
    this.timer = setTimeout(due, wait());
  }

  private async dump(atCrash: boolean): Promise<CheckpointRecord | undefined> {
    const copy = this.current;
    const wanted = atCrash ? 'crashed' : 'running';
    if (!copy?.alive || this.state !== wanted) return undefined;
    // Before the agent's first hello its SIGUSR1 handler is not installed, and a copy restored from such
    // an image dies of the signal every restore sends (status 138). Nothing worth keeping has run yet.
    if (this.channel && !this.agentReady && !atCrash) return undefined;
    await this.channel?.whenIdle();
    // A crash may have been reported while we waited: an ordinary dump now would capture the paused
    // crash and later be restored as if it were a point before it.
    if (this.state !== wanted || copy !== this.current) return undefined;
    const crashesBefore = this.crashes;
    const stopsBefore = this.stops;
    const messagesBefore = this.agentMessages;
    const id = this.nextId++;
    this.emit('checkpointStarted', { atCrash });
    const dir = checkpointDir(this.runDir, id);
    const lastOutput = this.lastLine;
    const outputBefore = this.outputBytes;
    const stdinClosed = this.stdinGone.has(copy) || copy.stdin.destroyed;
    // A frozen dump holds the whole tree: a restore of it tells the workers running the agent to poll too.
    const agents = this.agentWorkers(copy);
    let res;
    this.files?.beginDump();
    try {
      res = await this.backend!.dump(copy, dir, { id, atCrash });
    } catch (e) {
      deleteCheckpoint({ dir } as CheckpointRecord);
      // Not failures, and the next interval tries again: the copy exited or was replaced meanwhile (criu
      // can notice a restored copy is gone before its wrapper's exit reaches us, so wait a little for
      // it), or the agent opened a connection to us while criu was freezing it (criu refuses a live
      // socket to outside the process tree).
      // (Not with fork snapshots: there the agent's answer is the snapshot, and a refusal is a failure.)
      const talked = () => this.backend!.kind !== 'fork' && (this.agentMessages !== messagesBefore || !!this.channel?.busy);
      if (!talked() && await exitsSoon(copy, 500)) return undefined;
      if (copy !== this.current) return undefined;
      if (talked()) {
        this.note('debug', `checkpoint ${id} skipped: the agent was talking to the engine during the dump`);
        return undefined;
      }
      throw e;
    } finally {
      if (this.opts.verbose) this.log?.include(`criu dump log #${id}`, path.join(dir, 'dump.log'));
    }
    // Replaced while dumping: the image is of a copy that no longer matters. Crashed while dumping:
    // the image may be before or after the crash, so it cannot be offered as either.
    if (copy !== this.current || (!atCrash && (this.crashes !== crashesBefore || this.stops !== stopsBefore))) {
      this.backend!.discard({ dir } as CheckpointRecord);
      return undefined;
    }
    const rec: CheckpointRecord = {
      id, time: Date.now(), bytes: res.bytes, frozenMs: res.frozenMs, dumpMs: res.dumpMs,
      generation: this.generation, atCrash: atCrash || undefined, lastOutput: lastOutput || undefined,
      backend: this.backend!.kind, dir, stdioInodes: copy.stdioInodes, pid: res.pid ?? copy.pid,
      inMemory: !!res.inMemory, saved: res.saved ?? !res.inMemory,
      ...(stdinClosed ? { stdinClosed } : {}),
      ...(agents.length && !res.inMemory ? { agents } : {}),
    };
    this.outputAt.set(id, outputBefore);
    this.files?.checkpointTaken(dir, res.pid);
    writeCheckpointRecord(rec);
    if (atCrash && this.lastReport) fs.writeFileSync(path.join(dir, 'crash.json'), JSON.stringify(this.lastReport));
    this.kept.push(rec);
    if (this.failedDump && !atCrash) {
      this.failedDump = undefined;
      this.note('info', `checkpoints work again (checkpoint ${id})`);
    }
    this.note('debug', `checkpoint ${id}: ${(res.bytes / 1e6).toFixed(1)} MB, frozen ${res.frozenMs.toFixed(1)} ms, dump ${res.dumpMs.toFixed(0)} ms`);
    // Oldest out before the newest in: a timeline never shows more than maxSaves checkpoints.
    this.evict(rec);
    this.emit('checkpoint', rec);
    if (!atCrash) this.pacer.observe({ frozenMs: rec.frozenMs, dumpMs: rec.dumpMs, pid: copy.pid });
    return rec;
  }

  /** Ring buffer: at most maxSaves ordinary checkpoints, plus the latest crash checkpoint. */
  private evict(latest: CheckpointRecord): void {
    const drop: CheckpointRecord[] = [];
    if (latest.atCrash) drop.push(...this.kept.filter((c) => c.atCrash && c !== latest));
    const ordinary = this.kept.filter((c) => !c.atCrash);
    const max = this.opts.maxSaves;
    if (max !== undefined && max >= 0 && ordinary.length > max) drop.push(...ordinary.slice(0, ordinary.length - max));
    for (const c of drop) {
      this.backend!.discard(c);
      this.kept = this.kept.filter((k) => k !== c);
      this.emit('checkpointDeleted', c);
    }
    this.files?.collect(this.kept);
  }

  /** Changes to checkpoints after they were taken: a held snapshot saved to disk, or let go. */
  private backendEvents(): BackendEvents {
    return {
      saved: (id, info) => {
        const rec = this.kept.find((c) => c.id === id);
        if (!rec) return;
        rec.saved = true;
        rec.bytes = info.bytes;
        rec.pid = info.pid;
        writeCheckpointRecord(rec);
        this.note('debug', `checkpoint ${id} saved: ${(info.bytes / 1e6).toFixed(1)} MB in ${info.dumpMs.toFixed(0)} ms`);
        this.emit('checkpointUpdated', rec);
      },
      released: (id, why) => {
        const rec = this.kept.find((c) => c.id === id);
        if (!rec) return;
        rec.inMemory = false;
        this.note('debug', `checkpoint ${id} is no longer held in memory: ${why}`);
        if (rec.saved) {
          writeCheckpointRecord(rec);
          this.emit('checkpointUpdated', rec);
          return;
        }
        this.kept = this.kept.filter((c) => c !== rec);
        deleteCheckpoint(rec);
        this.emit('checkpointDeleted', rec);
      },
    };
  }

  /** A timed checkpoint failed: say so once per kind of failure, with the advice; log the rest. */
  private dumpFailed(e: Error): void {
    const ax = e instanceof AxolotlError ? e : undefined;
    const repeat = this.failedDump === e.message;
    this.failedDump = e.message;
    if (repeat) {
      this.note('debug', `checkpoint failed again: ${e.message}`);
      return;
    }
    this.note('warn', [`checkpoint failed: ${e.message}`, ax?.hint, ax?.details].filter(Boolean).join('\n'));
  }

  private backendContext(): BackendContext {
    return {
      runDir: this.runDir,
      track: (sid) => this.keeper?.track(sid),
      atExit: (argv) => this.keeper?.atExit(argv) ?? (() => undefined),
      log: (level, message) => this.note(level, message),
    };
  }

  /** Which files are saved whole (the workspace), and with what. */
  private fileSaving(): FileSaveOptions {
    return { workspace: this.workspace(), python: this.interpreter!.executable, journal: this.files };
  }

  private workspace(): string[] {
    return [...new Set([this.opts.root, this.opts.cwd])];
  }

  /** Whether the agent journals the files the program changes (AXOLOTL_FILE_JOURNAL=0: no, as before it did). */
  private journaled(): boolean {
    return this.opts.agent && process.env.AXOLOTL_FILE_JOURNAL !== '0';
  }

  /** The agent journals every file the program changes; `heldOpen`: also the files held open, at each snapshot. */
  /** Rewind points are fork snapshots held in memory (criu saves some beside the program). */
  private snapshotsWanted(): boolean {
    return this.opts.agent && process.env.AXOLOTL_SNAPSHOTS !== '0';
  }

  private openJournal(heldOpen: boolean): FileJournal {
    return FileJournal.open(this.runDir, {
      workspace: this.workspace(), exclude: [this.opts.workingDir, this.runDir], root: this.opts.root, heldOpenAtSnapshots: heldOpen,
      confined: this.confined(),
    });
  }

  /** The program has less privilege than the engine (root in a container): rewinds never follow its links out. */
  private confined(): boolean {
    return this.backend?.kind === 'container';
  }

  /** Puts the files back as at checkpoint `rec`: the journal when the agent keeps one, else the files held open. */
  private rewindFiles(rec: CheckpointRecord): FileRewindResult {
    if (this.files) return this.files.rewind(rec, this.kept);
    return rewindFiles(rec, { root: this.opts.root, maxCopy: DEFAULT_MAX_COPY_BYTES, ...(this.confined() ? { confined: true, workspace: this.workspace() } : {}) });
  }

  private logRestore(rec: CheckpointRecord): void {
    const text = this.backend?.restoreLog?.(rec, this.restores);
    if (text) this.log?.write('debug', `restore log of checkpoint ${rec.id}:\n${text.trimEnd().replace(/^/gm, '    ')}`);
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.ops.then(fn, fn);
    this.ops = run.catch(() => undefined);
    return run;
  }

  private note(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.log?.write(level, message);
    this.emit('log', { level, message });
  }
}

/**
 * How long a restored program may take to answer: its agent polls at the next bytecode, which a long
 * call into C delays. AXOLOTL_RESTORE_ANSWER_S sets it (the tests of this very limit).
 */
function restoreAnswerMs(rec: CheckpointRecord): number {
  const set = Number(process.env.AXOLOTL_RESTORE_ANSWER_S);
  return set > 0 ? set * 1000 : Math.max(60_000, restoreTimeoutMs(rec));
}

function readCrash(rec: CheckpointRecord): CrashReport | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(rec.dir!, 'crash.json'), 'utf8')) as CrashReport;
  } catch {
    return undefined;
  }
}

/** True if the copy has exited, or does within `ms`. */
function exitsSoon(copy: ProgramCopy, ms: number): Promise<boolean> {
  if (!copy.alive) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(!copy.alive), ms);
    void copy.exited.then(() => { clearTimeout(t); resolve(true); });
  });
}

function ended(s: NodeJS.ReadableStream): boolean {
  return !!(s as unknown as { readableEnded?: boolean }).readableEnded;
}

function streamEnd(s: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    if ((s as unknown as { readableEnded?: boolean }).readableEnded) return resolve();
    s.once('end', resolve);
    s.once('close', resolve);
    setTimeout(resolve, 500).unref();
  });
}

/** True when the folder can hold checkpoint images. */
export function isWritableDir(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
