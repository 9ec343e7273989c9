// Container mode's pure parts: conmon's log format, the options as users write them (CLI flags, the
// launch configuration), what is missing when podman or runc is not installed, the keeper's commands.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseLog } from '../../adapter/engine/containerLog';
import { rewindFiles } from '../../adapter/engine/fileRewind';
import { parseMount } from '../../adapter/engine/containerSpec';
import { findPodmanTools, ownerGone, ownerLabel } from '../../adapter/engine/podman';
import { parseRunArgs } from '../../adapter/cli/options';
import { checkLaunchArgs, runOptionsFrom as fromChecked } from '../../adapter/session/launchOptions';
import { resolveLaunchConfig } from '../../adapter/protocol/launchConfig';

/** A launch configuration as a client sends it → engine options (checked, then mapped). */
const runOptionsFrom = (args: Record<string, unknown>) => fromChecked(checkLaunchArgs(args));
import { AxolotlError } from '../../adapter/engine/types';

const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'axl-ctr-unit-')));
process.once('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const script = path.join(tmp, 'job.py');
fs.writeFileSync(script, 'print(1)\n');
fs.mkdirSync(path.join(tmp, 'data'));

describe('conmon\'s log (k8s-file)', () => {
  test('F ends a line, P does not; the streams stay apart; bytes are kept as they are', () => {
    const log = Buffer.concat([
      Buffer.from('2026-12-06T19:51:02.772226043+00:00 stdout F a\n'),
      Buffer.from('2026-12-06T19:51:02.772226043+00:00 stdout P b c\n'),
      Buffer.from('2026-12-06T19:51:02.874733571+00:00 stderr F E\n'),
      Buffer.from('2026-12-06T19:51:02.874733571+00:00 stderr F \n'),
      Buffer.from('2026-12-06T19:51:02.874745618+00:00 stdout F \r'), Buffer.from([0xff, 0xfe]), Buffer.from('\n'),
      Buffer.from('2026-12-06T19:51:02.874745618+00:00 stdout P unfinished'),
    ]);
    const { records, rest } = parseLog(log);
    assert.deepEqual(records.map((r) => [r.stream, r.data.toString('latin1')]), [
      ['stdout', 'a\nb c'],
      ['stderr', 'E\n\n'],
      ['stdout', '\r\xff\xfe\n'],
    ]);
    assert.equal(rest.toString(), '2026-12-06T19:51:02.874745618+00:00 stdout P unfinished', 'a line conmon is still writing waits');
  });

  test('a line that is not conmon\'s carries nothing', () => {
    assert.deepEqual(parseLog(Buffer.from('garbage\n2026 stdin F x\n')).records, []);
  });
});

describe('--container, --mount, --env', () => {
  test('the image, mounts (same path by default, :ro) and environment; --python names the image\'s interpreter', () => {
    process.env.AXL_UNIT_VALUE = 'from here';
    const o = parseRunArgs(['--container', 'localhost/env:1', '--mount', 'data', '--mount', `${tmp}/data:/srv/data:ro`, '--env', 'A=1=2', '--env', 'AXL_UNIT_VALUE',
      '--python', '/usr/local/bin/python3.12', 'job.py', '--container', 'x'], tmp);
    assert.deepEqual(o.container, {
      image: 'localhost/env:1',
      mounts: [{ source: `${tmp}/data`, target: `${tmp}/data` }, { source: `${tmp}/data`, target: '/srv/data', readOnly: true }],
      env: { A: '1=2', AXL_UNIT_VALUE: 'from here' },
      python: '/usr/local/bin/python3.12',
    });
    assert.equal(o.python, 'python3', 'the engine\'s own helpers run with the host\'s python');
    assert.equal(o.maxSaves, 10, 'whole archives: ten kept unless told otherwise');
    assert.equal(parseRunArgs(['--container', 'i', '--max-saves', '3', 'job.py'], tmp).maxSaves, 3);
    assert.deepEqual(o.args, ['--container', 'x'], 'flags after the script are the script\'s');
  });

  test('without --container: no container, and --mount / --env are refused', () => {
    assert.equal(parseRunArgs(['job.py'], tmp).container, undefined);
    assert.equal(parseRunArgs(['job.py'], tmp).maxSaves, undefined);
    assert.throws(() => parseRunArgs(['--mount', 'data', 'job.py'], tmp), /--mount needs --container/);
    assert.throws(() => parseRunArgs(['--env', 'A=1', 'job.py'], tmp), /--env needs --container/);
  });

  test('bad mounts and variables say what to write', () => {
    assert.throws(() => parseMount('nope', tmp), (e: AxolotlError) => e.message === `--mount nope: ${tmp}/nope does not exist`);
    assert.throws(() => parseMount('data:rel/path', tmp), /the path in the container must be absolute, got "rel\/path"/);
    assert.throws(() => parseMount('a:b:c:ro', tmp), /expected SRC\[:DST\]\[:ro\]/);
    assert.throws(() => parseRunArgs(['--container', 'i', '--env', '1X=2', 'job.py'], tmp), /"1X" is not a variable name/);
    delete process.env.AXL_UNSET_VALUE;
    assert.throws(() => parseRunArgs(['--container', 'i', '--env', 'AXL_UNSET_VALUE', 'job.py'], tmp), /AXL_UNSET_VALUE is not set here/);
    assert.throws(() => parseRunArgs(['--container', '', 'job.py'], tmp), /--container needs an image name/);
  });
});

describe('the launch attribute "container"', () => {
  const ctx = { activeFile: script, workspaceFolder: tmp, settings: {} };

  test('image, mounts, env and python, with defaults; the engine gets the parsed mounts', () => {
    const r = resolveLaunchConfig({ container: { image: 'localhost/env:1', mounts: ['data:/d:ro'] } }, ctx);
    assert.ok(r.ok, !r.ok ? r.error : '');
    assert.deepEqual(r.config.container, { image: 'localhost/env:1', mounts: ['data:/d:ro'], env: {}, python: 'python3' });
    const o = runOptionsFrom({ program: script, cwd: tmp, container: { image: 'localhost/env:1', mounts: ['data:/d:ro'], env: { A: '1' } } });
    assert.deepEqual(o.container, { image: 'localhost/env:1', mounts: [{ source: `${tmp}/data`, target: '/d', readOnly: true }], env: { A: '1' }, python: 'python3' });
    assert.equal(o.maxSaves, 10);
    assert.equal(runOptionsFrom({ program: script, cwd: tmp, maxCheckpoints: 4, container: { image: 'i' } }).maxSaves, 4);
    assert.equal(resolveLaunchConfig({}, ctx).ok && (resolveLaunchConfig({}, ctx) as { config: { container?: unknown } }).config.container, undefined);
  });

  test('errors', () => {
    const error = (config: unknown) => {
      const r = resolveLaunchConfig(config, ctx);
      assert.ok(!r.ok, 'expected an error');
      return r.error;
    };
    assert.equal(error({ container: 'localhost/env:1' }), '"container" must be an object such as {"image": "localhost/my-env:latest"} (got "localhost/env:1").');
    assert.equal(error({ container: {} }), '"container.image" must name the image to run, such as "localhost/my-env:latest" (podman images lists them).');
    assert.equal(error({ container: { image: 'i', mounts: 'data' } }), '"container.mounts" must be a list of "SRC[:DST][:ro]" strings such as ["./data:/data:ro"] (got "data").');
    assert.equal(error({ container: { image: 'i', env: { A: 1 } } }), '"container.env" must be an object of string values such as {"OMP_NUM_THREADS": "2"} (got {"A":1}).');
    assert.equal(error({ container: { image: 'i', network: 'host' } }), '"container" has no attribute "network": use image, mounts, env and python.');
    assert.equal(error({ container: { image: 'i' }, normalRun: true }), '"normalRun" runs plain Python on this machine: it cannot be combined with "container".');
    assert.equal(error({ container: { image: 'i' }, backend: 'fork' }), '"container" runs the program in a container that podman checkpoints with criu: "backend": "fork" does not apply.');
    assert.throws(() => runOptionsFrom({ program: script, cwd: tmp, container: { image: 'i', mounts: ['gone'] } }), /"container.mounts": gone: .* does not exist/);
  });
});

describe('podman, runc and catatonit', () => {
  test('each one missing is named with the command that installs it', () => {
    const r = findPodmanTools({ PATH: '' }, [tmp], [path.join(tmp, 'catatonit')]);
    assert.equal(r.tools, undefined);
    assert.deepEqual(r.missing.map((m) => [m.name, m.fix]), [
      ['podman', 'sudo apt-get install podman'],
      ['runc', 'sudo apt-get install runc (podman\'s default runtime crun cannot checkpoint here)'],
      ['catatonit', 'sudo apt-get install catatonit'],
    ]);
  });

  test('a container\'s owner is this engine, by PID and start time: a reused PID is not its owner', () => {
    assert.equal(ownerGone(ownerLabel()), false);
    const [pid, start] = ownerLabel().split(':');
    assert.equal(ownerGone(`${pid}:${Number(start) + 1}`), true);
    assert.equal(ownerGone('999999999:1'), true);
    assert.equal(ownerGone('garbage'), true);
  });
});

describe('the session keeper runs the commands it was given once the engine is gone', () => {
  test('"run" commands run after the sweep, "drop" takes one back, junk is ignored', () => {
    const keeper = path.resolve(__dirname, '../../../adapter/python/axolotl_keeper.py');
    const a = path.join(tmp, 'ran-a');
    const b = path.join(tmp, 'ran-b');
    const input = [
      `run ${JSON.stringify(['touch', a])}`,
      `run ${JSON.stringify(['touch', b])}`,
      `drop ${JSON.stringify(['touch', b])}`,
      'run not json',
      `run ${JSON.stringify([1, 2])}`,
      '',
    ].join('\n');
    const r = spawnSync('python3', [keeper], { input, timeout: 20_000 });
    assert.equal(r.status, 0, String(r.stderr));
    assert.ok(fs.existsSync(a), 'the command given ran');
    assert.ok(!fs.existsSync(b), 'the command taken back did not');
  });
});

describe('rewinding files a program in a container could have linked elsewhere (confined)', () => {
  test('journal entries through a link, or outside the workspace, change nothing outside; the workspace is rewound', () => {
    const root = fs.mkdtempSync(path.join(tmp, 'ws-'));
    const outside = fs.mkdtempSync(path.join(tmp, 'outside-'));
    const journal = fs.mkdtempSync(path.join(tmp, 'journal-'));
    const cp = fs.mkdtempSync(path.join(tmp, 'cp-'));
    fs.writeFileSync(path.join(outside, 'secret'), 'precious');
    fs.writeFileSync(path.join(outside, 'log'), 'precious log');
    fs.symlinkSync(outside, path.join(root, 'link'));
    fs.writeFileSync(path.join(root, 'mine.txt'), 'changed since');
    fs.mkdirSync(path.join(journal, '1'));
    fs.writeFileSync(path.join(journal, '1', '1-1'), 'attacker');
    fs.writeFileSync(path.join(journal, '1', '1-2'), 'as at the checkpoint');
    const entries = [
      { k: 'copy' as const, p: path.join(root, 'link', 'secret'), b: '1/1-1' },
      { k: 'size' as const, p: path.join(outside, 'log'), s: 0, o: 1 as const },
      { k: 'copy' as const, p: path.join(root, 'mine.txt'), b: '1/1-2' },
    ];
    // held open at the checkpoint and saved: one is now a link out, one is no longer the file it was
    const st = fs.statSync(path.join(outside, 'log'));
    fs.writeFileSync(path.join(cp, 'files.json'), JSON.stringify([
      { path: path.join(root, 'link', 'secret'), size: 1, mtime_ns: 0, dev: 0, ino: 0, append_only: false, inside: true, mode: 'copy', copy: 'files/0' },
      { path: path.join(outside, 'log'), size: 0, mtime_ns: 0, dev: st.dev, ino: st.ino + 1, append_only: true, inside: false, mode: 'size' },
    ]));
    fs.mkdirSync(path.join(cp, 'files'));
    fs.writeFileSync(path.join(cp, 'files', '0'), 'x');
    const rec = { id: 1, dir: cp, stdioInodes: [], pid: 1, time: 0, bytes: 0, frozenMs: 0, dumpMs: 0, generation: 0, backend: 'container' as const };
    const res = rewindFiles(rec, { root, maxCopy: 1 << 20, entries, journalDir: journal, workspace: [root], confined: true });
    assert.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'precious', 'nothing written through the link');
    assert.equal(fs.readFileSync(path.join(outside, 'log'), 'utf8'), 'precious log', 'nothing outside cut back');
    assert.equal(fs.readFileSync(path.join(root, 'mine.txt'), 'utf8'), 'as at the checkpoint', 'the workspace is rewound');
    assert.equal(res.problems.length, 4, res.problems.join('\n'));
    // the same entries unconfined (a program with the engine's own rights) go where they point
    rewindFiles(rec, { root, maxCopy: 1 << 20, entries: entries.slice(0, 1), journalDir: journal, workspace: [root] });
    assert.notEqual(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'precious', 'unconfined, the same rewind writes through the link');
  });
});
