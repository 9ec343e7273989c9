// The debug session: translates DAP requests into engine calls and engine events into DAP events.
// No checkpoint, repair or process logic lives here; the engine (adapter/engine) does the work.
import path from 'node:path';
import {
  ContinuedEvent, Event, ExitedEvent, Handles, InitializedEvent, InvalidatedEvent, LoggingDebugSession,
  OutputEvent, ProgressEndEvent, ProgressStartEvent, ProgressUpdateEvent, Scope, Source, StackFrame, StoppedEvent,
  TerminatedEvent, Thread,
} from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { AgentFrame, AgentValue, DebugValue, ResumeMode, VariablesTarget } from '../engine/agentProtocol';
import { createEngine, type EngineFactory } from '../engine/backendChoice';
import type { DebugStop, ExceptionFilters } from '../engine/debugControl';
import { runPlain, type PlainRun } from '../engine/plainRun';
import { RepairFlow, type RepairFlowEvents } from '../engine/repairFlow';
import { killDescendants } from '../engine/procTree';
import { RUN_DEFAULTS } from '../engine/runDefaults';
import { Supervisor } from '../engine/supervisor';
import { AxolotlError, type CrashEvent, type RunOptions } from '../engine/types';
import { TIMELINE_DAP_EVENT, type TimelineUpdate } from '../protocol/timeline';
import {
  APPLY_REPAIR_REQUEST, CHECKPOINTS_REQUEST, PROPOSE_REPAIR_REQUEST, REJECT_REPAIR_REQUEST, REPAIR_PROPOSED_EVENT,
  REPAIR_STATUS_EVENT, RESTORE_REQUEST, type ApplyRepairArgs, type ProposeRepairArgs, type RejectRepairArgs,
  type RepairStatusBody, type RestoreArgs,
} from '../protocol/customProtocol';
import type { AxolotlLaunchArgs, PythonSource } from '../protocol/launchArgs';
import { checkLaunchArgs, runOptionsFrom } from './launchOptions';
import { checkpointInfo, crashInfo, restoreInfo, sessionEnd, stopInfo } from './timelineEvents';

const THREAD_ID = 1;
/** How long the unfinished end of an output line waits for the rest of the line (a prompt does not get one). */
const PARTIAL_LINE_MS = 50;

/** The exception breakpoint filters offered in the Breakpoints view (ExceptionFilters). */
const EXCEPTION_FILTERS: DebugProtocol.ExceptionBreakpointsFilter[] = [
  { filter: 'uncaught', label: 'Uncaught Exceptions', default: true, description: 'Pause on an exception nothing catches, with its stack alive, and offer a repair.' },
  { filter: 'raised', label: 'Raised Exceptions', default: false, description: 'Stop where an exception is raised in your code, even if it is caught.' },
];

const PYTHON_SOURCES: Record<PythonSource, string> = {
  launch: 'from the launch configuration',
  setting: 'from the setting axolotl.python',
  'python-extension': 'selected in the Python extension',
  default: `the default ${RUN_DEFAULTS.python}`,
};

/** What a Variables handle lists: live values of the paused program, or those a crash report carried. */
type VariablesSource = { kind: 'agent'; target: VariablesTarget; frame: number } | { kind: 'report'; values: Record<string, AgentValue> };

export interface AxolotlSessionOptions {
  /** the model API key (from SecretStorage, or AXOLOTL_API_KEY for the standalone adapter) */
  apiKey?: string;
  /**
   * Where a launch gets its engine (as mock-debug's session takes its runtime): by default the one
   * on the backend chosen for this machine. Tests give the fork backend (no root) or an engine on a
   * backend of their own.
   */
  engine?: EngineFactory;
}

export class AxolotlSession extends LoggingDebugSession {
  private sup?: Supervisor;
  private plain?: PlainRun;
  private flow?: RepairFlow;
  private launchArgs?: AxolotlLaunchArgs;
  private configured!: () => void;
  private readonly configurationDone = new Promise<void>((r) => { this.configured = r; });
  private readonly values = new Handles<VariablesSource>();
  private crash?: CrashEvent;
  /** the debugger's stop the program is in (breakpoint, step, pause, raised exception) */
  private debugStop?: DebugStop;
  private stopCount = 0;
  /** set before launch too: handed to the engine when it starts */
  private readonly breakpoints = new Map<string, DebugProtocol.SourceBreakpoint[]>();
  private exceptionFilters: ExceptionFilters = { uncaught: true, raised: false };
  private nextBreakpointId = 1;
  private crashCount = 0;
  /** checkpoint the live program was last restored from (undefined: running ahead of all of them) */
  private position?: number;
  private progressSupported = false;
  private ended = false;
  private shuttingDown = false;
  /** program output not sent yet: the unfinished end of a line, per stream */
  private readonly partial = new Map<'stdout' | 'stderr', { text: string; timer: NodeJS.Timeout }>();

  constructor(private readonly options: AxolotlSessionOptions = {}) {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
  }

  protected override initializeRequest(response: DebugProtocol.InitializeResponse, args: DebugProtocol.InitializeRequestArguments): void {
    this.progressSupported = !!args.supportsProgressReporting;
    response.body = {
      ...response.body,
      supportsConfigurationDoneRequest: true,
      supportsExceptionInfoRequest: true,
      supportsStepBack: true,
      supportsGotoTargetsRequest: true,
      supportsRestartFrame: true,
      supportsCancelRequest: true,
      supportsTerminateRequest: true,
      supportsEvaluateForHovers: true,
      supportsSingleThreadExecutionRequests: false,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsSetVariable: true,
      supportsCompletionsRequest: true,
      completionTriggerCharacters: ['.'],
      exceptionBreakpointFilters: EXCEPTION_FILTERS,
    };
    this.sendResponse(response);
    this.sendEvent(new InitializedEvent());
  }

  protected override configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.configured();
    this.sendResponse(response);
  }

  protected override async launchRequest(response: DebugProtocol.LaunchResponse, args: AxolotlLaunchArgs): Promise<void> {
    this.launchArgs = args;
    try {
      await this.configurationDone;
      const config = checkLaunchArgs(args);
      this.launchArgs = config;
      const opts = runOptionsFrom(config);
      if (config.normalRun) {
        this.plain = runPlain(opts);
        this.plain.on('output', (o) => this.output(o.stream, o.data.toString('utf8')));
        this.plain.on('exit', (ev) => this.end(ev.status));
        this.sendResponse(response);
        return;
      }
      const { supervisor: sup, note } = await (this.options.engine ?? createEngine)(opts);
      this.sup = sup;
      // The first lines: which interpreter runs the program, then how it is checkpointed.
      sup.once('started', () => {
        const py = sup.python;
        const source = PYTHON_SOURCES[config.pythonSource];
        if (opts.container) this.output('console', `axolotl: ${opts.container.python} in a container of ${opts.container.image} (podman, checkpointed whole)\n`);
        else if (py) this.output('console', `axolotl: Python ${py.version} (${py.executable}), ${source}\n`);
        if (note) this.output('console', `axolotl: ${note}\n`);
      });
      this.wireEngine(sup);
      for (const [file, bps] of this.breakpoints) sup.debug.setBreakpoints(file, this.breakpointSpecs(bps));
      sup.debug.setExceptionFilters(this.exceptionFilters);
      if (config.repair.enabled) {
        this.flow = new RepairFlow(sup, {
          model: { model: config.repair.model, baseUrl: config.repair.baseUrl, apiKey: this.options.apiKey ?? process.env.AXOLOTL_API_KEY },
          maxAttempts: config.repair.maxAttempts,
          resume: config.resume ?? RUN_DEFAULTS.resume,
        });
        this.wireRepairs(this.flow);
      }
      await sup.start();
      // Nothing can type into the program from the Debug Console: input() gets end-of-file (an
      // EOFError the user sees) instead of waiting forever (restored copies too: the engine keeps it).
      sup.endStdin();
      this.sendResponse(response);
    } catch (e) {
      this.sendErrorResponse(response, { id: 1001, format: errorText(e), showUser: true });
      this.end(undefined);
    }
  }

  private wireEngine(sup: Supervisor): void {
    sup.on('output', (o) => this.output(o.stream, o.data.toString('utf8')));
    sup.on('started', (s) => {
      this.timeline({
        type: 'session', change: 'started',
        session: {
          id: path.basename(s.runDir), program: path.basename(sup.opts.program), startTime: Date.now(), backend: s.backend,
          pid: s.pid, interval: sup.opts.interval, ...(sup.opts.maxSaves ? { maxSaves: sup.opts.maxSaves } : {}),
        },
      });
      // The timeline's live clock runs from the head: without one it stays at "Running · 0.0 s".
      if (s.pid) this.head('running', s.pid);
    });
    sup.on('checkpoint', (c) => this.timeline({ type: 'checkpoint', change: 'added', checkpoint: checkpointInfo(c) }));
    sup.on('checkpointUpdated', (c) => this.timeline({ type: 'checkpoint', change: 'added', checkpoint: checkpointInfo(c) }));
    sup.on('checkpointDeleted', (c) => this.timeline({ type: 'checkpoint', change: 'deleted', id: c.id }));
    // Before a rewind: what it cannot undo, in the Debug Console and on the timeline (a warning only for
    // what really stays done: output printed again is what an ordinary rewind does).
    sup.on('rewind', (n) => {
      this.output('console', `axolotl: ${n.text}\n`);
      this.timeline({ type: 'notice', notice: { level: n.level, text: n.text } });
    });
    let dumpProgress: { id: string; timer: NodeJS.Timeout; shown: boolean } | undefined;
    sup.on('checkpointStarted', ({ atCrash }) => {
      // Dumps run one at a time: a new one means the last one ended, also when it was discarded
      // (the program crashed or exited while it was dumped) and no 'checkpoint' event came for it.
      endDump();
      // Only dumps that take a while deserve a progress indicator; most take milliseconds.
      const id = `dump-${Date.now()}`;
      const p = { id, shown: false, timer: setTimeout(() => { p.shown = true; this.progressStart(id, atCrash ? 'Saving the crash' : 'Checkpointing'); }, 300) };
      dumpProgress = p;
    });
    const endDump = () => {
      if (!dumpProgress) return;
      clearTimeout(dumpProgress.timer);
      if (dumpProgress.shown) this.progressEnd(dumpProgress.id);
      dumpProgress = undefined;
    };
    sup.on('checkpoint', endDump);
    sup.on('log', (l) => {
      if (l.level === 'warn' || l.level === 'error') {
        endDump();
        this.output('console', `axolotl: ${l.message}\n`);
      }
    });
    sup.on('restored', (r) => {
      this.crash = undefined;
      this.debugStop = undefined;
      this.position = r.checkpoint.id;
      this.values.reset();
      this.timeline({ type: 'restore', restore: restoreInfo(Date.now(), r) });
      this.head('running', r.pid);
      this.sendEvent(new ContinuedEvent(THREAD_ID, true));
      this.sendEvent(new InvalidatedEvent(['all']));
      this.output('console', `axolotl: restored checkpoint ${r.checkpoint.id} in ${r.ms.toFixed(0)} ms\n`);
    });
    sup.on('crash', (crash) => {
      this.crash = crash;
      this.debugStop = undefined;
      this.crashCount++;
      this.values.reset();
      this.timeline({ type: 'crash', crash: crashInfo(this.crashCount, Date.now(), crash) });
      if (!crash.paused) return;
      this.head('crashed');
      const ex = crash.report?.exception;
      this.sendEvent(new StoppedEvent('exception', THREAD_ID, ex ? `${ex.type}: ${ex.message}` : 'uncaught exception'));
      if (this.flow) void this.propose();
    });
    sup.debug.on('stopped', (stop) => {
      this.debugStop = stop;
      this.stopCount++;
      this.values.reset();
      this.head('paused');
      this.timeline({ type: 'stop', stop: stopInfo(this.stopCount, stop) });
      if (stop.text) this.output('console', `axolotl: ${stop.text}\n`);
      const ex = stop.exception;
      const e = new StoppedEvent(stop.reason, THREAD_ID, ex ? `${ex.type}: ${ex.message}` : undefined) as DebugProtocol.StoppedEvent;
      e.body.allThreadsStopped = true;
      if (stop.breakpointIds.length) e.body.hitBreakpointIds = stop.breakpointIds;
      this.sendEvent(e);
    });
    sup.debug.on('output', (text) => this.output('console', text));
    // The supervisor reports only the exit of the live copy (never of one replaced by a restore).
    sup.on('exit', (ev) => {
      if (ev.reason) this.output('console', `axolotl: ${ev.reason}\n`);
      this.end(ev.status);
    });
  }

  private wireRepairs(flow: RepairFlow): void {
    const progress = new Map<string, boolean>();
    flow.on('status', (s: RepairFlowEvents['status'][0]) => {
      const body: RepairStatusBody = { crashId: this.crashCount, ...s };
      this.sendEvent(new Event(REPAIR_STATUS_EVENT, body));
      // The paused crash was decided by a custom request (or by the review): the program runs again
      // (to unwind, to retry in place, or until the restore), which VS Code learns only from this event.
      if ((s.status === 'accepted' || s.status === 'rejected') && this.crash?.paused) this.sendEvent(new ContinuedEvent(THREAD_ID, true));
      if (s.repairId && s.status !== 'searching' && s.status !== 'unavailable') {
        this.timeline({ type: 'repair', repair: { id: s.repairId, time: s.proposedAt ?? Date.now(), status: s.status, crashId: this.crashCount, ...(s.message ? { detail: s.message } : {}) } });
      }
      if (s.status === 'searching' && this.progressSupported) {
        const id = `repair-${this.crashCount}-${s.attempt ?? 1}`;
        progress.set(id, true);
        const start = new ProgressStartEvent(id, 'Asking the model for a repair', s.message) as DebugProtocol.ProgressStartEvent;
        start.body.cancellable = true;
        this.sendEvent(start);
        flow.once('settled', () => { this.progressEnd(id); progress.delete(id); });
      }
    });
    flow.on('progress', (p) => {
      if (!this.progressSupported) return;
      for (const id of progress.keys()) this.sendEvent(new ProgressUpdateEvent(id, p));
    });
    flow.on('proposed', (proposal) => {
      this.timeline({ type: 'repair', repair: { id: proposal.repairId, time: Date.now(), status: 'proposed', crashId: proposal.crashId, summary: firstLine(proposal.explanation), files: proposal.files.map((f) => f.relPath) } });
      this.sendEvent(new Event(REPAIR_PROPOSED_EVENT, proposal));
      if (this.launchArgs?.repair?.autoAccept) {
        void flow.accept(proposal.repairId, Object.fromEntries(proposal.files.map((f) => [f.path, f.proposed])), { written: false })
          .catch((e: Error) => this.output('console', `axolotl: ${errorText(e)}\n`));
      }
    });
  }

  private async propose(hint?: string): Promise<void> {
    try {
      await this.flow!.propose({ hint, crashId: this.crashCount });
    } catch (e) {
      this.output('console', `axolotl: ${errorText(e)}\n`);
    }
  }

  // ---- requests -------------------------------------------------------------------------------

  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    response.body = { threads: [new Thread(THREAD_ID, this.launchArgs ? path.basename(this.launchArgs.program) : 'main')] };
    this.sendResponse(response);
  }

  protected override stackTraceRequest(response: DebugProtocol.StackTraceResponse): void {
    const frames = [...this.frames()].reverse();
    response.body = {
      stackFrames: frames.map((f, i) => {
        const sf = new StackFrame(i, f.qualname || f.function, new Source(path.basename(f.file), f.file), f.line, 1);
        if (!f.user) (sf as DebugProtocol.StackFrame).presentationHint = 'subtle';
        if (f.restartable) (sf as DebugProtocol.StackFrame).canRestart = true;
        return sf;
      }),
      totalFrames: frames.length,
    };
    this.sendResponse(response);
  }

  protected override scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    const frame = this.frame(args.frameId);
    const index = this.agentFrameIndex(args.frameId);
    const scopes: DebugProtocol.Scope[] = [];
    if (frame && this.sup?.debug.paused) {
      // Live: the paused program answers, so a value set from the debugger shows at once.
      scopes.push(new Scope('Locals', this.values.create({ kind: 'agent', target: { frame: index, scope: 'locals' }, frame: index }), false));
      if (frame.function !== '<module>') {
        scopes.push(new Scope('Globals', this.values.create({ kind: 'agent', target: { frame: index, scope: 'globals' }, frame: index }), true));
      }
    } else if (frame?.locals) {
      scopes.push(new Scope('Locals', this.values.create({ kind: 'report', values: frame.locals }), false));
    }
    response.body = { scopes };
    this.sendResponse(response);
  }

  protected override async variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): Promise<void> {
    const source = this.values.get(args.variablesReference);
    let variables: DebugProtocol.Variable[] = [];
    if (source?.kind === 'agent') {
      try {
        const live = await this.requireSup().debug.variables(source.target);
        variables = live.map((v) => ({ name: v.name, ...this.dapValue(v, source.frame) }));
      } catch (e) {
        // A crash report still has the locals it was sent with.
        const reported = 'scope' in source.target && source.target.scope === 'locals' ? this.frames()[source.frame]?.locals : undefined;
        if (!reported) return this.sendErrorResponse(response, { id: 1010, format: errorText(e), showUser: false });
        variables = this.reportVariables(reported);
      }
    } else if (source?.kind === 'report') {
      variables = this.reportVariables(source.values);
    }
    response.body = { variables };
    this.sendResponse(response);
  }

  protected override async setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): Promise<void> {
    const source = this.values.get(args.variablesReference);
    if (source?.kind !== 'agent') {
      this.sendErrorResponse(response, { id: 1011, format: 'Only the values of a paused program can be changed.', showUser: true });
      return;
    }
    try {
      const v = await this.requireSup().debug.setVariable(source.target, args.name, args.value);
      response.body = this.dapValue(v, source.frame);
      this.sendResponse(response);
    } catch (e) {
      this.sendErrorResponse(response, { id: 1012, format: errorText(e), showUser: true });
    }
  }

  protected override async evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): Promise<void> {
    if (!this.sup?.debug.paused) {
      const what = this.sup ? 'The program is running: pause it (F6), or stop at a breakpoint or a crash, to evaluate.' : 'No program is running.';
      this.sendErrorResponse(response, { id: 1002, format: what, showUser: false });
      return;
    }
    const frame = this.agentFrameIndex(args.frameId ?? 0);
    const contexts = ['repl', 'watch', 'hover', 'clipboard', 'variables'] as const;
    const context = (contexts as readonly string[]).includes(args.context ?? '') ? args.context as (typeof contexts)[number] : 'watch';
    try {
      const v = await this.sup.debug.evaluate(frame, args.expression, context);
      const body = this.dapValue(v, frame);
      response.body = { result: body.value, type: body.type, variablesReference: body.variablesReference, ...(body.presentationHint ? { presentationHint: body.presentationHint } : {}) };
      this.sendResponse(response);
    } catch (e) {
      // The expression's own exception, as Python says it; the program stays paused.
      this.sendErrorResponse(response, { id: 1002, format: errorText(e), showUser: false });
    }
  }

  protected override async completionsRequest(response: DebugProtocol.CompletionsResponse, args: DebugProtocol.CompletionsArguments): Promise<void> {
    if (!this.sup?.debug.paused) {
      response.body = { targets: [] };
      this.sendResponse(response);
      return;
    }
    const offset = this.convertClientColumnToDebugger(args.column) - 1;
    try {
      const { targets, replace } = await this.sup.debug.completions(this.agentFrameIndex(args.frameId ?? 0), args.text, offset);
      const start = this.convertDebuggerColumnToClient(offset - replace + 1);
      response.body = { targets: targets.map((t) => ({ label: t.label, text: t.label, type: t.type, start, length: replace })) };
    } catch {
      response.body = { targets: [] };
    }
    this.sendResponse(response);
  }

  protected override setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    const file = args.source.path;
    const requested = args.breakpoints ?? (args.lines ?? []).map((line) => ({ line }));
    if (!file) {
      response.body = { breakpoints: requested.map((b) => ({ verified: false, line: b.line, message: 'Breakpoints need a file on disk.' })) };
      this.sendResponse(response);
      return;
    }
    this.breakpoints.set(file, requested);
    const specs = this.breakpointSpecs(requested);
    this.breakpoints.set(file, requested.map((b, i) => ({ ...b, id: specs[i].id }) as DebugProtocol.SourceBreakpoint));
    this.sup?.debug.setBreakpoints(file, specs);
    response.body = { breakpoints: specs.map((b) => ({ id: b.id, verified: true, line: b.line })) };
    this.sendResponse(response);
  }

  protected override setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): void {
    const on = new Set([...(args.filters ?? []), ...(args.filterOptions ?? []).map((o) => o.filterId)]);
    this.exceptionFilters = { uncaught: on.has('uncaught'), raised: on.has('raised') };
    this.sup?.debug.setExceptionFilters(this.exceptionFilters);
    response.body = { breakpoints: [...on].map(() => ({ verified: true })) };
    this.sendResponse(response);
  }

  protected override exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse): void {
    const raised = this.debugStop?.exception;
    if (raised) {
      response.body = {
        exceptionId: raised.qualifiedType, description: raised.message, breakMode: 'always',
        details: { message: raised.message, typeName: raised.type, fullTypeName: raised.qualifiedType },
      };
      this.sendResponse(response);
      return;
    }
    const r = this.crash?.report;
    response.body = {
      exceptionId: r?.exception.qualifiedType ?? 'Exception',
      description: r ? r.exception.message : this.crash?.traceback,
      breakMode: 'unhandled',
      details: { message: r?.exception.message, typeName: r?.exception.type, fullTypeName: r?.exception.qualifiedType, stackTrace: this.crash?.traceback },
    };
    this.sendResponse(response);
  }

  protected override continueRequest(response: DebugProtocol.ContinueResponse): void {
    // Continuing past an uncaught exception lets it end the program, as in any debugger.
    if (this.crash?.paused && this.sup) this.flow ? this.flow.reject() : this.sup.decide({ type: 'abort' });
    else if (this.debugStop) this.resume('continue');
    response.body = { allThreadsContinued: true };
    this.sendResponse(response);
  }

  protected override nextRequest(response: DebugProtocol.NextResponse): void { this.step(response, 'next'); }
  protected override stepInRequest(response: DebugProtocol.StepInResponse): void { this.step(response, 'stepIn'); }
  protected override stepOutRequest(response: DebugProtocol.StepOutResponse): void { this.step(response, 'stepOut'); }

  protected override pauseRequest(response: DebugProtocol.PauseResponse): void {
    if (!this.sup) {
      this.sendErrorResponse(response, { id: 1004, format: 'No program is running.', showUser: true });
      return;
    }
    this.sup.debug.pause();
    this.sendResponse(response);
  }

  protected override async stepBackRequest(response: DebugProtocol.StepBackResponse): Promise<void> {
    const kept = this.restorable();
    const target = [...kept].reverse().find((c) => this.position === undefined || c.id < this.position) ?? kept[0];
    await this.restoreTo(response, target?.id);
  }

  protected override async reverseContinueRequest(response: DebugProtocol.ReverseContinueResponse): Promise<void> {
    await this.restoreTo(response, this.restorable()[0]?.id);
  }

  protected override gotoTargetsRequest(response: DebugProtocol.GotoTargetsResponse): void {
    response.body = {
      targets: this.restorable().map((c) => ({
        id: c.id,
        label: `Checkpoint #${c.id} · ${new Date(c.time).toLocaleTimeString()} · ${(c.bytes / 1e6).toFixed(1)} MB`,
        line: 1,
      })),
    };
    this.sendResponse(response);
  }

  protected override async gotoRequest(response: DebugProtocol.GotoResponse, args: DebugProtocol.GotoArguments): Promise<void> {
    await this.restoreTo(response, args.targetId);
  }

  protected override async restartFrameRequest(response: DebugProtocol.RestartFrameResponse, args: DebugProtocol.RestartFrameArguments): Promise<void> {
    const frame = this.frame(args.frameId);
    if (!this.sup || !this.crash?.paused || !frame?.restartable) {
      this.sendErrorResponse(response, { id: 1005, format: 'Only a frame of the paused crash that the agent can restart can be restarted.', showUser: true });
      return;
    }
    try {
      // The user may have fixed the code by hand: restart with what is on disk now.
      await this.flow?.restartWithDiskSources(this.crash);
      if (!this.flow) this.sup.decide({ type: 'retry' });
      this.sendResponse(response);
    } catch (e) {
      this.sendErrorResponse(response, { id: 1006, format: errorText(e), showUser: true });
    }
  }

  protected override cancelRequest(response: DebugProtocol.CancelResponse, args: DebugProtocol.CancelArguments): void {
    if (args.progressId?.startsWith('repair-') || args.requestId !== undefined) this.flow?.cancel();
    this.sendResponse(response);
  }

  protected override async terminateRequest(response: DebugProtocol.TerminateResponse): Promise<void> {
    await this.stopProgram();
    this.sendResponse(response);
  }

  protected override async disconnectRequest(response: DebugProtocol.DisconnectResponse): Promise<void> {
    await this.stopProgram();
    this.sendResponse(response);
  }

  protected override async customRequest(command: string, response: DebugProtocol.Response, args: unknown): Promise<void> {
    try {
      switch (command) {
        case CHECKPOINTS_REQUEST:
          response.body = { checkpoints: this.restorable().map(checkpointInfo) };
          break;
        case RESTORE_REQUEST:
          await this.requireSup().restore((args as RestoreArgs).checkpointId);
          break;
        case PROPOSE_REPAIR_REQUEST: {
          const flow = this.requireFlow();
          const result = await flow.propose({ hint: (args as ProposeRepairArgs | undefined)?.hint, crashId: this.crashCount });
          response.body = result.ok ? { repair: result.proposal } : { reason: result.reason };
          break;
        }
        case APPLY_REPAIR_REQUEST: {
          const a = args as ApplyRepairArgs;
          response.body = await this.requireFlow().accept(a.repairId, a.files, { written: a.written, resume: a.resume });
          break;
        }
        case REJECT_REPAIR_REQUEST:
          this.requireFlow().reject((args as RejectRepairArgs).repairId);
          break;
        default:
          return super.customRequest(command, response, args);
      }
      this.sendResponse(response);
    } catch (e) {
      this.sendErrorResponse(response, { id: 1007, format: errorText(e), showUser: true });
    }
  }

  // ---- helpers --------------------------------------------------------------------------------

  private async restoreTo(response: DebugProtocol.Response, id: number | undefined): Promise<void> {
    if (id === undefined || !this.sup) {
      this.sendErrorResponse(response, { id: 1008, format: 'No checkpoint is kept yet.', showUser: true });
      return;
    }
    try {
      this.progressStart(`restore-${id}`, `Restoring checkpoint #${id}`);
      await this.sup.restore(id);
      this.sendResponse(response);
    } catch (e) {
      this.sendErrorResponse(response, { id: 1009, format: errorText(e), showUser: true });
    } finally {
      this.progressEnd(`restore-${id}`);
    }
  }

  private restorable() {
    return (this.sup?.checkpoints ?? []).filter((c) => !c.atCrash);
  }

  /** The stack of the paused program, outermost first: of the debugger's stop, else of the crash. */
  private frames(): AgentFrame[] {
    return this.debugStop?.frames ?? this.crash?.report?.frames ?? [];
  }

  /** DAP frame ids count from the innermost frame; the agent counts from the outermost. */
  private agentFrameIndex(frameId: number): number {
    return this.frames().length - 1 - frameId;
  }

  private frame(frameId: number): AgentFrame | undefined {
    return this.frames()[this.agentFrameIndex(frameId)];
  }

  private step(response: DebugProtocol.Response, mode: ResumeMode): void {
    if (!this.debugStop) {
      const why = this.crash?.paused
        ? 'At a crash the exception must be repaired, retried (Restart Frame) or let through (Continue): there is no next line to step to.'
        : 'Steps start where the program is stopped: pause it (F6) or set a breakpoint.';
      this.sendErrorResponse(response, { id: 1003, format: why, showUser: true });
      return;
    }
    this.resume(mode);
    this.sendResponse(response);
  }

  private resume(mode: ResumeMode): void {
    this.debugStop = undefined;
    this.values.reset();
    this.sup!.debug.resume(mode);
    this.head('running', this.sup!.pid);
  }

  /** The session's breakpoints of one file as the engine takes them (ids reported back on a stop). */
  private breakpointSpecs(bps: DebugProtocol.SourceBreakpoint[]) {
    return bps.map((b) => ({
      id: (b as { id?: number }).id ?? this.nextBreakpointId++,
      line: b.line,
      ...(b.condition ? { condition: b.condition } : {}),
      ...(b.hitCondition ? { hitCondition: b.hitCondition } : {}),
      ...(b.logMessage !== undefined ? { logMessage: b.logMessage } : {}),
    }));
  }

  private dapValue(v: DebugValue, frame: number): { value: string; type: string; variablesReference: number; presentationHint?: DebugProtocol.VariablePresentationHint; indexedVariables?: number } {
    return {
      value: v.repr,
      type: v.type,
      variablesReference: v.ref ? this.values.create({ kind: 'agent', target: { ref: v.ref }, frame }) : 0,
      ...(v.redacted ? { presentationHint: { attributes: ['readOnly'] } } : {}),
    };
  }

  private reportVariables(values: Record<string, AgentValue>): DebugProtocol.Variable[] {
    return Object.entries(values).map(([name, v]) => ({
      name,
      value: v.repr,
      type: v.type,
      variablesReference: v.children && Object.keys(v.children).length ? this.values.create({ kind: 'report', values: v.children }) : 0,
      ...(v.redacted ? { presentationHint: { attributes: ['readOnly'] as DebugProtocol.VariablePresentationHint['attributes'] } } : {}),
    }));
  }

  private requireSup(): Supervisor {
    if (!this.sup) throw new AxolotlError('The program is not running under checkpoints.');
    return this.sup;
  }

  private requireFlow(): RepairFlow {
    if (!this.flow) throw new AxolotlError('Repairs are disabled for this session (repair.enabled is false).');
    return this.flow;
  }

  /**
   * Sends output to the Debug Console in whole lines where it can. The program runs unbuffered, so
   * Python writes a traceback's caret line one character at a time, and the Debug Console shows
   * identical pieces in a row as one piece with a counter ("14 ^"). An unfinished line goes out
   * after PARTIAL_LINE_MS (a prompt); output of another kind sends what is pending first, in order.
   */
  private output(category: 'stdout' | 'stderr' | 'console', text: string): void {
    for (const stream of [...this.partial.keys()]) if (stream !== category) this.flushPartial(stream);
    if (category === 'console') {
      this.sendEvent(new OutputEvent(text, category));
      return;
    }
    const pending = this.partial.get(category);
    if (pending) clearTimeout(pending.timer);
    const all = (pending?.text ?? '') + text;
    const cut = all.lastIndexOf('\n') + 1;
    if (cut > 0) this.sendEvent(new OutputEvent(all.slice(0, cut), category));
    const rest = all.slice(cut);
    if (rest) this.partial.set(category, { text: rest, timer: setTimeout(() => this.flushPartial(category), PARTIAL_LINE_MS) });
    else this.partial.delete(category);
  }

  private flushPartial(stream: 'stdout' | 'stderr'): void {
    const pending = this.partial.get(stream);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.partial.delete(stream);
    this.sendEvent(new OutputEvent(pending.text, stream));
  }

  private timeline(update: TimelineUpdate): void {
    this.sendEvent(new Event(TIMELINE_DAP_EVENT, update));
  }

  private head(state: 'running' | 'paused' | 'crashed' | 'exited', pid?: number): void {
    this.timeline({ type: 'head', head: { time: Date.now(), state, generation: this.sup?.codeGeneration ?? 0, ...(pid ? { pid } : {}) } });
  }

  private progressStart(id: string, title: string): void {
    if (this.progressSupported) this.sendEvent(new ProgressStartEvent(id, title));
  }

  private progressEnd(id: string): void {
    if (this.progressSupported) this.sendEvent(new ProgressEndEvent(id));
  }

  private end(status: number | undefined): void {
    if (this.ended) return;
    this.ended = true;
    for (const stream of [...this.partial.keys()]) this.flushPartial(stream);
    this.head('exited');
    // No status: stopped from VS Code (or never started), which is no exit status 0 ("Ended", not a pass).
    const end = status === undefined ? { time: Date.now(), reason: 'debug session stopped' } : sessionEnd(Date.now(), { status });
    this.timeline({ type: 'session', change: 'ended', end });
    if (status !== undefined) this.sendEvent(new ExitedEvent(status));
    this.sendEvent(new TerminatedEvent());
  }

  /**
   * The client went away (VS Code closed, the adapter's stdin closed) or the adapter is told to quit:
   * stop the program first, whatever it is doing, then let the base class end the process.
   */
  override shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      super.shutdown();
    };
    // A stop that cannot finish (a hung criu) must not keep the adapter, or the program, alive.
    const deadline = setTimeout(() => {
      if (!this.isRunningInline()) killDescendants();
      finish();
    }, 10_000);
    void this.stopProgram().catch(() => undefined).finally(() => { clearTimeout(deadline); finish(); });
  }

  /** True when the session runs inside the extension host (the host's other children are not ours). */
  private isRunningInline(): boolean {
    return (this as unknown as { _isRunningInline(): boolean })._isRunningInline();
  }

  private async stopProgram(): Promise<void> {
    this.flow?.cancel();
    await this.plain?.stop();
    await this.sup?.stop();
    this.end(undefined);
  }
}

function errorText(e: unknown): string {
  if (e instanceof AxolotlError) return [e.message, e.hint, e.details].filter(Boolean).join('\n');
  return e instanceof Error ? e.message : String(e);
}

function firstLine(s: string): string {
  return (s.trim().split('\n')[0] ?? '').slice(0, 200);
}
