// Writing accepted repairs atomically with backups, and undoing them.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import fsPromisesModule from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { applyRepair, undoLastRepair, listRepairs, sha256 } from '../../adapter/engine/repair/applyRepair';
import { fileDiff } from '../../adapter/engine/repair/diffView';
import type { Repair, RepairFile } from '../../adapter/engine/repair/types';
import { AxolotlError } from '../../adapter/engine/types';
import { tempProject, rmrf } from '../support/repairFixtures';

let root: string;
let runDir: string;

beforeEach(async () => {
  root = await tempProject();
  runDir = path.join(root, '.axolotl', 'run-1');
});
afterEach(async () => {
  await rmrf(root);
});

async function read(rel: string): Promise<string> {
  return fs.readFile(path.join(root, rel), 'utf8');
}

function change(rel: string, original: string, proposed: string, created = false): RepairFile {
  return { path: path.join(root, rel), relPath: rel, original, proposed, diff: fileDiff(rel, original, proposed, created), created };
}

function repairOf(files: RepairFile[], id = 'repair-1-attempt-1'): Repair {
  return { id, repairNumber: 1, attempt: 1, explanation: 'fix', files, format: 'full-file', reply: '', model: 'm', generation: 0 };
}

async function expectAxolotlError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AxolotlError, String(e));
    assert.match((e as Error).message, pattern);
    return true;
  });
}

async function leftoverTemps(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((n) => n.includes('.axolotl-') && n.endsWith('.tmp'));
}

test('apply writes every file, keeps modes, and backs up the originals with a manifest', async () => {
  const counter = await read('counter.py');
  const util = await read('lib/util.py');
  await fs.chmod(path.join(root, 'counter.py'), 0o755);
  const newCounter = counter.replace('+= 1', '= self.counts.get(key, 0) + 1');
  const newUtil = util.replace('return sum', 'return 0 if not values else sum');
  const applied = await applyRepair(repairOf([change('counter.py', counter, newCounter), change('lib/util.py', util, newUtil)]), runDir);

  assert.equal(await read('counter.py'), newCounter);
  assert.equal(await read('lib/util.py'), newUtil);
  assert.equal((await fs.stat(path.join(root, 'counter.py'))).mode & 0o777, 0o755);
  assert.equal(applied.number, 1);
  assert.equal(applied.dir, path.join(runDir, 'repairs', '1'));
  assert.deepEqual(applied.files, { [path.join(root, 'counter.py')]: newCounter, [path.join(root, 'lib/util.py')]: newUtil });

  const manifest = JSON.parse(await fs.readFile(path.join(applied.dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.status, 'applied');
  assert.equal(manifest.repairId, 'repair-1-attempt-1');
  assert.ok(!Number.isNaN(Date.parse(manifest.appliedAt)));
  assert.equal(manifest.files[0].sha256Before, sha256(counter));
  assert.equal(manifest.files[0].sha256After, sha256(newCounter));
  assert.equal(manifest.files[0].mode, 0o755);
  assert.equal(await fs.readFile(path.join(applied.dir, manifest.files[0].backup), 'utf8'), counter);
  assert.equal(await fs.readFile(path.join(applied.dir, manifest.files[1].backup), 'utf8'), util);
  assert.match(await fs.readFile(path.join(applied.dir, 'repair.diff'), 'utf8'), /^--- a\/counter\.py/m);
  assert.deepEqual(await leftoverTemps(root), []);
  assert.deepEqual(await leftoverTemps(path.join(root, 'lib')), []);
});

test('apply refuses when a file changed since the repair was proposed, unless forced', async () => {
  const counter = await read('counter.py');
  const repair = repairOf([change('counter.py', counter, counter + '# fixed\n')]);
  await fs.appendFile(path.join(root, 'counter.py'), '# edited by the user\n');
  await expectAxolotlError(applyRepair(repair, runDir), /counter\.py changed on disk after the repair was proposed/);
  assert.match(await read('counter.py'), /edited by the user/);
  assert.deepEqual(await listRepairs(runDir), []);
  await applyRepair(repair, runDir, { force: true });
  assert.equal(await read('counter.py'), counter + '# fixed\n');
});

test('undo restores the originals of the last repair, one repair at a time', async () => {
  const v0 = await read('counter.py');
  const v1 = v0 + '# one\n';
  const v2 = v1 + '# two\n';
  await applyRepair(repairOf([change('counter.py', v0, v1)], 'r1'), runDir);
  await applyRepair(repairOf([change('counter.py', v1, v2)], 'r2'), runDir);
  assert.equal(await read('counter.py'), v2);

  let undo = await undoLastRepair(runDir);
  assert.equal(undo.number, 2);
  assert.deepEqual(undo.restored, ['counter.py']);
  assert.deepEqual(undo.files, { [path.join(root, 'counter.py')]: v1 });
  assert.equal(await read('counter.py'), v1);
  undo = await undoLastRepair(runDir);
  assert.equal(undo.number, 1);
  assert.equal(await read('counter.py'), v0);
  const statuses = (await listRepairs(runDir)).map((m) => [m.number, m.status]);
  assert.deepEqual(statuses, [[1, 'undone'], [2, 'undone']]);
  await expectAxolotlError(undoLastRepair(runDir), /no applied repair to undo/);
});

test('undo refuses when the file changed after the repair, and says so; force restores anyway', async () => {
  const v0 = await read('counter.py');
  await applyRepair(repairOf([change('counter.py', v0, v0 + '# fix\n')]), runDir);
  await fs.appendFile(path.join(root, 'counter.py'), '# later hand edit\n');
  await expectAxolotlError(undoLastRepair(runDir), /counter\.py changed after the repair was applied.*discard/);
  assert.match(await read('counter.py'), /later hand edit/);
  await undoLastRepair(runDir, { force: true });
  assert.equal(await read('counter.py'), v0);
});

test('a created file is deleted again by undo', async () => {
  const repair = repairOf([change('lib/helpers.py', '', 'def helper():\n    return 1\n', true)]);
  const applied = await applyRepair(repair, runDir);
  assert.equal(await read('lib/helpers.py'), 'def helper():\n    return 1\n');
  assert.equal(applied.manifest.files[0].created, true);
  const undo = await undoLastRepair(runDir);
  assert.deepEqual(undo.deleted, ['lib/helpers.py']);
  await assert.rejects(fs.access(path.join(root, 'lib/helpers.py')));
});

test('writing through a symlink replaces the target and keeps the link', async () => {
  const v0 = await read('lib/util.py');
  await fs.symlink(path.join(root, 'lib', 'util.py'), path.join(root, 'util_link.py'));
  await applyRepair(repairOf([change('util_link.py', v0, v0 + '# via link\n')]), runDir);
  assert.ok((await fs.lstat(path.join(root, 'util_link.py'))).isSymbolicLink());
  assert.equal(await read('lib/util.py'), v0 + '# via link\n');
});

test('if a rename fails halfway, files already written are put back and nothing is left behind', async () => {
  const counter = await read('counter.py');
  const util = await read('lib/util.py');
  const mod = fsPromisesModule as unknown as { rename: typeof fs.rename };
  const realRename = mod.rename;
  let calls = 0;
  mod.rename = (async (from: string, to: string) => {
    // the manifest is renamed into place too; fail on the second source file
    if (String(to).endsWith('util.py') && ++calls === 1) throw Object.assign(new Error('EIO: simulated failure'), { code: 'EIO' });
    return realRename(from, to);
  }) as typeof fs.rename;
  try {
    await expectAxolotlError(
      applyRepair(repairOf([change('counter.py', counter, counter + '# a\n'), change('lib/util.py', util, util + '# b\n')]), runDir),
      /Could not write .*util\.py.*put back/,
    );
  } finally {
    mod.rename = realRename;
  }
  assert.equal(await read('counter.py'), counter);
  assert.equal(await read('lib/util.py'), util);
  assert.deepEqual(await leftoverTemps(root), []);
  assert.deepEqual(await leftoverTemps(path.join(root, 'lib')), []);
  assert.deepEqual(await listRepairs(runDir), []);
});

test('run folders are independent', async () => {
  const other = await fs.mkdtemp(path.join(os.tmpdir(), 'axolotl-run-'));
  try {
    await expectAxolotlError(undoLastRepair(other), /no applied repair/);
  } finally {
    await rmrf(other);
  }
});
