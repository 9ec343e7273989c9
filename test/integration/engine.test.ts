// The engine on real processes and real criu: checkpoints, restores, ring buffer, big programs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { ForkBackend } from '../../adapter/engine/forkBackend';
import { privateBytes } from '../../adapter/engine/snapshotPool';
import { Supervisor, type SupervisorDeps } from '../../adapter/engine/supervisor';
import type { Checkpoint, ExitEvent, RunOptions } from '../../adapter/engine/types';
import { OutputLog, PROGRAMS, isRunning, processesMatching, tempDir, requireCriu, runOptions, waitForEvent } from '../support/engineHelpers';

let criu: string;
before(async () => { criu = await requireCriu(); });

const running: Supervisor[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

// The same tests for every backend: criu (as root, without the agent so it is criu alone, dumping
// the frozen program), criu with the agent (fork snapshots held in memory, criu saving some of them
// in the background), the same with no memory for snapshots (every rewind but to the newest reads
// criu's images) and fork snapshots alone (which need the agent to fork).
interface Backend {
  name: string;
  kind: 'criu' | 'fork';
  deps: () => SupervisorDeps;
  agent: boolean;
  over?: Partial<RunOptions>;
  /** the checkpoints a test may restore: held in memory, or saved on disk, or either */
  restorable: (c: Checkpoint) => boolean;
}
const BACKENDS: Backend[] = [
  { name: 'criu', kind: 'criu', deps: () => ({ criu }), agent: false, restorable: () => true },
  { name: 'criu with snapshots', kind: 'criu', deps: () => ({ criu }), agent: true, restorable: () => true },
  {
    name: 'criu with snapshots, restoring images', kind: 'criu', deps: () => ({ criu }), agent: true,
    over: { snapshotMemory: { bytes: 0 } }, restorable: (c) => !!c.saved && !c.inMemory,
  },
  { name: 'fork', kind: 'fork', deps: () => ({ backend: () => new ForkBackend() }), agent: true, restorable: () => true },
];
let backend = BACKENDS[0];

function supervise(t: TestContext, program: string, args: string[], over = {}): { sup: Supervisor; out: OutputLog } {
  // A private copy of the program: its path then names this test's processes and nobody else's.
  const own = path.join(tempDir('axl-prog-'), program);
  fs.copyFileSync(path.join(PROGRAMS, program), own);
  const sup = new Supervisor(runOptions(own, { args, agent: backend.agent, backend: backend.kind, ...backend.over, ...over }), backend.deps());
  running.push(sup);
  t.after(() => sup.stop()); // a failed test must not leave its program running into the next one
  return { sup, out: new OutputLog(sup) };
}

/**
 * Collects the checkpoints the backend can restore as they become so: at once, or once saved and no
 * longer held in memory (the 'images' variant).
 */
function restorables(sup: Supervisor): { list: Checkpoint[]; next: () => Promise<void> } {
  const list: Checkpoint[] = [];
  const seen = new Set<number>();
  const add = (c: Checkpoint) => {
    if (!seen.has(c.id) && backend.restorable(c)) { seen.add(c.id); list.push(c); list.sort((a, b) => a.id - b.id); }
  };
  sup.on('checkpoint', add);
  sup.on('checkpointUpdated', add);
  const next = async () => {
    const n = list.length;
    while (list.length === n) await Promise.race([waitForEvent(sup, 'checkpoint', undefined, 60_000), waitForEvent(sup, 'checkpointUpdated', undefined, 60_000)]);
  };
  return { list, next };
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
    const { list: checkpoints, next } = restorables(sup);
    await sup.start();
    while (checkpoints.length < 3) await next();
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
    // Those held in memory only are gone with the session; the folders left are the saved ones.
    const dirs = fs.readdirSync(path.join(sup.runDir, 'checkpoints'));
    assert.equal(sup.checkpoints.length, 2, `kept ${sup.checkpoints.map((c) => c.id).join(', ')}`);
    assert.deepEqual(sup.checkpoints.filter((c) => c.saved !== false).map((c) => String(c.id)).sort(), dirs.sort());
    if (!backend.agent) assert.equal(dirs.length, 2);
    assert.ok(taken - sup.checkpoints.length >= 8 && deleted.length >= 8, `oldest deleted first: ${deleted.join(',')}`);
    // (With no memory for snapshots, those never saved go as soon as a newer one is taken, out of turn.)
    if (!backend.over?.snapshotMemory) {
      assert.deepEqual(deleted, [...deleted].sort((a, b) => a - b));
      assert.ok(sup.checkpoints.every((c) => c.id > Math.max(...deleted)), 'the newest are kept');
    }
  });

  test('a 200 MB program checkpoints and restores', async (t) => {
    const { sup, out } = supervise(t, 'big.py', ['200', '200'], { interval: 1 });
    const { list, next } = restorables(sup);
    await sup.start();
    await out.waitFor(/allocated 200 MB/);
    while (!list.some((c) => c.time > 0 && c.lastOutput?.startsWith('tick'))) await next();
    const c = list.find((x) => x.lastOutput?.startsWith('tick'))!;
    // A checkpoint on disk holds the whole program; one held in memory costs only what changed since.
    if (c.saved) assert.ok(c.bytes > 190e6, `image is ${c.bytes} bytes`);
    else assert.ok(c.inMemory, `checkpoint ${c.id} is neither saved nor held in memory`);
    let from = 0;
    const restoreStarted = await new Promise<number>((resolve) => {
      sup.once('restored', (r) => { from = out.text.length; resolve(r.ms); });
      void sup.restore(c.id);
    });
    await out.waitFor(/tick \d+/, from);
    t.diagnostic(`200 MB: image ${(c.bytes / 1e6).toFixed(0)} MB, frozen ${c.frozenMs.toFixed(0)} ms, dump ${c.dumpMs.toFixed(0)} ms, restore ${restoreStarted.toFixed(0)} ms`);
    await sup.stop();
  });

  if (b.name === 'criu with snapshots') test('the program pauses only for the fork; criu saves snapshots beside it; dropped ones are reaped', async (t) => {
    const { sup, out } = supervise(t, 'big.py', ['100', '200'], { interval: 0.3 });
    const checkpoints: Checkpoint[] = [];
    const saved: Checkpoint[] = [];
    // Copies: the engine updates its records as they are saved or let go.
    sup.on('checkpoint', (c) => checkpoints.push({ ...c }));
    sup.on('checkpointUpdated', (c) => { if (c.saved && !saved.some((x) => x.id === c.id)) saved.push({ ...c }); });
    await sup.start();
    await out.waitFor(/allocated 100 MB/);
    const first = checkpoints.length;
    while (saved.filter((c) => c.id > first).length < 2) await waitForEvent(sup, 'checkpointUpdated', undefined, 60_000);
    const program = sup.pid!;
    for (const c of checkpoints.slice(first)) {
      assert.ok(c.inMemory, `checkpoint ${c.id} is held in memory`);
      assert.ok(c.frozenMs < 50, `checkpoint ${c.id}: paused ${c.frozenMs.toFixed(1)} ms for a fork`);
    }
    for (const c of saved.filter((x) => x.id > first)) {
      // The image is of the snapshot (its own process), made while the program ran on.
      const rec = JSON.parse(fs.readFileSync(path.join(c.dir!, 'axolotl.json'), 'utf8')) as { pid: number; saved: boolean };
      assert.notEqual(rec.pid, program, `checkpoint ${c.id} is an image of a snapshot`);
      assert.equal(rec.saved, true);
      assert.ok(fs.existsSync(path.join(c.dir!, `core-${rec.pid}.img`)));
      assert.ok(c.bytes > 90e6, `checkpoint ${c.id}: image ${c.bytes} bytes`);
    }
    // Snapshots let go of (beyond the count and memory limits) are reaped: the program's children are
    // the held ones, stopped, and no zombie keeps a PID a restore might need.
    const deadline = Date.now() + 5000;
    let zombies: string[] = [];
    do {
      const kids = fs.readdirSync(`/proc/${program}/task`).flatMap((tid) => fs.readFileSync(`/proc/${program}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean));
      zombies = kids.filter((k) => !isRunning(Number(k)));
      const held = sup.checkpoints.filter((c) => c.inMemory).length;
      if (!zombies.length && kids.length <= held + 1) break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    assert.deepEqual(zombies, [], 'no dropped snapshot left as a zombie');
    const c = checkpoints[checkpoints.length - 2];
    let from = 0;
    sup.once('restored', () => { from = out.text.length; });
    await sup.restore(c.id);
    await out.waitFor(/tick \d+/, from);
    t.diagnostic(`100 MB: paused ${checkpoints.slice(first).map((x) => x.frozenMs.toFixed(1)).join(', ')} ms; criu saved ${saved.map((x) => `#${x.id}`).join(', ')}`);
  });

  if (b.agent) test('held snapshots stay within the memory budget as the program rewrites its memory', async (t) => {
    // 60 MB rewritten in full every step: each held snapshot ends up owning a full copy.
    const { sup, out } = supervise(t, 'big.py', ['60', '400', 'rewrite'], { interval: 0.2 });
    let worst = 0;
    let rss = 0;
    let held = 0;
    sup.on('checkpoint', () => {
      // Right after a checkpoint the pool has been trimmed: measure what the stopped copies cost.
      const program = sup.pid;
      if (!program) return;
      rss = Math.max(rss, residentOf(program));
      const kids = fs.readdirSync(`/proc/${program}/task`).flatMap((tid) => {
        try { return fs.readFileSync(`/proc/${program}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
      });
      const stopped = kids.filter((k) => stateOf(k) === 'T' || stateOf(k) === 't');
      held = Math.max(held, stopped.length);
      // Not counted: the newest, and with criu the one criu may be saving (kept until it is saved).
      const costs = stopped.slice(0, -1).map((k) => privateBytes(k) ?? 0).sort((a, b) => a - b);
      if (backend.kind === 'criu') costs.pop();
      worst = Math.max(worst, costs.reduce((sum, c) => sum + c, 0));
    });
    await sup.start();
    await out.waitFor(/allocated 60 MB/);
    let n = 0;
    while (n++ < 15) await waitForEvent(sup, 'checkpoint', undefined, 60_000);
    // The budget (1x the program's size) holds all but the newest snapshot, whose cost is still growing
    // (and the one criu is saving).
    t.diagnostic(`program ${Math.round(rss / 1e6)} MB; held snapshots at most ${held}, costing at most ${Math.round(worst / 1e6)} MB besides the newest`);
    assert.ok(held >= 1 && held <= 10, `${held} snapshots held`);
    assert.ok(worst <= rss * 1.05, `held snapshots cost ${worst} bytes, over the budget of ${rss}`);
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

function stateOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}

function residentOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}
