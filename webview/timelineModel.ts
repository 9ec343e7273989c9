// The timeline's state and everything that can be decided without a DOM: the reducer that folds
// protocol messages into state, selection and keyboard navigation, the confirm-then-restore step,
// text formatting, and the virtualization math. The webview renders from it; the extension keeps
// the same state (by applying the same updates) to replay it to a timeline that (re)opens.
//
// State is plain JSON (it goes through the webview's setState) and is never mutated: an item object
// that did not change keeps its identity, which lets the renderer skip it.
import type {
  CheckpointInfo,
  CrashInfo,
  FromWebviewMessage,
  HeadInfo,
  InitMessage,
  Notice,
  RepairInfo,
  RestoreInfo,
  SessionEnd,
  SessionInfo,
  StopInfo,
  ToWebviewMessage,
} from '../adapter/protocol/timeline';

// ---------------------------------------------------------------------------------------------
// State

interface ItemBase {
  /** unique and stable: "cp:12", "crash:1", "repair:r1", "restore:<time>:<checkpoint>", "end" */
  key: string;
  /** ms since the epoch: items are ordered by time, then by arrival */
  time: number;
  /** arrival order, to keep equal times stable */
  seq: number;
}
export interface CheckpointItem extends ItemBase { kind: 'checkpoint'; checkpoint: CheckpointInfo }
export interface CrashItem extends ItemBase { kind: 'crash'; crash: CrashInfo }
export interface RepairItem extends ItemBase { kind: 'repair'; repair: RepairInfo }
export interface RestoreItem extends ItemBase { kind: 'restore'; restore: RestoreInfo }
export interface StopItem extends ItemBase { kind: 'stop'; stop: StopInfo }
export interface EndItem extends ItemBase { kind: 'end'; end: SessionEnd }
export type TimelineItem = CheckpointItem | CrashItem | RepairItem | RestoreItem | StopItem | EndItem;
export type ItemKind = TimelineItem['kind'];

export interface TimelineState {
  session: SessionInfo | null;
  end: SessionEnd | null;
  /** ordered by (time, seq) */
  items: readonly TimelineItem[];
  head: HeadInfo | null;
  notice: Notice | null;
  /** checkpoints that left the ring buffer */
  dropped: number;
  /** next arrival number */
  seq: number;
  /** key of the selected item */
  selectedKey: string | null;
  /** checkpoint id waiting for "Restore / Cancel" */
  confirm: number | null;
  /** checkpoint id whose restore was requested and not yet reported */
  pendingRestore: number | null;
}

export function initialState(): TimelineState {
  return {
    session: null,
    end: null,
    items: [],
    head: null,
    notice: null,
    dropped: 0,
    seq: 0,
    selectedKey: null,
    confirm: null,
    pendingRestore: null,
  };
}

export const checkpointKey = (id: number): string => `cp:${id}`;
export const crashKey = (id: number): string => `crash:${id}`;
export const repairKey = (id: string): string => `repair:${id}`;
export const restoreKey = (r: RestoreInfo): string => `restore:${r.time}:${r.checkpointId}`;
export const stopKey = (id: number): string => `stop:${id}`;
export const END_KEY = 'end';

// ---------------------------------------------------------------------------------------------
// Ordered item list helpers

function before(a: TimelineItem, b: TimelineItem): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/** Inserts keeping the order; O(1) for the usual append at the end. */
function insertSorted(items: readonly TimelineItem[], item: TimelineItem): TimelineItem[] {
  let lo = 0;
  let hi = items.length;
  if (hi === 0 || before(items[hi - 1]!, item)) return [...items, item];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(items[mid]!, item)) lo = mid + 1;
    else hi = mid;
  }
  const out = items.slice();
  out.splice(lo, 0, item);
  return out;
}

export function indexOfKey(state: Pick<TimelineState, 'items'>, key: string | null): number {
  if (key === null) return -1;
  const items = state.items;
  // Selection and updates are mostly near the end.
  for (let i = items.length - 1; i >= 0; i--) if (items[i]!.key === key) return i;
  return -1;
}

export function findCheckpoint(state: Pick<TimelineState, 'items'>, id: number): CheckpointItem | undefined {
  const i = indexOfKey(state, checkpointKey(id));
  return i < 0 ? undefined : (state.items[i] as CheckpointItem);
}

type NewItem = TimelineItem extends infer T ? (T extends TimelineItem ? Omit<T, 'seq'> : never) : never;

/** Replaces the item with the same key (keeping its arrival number) or inserts it. */
function upsert(state: TimelineState, item: NewItem): TimelineState {
  const i = indexOfKey(state, item.key);
  if (i >= 0) {
    const old = state.items[i]!;
    const next = { ...item, seq: old.seq } as TimelineItem;
    if (old.time === next.time) {
      const items = state.items.slice();
      items[i] = next;
      return { ...state, items };
    }
    const rest = state.items.slice();
    rest.splice(i, 1);
    return { ...state, items: insertSorted(rest, next) };
  }
  const next = { ...item, seq: state.seq } as TimelineItem;
  return { ...state, seq: state.seq + 1, items: insertSorted(state.items, next) };
}

/** Removes by key; a removed selection moves to the item that took its place (or the one before). */
function remove(state: TimelineState, key: string): TimelineState {
  const i = indexOfKey(state, key);
  if (i < 0) return state;
  const items = state.items.slice();
  items.splice(i, 1);
  let selectedKey = state.selectedKey;
  if (selectedKey === key) selectedKey = items.length === 0 ? null : items[Math.min(i, items.length - 1)]!.key;
  return { ...state, items, selectedKey };
}

// ---------------------------------------------------------------------------------------------
// Reducer

/** Folds one message into the state. Unknown or irrelevant messages return the state unchanged. */
export function apply(state: TimelineState, msg: ToWebviewMessage): TimelineState {
  switch (msg.type) {
    case 'init':
      return fromInit(state, msg);
    case 'session':
      if (msg.change === 'started') {
        if (state.session?.id === msg.session.id) return { ...state, session: msg.session };
        return { ...initialState(), seq: state.seq, session: msg.session };
      } else {
        const s = upsert(state, { kind: 'end', key: END_KEY, time: msg.end.time, end: msg.end });
        return { ...s, end: msg.end, confirm: null, pendingRestore: null };
      }
    case 'checkpoint': {
      if (msg.change === 'added') {
        const cp = msg.checkpoint;
        return upsert(state, { kind: 'checkpoint', key: checkpointKey(cp.id), time: cp.time, checkpoint: cp });
      }
      const s = remove(state, checkpointKey(msg.id));
      if (s === state) return state;
      return { ...s, dropped: s.dropped + 1, confirm: s.confirm === msg.id ? null : s.confirm };
    }
    case 'crash': {
      // A later message for the same crash (no longer paused, say) updates it in place.
      const old = state.items[indexOfKey(state, crashKey(msg.crash.id))];
      const crash = old?.kind === 'crash' ? { ...old.crash, ...msg.crash, time: old.crash.time } : msg.crash;
      return upsert(state, { kind: 'crash', key: crashKey(crash.id), time: crash.time, crash });
    }
    case 'repair': {
      // Status changes may carry only id and status: what they leave out keeps its earlier value,
      // and the repair stays where it was proposed.
      const old = state.items[indexOfKey(state, repairKey(msg.repair.id))];
      const repair = old?.kind === 'repair' ? { ...old.repair, ...msg.repair, time: old.repair.time } : msg.repair;
      return upsert(state, { kind: 'repair', key: repairKey(repair.id), time: repair.time, repair });
    }
    case 'restore': {
      const s = upsert(state, { kind: 'restore', key: restoreKey(msg.restore), time: msg.restore.time, restore: msg.restore });
      return { ...s, pendingRestore: null };
    }
    case 'stop':
      return upsert(state, { kind: 'stop', key: stopKey(msg.stop.id), time: msg.stop.time, stop: msg.stop });
    case 'head':
      return { ...state, head: msg.head };
    case 'notice':
      return {
        ...state,
        notice: msg.notice,
        pendingRestore: msg.notice?.level === 'error' ? null : state.pendingRestore,
      };
  }
}

function fromInit(prev: TimelineState, msg: InitMessage): TimelineState {
  const sameSession = prev.session !== null && prev.session.id === msg.session?.id;
  let seq = 0;
  const items: TimelineItem[] = [];
  const add = (item: NewItem): void => {
    items.push({ ...item, seq: seq++ } as TimelineItem);
  };
  for (const c of msg.checkpoints) add({ kind: 'checkpoint', key: checkpointKey(c.id), time: c.time, checkpoint: c });
  for (const c of msg.crashes) add({ kind: 'crash', key: crashKey(c.id), time: c.time, crash: c });
  for (const r of msg.repairs) add({ kind: 'repair', key: repairKey(r.id), time: r.time, repair: r });
  for (const r of msg.restores) add({ kind: 'restore', key: restoreKey(r), time: r.time, restore: r });
  for (const s of msg.stops ?? []) add({ kind: 'stop', key: stopKey(s.id), time: s.time, stop: s });
  if (msg.end) add({ kind: 'end', key: END_KEY, time: msg.end.time, end: msg.end });
  // Stable sort: equal times keep the order above (a crash's checkpoint after the crash, say).
  items.sort((a, b) => a.time - b.time || a.seq - b.seq);
  // Duplicate keys in a hand-made init: keep the last.
  const seen = new Set<string>();
  const unique: TimelineItem[] = [];
  for (let i = items.length - 1; i >= 0; i--) {
    if (!seen.has(items[i]!.key)) {
      seen.add(items[i]!.key);
      unique.push(items[i]!);
    }
  }
  unique.reverse();
  const next: TimelineState = {
    session: msg.session,
    end: msg.end,
    items: unique,
    head: msg.head,
    notice: msg.notice,
    dropped: msg.dropped,
    seq,
    selectedKey: null,
    confirm: null,
    pendingRestore: null,
  };
  if (!sameSession && msg.session !== null) return next;
  // The same session replayed (the view was hidden and shown): keep what the user was doing.
  next.selectedKey = seen.has(prev.selectedKey ?? '') ? prev.selectedKey : null;
  next.confirm = prev.confirm !== null && seen.has(checkpointKey(prev.confirm)) ? prev.confirm : null;
  next.pendingRestore = msg.end ? null : prev.pendingRestore;
  return next;
}

/** The full-state message that recreates `state` in a fresh webview. */
export function toInitMessage(state: TimelineState): InitMessage {
  const msg: InitMessage = {
    type: 'init',
    session: state.session,
    end: state.end,
    checkpoints: [],
    crashes: [],
    repairs: [],
    restores: [],
    stops: [],
    head: state.head,
    dropped: state.dropped,
    notice: state.notice,
  };
  for (const item of state.items) {
    switch (item.kind) {
      case 'checkpoint': msg.checkpoints.push(item.checkpoint); break;
      case 'crash': msg.crashes.push(item.crash); break;
      case 'repair': msg.repairs.push(item.repair); break;
      case 'restore': msg.restores.push(item.restore); break;
      case 'stop': msg.stops!.push(item.stop); break;
      case 'end': break;
    }
  }
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Derived facts

/** Time 0 of the timeline: the session's start, else the first item. */
export function startTime(state: TimelineState): number {
  return state.session?.startTime ?? state.items[0]?.time ?? state.head?.time ?? 0;
}

export function isLive(state: TimelineState): boolean {
  return state.session !== null && state.end === null && state.head?.state !== 'exited';
}

export interface Counts { checkpoints: number; crashes: number; repairs: number; restores: number; stops: number }
export function counts(state: TimelineState): Counts {
  const c: Counts = { checkpoints: 0, crashes: 0, repairs: 0, restores: 0, stops: 0 };
  for (const item of state.items) {
    if (item.kind === 'checkpoint') c.checkpoints++;
    else if (item.kind === 'crash') c.crashes++;
    else if (item.kind === 'repair') c.repairs++;
    else if (item.kind === 'restore') c.restores++;
    else if (item.kind === 'stop') c.stops++;
  }
  return c;
}

/** Why a restore cannot be asked for now, or null when it can. */
export function restoreBlocker(state: TimelineState, checkpointId: number): string | null {
  if (!findCheckpoint(state, checkpointId)) return `Checkpoint #${checkpointId} is no longer kept.`;
  if (state.session === null) return 'No Axolotl session is running.';
  if (!isLive(state)) return 'The session has ended: its checkpoints can no longer be restored.';
  if (state.pendingRestore !== null) return `A restore to checkpoint #${state.pendingRestore} is already in progress.`;
  if (state.head?.state === 'restoring') return 'A restore is already in progress.';
  return null;
}

/** Elapsed time of the live head, extrapolated while it runs. `receivedAt`/`now` are the webview's own clock. */
export function headElapsed(state: TimelineState, receivedAt: number, now: number): number {
  if (!state.head) return 0;
  const base = state.head.time - startTime(state);
  const extra = state.head.state === 'running' && isLive(state) ? Math.max(0, now - receivedAt) : 0;
  return Math.max(0, base + extra);
}

// ---------------------------------------------------------------------------------------------
// Selection, keyboard and the confirm step

export interface Step {
  state: TimelineState;
  /** a message for the extension, if the step asks for something */
  post?: FromWebviewMessage;
}

export function selectIndex(state: TimelineState, index: number): TimelineState {
  if (state.items.length === 0) return state.selectedKey === null ? state : { ...state, selectedKey: null };
  const i = Math.max(0, Math.min(state.items.length - 1, index));
  const key = state.items[i]!.key;
  if (key === state.selectedKey && state.confirm === null) return state;
  return { ...state, selectedKey: key, confirm: null };
}

export function selectKey(state: TimelineState, key: string): TimelineState {
  const i = indexOfKey(state, key);
  return i < 0 ? state : selectIndex(state, i);
}

/** Moves by `delta` items. With nothing selected, any move lands on the newest item. */
export function moveSelection(state: TimelineState, delta: number): TimelineState {
  const i = indexOfKey(state, state.selectedKey);
  if (i < 0) return selectIndex(state, state.items.length - 1);
  return selectIndex(state, i + delta);
}

export function selectedItem(state: TimelineState): TimelineItem | undefined {
  const i = indexOfKey(state, state.selectedKey);
  return i < 0 ? undefined : state.items[i];
}

/**
 * Does what Enter (or a click) means for the selected item: a checkpoint asks for confirmation,
 * a repair opens its diff, a crash is revealed, a restore selects the checkpoint it went back to.
 */
export function activate(state: TimelineState): Step {
  const item = selectedItem(state);
  if (!item) return { state };
  switch (item.kind) {
    case 'checkpoint':
      return { state: { ...state, confirm: item.checkpoint.id } };
    case 'repair':
      return { state, post: { type: 'openRepair', repairId: item.repair.id } };
    case 'crash':
      return { state, post: { type: 'revealCrash', crashId: item.crash.id } };
    case 'restore': {
      const target = findCheckpoint(state, item.restore.checkpointId);
      return { state: target ? selectKey(state, target.key) : state };
    }
    case 'stop':
    case 'end':
      return { state };
  }
}

/** "Restore" in the confirm step: asks the extension, once. */
export function confirmRestore(state: TimelineState): Step {
  const id = state.confirm;
  if (id === null) return { state };
  if (restoreBlocker(state, id) !== null) return { state };
  return { state: { ...state, confirm: null, pendingRestore: id }, post: { type: 'restoreRequest', checkpointId: id } };
}

export function cancelConfirm(state: TimelineState): TimelineState {
  return state.confirm === null ? state : { ...state, confirm: null };
}

/**
 * Keyboard on the focused timeline. Returns null for keys it does not handle (so the browser keeps
 * them: Tab, shortcuts). `pageSize` is how many items fit in the viewport.
 */
export function handleKey(state: TimelineState, key: string, pageSize = 10): Step | null {
  const page = Math.max(1, Math.floor(pageSize));
  switch (key) {
    case 'ArrowLeft':
    case 'ArrowUp':
      return { state: moveSelection(state, -1) };
    case 'ArrowRight':
    case 'ArrowDown':
      return { state: moveSelection(state, 1) };
    case 'PageUp':
      return { state: moveSelection(state, -page) };
    case 'PageDown':
      return { state: moveSelection(state, page) };
    case 'Home':
      return { state: selectIndex(state, 0) };
    case 'End':
      return { state: selectIndex(state, state.items.length - 1) };
    case 'Enter':
    case ' ':
      return state.confirm !== null ? confirmRestore(state) : activate(state);
    case 'Escape':
      if (state.confirm !== null) return { state: cancelConfirm(state) };
      if (state.notice !== null) return { state: { ...state, notice: null } };
      return null;
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** Time since the start: "0.4 s", "3.2 s", "1 m 05 s", "2 h 03 m 09 s". */
export function formatElapsed(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 60_000) {
    const s = Math.floor(ms / 100) / 10; // truncate: 59.96 s must not print as "60.0 s"
    return `${s.toFixed(1)} s`;
  }
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h} h ${pad(m)} m ${pad(s)} s` : `${m} m ${pad(s)} s`;
}

/** Axis labels: "12 s", "1:05", "1:02:03". */
export function formatTick(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  if (total < 60) return `${total} s`;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Bytes in binary units: "512 B", "1.5 KB", "12 KB", "3.2 MB", "1.1 GB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) bytes = 0;
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  // 9.96 KB rounds to "10.0": print it as "10 KB" like the larger values.
  const text = v < 10 && Math.round(v * 10) < 100 ? (Math.round(v * 10) / 10).toFixed(1) : String(Math.round(v));
  if (text === '1024' && u < units.length - 1) return `1.0 ${units[u + 1]}`;
  return `${text} ${units[u]}`;
}

/** A short duration: "0.8 ms", "35 ms", "1.2 s", then like formatElapsed. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  if (ms < 10) return `${(Math.round(ms * 10) / 10).toFixed(1).replace(/\.0$/, '')} ms`;
  if (ms < 1000) {
    const r = Math.round(ms);
    return r < 1000 ? `${r} ms` : '1.0 s';
  }
  return formatElapsed(ms);
}

/** Wall clock "14:03:12" in the webview's time zone. */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const STOP_TITLES: Record<StopInfo['reason'], string> = {
  breakpoint: 'Stopped at a breakpoint',
  step: 'Stopped after a step',
  pause: 'Paused',
  exception: 'Stopped on a raised exception',
};

const REPAIR_WORDS: Record<RepairInfo['status'], string> = {
  proposed: 'proposed, waiting for review',
  accepted: 'accepted',
  rejected: 'rejected',
  failed: 'failed',
  verified: 'verified: the program got past the crash',
};

export interface Description {
  title: string;
  /** short facts, one per line */
  lines: string[];
  /** program output or exception text, shown in the editor font */
  code?: string;
}

/** What a tooltip or the details line says about an item. */
export function describe(state: TimelineState, item: TimelineItem): Description {
  const at = `at ${formatElapsed(item.time - startTime(state))} (${formatClock(item.time)})`;
  switch (item.kind) {
    case 'checkpoint': {
      const c = item.checkpoint;
      const lines = [
        at,
        `size ${formatBytes(c.bytes)}`,
        `frozen ${formatDuration(c.frozenMs)} (dump ${formatDuration(c.dumpMs)})`,
        `code generation ${c.generation}`,
      ];
      if (c.atCrash) lines.push('taken at the crash, with the stack alive');
      const kept = keptAs(c);
      if (kept) lines.push(kept);
      const d: Description = { title: `Checkpoint #${c.id}`, lines };
      if (c.lastOutput !== undefined) d.code = c.lastOutput;
      return d;
    }
    case 'crash': {
      const c = item.crash;
      const lines = [at, ...location(c)];
      lines.push(c.paused ? 'paused on the crash, waiting for a decision' : `code generation ${c.generation}`);
      return { title: `Crash: ${c.exceptionType}`, lines, code: c.message ? `${c.exceptionType}: ${c.message}` : c.exceptionType };
    }
    case 'repair': {
      const r = item.repair;
      const lines = [at, REPAIR_WORDS[r.status]];
      if (r.files && r.files.length > 0) lines.push(r.files.length === 1 ? r.files[0]! : plural(r.files.length, 'file'));
      if (r.detail) lines.push(r.detail);
      const d: Description = { title: `Repair ${r.status}`, lines };
      if (r.summary) d.code = r.summary;
      return d;
    }
    case 'restore': {
      const r = item.restore;
      const cp = findCheckpoint(state, r.checkpointId);
      const target = cp ? ` (${formatElapsed(cp.time - startTime(state))})` : '';
      return {
        title: `Restored checkpoint #${r.checkpointId}${target}`,
        lines: [at, `running again after ${formatDuration(r.ms)}`, `code generation ${r.generation}`],
      };
    }
    case 'stop': {
      const s = item.stop;
      const d: Description = { title: STOP_TITLES[s.reason], lines: [at, ...location(s)] };
      if (s.exception) d.code = s.exception;
      return d;
    }
    case 'end': {
      const e = item.end;
      const how =
        e.status === undefined ? (e.reason ?? 'ended') : e.signal ? `killed by ${e.signal} (status ${e.status})` : `exit status ${e.status}`;
      return { title: 'Program ended', lines: [at, how] };
    }
  }
}

/** Where a checkpoint is kept, in words ('' when the session did not say). */
export function keptAs(c: { inMemory?: boolean; saved?: boolean }): string {
  if (c.inMemory && c.saved) return 'in memory and saved on disk';
  if (c.inMemory) return 'in memory (gone with the session)';
  if (c.saved) return 'saved on disk';
  return '';
}

/** One line for screen readers. */
export function ariaLabel(state: TimelineState, item: TimelineItem): string {
  const when = formatElapsed(item.time - startTime(state));
  switch (item.kind) {
    case 'checkpoint': {
      const c = item.checkpoint;
      const kept = keptAs(c);
      return `Checkpoint ${c.id} at ${when}, ${formatBytes(c.bytes)}, frozen ${formatDuration(c.frozenMs)}${c.atCrash ? ', taken at the crash' : ''}${kept ? `, ${kept}` : ''}`;
    }
    case 'crash':
      return `Crash at ${when}: ${item.crash.exceptionType}${item.crash.message ? `: ${item.crash.message}` : ''}`;
    case 'repair':
      return `Repair ${item.repair.status} at ${when}${item.repair.summary ? `: ${item.repair.summary}` : ''}`;
    case 'restore':
      return `Restored checkpoint ${item.restore.checkpointId} at ${when}`;
    case 'stop':
      return `${STOP_TITLES[item.stop.reason]} at ${when}${item.stop.line !== undefined ? `, line ${item.stop.line}` : ''}`;
    case 'end':
      return `Program ended at ${when}${item.end.status !== undefined ? `, exit status ${item.end.status}` : ''}`;
  }
}

/** "Rewind to checkpoint #12 (3.2 s)?" */
export function confirmText(state: TimelineState, checkpointId: number): string {
  const cp = findCheckpoint(state, checkpointId);
  const when = cp ? ` (${formatElapsed(cp.time - startTime(state))})` : '';
  return `Rewind to checkpoint #${checkpointId}${when}?`;
}

/** "in scale (job.py:7)", for what happened at a place in the code (none when the place is unknown). */
function location(where: { file?: string; line?: number; function?: string }): string[] {
  if (where.file === undefined) return [];
  const at = `${baseName(where.file)}${where.line !== undefined ? `:${where.line}` : ''}`;
  return [where.function ? `in ${where.function} (${at})` : `in ${at}`];
}

function baseName(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i < 0 ? path : path.slice(i + 1);
}

// ---------------------------------------------------------------------------------------------
// Virtualization: items sit in equal slots left to right, in time order; the live head takes one
// more slot after the last item. Only the slots that intersect the viewport (plus a margin) render.

export interface SlotLayout {
  /** px per item */
  slotWidth: number;
  /** px before the first slot and after the last */
  padding: number;
}

export const ZOOM_LEVELS: readonly number[] = [10, 14, 20, 28, 40, 56];
export const DEFAULT_SLOT_WIDTH = 28;

export function zoom(slotWidth: number, direction: 1 | -1): number {
  const i = ZOOM_LEVELS.findIndex((w) => w >= slotWidth);
  const at = i < 0 ? ZOOM_LEVELS.length - 1 : i;
  return ZOOM_LEVELS[Math.max(0, Math.min(ZOOM_LEVELS.length - 1, at + direction))]!;
}

export function contentWidth(slots: number, layout: SlotLayout): number {
  return layout.padding * 2 + Math.max(0, slots) * layout.slotWidth;
}

/** Left edge of slot `index`. */
export function slotLeft(index: number, layout: SlotLayout): number {
  return layout.padding + index * layout.slotWidth;
}

export function slotAt(x: number, layout: SlotLayout): number {
  return Math.floor((x - layout.padding) / layout.slotWidth);
}

export interface Range {
  /** first slot to render */
  start: number;
  /** one past the last slot to render */
  end: number;
}

/** Slots in [start, end) intersect the viewport widened by `overscan` slots on each side. */
export function visibleRange(scrollLeft: number, viewportWidth: number, slots: number, layout: SlotLayout, overscan = 3): Range {
  if (slots <= 0 || viewportWidth <= 0) return { start: 0, end: 0 };
  const first = Math.floor((scrollLeft - layout.padding) / layout.slotWidth);
  const last = Math.ceil((scrollLeft + viewportWidth - layout.padding) / layout.slotWidth);
  const start = Math.max(0, Math.min(slots, first - overscan));
  const end = Math.max(start, Math.min(slots, last + overscan));
  return { start, end };
}

/** Slots that fit in the viewport (for PageUp/PageDown). */
export function pageSize(viewportWidth: number, layout: SlotLayout): number {
  return Math.max(1, Math.floor(viewportWidth / layout.slotWidth) - 1);
}

export function maxScroll(slots: number, viewportWidth: number, layout: SlotLayout): number {
  return Math.max(0, contentWidth(slots, layout) - viewportWidth);
}

/** The smallest scroll change that shows slot `index` whole (with `margin` px around it). */
export function revealScroll(index: number, scrollLeft: number, viewportWidth: number, slots: number, layout: SlotLayout, margin = 0): number {
  const left = slotLeft(index, layout) - margin;
  const right = slotLeft(index, layout) + layout.slotWidth + margin;
  let next = scrollLeft;
  if (left < next) next = left;
  else if (right > next + viewportWidth) next = right - viewportWidth;
  return Math.max(0, Math.min(maxScroll(slots, viewportWidth, layout), Math.round(next)));
}

/** True when the viewport shows the end of the timeline (so it should keep following new items). */
export function atEnd(scrollLeft: number, viewportWidth: number, slots: number, layout: SlotLayout): boolean {
  return scrollLeft >= maxScroll(slots, viewportWidth, layout) - layout.slotWidth / 2;
}

/** A time label every `tickEvery` slots keeps labels at least `minGap` px apart (1, 2, 5, 10, 20, 50 …). */
export function tickEvery(slotWidth: number, minGap = 64): number {
  const raw = Math.max(1, Math.ceil(minGap / slotWidth));
  for (let p = 1; ; p *= 10) {
    for (const m of [1, 2, 5]) if (m * p >= raw) return m * p;
  }
}
