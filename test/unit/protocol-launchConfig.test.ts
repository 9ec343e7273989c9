// Launch configuration resolution: every default and every error message of adapter/protocol/launchConfig.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_CONFIG_NAME, MISSING_PROGRAM, defaultLaunchConfig, resolveLaunchConfig, type ResolveContext, type ResolvedLaunchConfig,
} from '../../adapter/protocol/launchConfig';

const WS = '/home/u/proj';
const FILE = '/home/u/proj/train.py';

function ctx(over: Partial<ResolveContext> = {}): ResolveContext {
  return { activeFile: FILE, workspaceFolder: WS, settings: {}, ...over };
}

function ok(config: unknown, c: ResolveContext = ctx()): ResolvedLaunchConfig {
  const r = resolveLaunchConfig(config, c);
  if (!r.ok) assert.fail(`expected a valid configuration, got: ${r.error}`);
  return r.config;
}

function error(config: unknown, c: ResolveContext = ctx()): string {
  const r = resolveLaunchConfig(config, c);
  if (r.ok) assert.fail(`expected an error, got ${JSON.stringify(r.config)}`);
  return r.error;
}

describe('defaults', () => {
  test('an empty configuration (F5 without launch.json) runs the active Python file', () => {
    const c = ok({});
    assert.equal(c.type, 'axolotl');
    assert.equal(c.request, 'launch');
    assert.equal(c.name, DEFAULT_CONFIG_NAME);
    assert.equal(c.program, FILE);
    assert.equal(c.cwd, WS);
    assert.equal(c.python, 'python3');
    assert.equal(c.checkpointInterval, 1);
    assert.equal(c.backend, 'auto');
    assert.deepEqual(c.args, []);
    assert.deepEqual(c.env, {});
    assert.equal(c.normalRun, false);
    assert.deepEqual(c.repair, { enabled: true, autoAccept: false, maxAttempts: 3 });
    assert.equal('maxCheckpoints' in c, false);
    assert.equal('workingDir' in c, false);
  });

  test('without a workspace folder, cwd is the program\'s folder', () => {
    assert.equal(ok({ program: '/tmp/x/job.py' }, ctx({ workspaceFolder: undefined })).cwd, '/tmp/x');
  });

  test('settings fill python, interval, max checkpoints, backend, model and base URL', () => {
    const c = ok(
      {},
      ctx({
        settings: { python: '/opt/py/bin/python', checkpointInterval: 2.5, maxCheckpoints: 5, backend: 'fork', model: 'qwen2.5-coder:7b', baseUrl: 'http://localhost:11434/v1' },
      }),
    );
    assert.equal(c.python, '/opt/py/bin/python');
    assert.equal(c.checkpointInterval, 2.5);
    assert.equal(c.maxCheckpoints, 5);
    assert.equal(c.backend, 'fork');
    assert.equal(c.repair.model, 'qwen2.5-coder:7b');
    assert.equal(c.repair.baseUrl, 'http://localhost:11434/v1');
  });

  test('the launch configuration wins over the settings', () => {
    const c = ok(
      { python: 'python3.12', checkpointInterval: 0.5, maxCheckpoints: 3, backend: 'criu', repair: { model: 'gpt-4o', baseUrl: 'https://example.test/v1' } },
      ctx({ settings: { python: 'py', checkpointInterval: 9, maxCheckpoints: 9, backend: 'fork', model: 'm', baseUrl: 'http://localhost:1/v1' } }),
    );
    assert.equal(c.python, 'python3.12');
    assert.equal(c.checkpointInterval, 0.5);
    assert.equal(c.maxCheckpoints, 3);
    assert.equal(c.backend, 'criu');
    assert.equal(c.repair.model, 'gpt-4o');
    assert.equal(c.repair.baseUrl, 'https://example.test/v1');
  });

  test('empty settings (the UI defaults) mean "not set"', () => {
    const c = ok({}, ctx({ settings: { python: '', model: '', baseUrl: '', maxCheckpoints: 0, backend: '', checkpointInterval: null } }));
    assert.equal(c.python, 'python3');
    assert.equal(c.checkpointInterval, 1);
    assert.equal('maxCheckpoints' in c, false);
    assert.equal(c.backend, 'auto');
    assert.equal(c.repair.model, undefined);
    assert.equal(c.repair.baseUrl, undefined);
  });

  test('repair settings given in launch.json are kept, the rest defaulted', () => {
    const c = ok({ repair: { enabled: false, autoAccept: true } });
    assert.deepEqual(c.repair, { enabled: false, autoAccept: true, maxAttempts: 3 });
    assert.equal(ok({ repair: { maxAttempts: 1 } }).repair.maxAttempts, 1);
  });

  test('relative program and cwd are resolved from the workspace folder', () => {
    const c = ok({ program: 'src/main.py', cwd: 'data' }, ctx({ substituted: true }));
    assert.equal(c.cwd, `${WS}/data`);
    assert.equal(c.program, `${WS}/data/src/main.py`);
    assert.equal(ok({ program: 'src/main.py' }).program, `${WS}/src/main.py`);
  });

  test('other attributes pass through untouched', () => {
    const c = ok({ program: FILE, args: ['--n', '3'], env: { A: '1' }, workingDir: '/tmp/runs', normalRun: true, resume: 'in-place', __sessionId: 'x' });
    assert.deepEqual(c.args, ['--n', '3']);
    assert.deepEqual(c.env, { A: '1' });
    assert.equal(c.workingDir, '/tmp/runs');
    assert.equal(c.normalRun, true);
    assert.equal(c.resume, 'in-place');
    assert.equal(c.__sessionId, 'x');
  });

  test('the input is not modified', () => {
    const input = { repair: { model: 'x' } };
    ok(input);
    assert.deepEqual(input, { repair: { model: 'x' } });
  });

  test('${variables} are left for VS Code in the first pass and checked in the second', () => {
    const first = ok({ program: '${file}', cwd: '${workspaceFolder}' }, ctx({ activeFile: undefined }));
    assert.equal(first.program, '${file}');
    assert.equal(first.cwd, '${workspaceFolder}');
    assert.match(error({ program: '/x/README.md' }, ctx({ substituted: true })), /must be a Python file/);
  });

  test('the interpreter: launch configuration, then the setting, then the Python extension\'s, then python3', () => {
    const venv = '/home/u/proj/.venv/bin/python';
    const second = (over: Partial<ResolveContext> = {}) => ctx({ substituted: true, pythonFromExtension: venv, ...over });
    // Nothing names one: the first pass says python3 (default), the second takes the Python extension's.
    const first = ok({});
    assert.deepEqual([first.python, first.pythonSource], ['python3', 'default']);
    const resolved = ok(first, second());
    assert.deepEqual([resolved.python, resolved.pythonSource], [venv, 'python-extension']);
    // ... and keeps it when resolved again (the standalone adapter checks every configuration again).
    assert.deepEqual([ok(resolved, ctx({ substituted: true })).python, ok(resolved, ctx({ substituted: true })).pythonSource], [venv, 'python-extension']);
    // Without the Python extension (or a selection): python3.
    assert.deepEqual([ok(first, ctx({ substituted: true })).python, ok(first, ctx({ substituted: true })).pythonSource], ['python3', 'default']);
    // An explicit setting, or the launch configuration, wins over the Python extension.
    const set = ok(ok({}, ctx({ settings: { python: '/opt/py/bin/python' } })), second({ settings: { python: '/opt/py/bin/python' } }));
    assert.deepEqual([set.python, set.pythonSource], ['/opt/py/bin/python', 'setting']);
    const given = ok(ok({ python: 'python3' }), second());
    assert.deepEqual([given.python, given.pythonSource], ['python3', 'launch']);
  });

  test('the offered configuration runs ${file}', () => {
    assert.deepEqual(defaultLaunchConfig(), { type: 'axolotl', request: 'launch', name: DEFAULT_CONFIG_NAME, program: '${file}' });
  });
});

describe('errors', () => {
  test('no program and no Python file open', () => {
    assert.equal(error({}, ctx({ activeFile: undefined })), MISSING_PROGRAM);
    assert.equal(error({}, ctx({ activeFile: '/home/u/proj/notes.md' })), MISSING_PROGRAM);
    assert.equal(MISSING_PROGRAM, 'Open a Python file or set "program" in launch.json');
  });

  test('a program that is not a .py file', () => {
    assert.equal(
      error({ program: '/home/u/proj/run.sh' }),
      '"program" must be a Python file (.py), got "/home/u/proj/run.sh". Open the Python file to run, or point "program" at one.',
    );
  });

  test('a program that does not exist (second pass)', () => {
    const c = ctx({ substituted: true, fileExists: () => false });
    assert.equal(error({ program: FILE }, c), `Cannot find the program ${FILE}. Check "program" in launch.json.`);
    // the first pass does not look at the disk
    ok({ program: FILE }, ctx({ fileExists: () => false }));
  });

  test('a relative program with no folder open', () => {
    assert.match(error({ program: 'main.py' }, ctx({ workspaceFolder: undefined })), /"program" is relative \("main\.py"\) but no folder is open/);
    assert.match(error({ program: '/a/main.py', cwd: 'sub' }, ctx({ workspaceFolder: undefined })), /"cwd" is relative \("sub"\)/);
  });

  test('negative, zero or non-numeric interval', () => {
    assert.equal(error({ checkpointInterval: -1 }), '"checkpointInterval" must be a positive number of seconds (got -1); for example 1 or 0.5.');
    assert.match(error({ checkpointInterval: 0 }), /positive number of seconds \(got 0\)/);
    assert.equal(error({ checkpointInterval: '5' }), '"checkpointInterval" must be a number of seconds (got "5").');
    assert.match(error({}, ctx({ settings: { checkpointInterval: -2 } })), /^The setting "axolotl\.checkpointInterval" must be a positive number/);
  });

  test('pauseBudget: a percentage below 100, absent unless given', () => {
    assert.equal(ok({}).pauseBudget, undefined);
    assert.equal(ok({ pauseBudget: 0 }).pauseBudget, 0);
    assert.equal(ok({ pauseBudget: 5 }).pauseBudget, 5);
    assert.match(error({ pauseBudget: -1 }), /^"pauseBudget" must be a percentage from 0 up to \(not including\) 100 \(got -1\)/);
    assert.match(error({ pauseBudget: 100 }), /\(got 100\)/);
    assert.match(error({ pauseBudget: '2' }), /\(got "2"\)/);
  });

  test('snapshotMemory: a multiple of the program\'s size or an amount, absent unless given', () => {
    assert.equal('snapshotMemory' in ok({}), false);
    assert.equal(ok({ snapshotMemory: '1.5x' }).snapshotMemory, '1.5x');
    assert.equal(ok({ snapshotMemory: '512M' }).snapshotMemory, '512M');
    assert.equal(error({ snapshotMemory: 'lots' }), '"snapshotMemory" must be a multiple of the program\'s size ("1x", "1.5x") or an amount ("512M", "2G") (got "lots").');
    assert.equal(error({ snapshotMemory: 2 }), '"snapshotMemory" must be a string (got 2).');
  });

  test('cwd must be a folder, checked in the second pass when the caller can look (the adapter)', () => {
    const dirs = new Set([WS]);
    const second = ctx({ substituted: true, dirExists: (d) => dirs.has(d) });
    assert.equal(ok({}, second).cwd, WS);
    assert.equal(error({ cwd: '/gone' }, second), '"cwd" is not a folder: /gone. Check "cwd" in launch.json.');
    // The first pass, and a caller without dirExists (the extension), leave it to the adapter.
    assert.equal(ok({ cwd: '/gone' }, ctx({ dirExists: () => false })).cwd, '/gone');
    assert.equal(ok({ cwd: '/gone' }, ctx({ substituted: true })).cwd, '/gone');
  });

  test('bad maxCheckpoints', () => {
    assert.equal(error({ maxCheckpoints: 0 }), '"maxCheckpoints" must be a whole number of at least 1 (got 0).');
    assert.match(error({ maxCheckpoints: 2.5 }), /whole number/);
    assert.match(error({}, ctx({ settings: { maxCheckpoints: -1 } })), /^The setting "axolotl\.maxCheckpoints"/);
  });

  test('unknown backend', () => {
    assert.equal(error({ backend: 'docker' }), '"backend" must be one of auto, criu, fork (got "docker").');
    assert.equal(error({}, ctx({ settings: { backend: 'podman' } })), 'The setting "axolotl.backend" must be one of auto, criu, fork (got "podman").');
  });

  test('unknown resume mode', () => {
    assert.equal(error({ resume: 'restart' }), '"resume" must be one of checkpoint, in-place (got "restart").');
  });

  test('attach is not supported', () => {
    assert.equal(error({ request: 'attach' }), 'Axolotl can only launch a program: set "request": "launch" (got "attach").');
  });

  test('wrong types', () => {
    assert.equal(error('main.py'), 'The launch configuration must be an object (got "main.py").');
    assert.equal(error({ program: 42 }), '"program" must be a string (got 42).');
    assert.equal(error({ cwd: ['a'] }), '"cwd" must be a string (got ["a"]).');
    assert.equal(error({ python: false }), '"python" must be a string (got false).');
    assert.equal(error({ workingDir: 1 }), '"workingDir" must be a string (got 1).');
    assert.equal(error({ args: '--n 3' }), '"args" must be a list of strings such as ["--epochs", "3"] (got "--n 3").');
    assert.equal(error({ args: ['--n', 3] }), '"args" must be a list of strings such as ["--epochs", "3"] (got ["--n",3]).');
    assert.equal(error({ env: { A: 1 } }), '"env" must be an object of string values such as {"DEBUG": "1"} (got {"A":1}).');
    assert.equal(error({ env: ['A=1'] }), '"env" must be an object of string values such as {"DEBUG": "1"} (got ["A=1"]).');
    assert.equal(error({ normalRun: 'yes' }), '"normalRun" must be true or false (got "yes").');
    assert.equal(error({ repair: true }), '"repair" must be an object such as {"model": "gpt-4o-mini", "autoAccept": false} (got true).');
    assert.equal(error({ repair: { enabled: 'no' } }), '"repair.enabled" must be true or false (got "no").');
    assert.equal(error({ repair: { autoAccept: 1 } }), '"repair.autoAccept" must be true or false (got 1).');
    assert.equal(error({ repair: { model: 4 } }), '"repair.model" must be a string (got 4).');
    assert.equal(error({ repair: { maxAttempts: 0 } }), '"repair.maxAttempts" must be a whole number of at least 1 (got 0).');
  });

  test('a base URL that is not an http(s) URL', () => {
    assert.equal(
      error({ repair: { baseUrl: 'localhost:11434' } }),
      '"repair.baseUrl" must start with http:// or https:// (got "localhost:11434").',
    );
    assert.equal(
      error({ repair: { baseUrl: 'not a url' } }),
      '"repair.baseUrl" is not a URL (got "not a url"); for example http://localhost:11434/v1 or https://api.openai.com/v1.',
    );
    assert.match(error({}, ctx({ settings: { baseUrl: 'ftp://x/v1' } })), /^The setting "axolotl\.baseUrl" must start with http/);
  });
});
