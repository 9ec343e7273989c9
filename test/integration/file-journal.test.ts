// The agent's undo journal of the files a program changes (filejournal.py) and the engine's rewind of it
// (fileRewind.ts), on a real Python process under the agent and criu's real post-dump script, without a
// checkpoint backend: each checkpoint is taken while the program waits between two steps, so its files
// are known exactly and every rewind is compared with them byte for byte. The timing-dependent cases
// (criu, fork snapshots, a crash and a repair) are in reliability-filerewind.test.ts.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { FileJournal, checkpointEpoch, type FileRewindResult } from '../../adapter/engine/fileRewind';
import type { CheckpointRecord } from '../../adapter/engine/runDir';
import { REPO, tempDir } from '../support/engineHelpers';

const STEPS = path.join(REPO, 'test', 'fixtures', 'files', 'steps.py');
const POST_DUMP = path.join(REPO, 'adapter', 'python', 'axolotl_files.sh');
const MAX_COPY = 50_000;
/** the agent supports Python 3.8 to 3.13: the journal is tried on each one found (as test/python/run_tests.py finds them) */
const PYTHONS = [8, 9, 10, 11, 12, 13].map(findPython).filter((p): p is string => !!p);

function findPython(minor: number): string | undefined {
  const name = `python3.${minor}`;
  const works = (exe: string) => spawnSync(exe, ['-c', 'pass'], { stdio: 'ignore' }).status === 0;
  if (works(name)) return name;
  const root = spawnSync('pyenv', ['root'], { encoding: 'utf8' }).stdout?.trim();
  const versions = root ? path.join(root, 'versions') : '';
  if (!versions || !fs.existsSync(versions)) return undefined;
  return fs.readdirSync(versions).filter((v) => v.startsWith(`3.${minor}.`)).sort().reverse()
    .map((v) => path.join(versions, v, 'bin', name)).find((exe) => fs.existsSync(exe) && works(exe));
}

interface Setup {
  ws: string;
  runDir: string;
  outside: string;
  journal: FileJournal;
}

function setup(): Setup {
  const base = fs.realpathSync(tempDir('axl-journal-'));
  const ws = path.join(base, 'project');
  const runDir = path.join(base, 'runs', 'run-1');
  fs.mkdirSync(ws);
  fs.mkdirSync(path.join(runDir, 'checkpoints'), { recursive: true });
  const journal = FileJournal.open(runDir, { workspace: [ws], exclude: [path.join(base, 'runs')], root: ws, maxCopyBytes: MAX_COPY, heldOpenAtSnapshots: false });
  return { ws, runDir, outside: path.join(base, 'outside.txt'), journal };
}

/** steps.py under the agent, journaling as the engine would ask it to. */
class Program {
  private readonly child: ChildProcess;
  private out = '';

  constructor(s: Setup, t: TestContext, python = 'python3') {
    this.child = spawn(python, ['-m', 'axolotl_agent', STEPS, s.outside], {
      cwd: s.ws, stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONPATH: path.join(REPO, 'adapter', 'python'), PYTHONDONTWRITEBYTECODE: '1', ...s.journal.agentEnv() },
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.out += d; });
    t.after(() => { this.child.kill('SIGKILL'); });
  }

  async step(n: number): Promise<void> {
    this.child.stdin!.write(`${n}\n`);
    const deadline = Date.now() + 20_000;
    while (!this.out.includes(`ok ${n}\n`)) {
      if (Date.now() > deadline || this.child.exitCode !== null) assert.fail(`step ${n} did not finish:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async end(): Promise<void> {
    this.child.stdin!.end();
    await new Promise((r) => this.child.once('close', r));
  }
}

/** A checkpoint as criu's post-dump makes it: the script starts the next epoch and saves the files in flight. */
function checkpoint(s: Setup, id: number): CheckpointRecord {
  const dir = path.join(s.runDir, 'checkpoints', String(id));
  fs.mkdirSync(dir);
  const r = spawnSync('sh', [POST_DUMP], {
    encoding: 'utf8',
    env: { ...process.env, CRTOOLS_SCRIPT_ACTION: 'post-dump', AXOLOTL_FILES_DIR: dir, AXOLOTL_FILES_STATE: s.journal.stateFile, AXOLOTL_FILES_EPOCH: String(s.journal.nextEpoch()) },
  });
  assert.equal(r.status, 0, r.stderr);
  return { id, dir, time: Date.now(), bytes: 0, frozenMs: 0, dumpMs: 0, generation: 0, backend: 'criu', stdioInodes: [], pid: 0 };
}

/** Every file and folder under `dir`: path → content (base64), "dir" or "-> target". */
function tree(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const abs = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, abs);
    if (skip.includes(rel)) continue;
    if (e.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(abs)}`;
    else if (e.isDirectory()) out[rel] = 'dir';
    else out[rel] = fs.readFileSync(abs).toString('base64');
  }
  return out;
}

/** big.bin is overwritten past the copy limit in step 2: it is named, not rewound. */
const SKIP = ['big.bin'];

/** Steps 0 to `last`, a checkpoint after each but the last: the checkpoints, and the files each one saw. */
async function run(s: Setup, prog: Program, last: number): Promise<{ cps: CheckpointRecord[]; expected: Record<string, string>[] }> {
  const cps: CheckpointRecord[] = [];
  const expected: Record<string, string>[] = [];
  for (let n = 0; n <= last; n++) {
    await prog.step(n);
    if (n < last) {
      cps.push(checkpoint(s, n + 1));
      expected.push(tree(s.ws, SKIP));
    }
  }
  await prog.end();
  return { cps, expected };
}

describe('the file journal puts the workspace back as it was at each checkpoint', () => {
  for (const python of PYTHONS.length ? PYTHONS : ['python3']) test(`${path.basename(python)}: rewinds to each checkpoint in turn, newest first, byte for byte (sqlite, renames, rmtree, r+, truncate, symlinks, temp files)`, async (t) => {
    const s = setup();
    const { cps, expected } = await run(s, new Program(s, t, python), 4);
    const outsideText = fs.readFileSync(s.outside, 'utf8');
    assert.deepEqual(cps.map((c) => checkpointEpoch(c.dir)), [1, 2, 3, 4], 'each checkpoint started an epoch');

    const results: FileRewindResult[] = [];
    for (let k = cps.length - 1; k >= 0; k--) {
      const r = s.journal.rewind(cps[k], cps);
      results[k] = r;
      assert.deepEqual(r.problems, [], `rewind to checkpoint ${k + 1}`);
      assert.deepEqual(tree(s.ws, SKIP), expected[k], `the workspace as it was at checkpoint ${k + 1}`);
    }
    assert.equal(fs.readFileSync(s.outside, 'utf8'), outsideText, 'the file outside the workspace is not rewound');

    // What each rewind says it did: the files it changed, and what it left.
    assert.deepEqual(results[3].rewound, [
      'data.json (restored)', 'log.txt (cut to 51 bytes)', 'newdir/ (put back)', 'newdir/inside.txt (restored)', 'out/deep/ (removed)',
      'out/deep/er/ (removed)', 'out/deep/er/4.json (removed)', 'rows.db (restored)', 'state.json (restored)',
    ]);
    assert.deepEqual(results[3].notUndone, [`files outside the workspace keep what was written since the checkpoint: ${s.outside}`]);
    assert.ok(results[1].rewound.includes('tree/sub/leaf.txt (restored)') && results[1].rewound.includes('link.json (removed)'), results[1].rewound.join(', '));
    assert.deepEqual(results[1].notUndone, [
      `files outside the workspace keep what was written since the checkpoint: ${s.outside}`,
      'files over the 50 kB copy limit keep what was written: big.bin',
    ]);
    assert.ok(results[0].rewound.includes('out/1.json (removed)') && results[0].rewound.includes('inplace.bin (restored)'), results[0].rewound.join(', '));
    assert.equal(fs.readFileSync(path.join(s.ws, 'big.bin'), 'utf8'), 'y'.repeat(100000));
  });

  test('after a rewind the program runs on a new timeline: older checkpoints still rewind, later ones only to where it began', async (t) => {
    const s = setup();
    const { cps, expected } = await run(s, new Program(s, t), 3);
    assert.deepEqual(s.journal.rewind(cps[1], cps).problems, []);
    assert.deepEqual(tree(s.ws, SKIP), expected[1]);

    // The rewound program goes on differently, and takes a checkpoint of its own.
    let prog = new Program(s, t);
    await prog.step(4);
    cps.push(checkpoint(s, 4));
    const atFour = tree(s.ws, SKIP);
    await prog.step(0);
    await prog.end();
    assert.deepEqual(s.journal.rewind(cps[3], cps).problems, []);
    assert.deepEqual(tree(s.ws, SKIP), atFour, 'a checkpoint of the new timeline');

    // Checkpoint 3 was taken on the timeline that was rewound: its files cannot come back. They go back
    // to where the current timeline last began (the rewind to checkpoint 4), so that the journal stays
    // whole for the checkpoints that are still valid.
    prog = new Program(s, t);
    await prog.step(1);
    await prog.end();
    const lost = s.journal.rewind(cps[2], cps);
    assert.deepEqual(lost.problems, []);
    assert.deepEqual(tree(s.ws, SKIP), atFour, 'the files as they were where the current timeline began');
    assert.deepEqual(lost.notUndone, [
      'files changed after checkpoint 4 are as they were at checkpoint 4: checkpoint 3 belongs to a timeline that was rewound',
      `files outside the workspace keep what was written since the checkpoint: ${s.outside}`,
    ]);

    assert.deepEqual(s.journal.rewind(cps[0], cps).problems, []);
    assert.deepEqual(tree(s.ws, SKIP), expected[0], 'a checkpoint before the first rewind');
  });

  test('a file an operation was changing when criu froze the program is put back as it was at the freeze', (t) => {
    const s = setup();
    const [a, c, created, grown] = ['a.txt', 'c.txt', 'new.txt', 'grown.txt'].map((f) => path.join(s.ws, f));
    fs.writeFileSync(a, 'appended to\n');
    fs.writeFileSync(c, 'about to be rewritten\n');
    fs.writeFileSync(grown, 'rewritten before the freeze\n');
    const st = (p: string) => { const x = fs.statSync(p, { bigint: true }); return `${x.size}:${x.mtimeNs / 1_000_000_000n}.${String(x.mtimeNs % 1_000_000_000n).padStart(9, '0')}:${x.ino}`; };
    // What the agent announces before an operation it has not done yet (the page it maps).
    const announced = [`a\t-\t${a}`, `c\t${st(c)}\t${c}`, `c\t-\t${created}`, `c\t1:2:3\t${grown}`].join('\n') + '\n\n';
    const fd = fs.openSync(s.journal.stateFile, 'r+');
    fs.writeSync(fd, announced, 21);
    fs.closeSync(fd);
    const cp = checkpoint(s, 1);
    t.diagnostic(fs.readFileSync(path.join(cp.dir!, 'inflight.tsv'), 'utf8'));
    // The operations happen after the freeze, and more besides.
    fs.appendFileSync(a, 'after the freeze\n');
    fs.writeFileSync(c, 'rewritten after the freeze\n');
    fs.writeFileSync(created, 'created after the freeze\n');
    const r = s.journal.rewind(cp, [cp]);
    assert.deepEqual(r.problems, []);
    assert.equal(fs.readFileSync(a, 'utf8'), 'appended to\n');
    assert.equal(fs.readFileSync(c, 'utf8'), 'about to be rewritten\n');
    assert.ok(!fs.existsSync(created), 'created after the freeze: removed');
    assert.equal(fs.readFileSync(grown, 'utf8'), 'rewritten before the freeze\n', 'changed before the freeze: left as it is');
    assert.deepEqual(r.rewound, ['a.txt (cut to 12 bytes)', 'c.txt (restored)', 'new.txt (removed)']);
  });

  test('the journal is the program\'s word: entries for files outside the workspace, or copies from elsewhere, are ignored', () => {
    const s = setup();
    const victim = path.join(path.dirname(s.ws), 'not-in-the-project.txt');
    const inside = path.join(s.ws, 'kept.txt');
    fs.writeFileSync(victim, 'precious\n');
    fs.writeFileSync(inside, 'as it is\n');
    const cp = checkpoint(s, 1);
    const forged = [
      { k: 'absent', p: victim },
      { k: 'absent', p: `${s.ws}/../not-in-the-project.txt` },
      { k: 'copy', p: inside, b: '../../../../etc/hostname' },
    ];
    fs.writeFileSync(path.join(s.journal.dir, `${checkpointEpoch(cp.dir)}.log`), forged.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const r = s.journal.rewind(cp, [cp]);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
    assert.equal(fs.readFileSync(inside, 'utf8'), 'as it is\n');
    assert.equal(r.problems.length, 3, r.problems.join('\n'));
    assert.deepEqual(r.rewound, []);
  });

  test('the journal a kept checkpoint no longer needs is freed', async (t) => {
    const s = setup();
    const prog = new Program(s, t);
    const cps: CheckpointRecord[] = [];
    for (let n = 0; n <= 3; n++) {
      await prog.step(n);
      cps.push(checkpoint(s, n + 1));
    }
    await prog.end();
    const epochs = () => fs.readdirSync(s.journal.dir).filter((f) => f.endsWith('.log')).map((f) => Number(f.slice(0, -4))).sort();
    assert.deepEqual(epochs(), [0, 1, 2, 3]);
    s.journal.collect(cps.slice(2));
    assert.deepEqual(epochs(), [3], 'only what checkpoints 3 and 4 need');
    assert.ok(!fs.existsSync(path.join(s.journal.dir, '1')) && !fs.existsSync(path.join(s.journal.dir, '2')), 'their copies too');
  });
});
