// Diff rendering, and the stored model replies the demo script serves (they must stay valid repairs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileDiff, colorizeDiff, diffStat, repairDiff } from '../../adapter/engine/repair/diffView';
import { parseReply } from '../../adapter/engine/repair/replyParser';
import { resolveEdits } from '../../adapter/engine/repair/edits';
import { FIXTURES } from '../support/repairFixtures';

test('fileDiff is a plain unified diff with a/ b/ names; created files come from /dev/null', () => {
  assert.equal(fileDiff('x.py', 'a\nb\n', 'a\nc\n'), '--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n');
  assert.match(fileDiff('new.py', '', 'x = 1\n', true), /^--- \/dev\/null\n\+\+\+ b\/new\.py\n@@ -0,0 \+1,1 @@\n\+x = 1\n$/);
});

test('colors only when asked', () => {
  const d = fileDiff('x.py', 'a\nb\n', 'a\nc\n');
  assert.equal(colorizeDiff(d, false), d);
  const c = colorizeDiff(d, true);
  assert.match(c, /\x1b\[31m-b\x1b\[0m/);
  assert.match(c, /\x1b\[32m\+c\x1b\[0m/);
  assert.match(c, /\x1b\[36m@@ -1,2 \+1,2 @@\x1b\[0m/);
  assert.equal(c.replace(/\x1b\[\d+m/g, ''), d);
});

test('diffStat and repairDiff over several files', () => {
  const files = [
    { path: '/p/a.py', relPath: 'a.py', original: 'x\n', proposed: 'y\n', diff: fileDiff('a.py', 'x\n', 'y\n') },
    { path: '/p/b.py', relPath: 'b.py', original: 'x\n', proposed: 'x\nz\n', diff: fileDiff('b.py', 'x\n', 'x\nz\n') },
  ];
  assert.equal(diffStat({ files }), '2 files changed, +2 -1');
  assert.equal(repairDiff({ files }), files[0].diff + files[1].diff);
});

test('the stored demo replies are valid repairs of the fixture project', async () => {
  const root = path.join(FIXTURES, 'project');
  const files = ['counter.py', 'lib/util.py', 'train.py'].map((rel) => ({
    path: path.join(root, rel),
    relPath: rel,
    text: fs.readFileSync(path.join(root, rel), 'utf8'),
    shownWhole: true,
  }));
  const expect: Record<string, string> = {
    'counter-search-replace.md': 'counter.py',
    'counter-full-file.md': 'counter.py',
    'train-diff.md': 'lib/util.py',
  };
  for (const [name, rel] of Object.entries(expect)) {
    const reply = fs.readFileSync(path.join(FIXTURES, 'replies', name), 'utf8');
    const target = files.filter((f) => f.relPath === rel || name.startsWith('train'));
    const parsed = parseReply(reply);
    const res = await resolveEdits(parsed, { root, files: target });
    assert.deepEqual(res.files.map((f) => f.relPath), [rel], name);
    assert.ok(parsed.explanation.length > 40, `${name}: explanation missing`);
  }
  const script = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'demo-script.json'), 'utf8'));
  assert.equal(script.rules.length, 2);
});
