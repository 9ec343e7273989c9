// The debugger's side of the engine: breakpoints and exception filters (sent to the agent as a
// DebugConfig), pause and resume (continue, step over/into/out), and the debug commands a paused agent
// runs (evaluate, variables, setVariable, completions). The agent protocol for all of this is in
// agentProtocol.ts ("The debugger").
//
// The Supervisor owns one DebugControl and routes the agent's debugger messages to it; consumers (the
// debug session) use it through `supervisor.debug`. It keeps no connection: a command waits in a queue
// until the paused agent polls (SIGUSR1 asks it to), and is answered in the agent's next connection.
import { EventEmitter } from 'node:events';
import type {
  AgentFrame, BreakpointSpec, CompletionTarget, DebugCommand, DebugConfig, DebugExtras, DebugOutputMessage,
  DebugResultMessage, DebugValue, DebugVariable, EngineReply, ResumeMode, StoppedMessage, StopReason, VariablesTarget,
} from './agentProtocol';
import type { EngineEvents } from './types';

/** Longer than the agent's own limit on an evaluation (evaluate.py EVAL_SECONDS), plus a dump that may freeze it. */
const COMMAND_TIMEOUT_MS = 15_000;

/** The program stopped by the debugger (not a crash: that is the CrashEvent). */
export interface DebugStop {
  reason: StopReason;
  /** outermost first, as in a crash report (without locals) */
  frames: AgentFrame[];
  breakpointIds: number[];
  exception?: StoppedMessage['exception'];
  text?: string;
  time: number;
  pid: number;
}

export interface ExceptionFilters {
  /** stop on an exception nothing catches (the crash pause; on by default) */
  uncaught: boolean;
  /** stop where an exception is raised in user code, caught or not (off by default) */
  raised: boolean;
}

export interface DebugControlHooks {
  /** ask the agent to poll (SIGUSR1); the supervisor does nothing when the agent cannot take it yet */
  poke(): void;
  /** the agent stopped (true) or runs again after a stop (false): checkpoints wait while it is stopped */
  stopped(stopped: boolean): void;
}

type Command = DebugCommand | { type: 'resume'; mode: ResumeMode };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

interface Pending {
  resolve(r: DebugResultMessage): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class DebugControl extends EventEmitter<{ stopped: [DebugStop]; output: [string] }> {
  private version = 0;
  private readonly breakpoints = new Map<string, BreakpointSpec[]>();
  private filters: ExceptionFilters = { uncaught: true, raised: false };
  private stop?: DebugStop;
  private crashPaused = false;
  private pauseRequested = false;
  /** commands for the agent, in order; a command leaves the queue when the agent takes it */
  private readonly queue: Command[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly hooks: DebugControlHooks, engine: EventEmitter<EngineEvents>) {
    super();
    engine.on('crash', (c) => { if (c.paused) this.crashPaused = true; });
    engine.on('restored', () => this.reset('the program was rewound to a checkpoint'));
    engine.on('exit', () => this.reset('the program ended'));
  }

  /** The debugger's stop the program is in, if any. */
  get stopped(): DebugStop | undefined { return this.stop; }
  /** Stopped by the debugger or paused on a crash: the agent serves commands. */
  get paused(): boolean { return !!this.stop || this.crashPaused; }
  get stopsOnUncaught(): boolean { return this.filters.uncaught; }

  get config(): DebugConfig {
    return { version: this.version, breakpoints: Object.fromEntries(this.breakpoints), exceptions: { raised: this.filters.raised } };
  }

  /** Replaces the breakpoints of one file (absolute path); an empty list removes them. */
  setBreakpoints(file: string, specs: BreakpointSpec[]): void {
    if (specs.length) this.breakpoints.set(file, specs.map((s) => ({ ...s })));
    else if (!this.breakpoints.delete(file)) return;
    this.changed();
  }

  setExceptionFilters(filters: ExceptionFilters): void {
    const raisedChanged = filters.raised !== this.filters.raised;
    this.filters = { ...filters };
    if (raisedChanged) this.changed();
  }

  /** Stops the running program where it is (a `stopped` event follows). No-op when already paused. */
  pause(): void {
    if (this.paused) return;
    this.pauseRequested = true;
    this.hooks.poke();
  }

  /** Lets a stopped program run on: continue, or a step. Commands asked before it still run first. */
  resume(mode: ResumeMode): void {
    if (!this.stop) throw new Error('The program is not stopped by the debugger.');
    this.stop = undefined;
    this.queue.push({ type: 'resume', mode });
    this.hooks.poke();
  }

  evaluate(frame: number, expression: string, context: Extract<DebugCommand, { type: 'evaluate' }>['context']): Promise<DebugValue> {
    return this.command({ type: 'evaluate', frame, expression, context }).then((r) => r.value ?? { repr: '', type: '', ref: 0 });
  }

  variables(target: VariablesTarget): Promise<DebugVariable[]> {
    return this.command({ type: 'variables', ...target }).then((r) => r.variables ?? []);
  }

  setVariable(target: VariablesTarget, name: string, value: string): Promise<DebugValue> {
    return this.command({ type: 'setVariable', name, value, ...target }).then((r) => r.value ?? { repr: '', type: '', ref: 0 });
  }

  completions(frame: number, text: string, offset: number): Promise<{ targets: CompletionTarget[]; replace: number }> {
    return this.command({ type: 'completions', frame, text, offset }).then((r) => ({ targets: r.targets ?? [], replace: r.replace ?? 0 }));
  }

  // ---- the supervisor's side --------------------------------------------------------------------

  /** What a running agent's `hello` and `poll` replies carry: the configuration, a pause request. */
  extras(): DebugExtras {
    const out: DebugExtras = { debug: this.config };
    if (this.pauseRequested && !this.paused) {
      this.pauseRequested = false;
      out.pause = true;
    }
    return out;
  }

  /** `stopped` from the agent. */
  onStopped(msg: StoppedMessage): EngineReply {
    this.pauseRequested = false;
    this.stop = {
      reason: msg.reason, frames: Array.isArray(msg.frames) ? msg.frames : [], breakpointIds: msg.breakpointIds ?? [],
      exception: msg.exception, text: msg.text, time: Date.now(), pid: msg.pid,
    };
    this.hooks.stopped(true);
    const stop = this.stop;
    // After the reply: a listener that evaluates at once then finds the agent waiting.
    setImmediate(() => this.emit('stopped', stop));
    return { type: 'wait' };
  }

  /** A paused agent polls (stopped, or crashed with no decision yet): the next command, if any. */
  onPausedPoll(stopped: boolean): EngineReply {
    // A stop the engine does not know of (a copy restored mid-stop): let it run on.
    if (stopped && !this.stop && !this.queue.length) return { type: 'resume', mode: 'continue', debug: this.config };
    return this.next();
  }

  /** `debugResult` from the agent: settles its command; the reply is the next one. */
  onResult(msg: DebugResultMessage): EngineReply {
    const p = this.pending.get(msg.id);
    if (p) {
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      p.resolve(msg);
    }
    return this.next();
  }

  onOutput(msg: DebugOutputMessage): EngineReply {
    if (typeof msg.text === 'string') this.emit('output', msg.text);
    return { type: 'ok' };
  }

  /** The paused crash was decided (patch, retry, abort): the agent stops serving commands. */
  crashDecided(): void {
    this.crashPaused = false;
    this.failQueued('the crash was decided; the program runs again');
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private next(): EngineReply {
    const cmd = this.queue.shift();
    if (!cmd) return { type: 'continue' };
    if (cmd.type === 'resume') {
      this.hooks.stopped(false);
      return { ...cmd, debug: this.config };
    }
    return cmd;
  }

  private command(cmd: DistributiveOmit<DebugCommand, 'id'>): Promise<DebugResultMessage> {
    if (!this.paused) {
      return Promise.reject(new Error('The program is running: pause it, or stop at a breakpoint or a crash, to look into it.'));
    }
    const id = this.nextId++;
    const full = { ...cmd, id } as DebugCommand;
    return new Promise<DebugResultMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        const at = this.queue.indexOf(full);
        if (at >= 0) this.queue.splice(at, 1);
        reject(new Error(`The paused program did not answer within ${COMMAND_TIMEOUT_MS / 1000} s.`));
      }, COMMAND_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.queue.push(full);
      this.hooks.poke();
    }).then((r) => {
      if (!r.ok) throw new Error(r.error ?? 'the command failed');
      return r;
    });
  }

  private changed(): void {
    this.version++;
    // A paused agent gets the configuration with `resume` (or its next poll); a running one now.
    if (!this.paused) this.hooks.poke();
  }

  private failQueued(reason: string): void {
    for (const cmd of this.queue.splice(0)) {
      if (cmd.type === 'resume') continue;
      const p = this.pending.get(cmd.id);
      if (!p) continue;
      this.pending.delete(cmd.id);
      clearTimeout(p.timer);
      p.reject(new Error(`Not evaluated: ${reason}.`));
    }
  }

  private reset(reason: string): void {
    this.stop = undefined;
    this.crashPaused = false;
    this.pauseRequested = false;
    this.failQueued(reason);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`Not evaluated: ${reason}.`));
      this.pending.delete(id);
    }
  }
}
