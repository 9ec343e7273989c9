// The standalone debug adapter (node dist/adapter.js) over real DAP, on real criu and a local model.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { RepairProposal } from '../../adapter/engine/repairFlow';
import { ModelServer } from '../../dev/modelServer';
import { PROGRAMS, REPO, processesMatching, requireCriu, tempDir } from '../support/engineHelpers';

const ADAPTER = path.join(REPO, 'dist', 'adapter.js');

/** The model's reply: a diff that skips the empty shard. */
const FIX = fs.readFileSync(path.join(PROGRAMS, 'shards-fix.md'), 'utf8');

let model: ModelServer;
before(async () => {
  await requireCriu();
  assert.ok(fs.existsSync(ADAPTER), `${ADAPTER} missing: run npm run build first`);
  model = await ModelServer.start({ fallback: FIX });
});
after(async () => { await model.close(); });

/** A fresh copy of the shards program (repairs change it). */
function workspace(): string {
  const dir = tempDir('axl-dap-');
  fs.copyFileSync(path.join(PROGRAMS, 'shards.py'), path.join(dir, 'shards.py'));
  return dir;
}

async function client(): Promise<DebugClient> {
  const dc = new DebugClient(process.execPath, ADAPTER, 'axolotl', { env: { ...process.env } }, true);
  await dc.start();
  return dc;
}

/** Collects output events as one string. */
function outputOf(dc: DebugClient): { text: () => string; waitFor: (re: RegExp, from?: number, timeout?: number) => Promise<void> } {
  let text = '';
  const waiters: Array<{ re: RegExp; from: number; resolve: () => void }> = [];
  dc.on('output', (e: DebugProtocol.OutputEvent) => {
    if (e.body.category !== 'stdout') return;
    text += e.body.output;
    for (const w of waiters.splice(0)) (w.re.test(text.slice(w.from)) ? w.resolve() : waiters.push(w));
  });
  return {
    text: () => text,
    waitFor: (re, from = 0, timeout = 30_000) => new Promise((resolve, reject) => {
      if (re.test(text.slice(from))) return resolve();
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; output so far:\n${text}`)), timeout);
      waiters.push({ re, from, resolve: () => { clearTimeout(t); resolve(); } });
    }),
  };
}

describe('debug adapter', () => {
  test('launch → output → crash stop with stack and locals → repair → apply → program finishes', async () => {
    const dir = workspace();
    const program = path.join(dir, 'shards.py');
    const dc = await client();
    const out = outputOf(dc);
    try {
      const proposed = dc.waitForEvent('axolotl/repairProposed', 60_000);
      proposed.catch(() => undefined); // awaited below; a failure earlier must not become unhandled
      const [, , stopped] = await Promise.all([
        dc.configurationSequence(),
        dc.launch({ program, checkpointInterval: 0.3, pauseBudget: 0, repair: { baseUrl: model.url } }),
        dc.waitForEvent('stopped', 60_000) as Promise<DebugProtocol.StoppedEvent>,
      ]);
      assert.equal(stopped.body.reason, 'exception');
      assert.match(stopped.body.text ?? '', /ZeroDivisionError/);
      await out.waitFor(/shard 4/);
      assert.doesNotMatch(out.text(), /shard 5: \{/);

      const st = await dc.stackTraceRequest({ threadId: 1 });
      const top = st.body.stackFrames[0];
      assert.equal(top.name, 'summarize');
      assert.equal(top.source?.path, program);
      assert.equal(top.line, 14);
      assert.ok(st.body.stackFrames.some((f) => f.name === '<module>' && f.line === 21), JSON.stringify(st.body.stackFrames));

      const info = await dc.exceptionInfoRequest({ threadId: 1 });
      assert.equal(info.body.exceptionId, 'builtins.ZeroDivisionError');
      assert.equal(info.body.breakMode, 'unhandled');

      const scopes = await dc.scopesRequest({ frameId: top.id });
      const vars = await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
      const values = vars.body.variables.find((v) => v.name === 'values');
      assert.equal(values?.value, '[]');
      // Module-level locals include nested values that expand.
      const moduleFrame = st.body.stackFrames.find((f) => f.name === '<module>')!;
      const mscopes = await dc.scopesRequest({ frameId: moduleFrame.id });
      const mvars = await dc.variablesRequest({ variablesReference: mscopes.body.scopes[0].variablesReference });
      const stats = mvars.body.variables.find((v) => v.name === 'stats')!;
      assert.ok(stats.variablesReference > 0, 'stats expands');
      const items = await dc.variablesRequest({ variablesReference: stats.variablesReference });
      assert.equal(items.body.variables.length, 5);

      const repair = (await proposed).body as RepairProposal;
      assert.equal(repair.files[0].path, program);
      assert.match(repair.files[0].proposed, /if not values:/);
      const terminated = dc.waitForEvent('terminated', 60_000);
      const applied = await dc.customRequest('axolotl/applyRepair', {
        repairId: repair.repairId, files: { [program]: repair.files[0].proposed }, written: false,
      });
      assert.ok(applied.body.restoredCheckpoint >= 1, 'resumed from a checkpoint');
      await terminated;
      assert.match(out.text(), /done: 8 shards\n/);
      // The prologue ran once: the resumed copy did not start over.
      assert.equal(out.text().match(/prologue/g)?.length, 1);
      assert.match(fs.readFileSync(program, 'utf8'), /if not values:/);
    } finally {
      await dc.stop();
    }
  });

  test('stepBack and goto restore the named checkpoint; disconnect leaves nothing behind', async () => {
    const dc = await client();
    const out = outputOf(dc);
    const checkpoints = new Map<number, { lastOutput?: string; dumpMs: number }>();
    const notices: Array<{ level: string; text: string }> = [];
    dc.on('axolotl/timeline', (e: DebugProtocol.Event) => {
      const u = e.body as { type: string; change?: string; checkpoint?: { id: number; lastOutput?: string; dumpMs: number }; notice?: { level: string; text: string } };
      if (u.type === 'checkpoint' && u.change === 'added' && u.checkpoint) checkpoints.set(u.checkpoint.id, u.checkpoint);
      if (u.type === 'notice' && u.notice) notices.push(u.notice);
    });
    const countIn = (s: string | undefined) => Number(/count (\d+)/.exec(s ?? '')?.[1] ?? NaN);
    // lastOutput is the last line received when the dump began; the program prints every 50 ms and
    // keeps printing until criu freezes it, so the resumed count is a few lines later, never earlier.
    const resumedFrom = (id: number, n: number) => {
      const c = checkpoints.get(id)!;
      const seen = countIn(c.lastOutput);
      return n > seen && n <= seen + 2 + Math.ceil(c.dumpMs / 50);
    };
    // A private copy of the program: its path then names this test's processes and nobody else's.
    const program = path.join(tempDir('axl-prog-'), 'count.py');
    const workingDir = tempDir();
    fs.copyFileSync(path.join(PROGRAMS, 'count.py'), program);
    try {
      await Promise.all([
        dc.configurationSequence(),
        dc.launch({ program, args: ['600', '0', '0.05'], checkpointInterval: 1, pauseBudget: 0, workingDir }),
      ]);
      while (checkpoints.size < 4) await dc.waitForEvent('axolotl/timeline');
      const targets = await dc.gotoTargetsRequest({ source: { path: program }, line: 1 });
      assert.ok(targets.body.targets.length >= 4);
      assert.match(targets.body.targets[0].label, /^Checkpoint #\d+ · /);

      // The restored copy's output starts at `continued`: lines the replaced copy printed before it
      // was killed may still arrive between the request and that event.
      const restoredOutput = async (request: () => Promise<unknown>): Promise<number> => {
        let from = -1;
        const onContinued = () => { from = out.text().length; };
        dc.once('continued', onContinued);
        const invalidated = dc.waitForEvent('invalidated', 30_000);
        await request();
        await invalidated;
        assert.ok(from >= 0, 'continued came before invalidated');
        await out.waitFor(/count \d+/, from);
        return countIn(out.text().slice(from));
      };

      // goto: the program continues from the named checkpoint's state.
      const target = targets.body.targets[1];
      const afterGoto = await restoredOutput(() => dc.gotoRequest({ threadId: 1, targetId: target.id }));
      assert.ok(resumedFrom(target.id, afterGoto), `goto #${target.id} (${JSON.stringify(checkpoints.get(target.id))}) resumed at ${afterGoto}`);
      // Output printed again is what a rewind does: the timeline says so as information, not as a warning.
      assert.deepEqual(notices.map((n) => n.level), ['info'], JSON.stringify(notices));
      assert.match(notices[0]!.text, new RegExp(`^rewinding to checkpoint ${target.id}; not undone: output already printed`));

      // stepBack: from there, the previous checkpoint.
      const previous = targets.body.targets[0];
      const afterBack = await restoredOutput(() => dc.stepBackRequest({ threadId: 1 }));
      assert.ok(resumedFrom(previous.id, afterBack), `step back to #${previous.id} (${JSON.stringify(checkpoints.get(previous.id))}) resumed at ${afterBack}`);

      await dc.disconnectRequest({ terminateDebuggee: true });
      assert.deepEqual(processesMatching(program), [], 'no program copy left');
      assert.deepEqual(processesMatching(workingDir), [], 'no restore wrapper left');
    } finally {
      await dc.stop();
    }
  });
});
