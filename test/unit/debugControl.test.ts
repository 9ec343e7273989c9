// The engine's side of the debugger without a program: what goes to the agent in which reply, and
// when a command is refused, answered or given up.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { DebugControl } from '../../adapter/engine/debugControl';
import type { DebugResultMessage, StoppedMessage } from '../../adapter/engine/agentProtocol';
import type { EngineEvents } from '../../adapter/engine/types';

function control() {
  const engine = new EventEmitter<EngineEvents>();
  const calls = { pokes: 0, stopped: [] as boolean[] };
  const dc = new DebugControl({ poke: () => calls.pokes++, stopped: (s) => calls.stopped.push(s) }, engine);
  return { dc, engine, calls };
}

const stoppedMsg = (over: Partial<StoppedMessage> = {}): StoppedMessage => ({
  type: 'stopped', pid: 7, generation: 0, reason: 'breakpoint', breakpointIds: [3],
  frames: [{ file: '/w/a.py', line: 4, function: 'f', qualname: 'f', user: true, restartable: false }], ...over,
});

const result = (id: number, over: Partial<DebugResultMessage> = {}): DebugResultMessage => ({ type: 'debugResult', pid: 7, id, ok: true, ...over });

describe('DebugControl', () => {
  test('breakpoints: every change is a new version, poked to a running agent, carried by its replies', () => {
    const { dc, calls } = control();
    const v0 = dc.config.version;
    dc.setBreakpoints('/w/a.py', [{ id: 1, line: 4, condition: 'x > 1' }]);
    assert.equal(calls.pokes, 1);
    assert.deepEqual(dc.extras().debug, { version: v0 + 1, breakpoints: { '/w/a.py': [{ id: 1, line: 4, condition: 'x > 1' }] }, exceptions: { raised: false } });
    dc.setBreakpoints('/w/a.py', []);
    dc.setBreakpoints('/w/b.py', []); // nothing there: no change, no poke
    assert.equal(calls.pokes, 2);
    assert.deepEqual(dc.config.breakpoints, {});
    dc.setExceptionFilters({ uncaught: false, raised: true });
    assert.equal(dc.stopsOnUncaught, false);
    assert.deepEqual(dc.config.exceptions, { raised: true });
    assert.equal(dc.config.version, v0 + 3);
  });

  test('pause: asked once in the next reply to the running agent', () => {
    const { dc, calls } = control();
    dc.pause();
    assert.equal(calls.pokes, 1);
    assert.equal(dc.extras().pause, true);
    assert.equal(dc.extras().pause, undefined);
  });

  test('commands are refused while the program runs', async () => {
    const { dc } = control();
    await assert.rejects(dc.evaluate(0, 'x', 'repl'), /The program is running: pause it/);
  });

  test('at a stop: commands wait for the agent\'s poll, in order; results settle them; resume comes after them', async () => {
    const { dc, calls } = control();
    const events: unknown[] = [];
    dc.on('stopped', (s) => events.push(s.reason));
    assert.deepEqual(dc.onStopped(stoppedMsg()), { type: 'wait' });
    assert.deepEqual(calls.stopped, [true]);
    assert.deepEqual(dc.stopped?.breakpointIds, [3]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(events, ['breakpoint']);

    const a = dc.evaluate(1, 'x + 1', 'watch');
    const b = dc.variables({ frame: 1, scope: 'locals' });
    dc.resume('next');
    assert.equal(dc.paused, false, 'no more commands after resume');
    const first = dc.onPausedPoll(true);
    assert.deepEqual(first, { type: 'evaluate', id: (first as { id: number }).id, frame: 1, expression: 'x + 1', context: 'watch' });
    const second = dc.onResult(result((first as { id: number }).id, { value: { repr: '2', type: 'int', ref: 0 } }));
    assert.equal((second as { type: string }).type, 'variables');
    assert.deepEqual(await a, { repr: '2', type: 'int', ref: 0 });
    const third = dc.onResult(result((second as { id: number }).id, { ok: false, error: 'NameError: x' }));
    await assert.rejects(b, /NameError: x/);
    assert.equal((third as { type: string }).type, 'resume');
    assert.equal((third as { mode: string }).mode, 'next');
    assert.deepEqual(calls.stopped, [true, false]);
    assert.deepEqual(dc.onPausedPoll(false), { type: 'continue' });
  });

  test('a stopped agent the engine does not know of (a copy restored mid-stop) is let go', () => {
    const { dc } = control();
    const reply = dc.onPausedPoll(true) as { type: string; mode: string };
    assert.deepEqual([reply.type, reply.mode], ['resume', 'continue']);
  });

  test('at a crash: commands are served until the crash is decided', async () => {
    const { dc, engine } = control();
    engine.emit('crash', { traceback: '', paused: true, generation: 0 });
    const pending = dc.completions(0, 'to', 2);
    const cmd = dc.onPausedPoll(false) as { id: number; type: string };
    assert.equal(cmd.type, 'completions');
    dc.onResult(result(cmd.id, { targets: [{ label: 'total', type: 'variable' }], replace: 2 }));
    assert.deepEqual(await pending, { targets: [{ label: 'total', type: 'variable' }], replace: 2 });
    const late = dc.evaluate(0, 'x', 'repl');
    dc.crashDecided();
    await assert.rejects(late, /the crash was decided/);
    await assert.rejects(dc.evaluate(0, 'x', 'repl'), /running/);
  });

  test('a rewind or the end of the program gives up what was asked', async () => {
    const { dc, engine } = control();
    dc.onStopped(stoppedMsg());
    const asked = dc.evaluate(0, 'x', 'repl');
    dc.onPausedPoll(true); // handed out, not answered yet
    engine.emit('restored', { checkpoint: { id: 1, time: 0, bytes: 0, frozenMs: 0, dumpMs: 0, generation: 0, backend: 'criu' }, pid: 8, ms: 5, generation: 0 });
    await assert.rejects(asked, /rewound to a checkpoint/);
    assert.equal(dc.stopped, undefined);
  });
});
