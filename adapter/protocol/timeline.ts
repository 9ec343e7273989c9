// Messages between the extension and the checkpoint timeline webview, both ways.
//
// Every message is a small JSON object with a `type` field. The extension sends the full state once
// (`init`, whenever a webview (re)loads and says `ready`) and then incremental updates. The debug
// adapter sends the same updates to the extension as the body of the custom DAP event
// TIMELINE_DAP_EVENT, so the extension only validates and forwards them.
//
// Neither side trusts the other: `isToWebviewMessage` / `isFromWebviewMessage` check every field
// at run time. The debug session builds the records from engine events (session/timelineEvents.ts).
// This file must stay free of DOM, Node and vscode imports: the adapter, the extension and the
// browser bundle all use it (webview/tsconfig.json type-checks it without Node's types).
import type { Checkpoint } from '../engine/checkpoint';
import { isArrayOf, isInt, isNonNeg, isNum, isObj, isOneOf, isStr, opt } from './guards';

/** Name of the custom DAP event whose body is one TimelineUpdate. */
export const TIMELINE_DAP_EVENT = 'axolotl/timeline';

/** Upper bounds enforced by the guards, so a bad peer cannot make the other side allocate without limit. */
export const LIMITS = {
  /** ids, names, exception types, statuses */
  shortText: 512,
  /** messages, summaries, output lines, paths */
  text: 8192,
  /** files listed in a repair */
  files: 200,
  /** items of each kind in `init` */
  items: 200_000,
} as const;

// ---------------------------------------------------------------------------------------------
// Domain records as the timeline sees them (JSON, no Buffers, no engine-internal paths)

/**
 * A checkpoint as the timeline sees it: the engine's record without its image folder. `lastOutput`
 * is only the last line; `backend` may be absent in a state saved before it was sent.
 */
export type CheckpointInfo = Omit<Checkpoint, 'dir' | 'backend'> & Partial<Pick<Checkpoint, 'backend'>>;

/** A crash; sent again with the same id when it changes (paused → decided), keeping its first time. */
export interface CrashInfo {
  /** 1, 2, 3 … within the session */
  id: number;
  time: number;
  /** "KeyError" */
  exceptionType: string;
  message: string;
  /** innermost user frame, if known */
  file?: string;
  line?: number;
  function?: string;
  /** the program is alive, paused on the crash, waiting for a decision */
  paused: boolean;
  generation: number;
}

export type RepairStatus = 'proposed' | 'accepted' | 'rejected' | 'failed' | 'verified';
export const REPAIR_STATUSES: readonly RepairStatus[] = ['proposed', 'accepted', 'rejected', 'failed', 'verified'];

/**
 * One repair attempt. Sent again (same id) each time its status changes; such an update may carry
 * only id, time and status: fields it leaves out keep their earlier values, and the repair keeps
 * the place (time) of its first message.
 */
export interface RepairInfo {
  id: string;
  /** when it was proposed: its place on the timeline */
  time: number;
  status: RepairStatus;
  /** the crash it answers */
  crashId?: number;
  /** one line: what the repair changes */
  summary?: string;
  /** files it touches (display paths) */
  files?: string[];
  /** generation the code becomes when accepted */
  generation?: number;
  /** why it failed / how it was verified */
  detail?: string;
}

export interface RestoreInfo {
  time: number;
  checkpointId: number;
  /** restore wall time (ms) until the program ran again */
  ms: number;
  /** generation of the code that runs after the restore */
  generation: number;
  pid?: number;
}

export type StopReason = 'breakpoint' | 'step' | 'pause' | 'exception';
export const STOP_REASONS: readonly StopReason[] = ['breakpoint', 'step', 'pause', 'exception'];

/** The debugger stopped the program (a breakpoint, a step, a pause, a raised exception). */
export interface StopInfo {
  /** 1, 2, 3 … within the session */
  id: number;
  time: number;
  reason: StopReason;
  /** where: the innermost frame */
  file?: string;
  line?: number;
  function?: string;
  /** reason "exception": "KeyError: 'x'" */
  exception?: string;
}

export type Backend = 'criu' | 'fork' | 'container' | 'none';

export interface SessionInfo {
  /** unique per run (the run folder's name, say) */
  id: string;
  /** what to call it: the script's file name */
  program: string;
  /** ms since the epoch: time 0 of the timeline */
  startTime: number;
  backend: Backend;
  pid?: number;
  /** seconds between checkpoints */
  interval?: number;
  /** ring buffer size, if limited */
  maxSaves?: number;
}

export interface SessionEnd {
  time: number;
  /** exit status as a shell reports it (code, or 128 + signal); absent when unknown */
  status?: number;
  signal?: string;
  /** "debug session stopped", … */
  reason?: string;
}

export type HeadState = 'running' | 'paused' | 'crashed' | 'restoring' | 'exited';
export const HEAD_STATES: readonly HeadState[] = ['running', 'paused', 'crashed', 'restoring', 'exited'];

/** Where the live program is: sent on every state change and now and then while it runs. */
export interface HeadInfo {
  /** ms since the epoch when this was true */
  time: number;
  state: HeadState;
  generation: number;
  pid?: number;
}

export type NoticeLevel = 'info' | 'warning' | 'error';
export interface Notice {
  level: NoticeLevel;
  text: string;
}

// ---------------------------------------------------------------------------------------------
// Extension → webview

export interface InitMessage {
  type: 'init';
  session: SessionInfo | null;
  end: SessionEnd | null;
  checkpoints: CheckpointInfo[];
  crashes: CrashInfo[];
  repairs: RepairInfo[];
  restores: RestoreInfo[];
  /** absent in states saved before stops were shown */
  stops?: StopInfo[];
  head: HeadInfo | null;
  /** checkpoints that already left the ring buffer */
  dropped: number;
  notice: Notice | null;
}

export type SessionMessage =
  | { type: 'session'; change: 'started'; session: SessionInfo }
  | { type: 'session'; change: 'ended'; end: SessionEnd };
export type CheckpointMessage =
  | { type: 'checkpoint'; change: 'added'; checkpoint: CheckpointInfo }
  /** left the ring buffer (or was removed): it can no longer be restored */
  | { type: 'checkpoint'; change: 'deleted'; id: number };
export interface CrashMessage { type: 'crash'; crash: CrashInfo }
export interface RepairMessage { type: 'repair'; repair: RepairInfo }
export interface RestoreMessage { type: 'restore'; restore: RestoreInfo }
export interface StopMessage { type: 'stop'; stop: StopInfo }
export interface HeadMessage { type: 'head'; head: HeadInfo }
/** Shown above the timeline until replaced; `null` clears it. An error also ends a pending restore. */
export interface NoticeMessage { type: 'notice'; notice: Notice | null }

/** What the debug adapter (through the extension) sends as things happen. */
export type TimelineUpdate =
  | SessionMessage
  | CheckpointMessage
  | CrashMessage
  | RepairMessage
  | RestoreMessage
  | StopMessage
  | HeadMessage
  | NoticeMessage;

export type ToWebviewMessage = InitMessage | TimelineUpdate;

// ---------------------------------------------------------------------------------------------
// Webview → extension

export type FromWebviewMessage =
  /** the script loaded: send `init` */
  | { type: 'ready' }
  /** the user confirmed "Rewind to checkpoint #n" */
  | { type: 'restoreRequest'; checkpointId: number }
  /** show the diff of this repair */
  | { type: 'openRepair'; repairId: string }
  /** show this crash (traceback / stack) */
  | { type: 'revealCrash'; crashId: number }
  /** the sidebar's timeline asks to be shown in the panel area, beside the Debug Console */
  | { type: 'showInPanel' };

// ---------------------------------------------------------------------------------------------
// Run-time guards

// The limits of this protocol on top of the shared checks.
const isText = (v: unknown): v is string => isStr(v, LIMITS.text);
const isShort = (v: unknown): v is string => isStr(v, LIMITS.shortText);
const isList = <T>(v: unknown, check: (x: unknown) => x is T): v is T[] => isArrayOf(v, check, LIMITS.items);

export function isCheckpointInfo(v: unknown): v is CheckpointInfo {
  return (
    isObj(v) &&
    isInt(v.id, 1) &&
    isNonNeg(v.time) &&
    isNonNeg(v.bytes) &&
    isNonNeg(v.frozenMs) &&
    isNonNeg(v.dumpMs) &&
    isInt(v.generation) &&
    opt(v.atCrash, (x) => typeof x === 'boolean') &&
    opt(v.lastOutput, isText) &&
    opt(v.backend, (x) => x === 'criu' || x === 'fork' || x === 'container') &&
    opt(v.inMemory, (x) => typeof x === 'boolean') &&
    opt(v.saved, (x) => typeof x === 'boolean')
  );
}

export function isCrashInfo(v: unknown): v is CrashInfo {
  return (
    isObj(v) &&
    isInt(v.id, 1) &&
    isNonNeg(v.time) &&
    isShort(v.exceptionType) &&
    isText(v.message) &&
    opt(v.file, isText) &&
    opt(v.line, (x) => isInt(x)) &&
    opt(v.function, isShort) &&
    typeof v.paused === 'boolean' &&
    isInt(v.generation)
  );
}

export function isRepairInfo(v: unknown): v is RepairInfo {
  return (
    isObj(v) &&
    isShort(v.id) &&
    v.id.length > 0 &&
    isNonNeg(v.time) &&
    isOneOf(v.status, REPAIR_STATUSES) &&
    opt(v.crashId, (x) => isInt(x, 1)) &&
    opt(v.summary, isText) &&
    opt(v.files, (x) => isArrayOf(x, isText, LIMITS.files)) &&
    opt(v.generation, (x) => isInt(x)) &&
    opt(v.detail, isText)
  );
}

export function isRestoreInfo(v: unknown): v is RestoreInfo {
  return (
    isObj(v) &&
    isNonNeg(v.time) &&
    isInt(v.checkpointId, 1) &&
    isNonNeg(v.ms) &&
    isInt(v.generation) &&
    opt(v.pid, (x) => isInt(x, 1))
  );
}

export function isStopInfo(v: unknown): v is StopInfo {
  return (
    isObj(v) &&
    isInt(v.id, 1) &&
    isNonNeg(v.time) &&
    isOneOf(v.reason, STOP_REASONS) &&
    opt(v.file, isText) &&
    opt(v.line, (x) => isInt(x)) &&
    opt(v.function, isShort) &&
    opt(v.exception, isText)
  );
}

export function isSessionInfo(v: unknown): v is SessionInfo {
  return (
    isObj(v) &&
    isShort(v.id) &&
    v.id.length > 0 &&
    isText(v.program) &&
    isNonNeg(v.startTime) &&
    isOneOf(v.backend, ['criu', 'fork', 'container', 'none'] as const) &&
    opt(v.pid, (x) => isInt(x, 1)) &&
    opt(v.interval, (x) => isNum(x) && x > 0) &&
    opt(v.maxSaves, (x) => isInt(x, 1))
  );
}

export function isSessionEnd(v: unknown): v is SessionEnd {
  return (
    isObj(v) &&
    isNonNeg(v.time) &&
    opt(v.status, (x) => isInt(x)) &&
    opt(v.signal, isShort) &&
    opt(v.reason, isText)
  );
}

export function isHeadInfo(v: unknown): v is HeadInfo {
  return (
    isObj(v) && isNonNeg(v.time) && isOneOf(v.state, HEAD_STATES) && isInt(v.generation) && opt(v.pid, (x) => isInt(x, 1))
  );
}

export function isNotice(v: unknown): v is Notice {
  return isObj(v) && isOneOf(v.level, ['info', 'warning', 'error'] as const) && isText(v.text);
}

/** A message the adapter may send (everything but `init`). */
export function isTimelineUpdate(v: unknown): v is TimelineUpdate {
  if (!isObj(v)) return false;
  switch (v.type) {
    case 'session':
      return (v.change === 'started' && isSessionInfo(v.session)) || (v.change === 'ended' && isSessionEnd(v.end));
    case 'checkpoint':
      return (v.change === 'added' && isCheckpointInfo(v.checkpoint)) || (v.change === 'deleted' && isInt(v.id, 1));
    case 'crash':
      return isCrashInfo(v.crash);
    case 'repair':
      return isRepairInfo(v.repair);
    case 'restore':
      return isRestoreInfo(v.restore);
    case 'stop':
      return isStopInfo(v.stop);
    case 'head':
      return isHeadInfo(v.head);
    case 'notice':
      return v.notice === null || isNotice(v.notice);
    default:
      return false;
  }
}

export function isInitMessage(v: unknown): v is InitMessage {
  return (
    isObj(v) &&
    v.type === 'init' &&
    (v.session === null || isSessionInfo(v.session)) &&
    (v.end === null || isSessionEnd(v.end)) &&
    isList(v.checkpoints, isCheckpointInfo) &&
    isList(v.crashes, isCrashInfo) &&
    isList(v.repairs, isRepairInfo) &&
    isList(v.restores, isRestoreInfo) &&
    opt(v.stops, (x) => isList(x, isStopInfo)) &&
    (v.head === null || isHeadInfo(v.head)) &&
    isInt(v.dropped) &&
    (v.notice === null || isNotice(v.notice))
  );
}

/** Validates what the webview receives. */
export function isToWebviewMessage(v: unknown): v is ToWebviewMessage {
  return isInitMessage(v) || isTimelineUpdate(v);
}

/** Validates what the extension receives from the webview. Extra fields are tolerated, wrong ones are not. */
export function isFromWebviewMessage(v: unknown): v is FromWebviewMessage {
  if (!isObj(v)) return false;
  switch (v.type) {
    case 'ready':
      return true;
    case 'restoreRequest':
      return isInt(v.checkpointId, 1);
    case 'openRepair':
      return isShort(v.repairId) && v.repairId.length > 0;
    case 'revealCrash':
      return isInt(v.crashId, 1);
    case 'showInPanel':
      return true;
    default:
      return false;
  }
}
