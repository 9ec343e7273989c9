// The debugger over real DAP (node dist/adapter.js), on real criu: breakpoints of every kind, the
// exception filters, pause, each step, and evaluate / setVariable / completions in the paused program,
// at a breakpoint and at a crash.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { PROGRAMS, REPO, processesMatching, requireCriu, tempDir } from '../support/engineHelpers';

const ADAPTER = path.join(REPO, 'dist', 'adapter.js');
const TIMEOUT = { timeout: 120_000 };

before(async () => {
  await requireCriu();
  assert.ok(fs.existsSync(ADAPTER), `${ADAPTER} missing: run npm run build first`);
});

/** A private copy of the debuggee (its path names this test's processes), and its marked lines. */
function debuggee(): { file: string; line: (mark: string) => number } {
  const file = path.join(tempDir('axl-dbg-'), 'debuggee.py');
  fs.copyFileSync(path.join(PROGRAMS, 'debuggee.py'), file);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  return {
    file,
    line: (mark) => {
      const i = lines.findIndex((l) => l.endsWith(`# @${mark}`));
      assert.ok(i >= 0, `no line marked @${mark}`);
      return i + 1;
    },
  };
}

interface Session {
  dc: DebugClient;
  /** stdout and console output so far */
  out: () => string;
  waitForOutput: (re: RegExp, timeout?: number) => Promise<void>;
  timeline: Array<{ type: string; change?: string; stop?: { reason: string; line?: number } }>;
  breakpointIds: number[];
  /** stops not yet taken by stopped(), queued as they came */
  stops: DebugProtocol.StoppedEvent[];
  /** checks run again whenever output or a stop arrives */
  waiters: Array<() => void>;
}

/** Starts the adapter and launches `file` with these breakpoints and exception filters set first. */
async function launch(
  file: string, args: string[], breakpoints: DebugProtocol.SourceBreakpoint[], filters: string[] = ['uncaught'],
  extra: Record<string, unknown> = {},
): Promise<Session> {
  const dc = new DebugClient(process.execPath, ADAPTER, 'axolotl', { env: { ...process.env } }, true);
  await dc.start();
  let text = '';
  const waiters: Array<() => void> = [];
  dc.on('output', (e: DebugProtocol.OutputEvent) => {
    text += e.body.output;
    for (const w of waiters.splice(0)) w();
  });
  // Every stop is queued as it arrives: a stop that comes in the same chunk as the response to the
  // request that caused it (a busy machine) is emitted before the test can wait for it.
  const stops: DebugProtocol.StoppedEvent[] = [];
  dc.on('stopped', (e: DebugProtocol.StoppedEvent) => {
    stops.push(e);
    for (const w of waiters.splice(0)) w();
  });
  const timeline: Session['timeline'] = [];
  dc.on('axolotl/timeline', (e: DebugProtocol.Event) => timeline.push(e.body));
  const s: Session = {
    dc, out: () => text, timeline, breakpointIds: [], stops, waiters,
    waitForOutput: (re, timeout = 30_000) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; output so far:\n${text}`)), timeout);
      const check = () => { if (re.test(text)) { clearTimeout(t); resolve(); } else waiters.push(check); };
      check();
    }),
  };
  const configure = async () => {
    await dc.waitForEvent('initialized');
    if (breakpoints.length) {
      const r = await dc.setBreakpointsRequest({ source: { path: file }, breakpoints });
      s.breakpointIds = r.body.breakpoints.map((b) => b.id!);
      assert.ok(r.body.breakpoints.every((b) => b.verified));
    }
    await dc.setExceptionBreakpointsRequest({ filters });
    await dc.configurationDoneRequest();
  };
  await Promise.all([
    configure(),
    dc.launch({ program: file, args, checkpointInterval: 0.3, pauseBudget: 0, repair: { enabled: false }, workingDir: tempDir(), ...extra }),
  ]);
  return s;
}

/** The next stop not yet taken, in the order they came. */
async function stopped(s: Session, reason?: string): Promise<DebugProtocol.StoppedEvent> {
  const e = s.stops.shift() ?? await new Promise<DebugProtocol.StoppedEvent>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no stopped event within 60 s')), 60_000);
    const take = () => { const next = s.stops.shift(); if (next) { clearTimeout(t); resolve(next); } else s.waiters.push(take); };
    take();
  });
  if (reason) assert.equal(e.body.reason, reason, JSON.stringify(e.body));
  return e;
}

async function top(dc: DebugClient): Promise<DebugProtocol.StackFrame> {
  return (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames[0]!;
}

async function evaluate(dc: DebugClient, expression: string, context = 'repl', frameId?: number): Promise<DebugProtocol.EvaluateResponse['body']> {
  return (await dc.evaluateRequest({ expression, context, frameId: frameId ?? (await top(dc)).id })).body;
}

async function evaluateError(dc: DebugClient, expression: string, context = 'repl'): Promise<string> {
  try {
    await evaluate(dc, expression, context);
  } catch (e) {
    return (e as Error).message;
  }
  assert.fail(`${expression} evaluated without an error`);
}

async function locals(dc: DebugClient, frameId: number): Promise<Map<string, DebugProtocol.Variable>> {
  const scopes = await dc.scopesRequest({ frameId });
  const vars = await dc.variablesRequest({ variablesReference: scopes.body.scopes[0]!.variablesReference });
  return new Map(vars.body.variables.map((v) => [v.name, v]));
}

async function finish(s: Session, file: string): Promise<void> {
  await s.dc.disconnectRequest({ terminateDebuggee: true }).catch(() => undefined);
  await s.dc.stop();
  assert.deepEqual(processesMatching(file), [], 'no program copy left');
}

describe('debugger', () => {
  test('a breakpoint set before launch: stop, stack, live variables, a timeline mark', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['3'], [{ line: p.line('square') }]);
    try {
      const ev = await stopped(s, 'breakpoint');
      assert.deepEqual(ev.body.hitBreakpointIds, s.breakpointIds);
      // The Debug Console's first line says which interpreter runs the program.
      assert.match(s.out(), /^axolotl: Python 3\.\d+\.\d+ \(\/\S+\), the default python3\n/);
      const frames = (await s.dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
      assert.deepEqual(frames.map((f) => [f.name, f.line]), [['square', p.line('square')], ['<module>', p.line('loop')]]);
      assert.equal(frames[0]!.source?.path, p.file);
      assert.equal((await locals(s.dc, frames[0]!.id)).get('n')?.value, '0');
      // <module>: the module's variables, expandable, with the secret redacted.
      const module = await locals(s.dc, frames[1]!.id);
      assert.equal(module.get('i')?.value, '0');
      const config = module.get('config')!;
      assert.ok(config.variablesReference > 0, 'config expands');
      const items = new Map((await s.dc.variablesRequest({ variablesReference: config.variablesReference })).body.variables.map((v) => [v.name, v.value]));
      assert.equal(items.get("'name'"), "'job'");
      assert.equal(items.get("'api_key'"), '<redacted>');
      assert.ok(!s.out().includes('sk-not-for-your-eyes'));
      // The timeline marks the stop.
      const mark = s.timeline.find((u) => u.type === 'stop');
      assert.equal(mark?.stop?.reason, 'breakpoint');
      assert.equal(mark?.stop?.line, p.line('square'));

      // Continue: the next call stops again; without breakpoints the program ends.
      await Promise.all([s.dc.continueRequest({ threadId: 1 }), stopped(s, 'breakpoint')]);
      assert.equal((await locals(s.dc, (await top(s.dc)).id)).get('n')?.value, '1');
      await s.dc.setBreakpointsRequest({ source: { path: p.file }, breakpoints: [] });
      await Promise.all([s.dc.continueRequest({ threadId: 1 }), s.dc.waitForEvent('terminated', 30_000)]);
      assert.match(s.out(), /total 5\n/);
    } finally {
      await finish(s, p.file);
    }
  });

  test('conditional, hit-count and logpoint breakpoints', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['3'], [
      { line: p.line('square'), condition: 'n == 2' },
      { line: p.line('square-return'), logMessage: 'square({n}) = {result}, {{braces}}' },
      { line: p.line('print'), hitCondition: '2' },
    ]);
    try {
      // The print line's second hit (i == 1) comes first, then the condition n == 2.
      const first = await stopped(s, 'breakpoint');
      assert.deepEqual(first.body.hitBreakpointIds, [s.breakpointIds[2]]);
      assert.equal((await top(s.dc)).line, p.line('print'));
      assert.equal((await evaluate(s.dc, 'i')).result, '1');
      const second = await Promise.all([s.dc.continueRequest({ threadId: 1 }), stopped(s, 'breakpoint')]);
      assert.deepEqual(second[1].body.hitBreakpointIds, [s.breakpointIds[0]]);
      assert.equal((await evaluate(s.dc, 'n')).result, '2');
      await Promise.all([s.dc.continueRequest({ threadId: 1 }), s.dc.waitForEvent('terminated', 30_000)]);
      // The logpoint logged every call and never stopped.
      for (const n of [0, 1, 2]) assert.ok(s.out().includes(`square(${n}) = ${n * n}, {braces}\n`), s.out());
      assert.match(s.out(), /total 5\n/);
    } finally {
      await finish(s, p.file);
    }
  });

  test('evaluate, setVariable and completions at a breakpoint', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['3'], [{ line: p.line('square-return'), condition: 'n == 2' }]);
    try {
      await stopped(s, 'breakpoint');
      assert.equal((await evaluate(s.dc, 'result * 10')).result, '40');
      // An expression that raises shows its exception; the program stays paused.
      assert.equal(await evaluateError(s.dc, '1 / 0'), 'ZeroDivisionError: division by zero');
      assert.match(await evaluateError(s.dc, 'undefined_name'), /^NameError: name 'undefined_name' is not defined/);
      assert.equal((await evaluate(s.dc, 'n')).result, '2');
      // Watches expand; secrets stay hidden however they are reached.
      const watch = await evaluate(s.dc, 'config', 'watch');
      assert.ok(watch.variablesReference > 0);
      const children = (await s.dc.variablesRequest({ variablesReference: watch.variablesReference })).body.variables;
      assert.deepEqual(children.map((c) => [c.name, c.value]), [["'name'", "'job'"], ["'api_key'", '<redacted>']]);
      assert.equal((await evaluate(s.dc, 'config["api_key"]', 'watch')).result, '<redacted>');
      // Hovers never call anything.
      assert.match(await evaluateError(s.dc, 'square(3)', 'hover'), /hovers show names/);
      assert.equal((await evaluate(s.dc, 'config["name"]', 'hover')).result, "'job'");
      // A statement typed in the Debug Console runs in the frame.
      await evaluate(s.dc, 'result = 100');
      assert.equal((await evaluate(s.dc, 'result')).result, '100');
      // setVariable in the Locals scope, seen by the program when it goes on.
      const frame = await top(s.dc);
      const scopes = await s.dc.scopesRequest({ frameId: frame.id });
      assert.deepEqual(scopes.body.scopes.map((x) => x.name), ['Locals', 'Globals']);
      const set = await s.dc.setVariableRequest({ variablesReference: scopes.body.scopes[0]!.variablesReference, name: 'result', value: '996 + 4' });
      assert.equal(set.body.value, '1000');
      assert.equal((await locals(s.dc, frame.id)).get('result')?.value, '1000');
      assert.match(await s.dc.setVariableRequest({ variablesReference: scopes.body.scopes[0]!.variablesReference, name: 'result', value: '1 +' })
        .then(() => '', (e: Error) => e.message), /SyntaxError/);
      // Completions for the Debug Console: names, then attributes.
      const names = (await s.dc.completionsRequest({ text: 'res', column: 4, frameId: frame.id })).body.targets;
      assert.ok(names.some((t) => t.label === 'result'), JSON.stringify(names));
      const attrs = (await s.dc.completionsRequest({ text: 'x = config.ke', column: 14, frameId: frame.id })).body.targets;
      const keys = attrs.find((t) => t.label === 'keys');
      assert.ok(keys, JSON.stringify(attrs));
      assert.equal(keys.length, 2);
      await Promise.all([s.dc.continueRequest({ threadId: 1 }), s.dc.waitForEvent('terminated', 30_000)]);
      assert.match(s.out(), /step 2 total 1001\n/);
    } finally {
      await finish(s, p.file);
    }
  });

  test('step into, over and out, through a hoisted top-level loop', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['3'], [{ line: p.line('loop') }]);
    const step = async (request: 'stepInRequest' | 'nextRequest' | 'stepOutRequest', line: number, name: string) => {
      await Promise.all([s.dc[request]({ threadId: 1 }), stopped(s, 'step')]);
      const f = await top(s.dc);
      assert.deepEqual([f.name, f.line], [name, line], `${request} stopped at ${f.name}:${f.line}`);
    };
    try {
      await stopped(s, 'breakpoint');
      await s.dc.setBreakpointsRequest({ source: { path: p.file }, breakpoints: [] });
      await step('stepInRequest', p.line('square'), 'square');
      await step('nextRequest', p.line('square-return'), 'square');
      await step('stepOutRequest', p.line('loop') + 1, '<module>');
      await step('nextRequest', p.line('print'), '<module>'); // over checked(): no stop inside
      await step('nextRequest', p.line('print') + 1, '<module>');
      await step('nextRequest', p.line('loop') - 1, '<module>'); // the for line
      await step('nextRequest', p.line('loop'), '<module>');
      assert.equal((await evaluate(s.dc, 'i')).result, '1');
      assert.match(s.out(), /step 0 total 0\n/);
      assert.doesNotMatch(s.out(), /step 1/);
      await Promise.all([s.dc.continueRequest({ threadId: 1 }), s.dc.waitForEvent('terminated', 30_000)]);
      assert.match(s.out(), /total 5\n/);
    } finally {
      await finish(s, p.file);
    }
  });

  test('a breakpoint set while the program runs, and pause', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['600', '0.05'], []);
    try {
      await s.waitForOutput(/step 3 total/);
      await Promise.all([
        s.dc.setBreakpointsRequest({ source: { path: p.file }, breakpoints: [{ line: p.line('square') }] }),
        stopped(s, 'breakpoint'),
      ]);
      assert.ok(Number((await evaluate(s.dc, 'n')).result) >= 4);
      await s.dc.setBreakpointsRequest({ source: { path: p.file }, breakpoints: [] });
      await s.dc.continueRequest({ threadId: 1 });
      const printed = s.out().length;
      await s.waitForOutput(new RegExp(`[\\s\\S]{${printed}}[\\s\\S]*step \\d+ total`));
      // Pause stops the running loop where it is; Continue lets it run on.
      const checkpoints = () => s.timeline.filter((u) => u.type === 'checkpoint' && u.change === 'added').length;
      const until = async (cond: () => boolean, what: string) => {
        const deadline = Date.now() + 15_000;
        while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        assert.ok(cond(), what);
      };
      await until(() => checkpoints() >= 2, 'checkpoints are taken while it runs (every 0.3 s)');
      await Promise.all([s.dc.pauseRequest({ threadId: 1 }), stopped(s, 'pause')]);
      assert.ok(s.timeline.some((u) => u.type === 'stop' && u.stop?.reason === 'pause'), 'the timeline marks the pause');
      const frames = (await s.dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
      assert.equal(frames[frames.length - 1]!.name, '<module>');
      const i = Number((await evaluate(s.dc, 'i', 'watch', frames[frames.length - 1]!.id)).result);
      const taken = checkpoints();
      await new Promise((r) => setTimeout(r, 1500));
      assert.doesNotMatch(s.out(), new RegExp(`step ${i + 1} total`), 'paused programs print nothing');
      assert.equal(checkpoints(), taken, 'no checkpoint while stopped');
      await s.dc.continueRequest({ threadId: 1 });
      await s.waitForOutput(new RegExp(`step ${i + 1} total`));
      await until(() => checkpoints() > taken, 'checkpoints resume after Continue');
    } finally {
      await finish(s, p.file);
    }
  });

  test('exception filters: "raised" stops at a caught exception; with "uncaught" off a crash ends the program', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['2', '0', 'crash'], [], ['raised']);
    try {
      for (const i of [0, 1]) {
        const ev = await stopped(s, 'exception');
        assert.match(ev.body.text ?? '', /^ValueError: invalid literal/);
        assert.equal((await top(s.dc)).line, p.line('raise'));
        assert.equal((await evaluate(s.dc, 'n')).result, String(i));
        const info = await s.dc.exceptionInfoRequest({ threadId: 1 });
        assert.equal(info.body.exceptionId, 'builtins.ValueError');
        assert.equal(info.body.breakMode, 'always');
        await s.dc.continueRequest({ threadId: 1 });
      }
      // The uncaught one is raised too: a stop where it is raised, then (filter off) no crash pause.
      const last = await stopped(s, 'exception');
      assert.match(last.body.text ?? '', /^ZeroDivisionError/);
      assert.equal((await top(s.dc)).line, p.line('crash'));
      const [, exited] = await Promise.all([s.dc.continueRequest({ threadId: 1 }), s.dc.waitForEvent('exited', 30_000) as Promise<DebugProtocol.ExitedEvent>]);
      assert.equal(exited.body.exitCode, 1);
      await s.waitForOutput(/ZeroDivisionError: division by zero/);
    } finally {
      await finish(s, p.file);
    }
  });

  test('evaluate and completions at a crash', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['3', '0', 'crash'], []);
    try {
      const ev = await stopped(s, 'exception');
      assert.match(ev.body.text ?? '', /ZeroDivisionError/);
      assert.equal((await top(s.dc)).line, p.line('crash'));
      assert.equal((await evaluate(s.dc, 'total')).result, '5');
      assert.equal((await evaluate(s.dc, '[square(k) for k in range(4)]')).result, '[0, 1, 4, 9]');
      assert.equal(await evaluateError(s.dc, 'total / (steps - steps)'), 'ZeroDivisionError: division by zero');
      // Still paused on the crash, with its stack.
      assert.equal((await top(s.dc)).line, p.line('crash'));
      assert.equal((await evaluate(s.dc, 'steps')).result, '3');
      const targets = (await s.dc.completionsRequest({ text: 'tot', column: 4, frameId: (await top(s.dc)).id })).body.targets;
      assert.ok(targets.some((t) => t.label === 'total'));
      const module = await locals(s.dc, (await top(s.dc)).id);
      assert.equal(module.get('total')?.value, '5');
      // Steps need a next line, which a crash does not have.
      await assert.rejects(s.dc.nextRequest({ threadId: 1 }), /At a crash/);
      const [, exited] = await Promise.all([s.dc.continueRequest({ threadId: 1 }), s.dc.waitForEvent('exited', 30_000) as Promise<DebugProtocol.ExitedEvent>]);
      assert.equal(exited.body.exitCode, 1);
    } finally {
      await finish(s, p.file);
    }
  });

  test('Step Back while stopped rewinds, and the restored program stops at the breakpoint again', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['40', '0.1'], [{ line: p.line('square'), condition: 'n == 12' }]);
    try {
      await stopped(s, 'breakpoint');
      const printed = s.out();
      assert.ok(s.timeline.some((u) => u.type === 'checkpoint' && u.change === 'added'), 'checkpoints were taken before the stop');
      const continued = s.dc.waitForEvent('continued', 30_000);
      await s.dc.stepBackRequest({ threadId: 1 });
      await continued;
      // The rewound program runs again from the checkpoint, with the breakpoint still set.
      await stopped(s, 'breakpoint');
      assert.equal((await evaluate(s.dc, 'n')).result, '12');
      const again = s.out().slice(printed.length);
      // What it prints again is what it printed since the checkpoint (nothing, when the checkpoint
      // was taken after the last step: rewind points are fresh), never anything new or out of turn.
      const lines = printed.split('\n').filter((l) => /^step \d+ total/.test(l));
      const redone = again.split('\n').filter((l) => /^step \d+ total/.test(l));
      assert.deepEqual(redone, lines.slice(lines.length - redone.length), `printed again:\n${again}`);
      await s.dc.setBreakpointsRequest({ source: { path: p.file }, breakpoints: [] });
      await Promise.all([s.dc.continueRequest({ threadId: 1 }), s.dc.waitForEvent('terminated', 60_000)]);
      assert.match(s.out(), /total 20540\n/);
    } finally {
      await finish(s, p.file);
    }
  });

  test('on the fork backend too: a breakpoint, evaluate, a step, continue', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['3'], [{ line: p.line('square') }], ['uncaught'], { backend: 'fork' });
    try {
      await stopped(s, 'breakpoint');
      assert.equal((await evaluate(s.dc, 'n * 100')).result, '0');
      await s.dc.setBreakpointsRequest({ source: { path: p.file }, breakpoints: [] });
      await Promise.all([s.dc.nextRequest({ threadId: 1 }), stopped(s, 'step')]);
      assert.equal((await top(s.dc)).line, p.line('square-return'));
      await Promise.all([s.dc.continueRequest({ threadId: 1 }), s.dc.waitForEvent('terminated', 30_000)]);
      assert.match(s.out(), /total 5\n/);
    } finally {
      await finish(s, p.file);
    }
  });

  test('evaluate while running says why it cannot', TIMEOUT, async () => {
    const p = debuggee();
    const s = await launch(p.file, ['600', '0.05'], []);
    try {
      await s.waitForOutput(/step 1 total/);
      assert.match(await s.dc.evaluateRequest({ expression: 'i', context: 'repl' }).then(() => '', (e: Error) => e.message), /The program is running: pause it/);
    } finally {
      await finish(s, p.file);
    }
  });
});
