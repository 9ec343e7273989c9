// The timeline's records built from engine events: what the debug session sends as the body of the
// custom event TIMELINE_DAP_EVENT (adapter/protocol/timeline.ts), within the protocol's limits.
import type { DebugStop } from '../engine/debugControl';
import type { Checkpoint, CrashEvent, ExitEvent, RestoredEvent } from '../engine/types';
import {
  LIMITS, type CheckpointInfo, type CrashInfo, type RestoreInfo, type SessionEnd, type StopInfo,
} from '../protocol/timeline';

const MAX_OUTPUT_LINE = 300;

/** The last non-empty line of `text`, shortened to fit a tooltip. */
export function lastLine(text: string, max = MAX_OUTPUT_LINE): string | undefined {
  const lines = text.split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trimEnd();
    if (line.trim() !== '') return line.length > max ? `${line.slice(0, max - 1)}…` : line;
  }
  return undefined;
}

export function checkpointInfo(cp: Checkpoint): CheckpointInfo {
  const info: CheckpointInfo = {
    id: cp.id,
    time: cp.time,
    bytes: cp.bytes,
    frozenMs: cp.frozenMs,
    dumpMs: cp.dumpMs,
    generation: cp.generation,
    backend: cp.backend,
  };
  if (cp.atCrash) info.atCrash = true;
  if (cp.inMemory !== undefined) info.inMemory = cp.inMemory;
  if (cp.saved !== undefined) info.saved = cp.saved;
  const out = cp.lastOutput === undefined ? undefined : lastLine(cp.lastOutput);
  if (out !== undefined) info.lastOutput = out;
  return info;
}

/** Splits the last line of a Python traceback ("KeyError: 'x'") into type and message. */
export function parseExceptionLine(traceback: string): { exceptionType: string; message: string } {
  const line = lastLine(traceback, LIMITS.text) ?? '';
  const m = /^([A-Za-z_][\w.]*)(?::\s?(.*))?$/.exec(line.trim());
  if (!m) return { exceptionType: 'Exception', message: line.trim() };
  const type = m[1]!;
  return { exceptionType: type.slice(type.lastIndexOf('.') + 1), message: m[2] ?? '' };
}

export function crashInfo(id: number, time: number, ev: CrashEvent): CrashInfo {
  const report = ev.report;
  const base = report
    ? { exceptionType: report.exception.type, message: report.exception.message }
    : parseExceptionLine(ev.traceback);
  const info: CrashInfo = {
    id,
    time,
    exceptionType: base.exceptionType.slice(0, LIMITS.shortText),
    message: base.message.slice(0, LIMITS.text),
    paused: ev.paused,
    generation: ev.generation,
  };
  const frame = report ? [...report.frames].reverse().find((f) => f.user) ?? report.frames[report.frames.length - 1] : undefined;
  if (frame) {
    info.file = frame.file;
    info.line = frame.line;
    info.function = frame.qualname.slice(0, LIMITS.shortText);
  }
  return info;
}

export function restoreInfo(time: number, ev: RestoredEvent): RestoreInfo {
  return { time, checkpointId: ev.checkpoint.id, ms: ev.ms, generation: ev.generation, pid: ev.pid };
}

export function stopInfo(id: number, stop: DebugStop): StopInfo {
  const info: StopInfo = { id, time: stop.time, reason: stop.reason };
  const frame = stop.frames[stop.frames.length - 1];
  if (frame) {
    info.file = frame.file.slice(0, LIMITS.text);
    info.line = frame.line;
    info.function = frame.qualname.slice(0, LIMITS.shortText);
  }
  if (stop.exception) info.exception = `${stop.exception.type}: ${stop.exception.message}`.slice(0, LIMITS.text);
  return info;
}

export function sessionEnd(time: number, ev: ExitEvent): SessionEnd {
  const end: SessionEnd = { time, status: ev.status };
  if (ev.signal) end.signal = ev.signal;
  return end;
}
