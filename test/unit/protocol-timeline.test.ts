// Run-time guards of the timeline protocol, both ways, and the session's builders from engine events.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Checkpoint, CrashEvent } from '../../adapter/engine/types';
import {
  isFromWebviewMessage,
  isInitMessage,
  isTimelineUpdate,
  isToWebviewMessage,
  LIMITS,
} from '../../adapter/protocol/timeline';
import {
  checkpointInfo,
  crashInfo,
  lastLine,
  parseExceptionLine,
  restoreInfo,
  sessionEnd,
  stopInfo,
} from '../../adapter/session/timelineEvents';
import { apply, initialState, toInitMessage } from '../../webview/timelineModel';
import { SAMPLE_T0, sampleCheckpoint, sampleInit, sampleStory } from '../../webview/sampleTimeline';

const cp = sampleCheckpoint(1, SAMPLE_T0 + 1000);

describe('extension → webview guard', () => {
  test('accepts every message of the sample story and a full init', () => {
    for (const m of sampleStory()) assert.ok(isTimelineUpdate(m) && isToWebviewMessage(m), JSON.stringify(m));
    assert.ok(isInitMessage(sampleInit(1000)));
    assert.ok(isToWebviewMessage(sampleInit(0)));
    assert.ok(isToWebviewMessage(toInitMessage(sampleStory().reduce(apply, initialState()))));
    assert.ok(isToWebviewMessage({ type: 'notice', notice: null }));
    assert.ok(isToWebviewMessage({ type: 'checkpoint', change: 'deleted', id: 3 }));
    assert.ok(isToWebviewMessage({ type: 'session', change: 'ended', end: { time: 5, status: 137, signal: 'SIGKILL' } }));
    // Extra fields are tolerated (newer adapters may send more).
    assert.ok(isToWebviewMessage({ type: 'checkpoint', change: 'added', checkpoint: { ...cp, dir: '/tmp/x' } }));
  });

  test('an init is not an update (the adapter cannot send one)', () => {
    assert.equal(isTimelineUpdate(sampleInit(2)), false);
  });

  const bad: [string, unknown][] = [
    ['null', null],
    ['a string', 'init'],
    ['an array', [{ type: 'head' }]],
    ['no type', { head: { time: 1, state: 'running', generation: 0 } }],
    ['unknown type', { type: 'explode' }],
    ['checkpoint id 0', { type: 'checkpoint', change: 'added', checkpoint: { ...cp, id: 0 } }],
    ['checkpoint id 1.5', { type: 'checkpoint', change: 'added', checkpoint: { ...cp, id: 1.5 } }],
    ['checkpoint NaN bytes', { type: 'checkpoint', change: 'added', checkpoint: { ...cp, bytes: Number.NaN } }],
    ['checkpoint negative frozenMs', { type: 'checkpoint', change: 'added', checkpoint: { ...cp, frozenMs: -1 } }],
    ['checkpoint time as string', { type: 'checkpoint', change: 'added', checkpoint: { ...cp, time: '1' } }],
    ['checkpoint lastOutput as number', { type: 'checkpoint', change: 'added', checkpoint: { ...cp, lastOutput: 5 } }],
    ['checkpoint huge lastOutput', { type: 'checkpoint', change: 'added', checkpoint: { ...cp, lastOutput: 'x'.repeat(LIMITS.text + 1) } }],
    ['checkpoint unknown change', { type: 'checkpoint', change: 'renamed', id: 1 }],
    ['deleted without id', { type: 'checkpoint', change: 'deleted' }],
    ['crash without paused', { type: 'crash', crash: { id: 1, time: 1, exceptionType: 'E', message: '', generation: 0 } }],
    ['repair with unknown status', { type: 'repair', repair: { id: 'r', time: 1, status: 'maybe' } }],
    ['repair with empty id', { type: 'repair', repair: { id: '', time: 1, status: 'proposed' } }],
    ['repair with a non-string file', { type: 'repair', repair: { id: 'r', time: 1, status: 'proposed', files: ['a', 3] } }],
    ['restore of checkpoint -2', { type: 'restore', restore: { time: 1, checkpointId: -2, ms: 1, generation: 0 } }],
    ['head in an unknown state', { type: 'head', head: { time: 1, state: 'flying', generation: 0 } }],
    ['notice with a bad level', { type: 'notice', notice: { level: 'fatal', text: 'x' } }],
    ['notice missing', { type: 'notice' }],
    ['session started without a session', { type: 'session', change: 'started' }],
    ['session with an unknown backend', { type: 'session', change: 'started', session: { id: 'a', program: 'p', startTime: 0, backend: 'docker' } }],
    ['init without arrays', { ...sampleInit(1), checkpoints: undefined }],
    ['init with a bad checkpoint', { ...sampleInit(1), checkpoints: [{ ...cp, id: 'one' }] }],
    ['init with negative dropped', { ...sampleInit(1), dropped: -1 }],
  ];
  for (const [name, value] of bad) {
    test(`rejects ${name}`, () => assert.equal(isToWebviewMessage(value), false));
  }
});

describe('webview → extension guard', () => {
  test('accepts the five requests', () => {
    assert.ok(isFromWebviewMessage({ type: 'ready' }));
    assert.ok(isFromWebviewMessage({ type: 'restoreRequest', checkpointId: 12 }));
    assert.ok(isFromWebviewMessage({ type: 'openRepair', repairId: 'r2' }));
    assert.ok(isFromWebviewMessage({ type: 'revealCrash', crashId: 1 }));
    assert.ok(isFromWebviewMessage({ type: 'showInPanel' }));
  });

  const bad: [string, unknown][] = [
    ['undefined', undefined],
    ['a number', 42],
    ['unknown type', { type: 'runShell', command: 'rm -rf /' }],
    ['restore without id', { type: 'restoreRequest' }],
    ['restore with a string id', { type: 'restoreRequest', checkpointId: '12' }],
    ['restore with id 0', { type: 'restoreRequest', checkpointId: 0 }],
    ['restore with a fractional id', { type: 'restoreRequest', checkpointId: 1.25 }],
    ['restore with Infinity', { type: 'restoreRequest', checkpointId: Number.POSITIVE_INFINITY }],
    ['restore with a huge id', { type: 'restoreRequest', checkpointId: 2 ** 60 }],
    ['openRepair with an object id', { type: 'openRepair', repairId: { toString: 'r' } }],
    ['openRepair with an empty id', { type: 'openRepair', repairId: '' }],
    ['openRepair with a huge id', { type: 'openRepair', repairId: 'r'.repeat(LIMITS.shortText + 1) }],
    ['revealCrash with a negative id', { type: 'revealCrash', crashId: -1 }],
    ['an extension → webview message', { type: 'init' }],
  ];
  for (const [name, value] of bad) {
    test(`rejects ${name}`, () => assert.equal(isFromWebviewMessage(value), false));
  }
});

describe('builders from engine events', () => {
  test('checkpointInfo drops the image folder and keeps the last output line, shortened', () => {
    const engine: Checkpoint = {
      id: 4, time: 10, bytes: 2048, frozenMs: 3, dumpMs: 50, generation: 1, backend: 'criu', dir: '/runs/x/4',
      lastOutput: `step 1\nstep 2 ${'y'.repeat(400)}\n\n`,
    };
    const info = checkpointInfo(engine);
    assert.equal('dir' in info, false);
    assert.equal(info.lastOutput?.length, 300);
    assert.ok(info.lastOutput?.startsWith('step 2 '));
    assert.ok(info.lastOutput?.endsWith('…'));
    assert.equal(info.atCrash, undefined);
    assert.ok(isTimelineUpdate({ type: 'checkpoint', change: 'added', checkpoint: info }));
    assert.equal(checkpointInfo({ ...engine, atCrash: true, lastOutput: '\n' }).lastOutput, undefined);
  });

  test('lastLine and parseExceptionLine', () => {
    assert.equal(lastLine('a\nb\r\n  \n'), 'b');
    assert.equal(lastLine(''), undefined);
    assert.deepEqual(parseExceptionLine('Traceback…\n  File "x.py"\nKeyError: \'label\'\n'), { exceptionType: 'KeyError', message: "'label'" });
    assert.deepEqual(parseExceptionLine('requests.exceptions.HTTPError: 500'), { exceptionType: 'HTTPError', message: '500' });
    assert.deepEqual(parseExceptionLine('KeyboardInterrupt'), { exceptionType: 'KeyboardInterrupt', message: '' });
    assert.deepEqual(parseExceptionLine('something odd happened'), { exceptionType: 'Exception', message: 'something odd happened' });
  });

  test('crashInfo takes the innermost user frame from the agent report', () => {
    const ev: CrashEvent = {
      traceback: 'Traceback…\nKeyError: 1',
      paused: true,
      generation: 2,
      report: {
        type: 'crash', pid: 9, generation: 2, traceback: '',
        exception: { type: 'KeyError', message: "'label'", qualifiedType: 'builtins.KeyError' },
        frames: [
          { file: '/p/train.py', line: 80, function: '<module>', qualname: '<module>', user: true, restartable: false },
          { file: '/p/train.py', line: 57, function: 'load_batch', qualname: 'Loader.load_batch', user: true, restartable: true },
          { file: '/usr/lib/python3/json.py', line: 3, function: 'loads', qualname: 'loads', user: false, restartable: false },
        ],
      },
    };
    const info = crashInfo(1, 100, ev);
    assert.deepEqual(info, {
      id: 1, time: 100, exceptionType: 'KeyError', message: "'label'", paused: true, generation: 2,
      file: '/p/train.py', line: 57, function: 'Loader.load_batch',
    });
    const plain = crashInfo(2, 5, { traceback: 'ZeroDivisionError: division by zero', paused: false, generation: 0 });
    assert.equal(plain.exceptionType, 'ZeroDivisionError');
    assert.equal(plain.file, undefined);
    assert.ok(isTimelineUpdate({ type: 'crash', crash: info }) && isTimelineUpdate({ type: 'crash', crash: plain }));
  });

  test('stopInfo: where the debugger stopped (innermost frame), and a raised exception', () => {
    const frames = [
      { file: '/w/job.py', line: 12, function: '<module>', qualname: '<module>', user: true, restartable: false },
      { file: '/w/job.py', line: 7, function: 'scale', qualname: 'Job.scale', user: true, restartable: false },
    ];
    const info = stopInfo(3, { reason: 'exception', frames, breakpointIds: [], time: SAMPLE_T0, pid: 9, exception: { type: 'KeyError', message: "'x'", qualifiedType: 'builtins.KeyError' } });
    assert.deepEqual(info, { id: 3, time: SAMPLE_T0, reason: 'exception', file: '/w/job.py', line: 7, function: 'Job.scale', exception: "KeyError: 'x'" });
    assert.ok(isTimelineUpdate({ type: 'stop', stop: info }));
    assert.ok(!isTimelineUpdate({ type: 'stop', stop: { ...info, reason: 'crash' } }));
    assert.ok(!isTimelineUpdate({ type: 'stop', stop: { ...info, id: 0 } }));
    // An init without stops (saved before they existed) is still an init.
    const init = sampleInit(5);
    assert.ok(isInitMessage({ ...init, stops: undefined }));
    assert.ok(!isInitMessage({ ...init, stops: [{ id: 'x' }] }));
  });

  test('restoreInfo and sessionEnd', () => {
    const r = restoreInfo(50, { checkpoint: { id: 3, time: 1, bytes: 1, frozenMs: 1, dumpMs: 1, generation: 0, backend: 'criu' }, pid: 77, ms: 120, generation: 1 });
    assert.deepEqual(r, { time: 50, checkpointId: 3, ms: 120, generation: 1, pid: 77 });
    assert.deepEqual(sessionEnd(60, { status: 137, signal: 'SIGKILL' }), { time: 60, status: 137, signal: 'SIGKILL' });
    assert.deepEqual(sessionEnd(60, { status: 0 }), { time: 60, status: 0 });
    assert.ok(isTimelineUpdate({ type: 'restore', restore: r }));
  });
});
