// Programs that spread their work over processes and threads, through `axolotl run --yes` on real criu
// and on fork snapshots: a multiprocessing Pool(2) crashing in the parent and, separately, in the work
// function; a ProcessPoolExecutor; a ThreadPoolExecutor; a prefetch thread feeding a queue.
//
// criu checkpoints the whole program (the parent, its workers, the pipes between them, its threads)
// and an accepted repair restores all of it, every process running the repaired code. Fork snapshots
// cannot hold such a program: the run says so once and offers criu, and a repair resumes in place
// where that redoes nothing, else it says it cannot resume and the program ends with its own
// traceback. Every run must end correct and leave nothing behind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelServer } from '../../dev/modelServer';
import { REPO, requireCriu, tempDir } from '../support/engineHelpers';
import { LiveCli, assertNoProcesses, assertNothingLeftRunning, cleanEnv, sleep } from '../support/reliabilityHelpers';

const FIXTURES = path.join(REPO, 'test', 'fixtures', 'workers');
const PROGRAMS = ['pool_parent', 'pool_worker', 'process_pool', 'thread_pool', 'prefetch'] as const;
type Program = typeof PROGRAMS[number];

/** What fork snapshots make of each program: resumed in place (nothing redone), or refused. */
const FORK_OUTCOME: Record<Program, 'in-place' | 'cannot-resume'> = {
  // the crash reaches the `with` block of `if __name__ == "__main__":`: resuming would run it again
  pool_parent: 'cannot-resume',
  pool_worker: 'cannot-resume',
  thread_pool: 'cannot-resume',
  // a top-level loop: the crashed iteration is run again, in the parent and its workers
  process_pool: 'in-place',
  // weight() crashed: it is run again with the record it was given
  prefetch: 'in-place',
};

let model: ModelServer;
let python: string;
before(async () => {
  await requireCriu();
  python = process.env.AXOLOTL_TEST_PYTHON ?? 'python3';
  // The repair of whichever program crashed, as a model would propose it.
  model = await ModelServer.start({
    handler: (req) => {
      const text = JSON.stringify(req.body);
      const fixes = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.fix.md')).map((f) => f.replace(/\.fix\.md$/, ''));
      const name = fixes.find((p) => text.includes(`${p}.py`)) ?? 'pool_parent';
      return fs.readFileSync(path.join(FIXTURES, `${name}.fix.md`), 'utf8');
    },
  });
});
after(async () => { await model.close(); });

/** A fresh folder (real path) holding a copy of the program. */
function workspace(name: string): string {
  const dir = fs.realpathSync(tempDir('axl-workers-'));
  made.push(dir);
  fs.copyFileSync(path.join(FIXTURES, `${name}.py`), path.join(dir, `${name}.py`));
  return dir;
}
const made: string[] = [];

/** The program as its repair leaves it, run by plain Python from scratch: the output to reach. */
function cleanRun(name: Program): { stdout: string; fixed: string } {
  const fix = fs.readFileSync(path.join(FIXTURES, `${name}.fix.md`), 'utf8');
  const m = /<<<<<<< SEARCH\n([^]*?)=======\n([^]*?)>>>>>>> REPLACE/.exec(fix)!;
  const source = fs.readFileSync(path.join(FIXTURES, `${name}.py`), 'utf8');
  assert.ok(source.includes(m[1]), `${name}.fix.md applies`);
  const fixed = source.replace(m[1], m[2]);
  const dir = tempDir('axl-clean-');
  fs.writeFileSync(path.join(dir, `${name}.py`), fixed);
  const r = spawnSync(python, [`${name}.py`], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: cleanEnv() });
  assert.equal(r.status, 0, r.stderr);
  return { stdout: r.stdout, fixed };
}

/** The buggy program run by plain Python: its traceback is what a refused repair must end with. */
function plainCrash(name: Program): { stdout: string; stderr: string; ws: string } {
  const ws = workspace(name);
  const r = spawnSync(python, [`${name}.py`], { cwd: ws, encoding: 'utf8', timeout: 60_000, env: cleanEnv() });
  assert.equal(r.status, 1, r.stderr);
  return { stdout: r.stdout, stderr: r.stderr, ws };
}

interface Run { status: number | null; stdout: string; stderr: string; ws: string; runs: string; log: string }

async function run(name: string, backend: 'criu' | 'fork', opts: { extra?: string[]; env?: NodeJS.ProcessEnv; interval?: number; args?: string[] } = {}): Promise<Run> {
  const { extra = [], env = {}, interval = 0.3, args = [] } = opts;
  const ws = workspace(name);
  const runs = tempDir('axl-runs-');
  const cli = new LiveCli(['run', '--yes', '--backend', backend, '--interval', String(interval), '--working-dir', runs,
    '--base-url', model.url, '--model', 'm', '--python', python, ...extra, `${name}.py`, ...args], { cwd: ws, env: cleanEnv(env) });
  const res = await cli.result(150_000);
  await assertNoProcesses([ws, runs]);
  await assertNoneWithSocket(runs);
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, ws, runs, log: engineLog(runs) };
}

/**
 * Fails if a process still has the run's agent socket in its environment: every process of the program
 * has (a spawned worker or multiprocessing's resource tracker too, whose command lines name nothing of
 * the run).
 */
async function assertNoneWithSocket(runs: string): Promise<void> {
  const dir = fs.readdirSync(runs).find((d) => d.startsWith('run-'));
  const socket = dir && (JSON.parse(fs.readFileSync(path.join(runs, dir, 'run.json'), 'utf8')) as { socketPath?: string }).socketPath;
  if (!socket) return;
  const holders = () => fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try { return fs.readFileSync(`/proc/${d}/environ`, 'utf8').includes(`AXOLOTL_SOCKET=${socket}\0`) && !/^Z/.test(fs.readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /, '')); } catch { return false; }
  });
  for (let i = 0; holders().length && i < 30; i++) await sleep(100);
  assert.deepEqual(holders(), [], 'processes of the program left behind');
}

function engineLog(runs: string): string {
  const dir = fs.readdirSync(runs).find((d) => d.startsWith('run-'));
  try { return dir ? fs.readFileSync(path.join(runs, dir, 'engine.log'), 'utf8') : ''; } catch { return ''; }
}

/**
 * A clean run's lines, printed up to some line, then again from an earlier line on (the rewind to a
 * checkpoint: what was printed after it is printed again), to the end. Nothing else, nothing twice
 * beyond that one rewind, and the prologue once.
 */
function assertRewoundOutput(stdout: string, clean: string): void {
  const got = stdout.split('\n');
  const want = clean.split('\n');
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  if (i === got.length) return assert.equal(stdout, clean);
  // Line i is where the output went back: it must be an earlier line of the clean run, and from there
  // on the rest of the clean run must follow exactly.
  const back = want.indexOf(got[i]);
  assert.ok(back > 0 && back <= i, `the output went astray at line ${i + 1}:\n${stdout}\n--- a clean run:\n${clean}`);
  assert.deepEqual(got.slice(i), want.slice(back), `after the rewind the output is not the clean run's:\n${stdout}`);
  assert.equal(stdout.match(/^prologue$/gm)?.length, 1, 'the prologue ran once');
}

describe('programs with worker processes and threads, on criu', () => {
  for (const name of PROGRAMS) {
    test(`${name}: the whole program is checkpointed and restored, every process runs the repair`, async () => {
      const clean = cleanRun(name);
      const r = await run(name, 'criu');
      assert.equal(r.status, 0, r.stderr);
      assertRewoundOutput(r.stdout, clean.stdout);
      assert.match(r.stderr, /axolotl: restored checkpoint \d+ in \d+ ms with repair 1/);
      assert.match(r.stderr, /the repaired program ran past the crash point/);
      assert.doesNotMatch(r.stderr, /cannot resume|did not finish|checkpoint failed/);
      assert.equal(fs.readFileSync(path.join(r.ws, `${name}.py`), 'utf8'), clean.fixed, 'the repair is written');
      if (name === 'pool_parent' || name === 'pool_worker' || name === 'process_pool') {
        // The workers came back with the program and swapped the repair in themselves.
        const swapped = new Set([...r.log.matchAll(/worker process (\d+) swapped in generation 1/g)].map((m) => m[1]));
        assert.equal(swapped.size, 2, `both workers swapped the repair in:\n${r.log.split('\n').filter((l) => /worker|restored/.test(l)).join('\n')}`);
        assert.match(r.log, /checkpoint freezes the program for the whole dump: .*threads alive/);
      }
    });
  }
});

describe('programs with worker processes and threads, on fork snapshots', () => {
  for (const name of PROGRAMS) {
    const outcome = FORK_OUTCOME[name];
    test(`${name}: says once that fork cannot protect it and offers criu; ${outcome === 'in-place' ? 'resumes in place, redoing nothing' : 'cannot resume, and ends with its own traceback'}`, async () => {
      // The first snapshot is asked for 1 s in: by then the program runs its pool (the workers and
      // threads start first thing), so none is ever taken.
      const r = await run(name, 'fork', { interval: 1 });
      const warnings = r.stderr.match(/axolotl: checkpoint failed/g) ?? [];
      assert.equal(warnings.length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /could not save the crash/, 'the same refusal is not said again at the crash');
      assert.match(r.stderr, /axolotl: checkpoint failed: the program cannot be snapshotted by fork\nrefused to fork: other threads are alive; threads alive: /);
      assert.match(r.stderr, /Fork snapshots cannot protect this program while it runs other threads[^]*`--backend criu`[^]*checkpoints the whole program/);
      assert.match(r.stderr, /resuming in place/);
      if (outcome === 'in-place') {
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, cleanRun(name).stdout, 'in place: every line once, as a clean run of the repaired program');
        assert.match(r.stderr, /the repaired program ran past the crash point/);
        if (name === 'process_pool') assert.match(r.log, /worker process \d+ swapped in generation 1/);
        return;
      }
      const plain = plainCrash(name);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /axolotl: cannot resume in place: the crash reached the program's top level, and resuming would run the statement at line \d+ again from its start, repeating what it did before the crash\. The repair is written: run the program again \(with `--backend criu` it resumes from a checkpoint instead\); `--resume in-place` resumes in place anyway\./);
      assert.equal(r.stdout, plain.stdout, 'nothing ran again: the output stops where the program crashed');
      // The program's own traceback: the frames and the exception plain Python shows (the source lines
      // it quotes are read from the file, which now holds the repair).
      const frames = (text: string, ws: string) => text.slice(text.lastIndexOf('Traceback (most recent call last):'))
        .split('\n').filter((l) => /^Traceback|^  File |^\w+(Error|Exception)/.test(l)).map((l) => l.replace(ws, '<ws>'));
      assert.deepEqual(frames(r.stderr, r.ws), frames(plain.stderr, plain.ws));
      assert.equal(fs.readFileSync(path.join(r.ws, `${name}.py`), 'utf8'), cleanRun(name).fixed, 'the repair is written');
    });
  }

  test('--resume in-place runs the top-level statement again when the user asks for it', async () => {
    const r = await run('pool_parent', 'fork', { extra: ['--resume', 'in-place'], interval: 1 });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /cannot resume/);
    assert.match(r.log, /agent swapped in generation 1; statement at line \d+ re-run/);
    assert.equal(r.stdout.match(/^prologue$/gm)?.length, 2, 'the statement ran again from its start, as asked');
    assert.match(r.stdout, new RegExp(`${cleanRun('pool_parent').stdout.split('\n').slice(-2).join('\n')}$`));
  });
});

describe('a pool whose workers are spawned', () => {
  test('criu says why it cannot checkpoint it (named semaphores) and how to make it able; the repair cannot resume', async () => {
    const r = await run('pool_worker', 'criu', { args: ['spawn'] });
    assert.match(r.stderr, /axolotl: checkpoint failed: criu cannot checkpoint process \d+: it holds named semaphores \(\/dev\/shm\/sem\.\*\), as multiprocessing's spawn and forkserver start methods make\nStart its workers with the fork method \(multiprocessing\.get_context\("fork"\)/);
    assert.match(r.stderr, /axolotl: cannot resume in place: the crash reached the program's top level/);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stdout.match(/^prologue$/gm)?.length, 1);
    assert.doesNotMatch(r.stdout, /done:/);
  });
});

describe('a restored program tree', () => {
  test('a restore whose program cannot take its repair is stopped after the limit, saying why, with nothing left', async () => {
    // deaf.py holds SIGUSR1 blocked through a 7 s call before it crashes; the one checkpoint (5 s in)
    // is inside that call: restored there, its agent cannot hear the engine for 3 s more.
    const r = await run('deaf', 'criu', { interval: 5, env: { AXOLOTL_RESTORE_ANSWER_S: '1.5' } });
    assert.match(r.stderr, /axolotl: restored checkpoint 1 in \d+ ms with repair 1/);
    assert.match(r.stderr, /axolotl: the restore of checkpoint 1 did not finish within 2 s: its agent \(process \d+\) did not answer\. The restored program was stopped\./);
    assert.equal(r.status, 137, r.stderr);
    assert.doesNotMatch(r.stdout, /item 2/, 'the restored program ran no further');
  });

  test('killing the run after a restore leaves none of the pool behind', async () => {
    const ws = workspace('pool_parent');
    const runs = tempDir('axl-runs-');
    const cli = new LiveCli(['run', '--yes', '--backend', 'criu', '--interval', '0.3', '--working-dir', runs, '--base-url', model.url,
      '--model', 'm', '--python', python, 'pool_parent.py'], { cwd: ws, env: cleanEnv() });
    await cli.waitStderr(/restored checkpoint \d+/, 120_000);
    await cli.waitStdout(/batch 12: /, 30_000);
    cli.signal('SIGKILL');
    await cli.result(30_000);
    await sleep(200);
    await assertNoProcesses([ws, runs], 10_000);
  });
});

after(() => assertNoProcesses(made));
after(() => assertNothingLeftRunning());
