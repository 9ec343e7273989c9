// The timeline's pure state logic: reducer, selection and keyboard, the confirm step, formatting,
// virtualization math.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ToWebviewMessage } from '../../adapter/protocol/timeline';
import {
  activate,
  apply,
  ariaLabel,
  atEnd,
  cancelConfirm,
  confirmRestore,
  confirmText,
  contentWidth,
  counts,
  describe as describeItem,
  formatBytes,
  formatDuration,
  formatElapsed,
  formatTick,
  handleKey,
  headElapsed,
  indexOfKey,
  initialState,
  maxScroll,
  moveSelection,
  pageSize,
  restoreBlocker,
  revealScroll,
  selectedItem,
  selectIndex,
  selectKey,
  slotAt,
  slotLeft,
  tickEvery,
  toInitMessage,
  visibleRange,
  zoom,
  ZOOM_LEVELS,
  type TimelineState,
} from '../../webview/timelineModel';
import { SAMPLE_T0, sampleCheckpoint, sampleInit, sampleStory } from '../../webview/sampleTimeline';

const fold = (messages: ToWebviewMessage[], state: TimelineState = initialState()): TimelineState => messages.reduce(apply, state);
const keys = (s: TimelineState): string[] => s.items.map((i) => i.key);
const story = (): TimelineState => fold(sampleStory(5));

describe('reducer', () => {
  test('the story lands in time order with one item per key', () => {
    const s = story();
    assert.deepEqual(keys(s), [
      'cp:1', 'cp:2', 'cp:3', 'cp:4', 'cp:5', 'crash:1', 'cp:6', 'repair:r1', 'repair:r2',
      `restore:${SAMPLE_T0 + 15_000}:3`, 'cp:7', 'cp:8', 'cp:9', 'cp:10', 'cp:11', 'cp:12', 'cp:13',
    ]);
    assert.deepEqual(counts(s), { checkpoints: 13, crashes: 1, repairs: 2, restores: 1, stops: 0 });
    const r2 = s.items[indexOfKey(s, 'repair:r2')]!;
    assert.equal(r2.kind === 'repair' && r2.repair.status, 'verified');
    assert.equal(s.head?.state, 'running');
    assert.equal(s.head?.generation, 1);
    assert.equal(s.session?.program, 'train.py');
  });

  test('updates are idempotent: the same message twice changes nothing', () => {
    const s = story();
    const again = fold(sampleStory(5).slice(1), s);
    assert.deepEqual(keys(again), keys(s));
  });

  test('a repair status update may carry only what changed; the repair keeps its place and summary', () => {
    let s = story();
    const before = keys(s);
    s = apply(s, { type: 'repair', repair: { id: 'r1', time: SAMPLE_T0 + 99_000, status: 'failed', detail: 'IndexError again' } });
    assert.deepEqual(keys(s), before);
    const r1 = s.items[indexOfKey(s, 'repair:r1')]!;
    assert.equal(r1.kind, 'repair');
    assert.deepEqual(r1.kind === 'repair' && r1.repair, {
      id: 'r1', time: SAMPLE_T0 + 6000, status: 'failed', crashId: 1, summary: "batch.get('label', 0)", files: ['train.py'], detail: 'IndexError again',
    });
    // Crashes update in place too (paused → decided).
    s = apply(s, { type: 'crash', crash: { id: 1, time: SAMPLE_T0 + 70_000, exceptionType: 'KeyError', message: "'label'", paused: false, generation: 0 } });
    const crash = s.items[indexOfKey(s, 'crash:1')]!;
    assert.equal(crash.kind === 'crash' && crash.crash.paused, false);
    assert.equal(crash.kind === 'crash' && crash.crash.file, '/home/ada/project/train.py');
    assert.deepEqual(keys(s), before);
  });

  test('an item that did not change keeps its identity (the renderer relies on it)', () => {
    const s = story();
    const next = apply(s, { type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(99, SAMPLE_T0 + 99_000) });
    assert.equal(next.items[0], s.items[0]);
    assert.notEqual(next.items, s.items);
  });

  test('a checkpoint out of order is inserted at its time', () => {
    let s = fold([sampleInit(3)]);
    s = apply(s, { type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(9, SAMPLE_T0 + 1500) });
    assert.deepEqual(keys(s), ['cp:1', 'cp:9', 'cp:2', 'cp:3']);
  });

  test('deleting a checkpoint counts it as dropped and moves a selection off it', () => {
    let s = fold([sampleInit(4)]);
    s = selectKey(s, 'cp:2');
    s = { ...s, confirm: 2 };
    s = apply(s, { type: 'checkpoint', change: 'deleted', id: 2 });
    assert.deepEqual(keys(s), ['cp:1', 'cp:3', 'cp:4']);
    assert.equal(s.dropped, 1);
    assert.equal(s.selectedKey, 'cp:3');
    assert.equal(s.confirm, null);
    // Unknown ids change nothing.
    assert.equal(apply(s, { type: 'checkpoint', change: 'deleted', id: 77 }), s);
    // The last one deleted: the selection moves back.
    s = selectKey(s, 'cp:4');
    s = apply(s, { type: 'checkpoint', change: 'deleted', id: 4 });
    assert.equal(s.selectedKey, 'cp:3');
  });

  test('a new session starts from scratch; the same session again keeps everything', () => {
    const s = story();
    const same = apply(s, { type: 'session', change: 'started', session: { ...s.session!, pid: 7 } });
    assert.equal(same.items, s.items);
    assert.equal(same.session?.pid, 7);
    const other = apply(s, { type: 'session', change: 'started', session: { ...s.session!, id: 'run-2' } });
    assert.deepEqual(other.items, []);
    assert.equal(other.head, null);
    assert.equal(other.session?.id, 'run-2');
  });

  test('the session end adds an end item, stops the head and any pending restore', () => {
    let s: TimelineState = { ...story(), pendingRestore: 3, confirm: 4 };
    s = apply(s, { type: 'session', change: 'ended', end: { time: SAMPLE_T0 + 30_000, status: 1 } });
    assert.equal(s.items.at(-1)?.key, 'end');
    assert.equal(s.pendingRestore, null);
    assert.equal(s.confirm, null);
    assert.equal(restoreBlocker(s, 4), 'The session has ended: its checkpoints can no longer be restored.');
  });

  test('a restore or an error notice ends the pending restore; other notices do not', () => {
    const s = { ...fold([sampleInit(5)]), pendingRestore: 2 };
    assert.equal(apply(s, { type: 'notice', notice: { level: 'info', text: 'hi' } }).pendingRestore, 2);
    assert.equal(apply(s, { type: 'notice', notice: { level: 'error', text: 'criu failed' } }).pendingRestore, null);
    assert.equal(apply(s, { type: 'restore', restore: { time: SAMPLE_T0 + 9000, checkpointId: 2, ms: 100, generation: 0 } }).pendingRestore, null);
    assert.equal(apply(s, { type: 'notice', notice: null }).notice, null);
  });

  test('toInitMessage round-trips the state, and an init of the same session keeps the selection', () => {
    let s = story();
    s = selectKey(s, 'cp:4');
    s = { ...s, confirm: 4 };
    const init = toInitMessage(s);
    const fresh = apply(initialState(), init);
    assert.deepEqual(keys(fresh), keys(s));
    assert.deepEqual(toInitMessage(fresh), init);
    const replayed = apply(s, init);
    assert.equal(replayed.selectedKey, 'cp:4');
    assert.equal(replayed.confirm, 4);
    const otherSession = apply(s, { ...init, session: { ...init.session!, id: 'run-9' } });
    assert.equal(otherSession.selectedKey, null);
  });

  test('debugger stops are items of their own: counted, described, kept by toInitMessage', () => {
    let s = story();
    const t = s.items[s.items.length - 1]!.time + 10;
    s = apply(s, { type: 'stop', stop: { id: 1, time: t, reason: 'breakpoint', file: '/w/job.py', line: 7, function: 'scale' } });
    s = apply(s, { type: 'stop', stop: { id: 2, time: t + 5, reason: 'pause' } });
    assert.deepEqual(keys(s).slice(-2), ['stop:1', 'stop:2']);
    assert.equal(counts(s).stops, 2);
    const item = s.items[s.items.length - 2]!;
    assert.deepEqual(describeItem(s, item).title, 'Stopped at a breakpoint');
    assert.match(describeItem(s, item).lines.join(' '), /in scale \(job\.py:7\)/);
    assert.match(ariaLabel(s, item), /^Stopped at a breakpoint at .*, line 7$/);
    assert.deepEqual(activate(selectKey(s, 'stop:1')).post, undefined);
    const fresh = apply(initialState(), toInitMessage(s));
    assert.deepEqual(keys(fresh), keys(s));
  });

  test('init with 1,000 checkpoints is fast and ordered', () => {
    const t0 = performance.now();
    const s = apply(initialState(), sampleInit(1000));
    let t = s;
    for (let i = 1001; i <= 2000; i++) t = apply(t, { type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(i, SAMPLE_T0 + i * 1000) });
    const ms = performance.now() - t0;
    assert.equal(t.items.length, 2000);
    assert.equal(t.items[1999]!.key, 'cp:2000');
    assert.ok(ms < 2000, `took ${ms} ms`);
  });
});

describe('selection and keyboard', () => {
  const five = (): TimelineState => fold([sampleInit(5)]);

  test('with nothing selected, arrows and End land on the newest item, Home on the first', () => {
    assert.equal(handleKey(five(), 'ArrowLeft')!.state.selectedKey, 'cp:5');
    assert.equal(handleKey(five(), 'ArrowRight')!.state.selectedKey, 'cp:5');
    assert.equal(handleKey(five(), 'End')!.state.selectedKey, 'cp:5');
    assert.equal(handleKey(five(), 'Home')!.state.selectedKey, 'cp:1');
  });

  test('arrows move one item and stop at the ends; Page keys move a page', () => {
    let s = selectIndex(five(), 0);
    s = handleKey(s, 'ArrowLeft')!.state;
    assert.equal(s.selectedKey, 'cp:1');
    s = handleKey(s, 'ArrowRight')!.state;
    s = handleKey(s, 'ArrowDown')!.state;
    assert.equal(s.selectedKey, 'cp:3');
    s = handleKey(s, 'ArrowUp')!.state;
    assert.equal(s.selectedKey, 'cp:2');
    assert.equal(handleKey(s, 'PageDown', 10)!.state.selectedKey, 'cp:5');
    assert.equal(handleKey(s, 'PageUp', 10)!.state.selectedKey, 'cp:1');
    assert.equal(moveSelection(s, 2).selectedKey, 'cp:4');
  });

  test('Enter on a checkpoint opens the confirm; Enter again asks for the restore once', () => {
    let s = selectKey(five(), 'cp:3');
    let step = handleKey(s, 'Enter')!;
    assert.equal(step.post, undefined);
    assert.equal(step.state.confirm, 3);
    assert.equal(confirmText(step.state, 3), 'Rewind to checkpoint #3 (3.0 s)?');
    step = handleKey(step.state, 'Enter')!;
    assert.deepEqual(step.post, { type: 'restoreRequest', checkpointId: 3 });
    assert.equal(step.state.pendingRestore, 3);
    assert.equal(step.state.confirm, null);
    // While it is pending, another confirm cannot ask again.
    s = { ...step.state, confirm: 4 };
    assert.match(restoreBlocker(s, 4) ?? '', /already in progress/);
    assert.equal(confirmRestore(s).post, undefined);
  });

  test('Space works like Enter; Escape cancels the confirm, then clears a notice, then is not handled', () => {
    let s = selectKey(five(), 'cp:2');
    s = handleKey(s, ' ')!.state;
    assert.equal(s.confirm, 2);
    s = { ...s, notice: { level: 'info', text: 'x' } };
    s = handleKey(s, 'Escape')!.state;
    assert.equal(s.confirm, null);
    assert.notEqual(s.notice, null);
    s = handleKey(s, 'Escape')!.state;
    assert.equal(s.notice, null);
    assert.equal(handleKey(s, 'Escape'), null);
    assert.equal(handleKey(s, 'Tab'), null);
    assert.equal(handleKey(s, 'a'), null);
    assert.equal(cancelConfirm(s), s);
  });

  test('moving the selection closes the confirm', () => {
    const s = { ...selectKey(five(), 'cp:2'), confirm: 2 };
    assert.equal(handleKey(s, 'ArrowRight')!.state.confirm, null);
  });

  test('Enter on a repair opens it, on a crash reveals it, on a restore selects its checkpoint', () => {
    const s = story();
    assert.deepEqual(activate(selectKey(s, 'repair:r2')).post, { type: 'openRepair', repairId: 'r2' });
    assert.deepEqual(activate(selectKey(s, 'crash:1')).post, { type: 'revealCrash', crashId: 1 });
    const restore = s.items.find((i) => i.kind === 'restore')!;
    const step = activate(selectKey(s, restore.key));
    assert.equal(step.post, undefined);
    assert.equal(step.state.selectedKey, 'cp:3');
    assert.equal(selectedItem(step.state)?.kind, 'checkpoint');
    assert.deepEqual(activate(initialState()), { state: initialState() });
  });

  test('restore is refused without a live session or for a dropped checkpoint', () => {
    const noSession: TimelineState = { ...fold([sampleInit(3)]), session: null };
    assert.equal(restoreBlocker(noSession, 1), 'No Axolotl session is running.');
    assert.equal(restoreBlocker(fold([sampleInit(3)]), 9), 'Checkpoint #9 is no longer kept.');
    const restoring = apply(fold([sampleInit(3)]), { type: 'head', head: { time: SAMPLE_T0 + 4000, state: 'restoring', generation: 0 } });
    assert.equal(restoreBlocker(restoring, 1), 'A restore is already in progress.');
    assert.equal(restoreBlocker(fold([sampleInit(3)]), 1), null);
  });
});

describe('formatting', () => {
  test('elapsed time', () => {
    assert.equal(formatElapsed(0), '0.0 s');
    assert.equal(formatElapsed(3200), '3.2 s');
    assert.equal(formatElapsed(3249), '3.2 s');
    assert.equal(formatElapsed(59_999), '59.9 s');
    assert.equal(formatElapsed(60_000), '1 m 00 s');
    assert.equal(formatElapsed(65_400), '1 m 05 s');
    assert.equal(formatElapsed(3_723_000), '1 h 02 m 03 s');
    assert.equal(formatElapsed(-5), '0.0 s');
    assert.equal(formatElapsed(Number.NaN), '0.0 s');
  });

  test('sizes in KB / MB', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KB');
    assert.equal(formatBytes(10_188), '9.9 KB');
    assert.equal(formatBytes(10_230), '10 KB');
    assert.equal(formatBytes(123 * 1024), '123 KB');
    assert.equal(formatBytes(1024 * 1024 - 1), '1.0 MB');
    assert.equal(formatBytes(3.2 * 1024 * 1024), '3.2 MB');
    assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5 GB');
  });

  test('frozen and dump durations', () => {
    assert.equal(formatDuration(0.84), '0.8 ms');
    assert.equal(formatDuration(4), '4 ms');
    assert.equal(formatDuration(35.4), '35 ms');
    assert.equal(formatDuration(999.7), '1.0 s');
    assert.equal(formatDuration(1234), '1.2 s');
  });

  test('axis ticks', () => {
    assert.equal(formatTick(12_900), '12 s');
    assert.equal(formatTick(65_000), '1:05');
    assert.equal(formatTick(3_723_000), '1:02:03');
  });

  test('tooltips and labels say what matters', () => {
    const s = story();
    const cp = s.items[indexOfKey(s, 'cp:6')]!;
    const d = describeItem(s, cp);
    assert.equal(d.title, 'Checkpoint #6');
    assert.match(d.lines[0]!, /^at 5\.3 s \(\d\d:\d\d:\d\d\)$/);
    assert.ok(d.lines.includes('size 1.2 MB'));
    assert.ok(d.lines.some((l) => /^frozen \d+ ms \(dump \d+ ms\)$/.test(l)));
    assert.ok(d.lines.includes('taken at the crash, with the stack alive'));
    assert.equal(d.code, 'Traceback (most recent call last):');
    assert.match(ariaLabel(s, cp), /^Checkpoint 6 at 5\.3 s, 1\.2 MB, frozen \d+ ms, taken at the crash$/);

    const crash = describeItem(s, s.items[indexOfKey(s, 'crash:1')]!);
    assert.equal(crash.title, 'Crash: KeyError');
    assert.ok(crash.lines.includes('in load_batch (train.py:57)'));
    assert.equal(crash.code, "KeyError: 'label'");

    const repair = describeItem(s, s.items[indexOfKey(s, 'repair:r2')]!);
    assert.equal(repair.title, 'Repair verified');
    assert.ok(repair.lines.includes('2 files'));
    const restore = describeItem(s, s.items.find((i) => i.kind === 'restore')!);
    assert.equal(restore.title, 'Restored checkpoint #3 (3.0 s)');
    assert.ok(restore.lines.includes('running again after 182 ms'));
  });

  test('the live head keeps counting while running, not while paused', () => {
    const s = story();
    const base = s.head!.time - SAMPLE_T0;
    assert.equal(headElapsed(s, 1000, 3500), base + 2500);
    const paused = apply(s, { type: 'head', head: { ...s.head!, state: 'paused' } });
    assert.equal(headElapsed(paused, 1000, 3500), base);
    assert.equal(headElapsed(initialState(), 0, 10), 0);
  });
});

describe('virtualization', () => {
  const layout = { slotWidth: 20, padding: 24 };

  test('geometry', () => {
    assert.equal(contentWidth(1000, layout), 20_048);
    assert.equal(slotLeft(0, layout), 24);
    assert.equal(slotLeft(10, layout), 224);
    assert.equal(slotAt(224, layout), 10);
    assert.equal(slotAt(243, layout), 10);
    assert.equal(slotAt(0, layout), -2);
  });

  test('1,000 checkpoints: only the slots in view (plus overscan) render, wherever it scrolls', () => {
    const n = 1000;
    const width = 300;
    assert.deepEqual(visibleRange(0, width, n, layout, 3), { start: 0, end: 17 });
    assert.deepEqual(visibleRange(10_024, width, n, layout, 3), { start: 497, end: 518 });
    const end = maxScroll(n, width, layout);
    assert.equal(end, 19_748);
    assert.deepEqual(visibleRange(end, width, n, layout, 3), { start: 983, end: 1000 });
    for (let x = 0; x <= end; x += 137) {
      const r = visibleRange(x, width, n, layout, 3);
      assert.ok(r.end - r.start <= Math.ceil(width / layout.slotWidth) + 7, `at ${x}: ${r.start}..${r.end}`);
      // Every slot that intersects the viewport is in the range.
      const first = Math.max(0, slotAt(x, layout));
      const last = Math.min(n - 1, slotAt(x + width - 1, layout));
      assert.ok(r.start <= first && r.end > last, `at ${x}: ${r.start}..${r.end} misses ${first}..${last}`);
    }
    assert.deepEqual(visibleRange(0, 0, n, layout), { start: 0, end: 0 });
    assert.deepEqual(visibleRange(0, width, 0, layout), { start: 0, end: 0 });
    assert.deepEqual(visibleRange(99_999, width, n, layout), { start: 1000, end: 1000 });
  });

  test('revealing a slot scrolls as little as possible and stays in bounds', () => {
    const n = 1000;
    assert.equal(revealScroll(5, 0, 300, n, layout), 0);
    assert.equal(revealScroll(20, 0, 300, n, layout), 144);
    assert.equal(revealScroll(3, 500, 300, n, layout), 84);
    assert.equal(revealScroll(999, 0, 300, n, layout), 19_724);
    assert.equal(revealScroll(0, 900, 300, n, layout, 20), 4);
  });

  test('following the end, page size, ticks and zoom levels', () => {
    assert.equal(atEnd(maxScroll(100, 300, layout), 300, 100, layout), true);
    assert.equal(atEnd(maxScroll(100, 300, layout) - 30, 300, 100, layout), false);
    assert.equal(atEnd(0, 300, 5, layout), true);
    assert.equal(pageSize(300, layout), 14);
    assert.equal(tickEvery(28), 5);
    assert.equal(tickEvery(10), 10);
    assert.equal(tickEvery(56), 2);
    assert.equal(tickEvery(4), 20);
    assert.equal(zoom(28, 1), 40);
    assert.equal(zoom(28, -1), 20);
    assert.equal(zoom(ZOOM_LEVELS[0]!, -1), ZOOM_LEVELS[0]);
    assert.equal(zoom(ZOOM_LEVELS.at(-1)!, 1), ZOOM_LEVELS.at(-1));
  });
});
