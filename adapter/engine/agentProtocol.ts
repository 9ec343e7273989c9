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
//   SIGUSR2  fork backend only: take a fork snapshot now.
//
// Environment given to the debuggee:
//   AXOLOTL_SOCKET      socket path (absent: the agent runs standalone and never pauses on crashes)
//   AXOLOTL_ROOT        folder whose .py files count as user code (default: the script's folder)
//   AXOLOTL_GENERATION  generation of the code at launch (0 unless relaunched after repairs)
//   AXOLOTL_BACKEND     criu | fork | none
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

/** Sent after SIGUSR1. `crashed` is true while the agent is paused on a crash waiting for a decision. */
export interface PollMessage {
  type: 'poll';
  pid: number;
  generation: number;
  crashed: boolean;
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

/** Sent just before the interpreter exits normally (so backends that are not the parent learn it). */
export interface ExitMessage {
  type: 'exit';
  pid: number;
  code: number;
}

export type AgentMessage =
  | HelloMessage
  | CrashReport
  | PollMessage
  | PatchedMessage
  | VerifiedMessage
  | SnapshotMessage
  | ExitMessage;

/** The repaired sources: absolute path → complete new text. Cumulative over all accepted repairs. */
export type PatchFiles = Record<string, string>;

export type EngineReply =
  | { type: 'ok' }
  /** reply to `crash`: wait for SIGUSR1 then poll (the engine may checkpoint the paused process meanwhile) */
  | { type: 'wait' }
  /** reply to `poll`: swap in these sources (generation > the agent's) then restart what crashed */
  | { type: 'patch'; generation: number; files: PatchFiles }
  /** reply to `poll` while crashed: let the exception propagate normally (traceback, exit 1) */
  | { type: 'abort' }
  /** reply to `poll` while crashed: restart the crashed frame with the current code */
  | { type: 'retry' }
  /** reply to `poll` when there is nothing new */
  | { type: 'continue' };
