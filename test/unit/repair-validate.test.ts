// Validation of proposed repairs: location (root, .., symlinks, new folders), size, empty, py_compile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateRepair, type ProposedFile } from '../../adapter/engine/repair/validate';
import { AxolotlError } from '../../adapter/engine/types';
import { tempProject, rmrf } from '../support/repairFixtures';

const PYTHON = process.env.AXOLOTL_TEST_PYTHON ?? 'python3';
let root: string;
let outside: string;
let counter: string;

before(async () => {
  root = await tempProject();
  outside = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'axolotl-outside-')));
  counter = await fs.readFile(path.join(root, 'counter.py'), 'utf8');
});
after(async () => {
  await rmrf(root);
  await rmrf(outside);
});

function file(rel: string, proposed: string, original = ''): ProposedFile {
  return { path: path.join(root, rel), relPath: rel, original, proposed };
}

const fixed = () => counter.replace('self.counts[key] += 1', 'self.counts[key] = self.counts.get(key, 0) + 1');

test('a correct repair passes', async () => {
  const r = await validateRepair([file('counter.py', fixed(), counter)], { root, python: PYTHON });
  assert.deepEqual(r, { ok: true, problems: [] });
});

test('a repair that does not compile fails with the compiler message, naming the file as the model knows it', async () => {
  const broken = counter.replace('self.counts[key] += 1', 'self.counts[key] = self.counts.get(key, 0 + 1');
  const r = await validateRepair([file('counter.py', broken, counter)], { root, python: PYTHON });
  assert.equal(r.ok, false);
  assert.equal(r.problems.length, 1);
  assert.match(r.problems[0], /^counter\.py does not compile:/);
  assert.match(r.problems[0], /SyntaxError/);
  assert.match(r.problems[0], /line 9/);
  assert.doesNotMatch(r.problems[0], /axolotl-check-/, 'temporary path leaked into the message');
});

test('an indentation error in a nested file is reported with its relative path', async () => {
  const util = await fs.readFile(path.join(root, 'lib/util.py'), 'utf8');
  const r = await validateRepair([file('lib/util.py', util.replace('    return sum(values) / len(values)', '    total = sum(values)\n  return total / len(values)'), util)], { root, python: PYTHON });
  assert.equal(r.ok, false);
  assert.match(r.problems[0], /lib\/util\.py does not compile/);
  assert.match(r.problems[0], /IndentationError|unindent/);
});

test('the repair is refused when it changes nothing', async () => {
  for (const files of [[], [file('counter.py', counter, counter)]]) {
    const r = await validateRepair(files, { root, python: PYTHON });
    assert.equal(r.ok, false);
    assert.match(r.problems[0], /changes nothing/);
  }
});

test('absolute paths outside the root and .. paths are refused', async () => {
  const abs: ProposedFile = { path: path.join(outside, 'evil.py'), relPath: path.join(outside, 'evil.py'), original: '', proposed: 'x = 1\n' };
  let r = await validateRepair([abs], { root, python: PYTHON });
  assert.equal(r.ok, false);
  assert.match(r.problems.join('\n'), /outside the project folder/);

  const dotdot: ProposedFile = { path: path.join(root, '..', 'evil.py'), relPath: '../evil.py', original: '', proposed: 'x = 1\n' };
  r = await validateRepair([dotdot], { root, python: PYTHON });
  assert.equal(r.ok, false);
  assert.match(r.problems.join('\n'), /outside the project folder/);

  // ".." that stays inside the root is still refused: paths must be plain
  const inner: ProposedFile = { path: `${root}/lib/../counter.py`, relPath: 'lib/../counter.py', original: counter, proposed: fixed() };
  r = await validateRepair([inner], { root, python: PYTHON });
  assert.equal(r.ok, false);
  assert.match(r.problems.join('\n'), /"\.\." are not allowed/);
});

test('a symlink inside the root that points outside is refused', async () => {
  await fs.writeFile(path.join(outside, 'target.py'), 'x = 1\n');
  await fs.symlink(path.join(outside, 'target.py'), path.join(root, 'link.py'));
  await fs.symlink(outside, path.join(root, 'linkdir'));
  let r = await validateRepair([file('link.py', 'x = 2\n', 'x = 1\n')], { root, python: PYTHON });
  assert.equal(r.ok, false);
  assert.match(r.problems[0], /link\.py: is a link to .*outside the project folder/);
  r = await validateRepair([file('linkdir/new.py', 'x = 2\n')], { root, python: PYTHON });
  assert.equal(r.ok, false);
  assert.match(r.problems[0], /outside the project folder/);
});

test('creating a file is allowed in an existing folder, refused in a missing one', async () => {
  let r = await validateRepair([{ ...file('lib/extra.py', 'def f():\n    return 1\n'), created: true }], { root, python: PYTHON });
  assert.deepEqual(r.problems, []);
  r = await validateRepair([{ ...file('nope/extra.py', 'x = 1\n'), created: true }], { root, python: PYTHON });
  assert.equal(r.ok, false);
  assert.match(r.problems[0], /folder nope does not exist/);
});

test('size limits: bytes per file and number of files', async () => {
  let r = await validateRepair([file('counter.py', counter + '#'.repeat(2000), counter)], { root, python: PYTHON, limits: { maxFileBytes: 1000 } });
  assert.equal(r.ok, false);
  assert.match(r.problems[0], /at most 1000 are allowed/);
  const many = Array.from({ length: 4 }, (_, i) => file(`f${i}.py`, `x = ${i}\n`));
  r = await validateRepair(many, { root, python: PYTHON, limits: { maxFiles: 3 } });
  assert.equal(r.ok, false);
  assert.match(r.problems[0], /changes 4 files; at most 3/);
});

test('a missing interpreter is an environment error, not a model problem', async () => {
  await assert.rejects(validateRepair([file('counter.py', fixed(), counter)], { root, python: '/nonexistent/python9' }), (e: unknown) => {
    assert.ok(e instanceof AxolotlError);
    assert.match((e as Error).message, /python9/);
    return true;
  });
});
