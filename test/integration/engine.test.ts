// The engine on real processes and real criu: checkpoints, restores, ring buffer, big programs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { ForkBackend } from '../../adapter/engine/forkBackend';
import { Supervisor, type SupervisorDeps } from '../../adapter/engine/supervisor';
import type { Checkpoint, ExitEvent } from '../../adapter/engine/types';
import { OutputLog, PROGRAMS, isRunning, processesMatching, tempDir, requireCriu, runOptions, waitForEvent } from '../support/engineHelpers';

let criu: string;
before(async () => { criu = await requireCriu(); });

const running: Supervisor[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

// The same tests for every backend: criu (as root, without the agent so it is criu alone, dumping
// the frozen program), criu with the agent (criu dumps a fork snapshot the agent makes) and fork
// snapshots (which need the agent to fork).
const BACKENDS: Array<{ name: string; kind: 'criu' | 'fork'; deps: () => SupervisorDeps; agent: boolean }> = [
  { name: 'criu', kind: 'criu', deps: () => ({ criu }), agent: false },
  { name: 'criu dumping fork snapshots', kind: 'criu', deps: () => ({ criu }), agent: true },
  { name: 'fork', kind: 'fork', deps: () => ({ backend: () => new ForkBackend() }), agent: true },
];
let backend = BACKENDS[0];

function supervise(t: TestContext, program: string, args: string[], over = {}): { sup: Supervisor; out: OutputLog } {
  // A private copy of the program: its path then names this test's processes and nobody else's.
  const own = path.join(tempDir('axl-prog-'), program);
  fs.copyFileSync(path.join(PROGRAMS, program), own);
  const sup = new Supervisor(runOptions(own, { args, agent: backend.agent, backend: backend.kind, ...over }), backend.deps());
  running.push(sup);
  t.after(() => sup.stop()); // a failed test must not leave its program running into the next one
  return { sup, out: new OutputLog(sup) };
}

/** The counter value a checkpoint captured, from the last line printed before it. */
function countAt(c: Checkpoint): number {
  const m = /count (\d+)/.exec(c.lastOutput ?? '');
  assert.ok(m, `checkpoint ${c.id} has no count in lastOutput ${JSON.stringify(c.lastOutput)}`);
  return Number(m[1]);
}

for (const b of BACKENDS) describe(`${b.name} engine`, () => {
  before(() => { backend = b; });

  test('restoring checkpoint k resumes from k, three times in a row, on the same stream, with the real exit status', async (t) => {
    const { sup, out } = supervise(t, 'count.py', ['200', '7', '0.05']);
    const checkpoints: Checkpoint[] = [];
    sup.on('checkpoint', (c) => checkpoints.push(c));
    await sup.start();
    while (checkpoints.length < 3) await waitForEvent(sup, 'checkpoint');
    const k = checkpoints[1];
    // lastOutput is the last line received when the dump began; the program prints every 50 ms until
    // criu freezes it, so the restored copy continues a few lines later (never earlier).
    const seen = countAt(k);
    let resumedAt: number | undefined;
    // Three restores of the same checkpoint: each copy continues from exactly the same state.
    for (let round = 0; round < 3; round++) {
      // Output of the restored copy starts at the `restored` event (the copy being replaced may
      // still deliver lines it printed before it was killed).
      let from = 0;
      sup.once('restored', () => { from = out.text.length; });
      await sup.restore(k.id);
      const m = await out.waitFor(/count (\d+) total (\d+)\n/, from);
      const n = Number(m[1]);
      resumedAt ??= n;
      assert.equal(n, resumedAt, `round ${round}: restored copy printed ${m[0]}`);
      assert.ok(n > seen && n <= seen + 2 + Math.ceil(k.dumpMs / 50), `resumed at ${n}, checkpoint saw count ${seen} (dump ${k.dumpMs.toFixed(0)} ms)`);
      assert.ok(n <= countAt(checkpoints[2]) + 1, 'resumed before the next checkpoint');
      // State came back too: total is the sum 0..n, computed by the program before the checkpoint.
      assert.equal(Number(m[2]), (n * (n + 1)) / 2);
    }
    const [exit] = (await waitForEvent(sup, 'exit', undefined, 60_000)) as [ExitEvent];
    assert.equal(exit.status, 7, 'exit status of the restored copy');
    assert.match(out.text, /done 19900\n$/);
  });

  test('--max-saves 2 keeps exactly two image folders after ten checkpoints', async (t) => {
    const { sup } = supervise(t, 'count.py', ['1000', '0', '0.01'], { maxSaves: 2, interval: 0.05 });
    let taken = 0;
    const deleted: number[] = [];
    sup.on('checkpoint', () => taken++);
    sup.on('checkpointDeleted', (c) => deleted.push(c.id));
    await sup.start();
    while (taken < 10) await waitForEvent(sup, 'checkpoint');
    await sup.stop();
    const dirs = fs.readdirSync(path.join(sup.runDir, 'checkpoints'));
    assert.equal(dirs.length, 2, `kept ${dirs.join(', ')}`);
    assert.deepEqual(sup.checkpoints.map((c) => String(c.id)).sort(), dirs.sort());
    assert.ok(deleted.length >= 8, `oldest deleted first: ${deleted.join(',')}`);
    assert.deepEqual(deleted, [...deleted].sort((a, b) => a - b));
  });

  test('a 200 MB program checkpoints and restores', async (t) => {
    const { sup, out } = supervise(t, 'big.py', ['200', '200'], { interval: 1 });
    await sup.start();
    await out.waitFor(/allocated 200 MB/);
    const [c] = (await waitForEvent(sup, 'checkpoint', undefined, 60_000)) as [Checkpoint];
    assert.ok(c.bytes > 190e6, `image is ${c.bytes} bytes`);
    let from = 0;
    const restoreStarted = await new Promise<number>((resolve) => {
      sup.once('restored', (r) => { from = out.text.length; resolve(r.ms); });
      void sup.restore(c.id);
    });
    await out.waitFor(/tick \d+/, from);
    t.diagnostic(`200 MB: image ${(c.bytes / 1e6).toFixed(0)} MB, frozen ${c.frozenMs.toFixed(0)} ms, dump ${c.dumpMs.toFixed(0)} ms, restore ${restoreStarted.toFixed(0)} ms`);
    await sup.stop();
  });

  if (b.name === 'criu dumping fork snapshots') test('the program pauses only for the fork; dumped snapshots are reaped', async (t) => {
    const { sup, out } = supervise(t, 'big.py', ['100', '200'], { interval: 0.3 });
    const checkpoints: Checkpoint[] = [];
    sup.on('checkpoint', (c) => checkpoints.push(c));
    await sup.start();
    await out.waitFor(/allocated 100 MB/);
    const first = checkpoints.length;
    while (checkpoints.length < first + 4) await waitForEvent(sup, 'checkpoint', undefined, 60_000);
    const program = sup.pid!;
    for (const c of checkpoints.slice(first)) {
      // The image is of the snapshot (its own process), and the program paused far less than criu worked.
      const rec = JSON.parse(fs.readFileSync(path.join(c.dir!, 'axolotl.json'), 'utf8')) as { pid: number };
      assert.notEqual(rec.pid, program, `checkpoint ${c.id} is an image of a snapshot`);
      assert.ok(fs.existsSync(path.join(c.dir!, `core-${rec.pid}.img`)));
      assert.ok(c.frozenMs < c.dumpMs / 3, `checkpoint ${c.id}: paused ${c.frozenMs.toFixed(1)} ms, dump ${c.dumpMs.toFixed(0)} ms`);
    }
    // criu killed each snapshot after its dump; the agent reaped them (a zombie would hold its PID).
    const deadline = Date.now() + 5000;
    let kids: string[] = [];
    do {
      kids = fs.readdirSync(`/proc/${program}/task`).flatMap((tid) => fs.readFileSync(`/proc/${program}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean));
      if (!kids.length) break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    assert.deepEqual(kids, [], 'no snapshot left as a child of the program');
    const c = checkpoints[checkpoints.length - 2];
    let from = 0;
    sup.once('restored', () => { from = out.text.length; });
    await sup.restore(c.id);
    await out.waitFor(/tick \d+/, from);
    t.diagnostic(`100 MB: paused ${checkpoints.slice(first).map((x) => x.frozenMs.toFixed(1)).join(', ')} ms while criu took ${checkpoints.slice(first).map((x) => x.dumpMs.toFixed(0)).join(', ')} ms`);
  });

  test('stop() leaves no process behind, restored copies included', async (t) => {
    const { sup, out } = supervise(t, 'count.py', ['1000', '0', '0.05']);
    await sup.start();
    const [c] = (await waitForEvent(sup, 'checkpoint')) as [Checkpoint];
    await sup.restore(c.id);
    await out.waitFor(/count/, out.text.length);
    const pid = sup.pid!;
    await sup.stop();
    assert.equal(isRunning(pid), false, 'restored program gone');
    assert.deepEqual(processesMatching(sup.runDir), [], 'no restore wrapper or criu left');
    assert.deepEqual(processesMatching(sup.opts.program), [], 'no copy or snapshot of the program left');
  });
});
