// Acceptance tests of the repair loop: `axolotl run --yes` on real criu, real Python processes and a
// real local OpenAI-compatible HTTP server (dev/modelServer.ts) that answers with scripted
// replies. Each test copies a fixture project (test/fixtures/repair-e2e/) to a temporary folder,
// runs the CLI on it and checks, for a repaired run: exit status 0; stdout identical to the FIXED
// program run from scratch with plain python3 (the fixtures print results only at the end, so stdout
// does not depend on where checkpoints fell, and a `prologue` line once at the start); the exact fixed
// bytes on disk; the diff and "restored checkpoint" on stderr. For a run that is not repaired: the
// program's own Python traceback, its status, and every source byte-identical.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, before, beforeEach, describe, test } from 'node:test';
import { ModelServer, type RecordedRequest, type ScriptedReply } from '../../dev/modelServer';
import { CLI, REPO, requireCriu, spawnInGroup, tempDir } from '../support/engineHelpers';

const FIXTURES = path.join(REPO, 'test', 'fixtures', 'repair-e2e');
const PYTHON = 'python3';
/** generous: one run takes ~5 s alone, more on two busy cores */
const RUN_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = 120_000;

const FIX_LINES = '+    if not values:\n+        return 0.0\n';
const PLAIN_FIX_DIFF = '--- a/stats.py\n+++ b/stats.py\n';

// ---------------------------------------------------------------- helpers

type Fixture = 'single' | 'multi' | 'slowrepr' | 'early';

/** Temporary folders of the running test: removed when it passes, kept to look at when it fails. */
const created: string[] = [];

interface Workspace {
  /** the project folder (AXOLOTL_ROOT): the script's folder */
  root: string;
  /** its parent, which also holds files outside the project */
  parent: string;
  /** run folders go here, outside the project, so the project holds only its sources */
  runs: string;
}

/** A fresh copy of fixtures/<name> as <tmp>/project, with <tmp>/outside.py next to it. */
function workspace(name: Fixture): Workspace {
  const parent = fs.realpathSync(tempDir('axl-repair-e2e-'));
  created.push(parent);
  const root = path.join(parent, 'project');
  fs.cpSync(path.join(FIXTURES, name), root, { recursive: true });
  fs.writeFileSync(path.join(parent, 'outside.py'), '# a file next to the project, outside it\nVALUE = 1\n');
  const runs = path.join(parent, 'runs');
  return { root, parent, runs };
}

function reply(name: string): string {
  return fs.readFileSync(path.join(FIXTURES, 'replies', `${name}.md`), 'utf8');
}

function expected(name: Fixture, file: string): string {
  return fs.readFileSync(path.join(FIXTURES, 'expected', name, file), 'utf8');
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** relative path → sha256 of every file under dir. */
function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = path.join(e.parentPath, e.name);
    out[path.relative(dir, abs)] = sha256(abs);
  }
  return out;
}

/** The environment without any model configuration from the machine running the tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  const xdg = tempDir('axl-xdg-');
  created.push(xdg);
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: xdg, PYTHONDONTWRITEBYTECODE: '1' };
  for (const k of Object.keys(env)) if (/^(AXOLOTL_|OPENAI_)/.test(k)) delete env[k];
  return env;
}

interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `node dist/cli.js ...` asynchronously: the model server answers from this same process. */
function axolotl(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawnInGroup(process.execPath, [CLI, ...args], { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
      reject(new Error(`axolotl ${args.join(' ')} did not finish in ${RUN_TIMEOUT_MS / 1000} s\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** `axolotl run --yes` of <root>/<script> against the model server. */
function runRepair(ws: Workspace, script: string, model: ModelServer, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return axolotl(['run', '--yes', '--base-url', model.url, '--model', 'test-model', '--interval', '0.3',
    '--working-dir', ws.runs, ...extra, script], ws.root, env);
}

/** Plain python3, from scratch, in the project folder. */
function plainPython(ws: Workspace, script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(PYTHON, [script], { cwd: ws.root, encoding: 'utf8', env: cleanEnv(), input: '', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runDirOf(ws: Workspace): string {
  const runs = fs.readdirSync(ws.runs).filter((d) => d.startsWith('run-'));
  assert.equal(runs.length, 1, `one run folder in ${ws.runs}: ${runs.join(', ')}`);
  return path.join(ws.runs, runs[0]);
}

/** The user message of a recorded chat request: the prompt. */
function promptOf(req: RecordedRequest): string {
  const msgs = req.body.messages as Array<{ role: string; content: string }>;
  const user = msgs.filter((m) => m.role === 'user');
  assert.equal(user.length, 1, 'one user message per request');
  return user[0].content;
}

function show(res: RunResult): string {
  return `status ${res.status}${res.signal ? ` (${res.signal})` : ''} after ${(res.ms / 1000).toFixed(1)} s\n--- stdout\n${res.stdout}\n--- stderr\n${res.stderr}`;
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** The model server for one test: replies in order, then a 500 that fails the run loudly. */
async function withModel<T>(opts: { replies?: ScriptedReply[]; fallback?: ScriptedReply }, fn: (m: ModelServer) => Promise<T>): Promise<T> {
  const model = await ModelServer.start(opts);
  try {
    return await fn(model);
  } finally {
    await model.close();
  }
}

/**
 * What every repaired run must show: status 0, the fixed files on disk, stdout equal to the fixed
 * program run from scratch, the prologue once, the diff on stderr and how it resumed.
 */
function assertRepaired(res: RunResult, ws: Workspace, o: {
  script: string; files: Record<string, string>; prologue: string; diff: string[]; resume: 'checkpoint' | 'in-place' | 'either'; repairs?: number;
}): void {
  assert.equal(res.status, 0, show(res));
  for (const [file, text] of Object.entries(o.files)) {
    assert.equal(fs.readFileSync(path.join(ws.root, file), 'utf8'), text, `${file} on disk has the fix, byte for byte`);
  }
  const plain = plainPython(ws, o.script);
  assert.equal(plain.status, 0, `the fixed program runs with plain python3:\n${plain.stderr}`);
  assert.equal(res.stdout, plain.stdout, `stdout equals the fixed program run from scratch\n${show(res)}`);
  assert.equal(count(res.stdout, o.prologue), 1, 'the prologue ran once: nothing before the checkpoint was redone');
  for (const d of o.diff) assert.ok(res.stderr.includes(d), `stderr shows the diff (${JSON.stringify(d)})\n${show(res)}`);
  const n = o.repairs ?? 1;
  assert.match(res.stderr, new RegExp(`axolotl: repair proposed \\(attempt \\d+ of \\d+, test-model\\):`));
  if (o.resume === 'checkpoint') {
    assert.match(res.stderr, new RegExp(`axolotl: restored checkpoint \\d+ in \\d+ ms with repair ${n}\\n`), show(res));
    assert.match(res.stderr, /axolotl: accepted: files written \(originals in .*\/repairs\/\d+\); resuming from checkpoint \d+\n/);
  } else if (o.resume === 'in-place') {
    assert.doesNotMatch(res.stderr, /restored checkpoint/, show(res));
    assert.match(res.stderr, /axolotl: accepted: files written \(originals in .*\/repairs\/\d+\); resuming in place\n/, show(res));
  }
  assert.match(res.stderr, /axolotl: ✓ the repaired program ran past the crash point\n/);
  assert.doesNotMatch(res.stderr, /axolotl: (checkpoint failed|could not|internal error)/, show(res));
  const repairs = fs.readdirSync(path.join(runDirOf(ws), 'repairs')).filter((d) => /^\d+$/.test(d));
  assert.equal(repairs.length, n, `${n} repair(s) written: ${repairs.join(', ')}`);
}

/** The traceback plain python3 prints for the unrepaired program (from "Traceback" to the end). */
function pythonTraceback(stderr: string): string {
  const at = stderr.indexOf('Traceback (most recent call last):');
  assert.ok(at >= 0, `plain python3 crashed with a traceback:\n${stderr}`);
  return stderr.slice(at);
}

before(async () => {
  await requireCriu();
  assert.ok(fs.existsSync(CLI), `${CLI} missing: run npm run build first`);
});
beforeEach(() => { created.length = 0; });
afterEach((t) => {
  const passed = (t as unknown as { passed?: boolean }).passed !== false;
  for (const dir of created.splice(0)) {
    if (passed) fs.rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`kept for inspection: ${dir}\n`);
  }
});

// ---------------------------------------------------------------- tests

const SINGLE = { script: 'stats.py', prologue: 'prologue: stats job starting\n' };

describe('axolotl run --yes: each reply format repairs the crash and resumes from a checkpoint', () => {
  test('(a) a fenced code block with the complete fixed file; the prompt has the traceback, the source and the locals', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    await withModel({ replies: [reply('single-full-file')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model);
      assertRepaired(res, ws, { ...SINGLE, files: { 'stats.py': expected('single', 'stats.py') }, diff: [PLAIN_FIX_DIFF, FIX_LINES], resume: 'checkpoint' });
      assert.equal(model.chatRequests.length, 1, 'one model call');

      // what the model was told: the traceback, the complete source of the crashing file, the locals
      const prompt = promptOf(model.chatRequests[0]);
      const file = path.join(ws.root, 'stats.py');
      assert.ok(prompt.includes('## Traceback\n'), prompt);
      assert.ok(prompt.includes('Traceback (most recent call last):'), prompt);
      assert.ok(prompt.includes(`File "${file}", line 28, in <module>`), prompt);
      assert.ok(prompt.includes(`File "${file}", line 21, in mean`), prompt);
      assert.ok(prompt.includes('ZeroDivisionError: division by zero'), prompt);
      assert.ok(prompt.includes('### stats.py (complete file, 33 lines)'), prompt);
      assert.ok(prompt.includes(fs.readFileSync(path.join(FIXTURES, 'single', 'stats.py'), 'utf8')), 'the whole original source, verbatim');
      assert.ok(prompt.includes('## Local variables at the crash (innermost first)'), prompt);
      assert.match(prompt, /### `mean` \(stats\.py, line 21\)\n- `values`: list = \[\]/);
      assert.match(prompt, /- `i`: int = 8\n/);
      assert.match(prompt, /- `results`: list = \[\(0, 200, 49\.655\), /);
    });
  });

  test('(b) a unified diff in a ```diff fence', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    await withModel({ replies: [reply('single-diff-fenced')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model);
      assertRepaired(res, ws, { ...SINGLE, files: { 'stats.py': expected('single', 'stats.py') }, diff: [PLAIN_FIX_DIFF, FIX_LINES], resume: 'checkpoint' });
      assert.equal(model.chatRequests.length, 1);
    });
  });

  test('(c) a bare unified diff in the prose', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    await withModel({ replies: [reply('single-diff-bare')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model);
      assertRepaired(res, ws, { ...SINGLE, files: { 'stats.py': expected('single', 'stats.py') }, diff: [PLAIN_FIX_DIFF, FIX_LINES], resume: 'checkpoint' });
      assert.equal(model.chatRequests.length, 1);
      assert.match(res.stderr, /This changes only `mean`/, 'the prose after the diff is part of the explanation');
    });
  });

  test('(d) SEARCH/REPLACE blocks naming the file', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    await withModel({ replies: [reply('single-search-replace')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model);
      assertRepaired(res, ws, { ...SINGLE, files: { 'stats.py': expected('single', 'stats.py') }, diff: [PLAIN_FIX_DIFF, FIX_LINES], resume: 'checkpoint' });
      assert.equal(model.chatRequests.length, 1);
    });
  });
});

const MULTI = { script: 'report.py', prologue: 'prologue: report job starting\n' };
const MULTI_DIFF = [
  '--- a/statlib.py\n+++ b/statlib.py\n',
  ' def mean(values):\n+    if not values:\n+        return None\n',
  ' def spread(values):\n+    if not values:\n+        return None\n',
  '--- a/report.py\n+++ b/report.py\n',
  ' def describe(s):\n+    if s["n"] == 0:\n+        return f"item {s[\'item\']}: empty"\n',
];

describe('axolotl run --yes: repairs that span files, fail, or are refused', () => {
  test('a multi-file diff: the bug is in an imported module, the fix touches the module and the script', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('multi');
    await withModel({ replies: [reply('multi-diff')] }, async (model) => {
      const res = await runRepair(ws, MULTI.script, model);
      assertRepaired(res, ws, {
        ...MULTI, files: { 'statlib.py': expected('multi', 'statlib.py'), 'report.py': expected('multi', 'report.py') }, diff: MULTI_DIFF, resume: 'checkpoint',
      });
      assert.equal(model.chatRequests.length, 1);
      const prompt = promptOf(model.chatRequests[0]);
      assert.ok(prompt.includes('### statlib.py (complete file'), 'the module on the stack is shown');
      assert.ok(prompt.includes('### report.py (complete file'), 'the script on the stack is shown');
      assert.ok(prompt.indexOf('### statlib.py') < prompt.indexOf('### report.py'), 'the crash site first');
    });
  });

  test('a first fix that crashes again before the crash point, then a second that works', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    await withModel({ replies: [reply('single-first-fix-none'), reply('single-second-fix')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model);
      assertRepaired(res, ws, {
        ...SINGLE, files: { 'stats.py': expected('single', 'stats.py') }, resume: 'checkpoint', repairs: 2,
        diff: ['+    if not values:\n+        return None\n', '     if not values:\n-        return None\n+        return 0.0\n'],
      });
      assert.match(res.stderr, /axolotl: the repair did not hold: TypeError: type NoneType doesn't define __round__ method\n/, show(res));
      assert.match(res.stderr, /axolotl: restored checkpoint \d+ in \d+ ms with repair 1\n/);
      assert.match(res.stderr, /axolotl: repair proposed \(attempt 2 of 3, test-model\):/);
      assert.equal(model.chatRequests.length, 2);

      const second = promptOf(model.chatRequests[1]);
      assert.ok(second.includes('## Earlier attempts that did not work'), second);
      assert.ok(second.includes('### Attempt 1\nIt changed:\n'), second);
      assert.ok(second.includes(' def mean(values):\n+    if not values:\n+        return None\n     return sum(values) / len(values)\n'), `the first fix's diff:\n${second}`);
      assert.ok(second.includes('and the program crashed again'), second);
      assert.ok(second.includes("TypeError: type NoneType doesn't define __round__ method"), `the new traceback:\n${second}`);
      assert.ok(second.includes(`File "${path.join(ws.root, 'stats.py')}", line 28, in <module>`), second);
      // the source shown the second time is the current one, with the first fix in it
      assert.ok(second.includes('    if not values:\n        return None\n'), second);
    });
  });

  test('a refusal: the program ends with its own traceback and status, sources byte-identical', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    const before = hashTree(ws.parent);
    await withModel({ fallback: "I can't help with that." }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model);
      const plain = plainPython(ws, SINGLE.script);
      assert.notEqual(res.status, 0, show(res));
      assert.equal(res.status, plain.status, 'the exit status is the program\'s');
      assert.equal(res.stdout, plain.stdout, 'stdout as with plain python3');
      assert.ok(res.stderr.includes(pythonTraceback(plain.stderr)), `Python's own traceback on stderr:\n--- expected\n${pythonTraceback(plain.stderr)}\n${show(res)}`);
      assert.match(res.stderr, /axolotl: no repair: The model did not produce a usable repair in 3 attempts\. Last problem: the model's reply contained no usable repair: the model declined/, show(res));
      assert.doesNotMatch(res.stderr, /repair proposed|accepted|restored checkpoint/);
      assert.equal(model.chatRequests.length, 3, 'asked --max-repairs (3) times');
      const runDir = runDirOf(ws);
      assert.ok(!fs.existsSync(path.join(runDir, 'repairs')), 'nothing was written');
    });
    fs.rmSync(ws.runs, { recursive: true, force: true });
    assert.deepEqual(hashTree(ws.parent), before, 'every source byte-identical');
  });

  test('a non-compiling patch is refused by the compile check and the model asked again, naming the error', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    await withModel({ replies: [reply('single-syntax-error'), reply('single-search-replace')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model);
      assertRepaired(res, ws, { ...SINGLE, files: { 'stats.py': expected('single', 'stats.py') }, diff: [PLAIN_FIX_DIFF, FIX_LINES], resume: 'checkpoint' });
      assert.match(res.stderr, /axolotl: repair proposed \(attempt 2 of 3, test-model\):/);
      assert.doesNotMatch(res.stderr, /if not values\n/, 'the broken patch was never shown as a proposal');
      assert.equal(model.chatRequests.length, 2);
      const second = promptOf(model.chatRequests[1]);
      assert.ok(second.includes('the change was refused before it was applied'), second);
      assert.ok(second.includes('stats.py does not compile'), second);
      assert.match(second, /SyntaxError: expected ':'/);
      assert.ok(second.includes('+    if not values\n'), 'the refused diff is shown');
    });
  });
});

describe('axolotl run --yes: patches that reach outside the project', () => {
  test('a diff of ../outside.py is refused, the file untouched, and the next reply repairs the program', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    const outside = path.join(ws.parent, 'outside.py');
    const outsideHash = sha256(outside);
    await withModel({ replies: [reply('escape-dotdot'), reply('single-diff-fenced')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model);
      assertRepaired(res, ws, { ...SINGLE, files: { 'stats.py': expected('single', 'stats.py') }, diff: [PLAIN_FIX_DIFF, FIX_LINES], resume: 'checkpoint' });
      assert.equal(model.chatRequests.length, 2);
      const second = promptOf(model.chatRequests[1]);
      assert.ok(second.includes('the reply names the path "../outside.py", which uses ".."'), second);
      assert.match(res.stderr, /axolotl: repair 1 attempt 1 failed \(parse\): the reply names the path "\.\.\/outside\.py", which uses "\.\."/, show(res));
      assert.doesNotMatch(res.stderr, /^(---|\+\+\+) .*outside\.py/m, 'never proposed to the user');
    });
    assert.equal(sha256(outside), outsideHash, 'outside.py untouched');
  });

  test('a model that keeps escaping (/etc/passwd, ../outside.py): the run ends with the exception, nothing changed anywhere', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    const passwd = fs.readFileSync('/etc/passwd');
    const firstLine = passwd.toString('utf8').split('\n')[0];
    // a diff that applies to /etc/passwd as it is here, so only the path check can stop it
    const passwdReply = `The crash needs a service account; add one.\n\n\`\`\`diff\n--- /etc/passwd\n+++ /etc/passwd\n@@ -1,1 +1,2 @@\n ${firstLine}\n+axolotl-test:x:0:0::/root:/bin/sh\n\`\`\`\n`;
    const before = hashTree(ws.parent);
    try {
      await withModel({ replies: [passwdReply, reply('escape-dotdot')] }, async (model) => {
        const res = await runRepair(ws, SINGLE.script, model, ['--max-repairs', '2']);
        const plain = plainPython(ws, SINGLE.script);
        assert.equal(res.status, plain.status, show(res));
        assert.notEqual(res.status, 0);
        assert.equal(res.stdout, plain.stdout);
        assert.ok(res.stderr.includes(pythonTraceback(plain.stderr)), show(res));
        assert.match(res.stderr, /axolotl: no repair: The model did not produce a usable repair in 2 attempts\. Last problem: the reply names the path "\.\.\/outside\.py", which uses "\.\."/, show(res));
        assert.doesNotMatch(res.stderr, /repair proposed|accepted|restored checkpoint/);
        assert.equal(model.chatRequests.length, 2);
        const second = promptOf(model.chatRequests[1]);
        assert.ok(second.includes('the change was refused before it was applied'), second);
        assert.match(second, /\/etc\/passwd: outside the project folder /, second);
        assert.ok(!fs.existsSync(path.join(runDirOf(ws), 'repairs')), 'nothing was written');
      });
    } finally {
      if (!fs.readFileSync('/etc/passwd').equals(passwd)) {
        fs.writeFileSync('/etc/passwd', passwd); // put it back before failing
        assert.fail('/etc/passwd was changed by the repair');
      }
    }
    fs.rmSync(ws.runs, { recursive: true, force: true });
    assert.deepEqual(hashTree(ws.parent), before, 'the project and outside.py byte-identical');
  });
});

describe('axolotl run --yes: resuming in place, and undo', () => {
  test('checkpoints taken while the crash report is being built: resuming from one still runs the fixed code', { timeout: TEST_TIMEOUT_MS }, async () => {
    // `store` has a one-second __repr__, so several checkpoints fall between the exception and the
    // report reaching the engine; the last of them is the one restored.
    const ws = workspace('slowrepr');
    await withModel({ replies: [reply('single-search-replace')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model);
      assertRepaired(res, ws, { ...SINGLE, files: { 'stats.py': expected('slowrepr', 'stats.py') }, diff: [PLAIN_FIX_DIFF, FIX_LINES], resume: 'checkpoint' });
      assert.doesNotMatch(res.stderr, /the repair did not hold/, show(res));
      assert.equal(model.chatRequests.length, 1, 'the repair is not reported as failed and asked for again');
      assert.match(promptOf(model.chatRequests[0]), /- `store`: Store = Store\(items=10\)\n/);
      // the restored checkpoint really was one taken while the crash was being reported
      const log = fs.readFileSync(path.join(runDirOf(ws), 'engine.log'), 'utf8');
      assert.match(log, /reported a crash of generation 0 \(restored while handling it\): swapping in generation 1\n/, log);
    });
  });

  test('--resume in-place: the paused process retries the crashed frame with the new code', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    await withModel({ replies: [reply('single-search-replace')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model, ['--resume', 'in-place']);
      assertRepaired(res, ws, { ...SINGLE, files: { 'stats.py': expected('single', 'stats.py') }, diff: [PLAIN_FIX_DIFF, FIX_LINES], resume: 'in-place' });
      assert.equal(count(res.stderr, 'loaded item 7\n'), 1, 'in place: no work is redone');
    });
  });

  test('a crash before the first checkpoint resumes in place by itself', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('single');
    await withModel({ replies: [reply('single-diff-fenced')] }, async (model) => {
      const res = await runRepair(ws, SINGLE.script, model, ['--interval', '60']);
      assertRepaired(res, ws, { ...SINGLE, files: { 'stats.py': expected('single', 'stats.py') }, diff: [PLAIN_FIX_DIFF, FIX_LINES], resume: 'in-place' });
      const kept = fs.readdirSync(path.join(runDirOf(ws), 'checkpoints'));
      assert.ok(kept.length <= 1, `at most the crash checkpoint was taken: ${kept.join(', ')}`);
    });
  });

  test('checkpoints taken before the agent started are not used: a crash right after a slow start resumes in place', { timeout: TEST_TIMEOUT_MS }, async () => {
    // sitecustomize sleeps a second before the agent runs; the program crashes as soon as it starts
    const ws = workspace('early');
    await withModel({ replies: [reply('early-search-replace')] }, async (model) => {
      const res = await runRepair(ws, 'quick.py', model, [], { PYTHONPATH: path.join(FIXTURES, 'slow-startup') });
      assertRepaired(res, ws, {
        script: 'quick.py', prologue: 'prologue: quick job starting\n', files: { 'quick.py': expected('early', 'quick.py') },
        // In place, or from a checkpoint taken after the agent started and before the crash (rewind
        // points are that fresh): never one taken before, whose copy would die of the restore's SIGUSR1.
        diff: ['--- a/quick.py\n+++ b/quick.py\n', FIX_LINES], resume: 'either',
      });
    });
  });

  test('axolotl undo <run-dir> puts back the original bytes of every file a repaired run changed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const ws = workspace('multi');
    const original = hashTree(ws.root);
    await withModel({ replies: [reply('multi-diff')] }, async (model) => {
      const res = await runRepair(ws, MULTI.script, model);
      assertRepaired(res, ws, {
        ...MULTI, files: { 'statlib.py': expected('multi', 'statlib.py'), 'report.py': expected('multi', 'report.py') }, diff: MULTI_DIFF, resume: 'checkpoint',
      });
    });
    assert.notDeepEqual(hashTree(ws.root), original);
    const runDir = runDirOf(ws);
    const undo = await axolotl(['undo', runDir], ws.parent);
    assert.equal(undo.status, 0, show(undo));
    assert.match(undo.stderr, /^axolotl: undid repair 1: restored (statlib\.py, report\.py|report\.py, statlib\.py)\n$/);
    assert.deepEqual(hashTree(ws.root), original, 'the original bytes are back');
    const again = await axolotl(['undo', runDir], ws.parent);
    assert.notEqual(again.status, 0, 'nothing left to undo');
  });
});
