// `axolotl` as a user runs it: real processes, real criu, messages asserted word for word.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { listCheckpoints } from '../../adapter/engine/runDir';
import { CLI, PROGRAMS, requireCriu, tempDir } from '../support/engineHelpers';
import { readableApp } from '../support/helperSetup';

function axolotl(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; uid?: number; gid?: number; input?: string; cli?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [opts.cli ?? CLI, ...args], {
    encoding: 'utf8', cwd: opts.cwd ?? PROGRAMS, env: { ...process.env, ...opts.env }, timeout: 120_000,
    uid: opts.uid, gid: opts.gid, input: opts.input ?? '',
  });
}

function python(args: string[]): SpawnSyncReturns<string> {
  return spawnSync('python3', args, { encoding: 'utf8', cwd: PROGRAMS, input: '' });
}

before(async () => {
  await requireCriu();
  assert.ok(fs.existsSync(CLI), `${CLI} missing: run npm run build first`);
});

describe('axolotl run', () => {
  test('--normal-run: output and status equal plain python3', () => {
    for (const args of [['count.py', '5', '3', '0'], ['crash_late.py']]) {
      const plain = python(args);
      const ours = axolotl(['run', '--normal-run', ...args]);
      assert.equal(ours.stdout, plain.stdout, `stdout of ${args.join(' ')}`);
      assert.equal(ours.stderr, plain.stderr, `stderr of ${args.join(' ')}`);
      assert.equal(ours.status, plain.status, `status of ${args.join(' ')}`);
    }
  });

  test('supervised run: program output unchanged on stdout, status passed through, checkpoints kept', () => {
    const wd = tempDir();
    const res = axolotl(['run', '--no-agent', '--interval', '0.2', '--working-dir', wd, 'count.py', '12', '5', '0.05']);
    assert.equal(res.stdout, python(['count.py', '12', '5', '0']).stdout);
    assert.equal(res.status, 5);
    const [run] = fs.readdirSync(wd);
    assert.ok(listCheckpoints(path.join(wd, run)).length >= 1, 'at least one checkpoint on disk');
  });

  test('input piped into axolotl reaches the program, even before it has started', () => {
    const res = axolotl(['run', '--working-dir', tempDir(), 'echo_stdin.py'], { input: 'a\nb\n' });
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout, 'got a\ngot b\n');
  });

  test('a crash prints the traceback, keeps the checkpoints and says how to restore', () => {
    const wd = tempDir();
    const res = axolotl(['run', '--no-agent', '--interval', '0.3', '--working-dir', wd, 'crash_late.py']);
    assert.equal(res.status, 1);
    assert.match(res.stderr, /ZeroDivisionError: division by zero/);
    assert.match(res.stderr, /axolotl: the program crashed:\nTraceback \(most recent call last\):/);
    assert.match(res.stderr, /axolotl: \d+ checkpoints? kept in .*\(axolotl checkpoints .*; axolotl restore .* <id>\)/);
    const runDir = path.join(wd, fs.readdirSync(wd)[0]);
    const list = axolotl(['checkpoints', runDir]);
    assert.equal(list.status, 0);
    assert.match(list.stdout, /^id\s+time\s+size\s+frozen\s+generation\n1\s/);
  });

  test('axolotl restore continues a finished run from a kept checkpoint', () => {
    const wd = tempDir();
    axolotl(['run', '--no-agent', '--interval', '0.2', '--working-dir', wd, 'count.py', '30', '4', '0.05']);
    const runDir = path.join(wd, fs.readdirSync(wd)[0]);
    const kept = listCheckpoints(runDir);
    assert.ok(kept.length >= 2);
    const res = axolotl(['restore', runDir, String(kept[0].id)]);
    assert.equal(res.status, 4, res.stderr);
    assert.match(res.stderr, new RegExp(`axolotl: restored checkpoint ${kept[0].id} in \\d+ ms`));
    assert.doesNotMatch(res.stdout, /^count 0 /m, 'the prologue is not run again');
    assert.match(res.stdout, /done 435\n$/);
  });
});

describe('error messages', () => {
  test('script missing', () => {
    const res = axolotl(['run', 'nope.py']);
    assert.equal(res.status, 2);
    assert.equal(res.stderr, `axolotl: script not found: ${path.join(PROGRAMS, 'nope.py')}\nCheck the path.\n`);
  });

  test('not a .py file', () => {
    const f = path.join(tempDir(), 'script.sh');
    fs.writeFileSync(f, 'echo hi\n');
    const res = axolotl(['run', f]);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /^axolotl: not a Python script \(\.py\): .*script\.sh\nAxolotl runs Python scripts ending in \.py\.\n$/);
  });

  test('criu missing', () => {
    const res = axolotl(['run', '--backend', 'criu', 'count.py'], { env: { AXOLOTL_CRIU: '/nonexistent/criu' } });
    assert.equal(res.status, 2);
    assert.match(res.stderr, /^axolotl: criu is not installed\nRun `npm run setup` \(scripts\/install-criu\.sh\)/);
    // With the default --backend auto the run goes on with fork snapshots, and says so.
    const auto = axolotl(['run', '--interval', '0.2', '--working-dir', tempDir(), 'count.py', '8', '3', '0.05'], { env: { AXOLOTL_CRIU: '/nonexistent/criu' } });
    assert.equal(auto.status, 3, auto.stderr);
    assert.match(auto.stderr, /^axolotl: criu is not installed: using fork snapshots\n/);
    assert.equal(auto.stdout, python(['count.py', '8', '3', '0']).stdout);
  });

  test('criu failing its check (the Debian 12 vDSO failure) shows criu\'s words', () => {
    const fake = path.join(tempDir(), 'criu');
    fs.writeFileSync(fake, '#!/bin/sh\n[ "$1" = --version ] && { echo "Version: 3.17.1"; exit 0; }\necho "Error (criu/vdso.c:627): vdso: Unexpected rt vDSO area bounds" >&2\nexit 1\n', { mode: 0o755 });
    const res = axolotl(['run', '--backend', 'criu', 'count.py'], { env: { AXOLOTL_CRIU: fake } });
    assert.equal(res.status, 2);
    assert.match(res.stderr, /^axolotl: criu 3\.17\.1 at .* cannot checkpoint on this kernel: criu dump failed/);
    assert.match(res.stderr, /Unexpected rt vDSO area bounds/);
    const doc = axolotl(['doctor'], { env: { AXOLOTL_CRIU: fake } });
    assert.equal(doc.status, 1);
    assert.match(doc.stdout, /✗ criu .*criu check failed: .*vDSO.*\n.*→ criu 3\.17\.1 predates kernel/);
  });

  test('no permission: a non-root user is told how to get privileges', () => {
    // As root (CI) we drop to nobody, with a copy of the CLI nobody can read; as a normal user we already are one.
    const root = process.getuid?.() === 0;
    const app = root ? readableApp() : undefined;
    const asNobody = root ? { uid: 65534, gid: 65534, cli: path.join(app!, 'dist', 'cli.js') } : {};
    const program = path.join(app ? path.join(app, 'programs') : PROGRAMS, 'count.py');
    const res = axolotl(['run', '--backend', 'criu', '--python', '/usr/bin/python3', program], { ...asNobody, cwd: '/tmp' });
    if (app) fs.rmSync(app, { recursive: true, force: true });
    assert.equal(res.status, 2, res.stderr);
    assert.match(res.stderr, /^axolotl: criu needs root privileges to checkpoint\nRun as root .*use --backend fork/);
  });

  test('image folder not writable', () => {
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, '');
    const res = axolotl(['run', '--no-agent', '--working-dir', path.join(file, 'sub'), 'count.py', '3']);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /^axolotl: cannot create the checkpoint folder under .*a-file\/sub\nChoose a writable folder with --working-dir\.\n/);
  });

  test('restore failure shows the tail of criu\'s log', () => {
    const wd = tempDir();
    axolotl(['run', '--no-agent', '--interval', '0.2', '--working-dir', wd, 'count.py', '10', '0', '0.05']);
    const runDir = path.join(wd, fs.readdirSync(wd)[0]);
    const [c] = listCheckpoints(runDir);
    const core = fs.readdirSync(c.dir!).find((f) => f.startsWith('core-'))!;
    fs.writeFileSync(path.join(c.dir!, core), 'garbage');
    const res = axolotl(['restore', runDir, String(c.id)]);
    assert.equal(res.status, 2);
    assert.match(res.stderr, new RegExp(`^axolotl: criu could not restore checkpoint ${c.id}\nSee the criu log below\\.\n`));
    assert.match(res.stderr, /Error/, 'criu log tail included');
  });

  test('bad numbers are refused', () => {
    assert.match(axolotl(['run', '--interval', '-1', 'count.py']).stderr, /--interval must be a positive number of seconds, got "-1"/);
    assert.match(axolotl(['run', '--max-saves', '0', 'count.py']).stderr, /--max-saves must be a whole number ≥ 1, got "0"/);
    assert.match(axolotl(['run', '--backend', 'docker', 'count.py']).stderr, /unknown backend "docker"/);
  });
});
