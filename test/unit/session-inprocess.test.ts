// The debug session in this process, as VS Code runs it inline, with the engine injected: the fork
// backend (no root, no criu) on a real Python program and a local model. Launch, a crash stop with
// its stack and locals, evaluate, a repair accepted and the rewind, a breakpoint with live variables,
// the rewind requests, and launches refused before any engine starts. The same requests against the
// standalone adapter on real criu are in test/integration (adapter, debugger, reliability-adapter).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { chooseBackend, type EngineFactory } from '../../adapter/engine/backendChoice';
import type { RepairProposal } from '../../adapter/engine/repairFlow';
import { Supervisor } from '../../adapter/engine/supervisor';
import { AxolotlError, type RunOptions } from '../../adapter/engine/types';
import { AxolotlSession } from '../../adapter/session/axolotlSession';
import { ModelServer } from '../../dev/modelServer';
import { PROGRAMS, processesMatching, tempDir } from '../support/engineHelpers';
import { InlineDap } from '../support/inlineDap';

const TIMEOUT = { timeout: 90_000 };

/** The model's reply: a diff that skips the empty shard (as in test/integration/adapter.test.ts). */
const FIX = fs.readFileSync(path.join(PROGRAMS, 'shards-fix.md'), 'utf8');

let model: ModelServer;
before(async () => { model = await ModelServer.start({ fallback: FIX }); });
after(async () => { await model.close(); });

/** The fork backend whatever the launch asks (no root needed); records the options each launch maps to. */
function forkEngine(seen: RunOptions[] = []): EngineFactory {
  return async (opts) => {
    seen.push(opts);
    const fork = await chooseBackend('fork');
    return { supervisor: new Supervisor(opts, fork.deps), note: 'fork snapshots (injected by the test)' };
  };
}

/** A private copy of a fixture program (its path names this test's processes). */
function copyOf(name: string): string {
  const file = path.join(tempDir('axl-inproc-'), name);
  fs.copyFileSync(path.join(PROGRAMS, name), file);
  return file;
}

function lineOf(file: string, mark: string): number {
  const i = fs.readFileSync(file, 'utf8').split('\n').findIndex((l) => l.endsWith(`# @${mark}`));
  assert.ok(i >= 0, `no line marked @${mark}`);
  return i + 1;
}

async function finish(dap: InlineDap, file: string): Promise<void> {
  await dap.request('disconnect', { terminateDebuggee: true }).catch(() => undefined);
  dap.close();
  assert.deepEqual(processesMatching(file), [], 'no program copy left');
}

async function stopped(dap: InlineDap, reason: string, timeoutMs = 60_000): Promise<DebugProtocol.StoppedEvent> {
  const e = await dap.waitForEvent<DebugProtocol.StoppedEvent>('stopped', () => true, timeoutMs);
  assert.equal(e.body.reason, reason, JSON.stringify(e.body));
  return e;
}

async function frames(dap: InlineDap): Promise<DebugProtocol.StackFrame[]> {
  return (await dap.request<DebugProtocol.StackTraceResponse>('stackTrace', { threadId: 1 })).body.stackFrames;
}

async function locals(dap: InlineDap, frameId: number): Promise<Map<string, DebugProtocol.Variable>> {
  const scopes = (await dap.request<DebugProtocol.ScopesResponse>('scopes', { frameId })).body.scopes;
  const vars = await dap.request<DebugProtocol.VariablesResponse>('variables', { variablesReference: scopes[0]!.variablesReference });
  return new Map(vars.body.variables.map((v) => [v.name, v]));
}

async function evaluate(dap: InlineDap, expression: string, frameId: number, context = 'repl'): Promise<string> {
  return (await dap.request<DebugProtocol.EvaluateResponse>('evaluate', { expression, frameId, context })).body.result;
}

describe('the debug session in process, on an injected engine (fork snapshots)', () => {
  test('launch → crash stop with stack, locals and evaluate → repair accepted → rewound → the program finishes', TIMEOUT, async () => {
    const program = copyOf('shards.py');
    const seen: RunOptions[] = [];
    const dap = new InlineDap(new AxolotlSession({ engine: forkEngine(seen) }));
    try {
      const crash = dap.waitForEvent<DebugProtocol.StoppedEvent>('stopped', () => true, 60_000);
      const proposed = dap.waitForEvent('axolotl/repairProposed', () => true, 60_000);
      proposed.catch(() => undefined); // awaited below
      await dap.launch({ program, checkpointInterval: 0.3, pauseBudget: 0, workingDir: tempDir(), repair: { baseUrl: model.url } });
      // The launch reached the engine mapped once, with the defaults filled in.
      assert.equal(seen.length, 1);
      assert.deepEqual([seen[0]!.program, seen[0]!.interval, seen[0]!.pauseBudget, seen[0]!.python, seen[0]!.agent], [program, 0.3, 0, 'python3', true]);
      assert.match(dap.output('console'), /axolotl: fork snapshots \(injected by the test\)\n/);

      const stop = await crash;
      assert.equal(stop.body.reason, 'exception');
      assert.match(stop.body.text ?? '', /ZeroDivisionError/);
      assert.match(dap.output('stdout'), /shard 4: \{/);
      assert.doesNotMatch(dap.output('stdout'), /shard 5: \{/);

      const stack = await frames(dap);
      assert.deepEqual([stack[0]!.name, stack[0]!.line, stack[0]!.source?.path], ['summarize', 14, program]);
      assert.equal((await locals(dap, stack[0]!.id)).get('values')?.value, '[]');
      // The paused program answers in the crashed frame; the crash stays paused.
      assert.equal(await evaluate(dap, 'len(values) + 40', stack[0]!.id), '40');
      const info = await dap.request<DebugProtocol.ExceptionInfoResponse>('exceptionInfo', { threadId: 1 });
      assert.deepEqual([info.body.exceptionId, info.body.breakMode], ['builtins.ZeroDivisionError', 'unhandled']);

      const repair = (await proposed).body as RepairProposal;
      assert.equal(repair.files[0]!.path, program);
      const terminated = dap.waitForEvent('terminated', () => true, 60_000);
      const applied = await dap.request('axolotl/applyRepair', { repairId: repair.repairId, files: { [program]: repair.files[0]!.proposed }, written: false });
      assert.ok((applied.body as { restoredCheckpoint?: number }).restoredCheckpoint! >= 1, 'resumed from a checkpoint');
      await terminated;
      assert.match(dap.output('stdout'), /done: 8 shards\n/);
      assert.match(fs.readFileSync(program, 'utf8'), /if not values:/);
      const exited = dap.events.find((e) => e.event === 'exited') as DebugProtocol.ExitedEvent | undefined;
      assert.equal(exited?.body.exitCode, 0);

      // The timeline saw it all, on the fork backend.
      const kinds = dap.timeline().map((u) => `${u.type}${u.change ? `:${u.change as string}` : ''}`);
      for (const k of ['session:started', 'checkpoint:added', 'crash', 'repair', 'restore', 'session:ended']) assert.ok(kinds.includes(k), `${k} in ${kinds.join(' ')}`);
      const started = dap.timeline().find((u) => u.type === 'session') as { session: { backend: string } };
      assert.equal(started.session.backend, 'fork');
    } finally {
      await finish(dap, program);
    }
  });

  test('a breakpoint stops the live program: stack, variables, evaluate, a secret redacted, continue to the end', TIMEOUT, async () => {
    const program = copyOf('debuggee.py');
    const dap = new InlineDap(new AxolotlSession({ engine: forkEngine() }));
    try {
      let ids: number[] = [];
      const first = stopped(dap, 'breakpoint');
      await dap.launch({ program, args: ['3'], checkpointInterval: 0.3, pauseBudget: 0, workingDir: tempDir(), repair: { enabled: false } }, async () => {
        const r = await dap.request<DebugProtocol.SetBreakpointsResponse>('setBreakpoints', { source: { path: program }, breakpoints: [{ line: lineOf(program, 'square') }] });
        ids = r.body.breakpoints.map((b) => b.id!);
        await dap.request('setExceptionBreakpoints', { filters: ['uncaught'] });
      });
      assert.deepEqual((await first).body.hitBreakpointIds, ids);
      const stack = await frames(dap);
      assert.deepEqual(stack.map((f) => [f.name, f.line]), [['square', lineOf(program, 'square')], ['<module>', lineOf(program, 'loop')]]);
      assert.equal((await locals(dap, stack[0]!.id)).get('n')?.value, '0');
      assert.equal(await evaluate(dap, 'n + 7', stack[0]!.id), '7');
      assert.equal(await evaluate(dap, 'config["api_key"]', stack[1]!.id, 'watch'), '<redacted>');
      // setVariable on the live frame: the next line computes with it.
      const scopes = (await dap.request<DebugProtocol.ScopesResponse>('scopes', { frameId: stack[0]!.id })).body.scopes;
      await dap.request('setVariable', { variablesReference: scopes[0]!.variablesReference, name: 'n', value: '10' });
      assert.equal(await evaluate(dap, 'n', stack[0]!.id), '10');

      const next = stopped(dap, 'breakpoint');
      await dap.request('continue', { threadId: 1 });
      await next;
      assert.equal((await locals(dap, (await frames(dap))[0]!.id)).get('n')?.value, '1');
      await dap.request('setBreakpoints', { source: { path: program }, breakpoints: [] });
      const terminated = dap.waitForEvent('terminated');
      await dap.request('continue', { threadId: 1 });
      await terminated;
      // 10*10 + 1 + 4: the value set from the debugger was used.
      assert.match(dap.output('stdout'), /total 105\n/);
      assert.ok(!dap.output().includes('sk-not-for-your-eyes'));
    } finally {
      await finish(dap, program);
    }
  });

  test('rewind from the debugger: the kept checkpoints, a restore, the program runs on from there', TIMEOUT, async () => {
    const program = copyOf('count.py');
    const dap = new InlineDap(new AxolotlSession({ engine: forkEngine() }));
    try {
      await dap.launch({ program, args: ['60', '0', '0.05'], checkpointInterval: 0.2, pauseBudget: 0, workingDir: tempDir(), repair: { enabled: false } });
      await dap.waitForOutput(/count 20 /, 'stdout');
      const kept = (await dap.request('axolotl/checkpoints')).body as { checkpoints: Array<{ id: number; inMemory?: boolean }> };
      assert.ok(kept.checkpoints.length >= 1, JSON.stringify(kept));
      assert.ok(kept.checkpoints.every((c) => c.inMemory), 'fork checkpoints are held in memory');
      const target = kept.checkpoints[0]!.id;
      const continued = dap.waitForEvent('continued');
      await dap.request('axolotl/restore', { checkpointId: target });
      await continued;
      assert.match(dap.output('console'), new RegExp(`axolotl: restored checkpoint ${target} in \\d+ ms\\n`));
      const restore = dap.timeline().find((u) => u.type === 'restore') as { restore: { checkpointId: number } } | undefined;
      assert.equal(restore?.restore.checkpointId, target);
      // It counts again from where the checkpoint was (lines printed before are printed again), to the end.
      await dap.waitForEvent('terminated', () => true, 60_000);
      const counts = [...dap.output('stdout').matchAll(/^count (\d+) /gm)].map((m) => Number(m[1]));
      assert.ok(counts.some((n, i) => counts.indexOf(n) !== i), `no count printed twice: ${counts.join(' ')}`);
      assert.match(dap.output('stdout'), /done 1770\n$/);
    } finally {
      await finish(dap, program);
    }
  });

  test('a bad launch configuration is refused before any engine is asked for', TIMEOUT, async () => {
    const program = copyOf('count.py');
    for (const [args, message] of [
      [{ program, snapshotMemory: 'lots' }, /^"snapshotMemory" must be a multiple of the program's size/],
      [{ program, backend: 'docker' }, /^"backend" must be one of auto, criu, fork \(got "docker"\)/],
      [{ program: path.join(path.dirname(program), 'nope.py') }, /^Cannot find the program .*nope\.py/],
      [{ program, cwd: path.join(path.dirname(program), 'gone') }, /^"cwd" is not a folder: .*gone/],
    ] as const) {
      const seen: RunOptions[] = [];
      const dap = new InlineDap(new AxolotlSession({ engine: forkEngine(seen) }));
      const terminated = dap.waitForEvent('terminated');
      await assert.rejects(dap.launch(args), { message });
      await terminated;
      dap.close();
      assert.equal(seen.length, 0, 'no engine for a refused configuration');
    }
  });

  test('an engine that cannot start: the launch fails with its message, and the session ends', TIMEOUT, async () => {
    const program = copyOf('count.py');
    const refusing: EngineFactory = async () => { throw new AxolotlError('criu needs root privileges to checkpoint', 'Run as root, or use "backend": "fork".'); };
    const dap = new InlineDap(new AxolotlSession({ engine: refusing }));
    const terminated = dap.waitForEvent('terminated');
    await assert.rejects(dap.launch({ program }), { message: 'criu needs root privileges to checkpoint\nRun as root, or use "backend": "fork".' });
    await terminated;
    dap.close();
    const end = dap.timeline().find((u) => u.type === 'session') as { change: string; end: { reason?: string } } | undefined;
    assert.deepEqual([end?.change, end?.end.reason], ['ended', 'debug session stopped']);
    assert.deepEqual(processesMatching(program), []);
  });
});
