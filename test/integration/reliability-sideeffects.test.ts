// Side effects of a rewind, on real criu and fork snapshots: files the program has open for writing
// are saved at each checkpoint (criu: at post-dump; fork snapshots: by the agent, just before it forks)
// and put back before a restore, and the user is told what a rewind put back and what it cannot undo.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { ForkBackend } from '../../adapter/engine/forkBackend';
import { savedWithCheckpoint } from '../../adapter/engine/fileRewind';
import type { SavedFile } from '../../adapter/engine/sideEffects';
import { Supervisor, type SupervisorDeps } from '../../adapter/engine/supervisor';
import type { CheckpointRecord } from '../../adapter/engine/runDir';
import type { Checkpoint, EngineEvents, ExitEvent } from '../../adapter/engine/types';
import { OutputLog, requireCriu, runOptions, tempDir, waitForEvent } from '../support/engineHelpers';
import { assertNoProcesses, workspace, assertNothingLeftRunning } from '../support/reliabilityHelpers';

let criu: string;
before(async () => { criu = await requireCriu(); });
const running: Supervisor[] = [];
after(async () => { await Promise.all(running.map((s) => s.stop())); });

const BACKENDS: Array<{ name: string; deps: () => SupervisorDeps; agent: boolean }> = [
  { name: 'criu', deps: () => ({ criu }), agent: false },
  { name: 'criu with the agent', deps: () => ({ criu }), agent: true },
  { name: 'fork', deps: () => ({ backend: () => new ForkBackend() }), agent: true },
];

const STEPS = 40;
const expectedLines = Array.from({ length: STEPS }, (_, i) => `${i}\n`).join('');

function supervise(t: TestContext, b: (typeof BACKENDS)[number], ws: string, args: string[], over = {}): { sup: Supervisor; out: OutputLog } {
  const sup = new Supervisor(runOptions(path.join(ws, 'files.py'), {
    args, cwd: ws, agent: b.agent, backend: b.name.startsWith('fork') ? 'fork' : 'criu', interval: 0.3, ...over,
  }), b.deps());
  running.push(sup);
  t.after(() => sup.stop());
  return { sup, out: new OutputLog(sup) };
}

for (const b of BACKENDS) describe(`open files rewind with the program (${b.name})`, () => {
  test('files opened w, a, a+, r+ and a file outside the workspace hold each line once after a rewind', async (t) => {
    const ws = workspace('files.py');
    const outside = path.join(tempDir('axl-outside-'), 'outside.txt');
    const { sup, out } = supervise(t, b, ws, [String(STEPS), '0.05', outside]);
    const checkpoints: Checkpoint[] = [];
    const rewinds: EngineEvents['rewind'][0][] = [];
    sup.on('checkpoint', (c) => checkpoints.push(c));
    sup.on('rewind', (n) => rewinds.push(n));
    await sup.start();
    while (checkpoints.length < 2) await waitForEvent(sup, 'checkpoint');
    const k = checkpoints[0];
    const stepAt = Number(/step (\d+)/.exec(k.lastOutput ?? '')?.[1] ?? 0);
    await out.waitFor(new RegExp(`step ${stepAt + 8}\\n`));
    const saved = savedWithCheckpoint(sup.runDir, k as CheckpointRecord);
    const mode = Object.fromEntries(Object.entries(saved).map(([f, m]) => [path.basename(f), m]));
    assert.deepEqual(mode, { 'w.txt': 'copy', 'a.txt': 'size', 'aplus.txt': 'copy', 'rplus.txt': 'copy', 'outside.txt': 'size' });

    const exit = waitForEvent(sup, 'exit', undefined, 60_000);
    await sup.restore(k.id);
    const [ev] = (await exit) as [ExitEvent];
    assert.equal(ev.status, 0, out.text.slice(-500));
    for (const f of ['w.txt', 'a.txt', 'aplus.txt', 'rplus.txt']) {
      assert.equal(fs.readFileSync(path.join(ws, f), 'utf8'), expectedLines, `${f} after the rewind`);
    }
    assert.equal(fs.readFileSync(outside, 'utf8'), expectedLines, 'outside.txt (cut back to its size) after the rewind');

    assert.equal(rewinds.length, 1);
    const n = rewinds[0];
    assert.equal(n.checkpointId, k.id);
    assert.match(n.text, new RegExp(`^rewinding to checkpoint ${k.id}; not undone: output already printed \\(\\d+ (bytes|KB) since checkpoint ${k.id}\\) stays printed`));
    assert.match(n.text, /files outside the workspace are only cut back to their size at the checkpoint: .*outside\.txt/);
    assert.match(n.text, /; rewound 4 files: a\.txt \(cut to \d+ bytes\), aplus\.txt \(restored\), rplus\.txt \(restored\), w\.txt \(restored\)$/);
    assert.equal(n.level, 'warning', 'a file outside the workspace keeps what was written: a warning');
    await sup.stop();
    await assertNoProcesses([ws]); // no copy or snapshot of the program left
  });
});

describe('saving files costs only what changed', () => {
  test('an unchanged file is hard-linked from the previous checkpoint, not copied again', async (t) => {
    const ws = workspace();
    const prog = path.join(ws, 'still.py');
    fs.writeFileSync(prog, [
      'import time',
      'f = open("data.bin", "w")',
      'f.write("x" * 100000); f.flush()',
      'print("written", flush=True)',
      'time.sleep(30)',
    ].join('\n') + '\n');
    const sup = new Supervisor(runOptions(prog, { cwd: ws, interval: 0.2 }), { criu });
    running.push(sup);
    t.after(() => sup.stop());
    const checkpoints: Checkpoint[] = [];
    sup.on('checkpoint', (c) => checkpoints.push(c));
    await sup.start();
    while (checkpoints.length < 3) await waitForEvent(sup, 'checkpoint');
    await sup.stop();
    const entries = checkpoints.map((c) => (JSON.parse(fs.readFileSync(path.join(c.dir!, 'files.json'), 'utf8')) as SavedFile[])[0]);
    const inodes = checkpoints.map((c, i) => fs.statSync(path.join(c.dir!, entries[i].copy!)).ino);
    // The first checkpoint may have caught the file before the write: compare the last two.
    assert.equal(entries[2].reused, true, JSON.stringify(entries));
    assert.equal(inodes[1], inodes[2], 'same inode: one copy on disk');
    assert.equal(fs.statSync(path.join(checkpoints[2].dir!, entries[2].copy!)).size, 100000);
  });
});

// Whatever a test above left running in one of its workspaces fails the file.
after(() => assertNothingLeftRunning());
