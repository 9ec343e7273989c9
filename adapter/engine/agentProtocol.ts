// The wire protocol between the engine and the Python agent (adapter/python/axolotl_agent).
//
// Transport: the engine listens on a unix stream socket whose path is in the debuggee's environment
// as AXOLOTL_SOCKET. The agent opens a connection per exchange, writes ONE JSON object terminated by
// "\n", reads at most one JSON line back, and closes. No connection is ever held open while the
// program runs, so a CRIU dump never sees one. The engine does not start a dump while an agent
// connection is open.
//
// Signals from the engine to the debuggee:
//   SIGUSR1  "poll me": the agent connects and sends `poll`. Sent after a crash has been decided
//            (patch/abort/retry), and after every restore (CRIU restores the task stopped with
//            --leave-stopped; the engine queues SIGUSR1 then sends SIGCONT, so the agent swaps in the
//            repaired code before any more user code runs).
//   SIGUSR2  take a fork snapshot now (fork backend; criu backend with AXOLOTL_SNAPSHOTS=1).
//
// The program's other processes: a process forked from the program (a multiprocessing pool worker)
// inherits the agent, announces itself (`worker`) and from then on answers SIGUSR1 as the program does
// (`poll`, then `patched` when it swapped code in); it never pauses on a crash. The engine sends it
// SIGUSR1 after every restore of a tree that holds it, and with every repair resumed in place.
//
// Environment given to the debuggee:
//   AXOLOTL_SOCKET      socket path (absent: the agent runs standalone and never pauses on crashes)
//   AXOLOTL_ROOT        folder whose .py files count as user code (default: the script's folder)
//   AXOLOTL_GENERATION  generation of the code at launch (0 unless relaunched after repairs)
//   AXOLOTL_BACKEND     criu | fork | none
//   AXOLOTL_SNAPSHOTS   1: answer SIGUSR2 with fork snapshots (the criu backend's rewind points)
//   AXOLOTL_CACHE_DIR   where the agent may cache instrumented code (optional)
//   AXOLOTL_FILES_*     the undo journal of the files the program changes: its folder, the folders it
//                       covers and leaves alone, the copy limit (fileRewind.ts, filejournal.py)

/** A value shown to the user: repr() bounded in size, with children for containers (bounded depth). */
export interface AgentValue {
  /** bounded repr() of the value */
  repr: string;
  /** type(value).__qualname__ */
  type: string;
  /** element/attribute views for containers and objects, bounded in count and depth */
  children?: Record<string, AgentValue>;
  /** true when the name looks secret (key, token, password, secret) and the value was replaced */
  redacted?: boolean;
}

export interface AgentFrame {
  /** absolute path of the source file */
  file: string;
  line: number;
  /** co_name */
  function: string;
  /** co_qualname on 3.11+, reconstructed before ("Counter.step", "<module>") */
  qualname: string;
  /** true for files under AXOLOTL_ROOT (the user's code); locals are only sent for those */
  user: boolean;
  locals?: Record<string, AgentValue>;
  /** the agent can restart this frame with its entry arguments after a patch */
  restartable: boolean;
}

export interface CrashReport {
  type: 'crash';
  pid: number;
  /** generation of the code that crashed */
  generation: number;
  exception: { type: string; message: string; /** module-qualified, e.g. "builtins.KeyError" */ qualifiedType: string };
  /** exactly what Python would print for this exception (agent frames removed) */
  traceback: string;
  /** outermost first, like a Python traceback */
  frames: AgentFrame[];
  /** last few KB the program wrote to stdout/stderr, if the agent saw it */
  outputTail?: string;
  /** which heuristics decided "uncaught" (for the record) */
  notes?: string[];
  /**
   * When the exception was raised (epoch ms; first seen by the agent, in the program or in the worker
   * that raised it), and by which generation of the code: a checkpoint taken after that holds the
   * exception on its way (not yet reported), and is no point to resume from.
   */
  raisedAt?: number;
  raisedGeneration?: number;
  /** the exception reached the top level before the agent could stop it: the stack is unwound, and only a
   *  top-level statement could run again */
  unwound?: boolean;
}

/** Sent once at start, and again after every restore handled by `poll`.
 *  The agent cannot tell a restore from other wake-ups, so it treats every SIGUSR1 received while NOT
 *  crashed as "after a restore": it sends `poll` (crashed:false), applies a newer `patch` (then sends
 *  `patched`), and then sends `hello`. A fork-snapshot child that is continued does the same. */
export interface HelloMessage {
  type: 'hello';
  pid: number;
  python: string;
  script: string;
  root: string;
  generation: number;
}

/** Sent after SIGUSR1. `crashed` is true while the agent is paused on a crash waiting for a decision;
 *  `stopped` while it is stopped by the debugger (a breakpoint, a step, a pause, a raised exception). */
export interface PollMessage {
  type: 'poll';
  pid: number;
  generation: number;
  crashed: boolean;
  stopped?: boolean;
}

/** A process forked from the program runs the agent too (sent once, by the new process, right after the fork). */
export interface WorkerMessage {
  type: 'worker';
  pid: number;
  /** the process it was forked from */
  parent: number;
  /** the code generation it inherited */
  generation: number;
}

/** Result of applying a patch (hot swap). Also sent:
 *  - after `retry` (swapped: [], restarted says what was restarted);
 *  - after an automatic restart, when a frame still running code that a newer generation replaced
 *    crashes (restarted ends with "(automatically: crashed in replaced code)"; no crash report is sent);
 *  - with ok:false and `error` when the patch does not compile; the agent then stays paused on the
 *    crash and keeps waiting for SIGUSR1 (the engine may send another patch, retry or abort). */
export interface PatchedMessage {
  type: 'patched';
  pid: number;
  generation: number;
  ok: boolean;
  /** what will run the new code: "function Counter.step restarted", "statement at line 12 re-run", ... */
  restarted?: string;
  /** swapped qualnames */
  swapped?: string[];
  error?: string;
  /** ok:false because resuming would re-run top-level code the engine did not allow (`topLevel: false`) */
  cannotResume?: boolean;
  /** swapped, but some code only takes effect later ("f: closure variables changed; new code applies when it is next created") */
  warnings?: string[];
}

/** The restarted frame (or re-run statement) completed: the program has passed the crash point. */
export interface VerifiedMessage {
  type: 'verified';
  pid: number;
  generation: number;
}

/** Fork backend: a stopped snapshot child was created. */
export interface SnapshotMessage {
  type: 'snapshot';
  /** pid of the stopped copy */
  pid: number;
  /** pid of the live process that forked it */
  parent: number;
  seq: number;
  /** how long the live program was paused to fork (ms), measured by the agent */
  pauseMs?: number;
  /** threads other than the main thread, children, sockets: what the snapshot cannot capture */
  warnings?: string[];
  /** regular files the program has open for writing (a snapshot shares their offsets and contents) */
  writableFiles?: number;
  /** the file journal's epoch this snapshot starts (fileRewind.ts); absent when the agent keeps none */
  epoch?: number;
}

/** Sent by a fork snapshot each time it is continued, before it runs anything: only the engine's "go"
 *  lets it run (it was woken on purpose); "stop" sends it back to waiting; anything else, or no engine,
 *  makes it leave at once (no user code, no atexit handlers, no buffered output). */
export interface WakeMessage {
  type: 'wake';
  pid: number;
  seq: number;
}

/** Sent just before the interpreter exits normally (so backends that are not the parent learn it). */
export interface ExitMessage {
  type: 'exit';
  pid: number;
  code: number;
}

// ---------------------------------------------------------------------------------------------
// The debugger (agent: debugger.py, evaluate.py, tracing.py; engine: debugControl.ts)
//
// Configuration rides on replies the agent already gets: `debug` in the reply to `hello` (breakpoints
// set before launch are in place before any user code runs), to every `poll` (SIGUSR1 after a change
// while the program runs, and after every restore) and to `resume`. `pause: true` in the reply to a
// running agent's `poll` (or `hello`) asks it to stop: at once where SIGUSR1 interrupted it, else at
// the next line of user code.
//
// Paused (on a crash, or stopped), the agent answers `wait` as for a crash: it waits for SIGUSR1 with no
// connection open, then polls (`crashed` or `stopped`). The reply may be a DebugCommand; the agent
// answers each with a `debugResult` in a new connection, whose reply is the next command, `resume`
// (stopped only), or whatever a poll would get (`continue`: wait for the next SIGUSR1). So every
// exchange stays one short connection that the agent opens, and a dump never sees one.
//
// Only the main thread stops. The crash stop ("uncaught" exception filter) is the crash report above;
// with that filter off the engine answers `crash` with `abort`.

export interface BreakpointSpec {
  /** the debug session's id, reported back in StoppedMessage.breakpointIds */
  id: number;
  line: number;
  /** a Python expression: stop only when it is true (one that raises stops, and says why) */
  condition?: string;
  /** "5" or "==5" (the 5th hit), ">=5", ">5", "<5", "<=5", "%5" (every 5th); counts hits whose condition held */
  hitCondition?: string;
  /** log this instead of stopping; {expression} parts are evaluated in the frame */
  logMessage?: string;
}

export interface DebugConfig {
  /** changes whenever anything below does: the agent skips a config it has applied */
  version: number;
  /** absolute source path → its breakpoints */
  breakpoints: Record<string, BreakpointSpec[]>;
  /** "raised": stop where an exception is raised in user code (caught or not) */
  exceptions: { raised: boolean };
}

export type StopReason = 'breakpoint' | 'step' | 'pause' | 'exception';

/** The agent stopped the program (main thread) and waits, as on a crash, for commands and `resume`. */
export interface StoppedMessage {
  type: 'stopped';
  pid: number;
  generation: number;
  reason: StopReason;
  /** outermost first; no locals (the debugger asks for them with `variables`) */
  frames: AgentFrame[];
  breakpointIds?: number[];
  /** reason "exception": what was raised */
  exception?: CrashReport['exception'];
  /** e.g. a breakpoint condition that raised */
  text?: string;
}

/** A value seen in the paused program: a bounded repr; `ref` > 0 lists its children (`variables`). */
export interface DebugValue {
  repr: string;
  type: string;
  /** 0: nothing to expand. Valid until the program runs again. */
  ref: number;
  /** length of a container */
  count?: number;
  /** the name looks secret (key, token, password, secret, …): the value is not shown */
  redacted?: boolean;
}

export interface DebugVariable extends DebugValue {
  name: string;
}

export interface CompletionTarget {
  label: string;
  type: 'variable' | 'function' | 'property' | 'keyword';
}

/** Where a `variables`/`setVariable` looks: a value's children, or a frame's scope. */
export type VariablesTarget = { ref: number } | { frame: number; scope: 'locals' | 'globals' };

/** Run by a paused agent; `frame` indexes the frames it reported (outermost first). */
export type DebugCommand =
  | { type: 'evaluate'; id: number; frame: number; expression: string; context: 'repl' | 'watch' | 'hover' | 'clipboard' | 'variables' }
  | ({ type: 'variables'; id: number } & Partial<{ ref: number; frame: number; scope: 'locals' | 'globals' }>)
  | ({ type: 'setVariable'; id: number; name: string; value: string } & Partial<{ ref: number; frame: number; scope: 'locals' | 'globals' }>)
  /** `offset`: the cursor's position in `text` (0-based) */
  | { type: 'completions'; id: number; frame: number; text: string; offset: number };

/** The answer to one DebugCommand (its `id`); `error` when it failed (an expression that raised, say). */
export interface DebugResultMessage {
  type: 'debugResult';
  pid: number;
  id: number;
  ok: boolean;
  error?: string;
  /** evaluate, setVariable */
  value?: DebugValue;
  /** variables */
  variables?: DebugVariable[];
  /** completions; `replace`: how many characters before the cursor the completion replaces */
  targets?: CompletionTarget[];
  replace?: number;
}

/** A logpoint's line (fire and forget). */
export interface DebugOutputMessage {
  type: 'debugOutput';
  pid: number;
  text: string;
}

export type ResumeMode = 'continue' | 'next' | 'stepIn' | 'stepOut';

export type AgentMessage =
  | HelloMessage
  | CrashReport
  | PollMessage
  | PatchedMessage
  | VerifiedMessage
  | SnapshotMessage
  | WakeMessage
  | ExitMessage
  | WorkerMessage
  | StoppedMessage
  | DebugResultMessage
  | DebugOutputMessage;

/** The repaired sources: absolute path → complete new text. Cumulative over all accepted repairs. */
export type PatchFiles = Record<string, string>;

/** Carried by replies to `hello` and `poll` (and `resume`): see "The debugger" above. */
export interface DebugExtras {
  debug?: DebugConfig;
  pause?: boolean;
}

export type EngineReply =
  | ({ type: 'ok' } & DebugExtras)
  /** reply to `crash` and `stopped`: wait for SIGUSR1 then poll (the engine may checkpoint a crashed process meanwhile) */
  | { type: 'wait' }
  /**
   * reply to `poll`: swap in these sources (generation > the agent's) then restart what crashed.
   * `topLevel: false` (crashed only): a restart that would run top-level code again from its start is not
   * allowed; the agent then answers `patched` with ok:false and cannotResume, and lets the exception end
   * the program.
   */
  | ({ type: 'patch'; generation: number; files: PatchFiles; topLevel?: boolean } & DebugExtras)
  /** reply to `poll` while crashed: let the exception propagate normally (traceback, exit 1) */
  | ({ type: 'abort' } & DebugExtras)
  /** reply to `poll` while crashed: restart the crashed frame with the current code */
  | ({ type: 'retry' } & DebugExtras)
  /** reply to `poll` when there is nothing new */
  | ({ type: 'continue' } & DebugExtras)
  /** reply to a stopped agent's `poll` or `debugResult`: run on, arming a step */
  | ({ type: 'resume'; mode: ResumeMode } & DebugExtras)
  | DebugCommand
  /** replies to `wake`: run on (woken on purpose), wait stopped again, or leave at once */
  | { type: 'go' }
  | { type: 'stop' }
  | { type: 'exit' };
