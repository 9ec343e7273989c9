// Reply parsing and edit resolution with replies shaped like real model output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseReply, pathFromLabelLine, ReplyError, NO_USABLE_REPAIR } from '../../adapter/engine/repair/replyParser';
import { repairDiffText } from '../../adapter/engine/repair/diffEdits';
import { resolveEdits, type SourceFile } from '../../adapter/engine/repair/edits';
import { FIXTURES } from '../support/repairFixtures';

const ROOT = '/proj';
const COUNTER = fs.readFileSync(path.join(FIXTURES, 'project', 'counter.py'), 'utf8');
const UTIL = fs.readFileSync(path.join(FIXTURES, 'project', 'lib', 'util.py'), 'utf8');
const TRAIN = fs.readFileSync(path.join(FIXTURES, 'project', 'train.py'), 'utf8');
const FIXED_COUNTER = COUNTER.replace('        self.counts[key] += 1', '        self.counts[key] = self.counts.get(key, 0) + 1');
const FIXED_UTIL = UTIL.replace('    return sum(values) / len(values)', '    if not values:\n        return 0.0\n    return sum(values) / len(values)');

function src(rel: string, text: string, shownWhole = true): SourceFile {
  return { path: `${ROOT}/${rel}`, relPath: rel, text, shownWhole };
}
const ONE = [src('counter.py', COUNTER)];
const TWO = [src('lib/util.py', UTIL), src('train.py', TRAIN)];

/** parse + resolve; files that are not in `files` do not exist */
async function apply(reply: string, files: SourceFile[] = ONE) {
  const parsed = parseReply(reply);
  const res = await resolveEdits(parsed, { root: ROOT, files, loadFile: async () => undefined });
  return { parsed, res, byRel: new Map(res.files.map((f) => [f.relPath, f.proposed])) };
}

async function rejects(reply: string, pattern: RegExp, files: SourceFile[] = ONE) {
  await assert.rejects(apply(reply, files), (e: unknown) => {
    assert.ok(e instanceof ReplyError, `expected ReplyError, got ${e}`);
    assert.match((e as Error).message, pattern);
    return true;
  });
}

test('full file in a python fence with prose around it', async () => {
  const reply = `The crash happens because \`self.counts[key]\` is read before the key exists. I use \`dict.get\` with a default of 0 so the first occurrence starts the count.

\`\`\`python
${FIXED_COUNTER}\`\`\`

This keeps the rest of the program unchanged.`;
  const { parsed, res, byRel } = await apply(reply);
  assert.equal(res.format, 'full-file');
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER);
  assert.match(parsed.explanation, /read before the key exists/);
  assert.match(parsed.explanation, /rest of the program unchanged/);
  assert.doesNotMatch(parsed.explanation, /class Counter/);
});

test('partial snippet before the full file is ignored; snippet alone is refused', async () => {
  const snippet = '```python\nself.counts[key] = self.counts.get(key, 0) + 1\n```';
  const { byRel } = await apply(`Change the line to:\n\n${snippet}\n\nHere is the whole file:\n\n\`\`\`python\n${FIXED_COUNTER}\`\`\`\n`);
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER);
  await rejects(`Change the line to:\n\n${snippet}\n`, /only part of the file/);
});

test('CRLF reply against a CRLF file keeps CRLF line endings', async () => {
  const crlfOriginal = COUNTER.replace(/\n/g, '\r\n');
  const reply = `Fix:\r\n\r\n\`\`\`python\r\n${FIXED_COUNTER.replace(/\n/g, '\r\n')}\`\`\`\r\n`;
  const { byRel } = await apply(reply, [src('counter.py', crlfOriginal)]);
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER.replace(/\n/g, '\r\n'));
});

test('SEARCH/REPLACE written with spaces is re-indented with tabs for a tab-indented file', async () => {
  const tabbed = 'def total(items):\n\tresult = 0\n\tfor x in items:\n\t\tresult += x["n"]\n\treturn result\n';
  const reply = `Use .get so missing counts are zero.

total.py
<<<<<<< SEARCH
    for x in items:
        result += x["n"]
=======
    for x in items:
        result += x.get("n", 0)
>>>>>>> REPLACE
`;
  const { byRel } = await apply(reply, [src('total.py', tabbed)]);
  assert.equal(byRel.get('total.py'), 'def total(items):\n\tresult = 0\n\tfor x in items:\n\t\tresult += x.get("n", 0)\n\treturn result\n');
});

test('path labels: info string, info with colon, bold line, "File:" line', async () => {
  const cases = [
    `\`\`\`python lib/util.py\n${FIXED_UTIL}\`\`\``,
    `\`\`\`python:lib/util.py\n${FIXED_UTIL}\`\`\``,
    `**lib/util.py**\n\n\`\`\`python\n${FIXED_UTIL}\`\`\``,
    `File: lib/util.py\n\`\`\`python\n${FIXED_UTIL}\`\`\``,
    `lib/util.py:\n\`\`\`py\n${FIXED_UTIL}\`\`\``,
    `### \`util.py\`\n\`\`\`python\n${FIXED_UTIL}\`\`\``,
  ];
  for (const c of cases) {
    const { byRel, parsed } = await apply(`The mean of an empty batch divides by zero; return 0.0 for it.\n\n${c}\n`, TWO);
    assert.deepEqual([...byRel.keys()], ['lib/util.py'], c);
    assert.equal(byRel.get('lib/util.py'), FIXED_UTIL, c);
    assert.doesNotMatch(parsed.explanation, /util\.py\*\*|^File:/m);
  }
});

test('two labelled complete files in one reply', async () => {
  const fixedTrain = TRAIN.replace('run([[1, 2, 3], []])', 'run([[1, 2, 3], [4]])');
  const reply = `Both files change.\n\n\`\`\`python lib/util.py\n${FIXED_UTIL}\`\`\`\n\nand\n\n\`\`\`python train.py\n${fixedTrain}\`\`\`\n`;
  const { byRel } = await apply(reply, TWO);
  assert.equal(byRel.get('lib/util.py'), FIXED_UTIL);
  assert.equal(byRel.get('train.py'), fixedTrain);
});

test('unlabelled complete file with several files on the stack is matched by content', async () => {
  const { byRel } = await apply(`Guard the empty list.\n\n\`\`\`python\n${FIXED_UTIL}\`\`\`\n`, TWO);
  assert.deepEqual([...byRel.keys()], ['lib/util.py']);
});

test('bare unified diff in prose, with a/ b/ prefixes', async () => {
  const reply = `The count must start at zero.

--- a/counter.py
+++ b/counter.py
@@ -8,4 +8,4 @@ class Counter:
     def step(self, key):
-        self.counts[key] += 1
+        self.counts[key] = self.counts.get(key, 0) + 1
         return self.counts[key]
 
That's all.`;
  const { byRel, res, parsed } = await apply(reply);
  assert.equal(res.format, 'diff');
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER);
  assert.match(parsed.explanation, /start at zero/);
  assert.match(parsed.explanation, /That's all/);
});

test('diff with wrong hunk counts, wrong line numbers and blank context lines without their space', async () => {
  const reply = `\`\`\`diff
--- counter.py
+++ counter.py
@@ -3,2 +3,9 @@

 class Counter:
     def __init__(self):
         self.counts = {}

     def step(self, key):
-        self.counts[key] += 1
+        self.counts[key] = self.counts.get(key, 0) + 1
         return self.counts[key]
\`\`\``;
  const { byRel } = await apply(reply);
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER);
});

test('repairDiffText recomputes counts and numbers bare @@ headers', () => {
  const r = repairDiffText('--- a/x.py\n+++ b/x.py\n@@ -1,99 +1,1 @@\n a\n-b\n+c\n+d\n@@\n x\n-y\n');
  assert.match(r.text, /^@@ -1,2 \+1,3 @@$/m);
  assert.match(r.text, /^@@ -1,2 \+1,1 @@$/m);
  assert.deepEqual(r.unanchored, [false, true]);
});

test('diff hunks without headers or line numbers for the only file', async () => {
  const reply = '```diff\n@@\n     def step(self, key):\n-        self.counts[key] += 1\n+        self.counts[key] = self.counts.get(key, 0) + 1\n```';
  const { byRel } = await apply(reply);
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER);
});

test('number-less hunk that matches two places is refused as ambiguous', async () => {
  const text = 'def a():\n    x = 1\n    return x\n\n\ndef b():\n    x = 1\n    return x\n';
  await rejects('```diff\n@@\n-    x = 1\n+    x = 2\n```', /matches 2 places/, [src('m.py', text)]);
});

test('multi-file git diff', async () => {
  const reply = `Two changes.

\`\`\`diff
diff --git a/lib/util.py b/lib/util.py
index 1111111..2222222 100644
--- a/lib/util.py
+++ b/lib/util.py
@@ -1,2 +1,4 @@
 def average(values):
+    if not values:
+        return 0.0
     return sum(values) / len(values)
diff --git a/train.py b/train.py
--- a/train.py
+++ b/train.py
@@ -8,1 +8,1 @@
-run([[1, 2, 3], []])
+run([[1, 2, 3], [4]])
\`\`\``;
  const { byRel } = await apply(reply, TWO);
  assert.equal(byRel.get('lib/util.py'), FIXED_UTIL);
  assert.equal(byRel.get('train.py'), TRAIN.replace('[]])', '[4]])'));
});

test('diff whose context does not match names the missing line', async () => {
  const reply = '```diff\n--- a/counter.py\n+++ b/counter.py\n@@ -9,1 +9,1 @@\n-        self.count[key] += 1\n+        self.count[key] = 1\n```';
  await rejects(reply, /has no line `self\.count\[key\] \+= 1`/);
});

test('diff deleting a file, or with a .. path, is refused', async () => {
  await rejects('```diff\n--- a/counter.py\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-import json\n```', /may not delete/);
  await rejects('```diff\n--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1,1 +1,1 @@\n-x\n+y\n```', /uses "\.\."/);
});

test('SEARCH/REPLACE: several blocks, path inherited, trailing-whitespace tolerant', async () => {
  const reply = `Initialise counts lazily and print sorted output.

counter.py
\`\`\`python
<<<<<<< SEARCH
        self.counts[key] += 1   
=======
        self.counts[key] = self.counts.get(key, 0) + 1
>>>>>>> REPLACE
\`\`\`

\`\`\`python
<<<<<<< SEARCH
    print(json.dumps(c.counts))
=======
    print(json.dumps(c.counts, sort_keys=True))
>>>>>>> REPLACE
\`\`\`
`;
  const { byRel, res, parsed } = await apply(reply, [src('counter.py', COUNTER), src('other.py', 'x = 1\n')]);
  assert.equal(res.format, 'search-replace');
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER.replace('json.dumps(c.counts)', 'json.dumps(c.counts, sort_keys=True)'));
  assert.match(parsed.explanation, /lazily/);
  assert.doesNotMatch(parsed.explanation, /SEARCH|counter\.py/);
});

test('SEARCH/REPLACE with the wrong indentation is matched and re-indented', async () => {
  const reply = 'counter.py\n<<<<<<< SEARCH\nself.counts[key] += 1\nreturn self.counts[key]\n=======\nself.counts[key] = self.counts.get(key, 0) + 1\nreturn self.counts[key]\n>>>>>>> REPLACE\n';
  const { byRel } = await apply(reply);
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER);
});

test('SEARCH/REPLACE that is ambiguous or does not match is refused with a precise reason', async () => {
  const text = 'def a():\n    x = 1\n    return x\n\n\ndef b():\n    x = 1\n    return x\n';
  await rejects('m.py\n<<<<<<< SEARCH\n    x = 1\n=======\n    x = 2\n>>>>>>> REPLACE', /matches 2 places in m\.py \(lines 2, 7\)/, [src('m.py', text)]);
  await rejects('counter.py\n<<<<<<< SEARCH\n        self.totals[key] += 1\n=======\n        pass\n>>>>>>> REPLACE', /has no line `self\.totals\[key\] \+= 1`/);
  await rejects('counter.py\n<<<<<<< SEARCH\n        self.totals[key] += 1\n>>>>>>> REPLACE', /malformed/);
});

test('SEARCH/REPLACE block without a path when several files are shown is refused', async () => {
  await rejects('<<<<<<< SEARCH\n    return sum(values) / len(values)\n=======\n    return 0\n>>>>>>> REPLACE', /does not say which file/, TWO);
});

test('refusals, empty replies, prose only', async () => {
  await rejects("I'm sorry, but I can't help with that request.", new RegExp(`${NO_USABLE_REPAIR}.*declined`));
  await rejects('', new RegExp(NO_USABLE_REPAIR));
  await rejects('   \n\n ', /empty/);
  await rejects('The bug is that the key is missing. You should initialise it first.', new RegExp(`^${NO_USABLE_REPAIR}`));
  await rejects('Run it like this:\n```bash\npython counter.py\n```\n', new RegExp(NO_USABLE_REPAIR));
});

test('huge replies and binary garbage are refused without hanging', async () => {
  const t0 = Date.now();
  await rejects('x'.repeat(5_000_000), /far more than a fix needs/);
  const garbage = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919) % 256)).toString('latin1');
  await rejects(garbage, /binary data/);
  await rejects('```python\n' + 'a = 1\n'.repeat(100) + '\u0000\u0001\n```', /binary data/);
  assert.ok(Date.now() - t0 < 2000, 'parsing garbage took too long');
});

test('a large but legitimate complete file is handled', async () => {
  const big = Array.from({ length: 3000 }, (_, i) => `def f${i}(x):\n    return x + ${i}\n`).join('\n');
  const fixed = big.replace('return x + 1500\n', 'return x - 1500\n');
  const { byRel } = await apply('Fix f1500.\n```python\n' + fixed + '```\n', [src('big.py', big)]);
  assert.equal(byRel.get('big.py'), fixed);
});

test('complete file with a "# ... rest unchanged" placeholder is refused', async () => {
  const elided = 'import json\n\n\nclass Counter:\n    def __init__(self):\n        self.counts = {}\n\n    def step(self, key):\n        self.counts[key] = self.counts.get(key, 0) + 1\n        return self.counts[key]\n\n\n# ... rest of the code unchanged ...\n';
  await rejects('```python counter.py\n' + elided + '```', /placeholder/);
});

test('reasoning in <think> tags is dropped before parsing', async () => {
  const reply = '<think>\nMaybe I should rewrite everything:\n```python\nprint("no")\n```\n</think>\nUse get().\n\ncounter.py\n<<<<<<< SEARCH\n        self.counts[key] += 1\n=======\n        self.counts[key] = self.counts.get(key, 0) + 1\n>>>>>>> REPLACE\n';
  const { byRel, parsed } = await apply(reply);
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER);
  assert.equal(parsed.explanation, 'Use get().');
});

test('line-number prefixes copied from an excerpt are stripped from a complete file', async () => {
  const numbered = FIXED_COUNTER.trimEnd()
    .split('\n')
    .map((l, i) => `${String(i + 1).padStart(2)} | ${l}`)
    .join('\n');
  const { byRel } = await apply('```python\n' + numbered + '\n```');
  assert.equal(byRel.get('counter.py'), FIXED_COUNTER);
});

test('a reply cut off inside the code block is refused', async () => {
  await rejects('Here:\n```python\n' + FIXED_COUNTER, /cut off/);
});

test('complete file for a file shown only in excerpts is refused', async () => {
  await rejects('```python counter.py\n' + FIXED_COUNTER.split('\n').slice(0, 16).join('\n') + '\n```', /only excerpts|only part/, [src('counter.py', COUNTER, false)]);
});

test('a reply that changes nothing is refused', async () => {
  await rejects('Looks fine to me:\n```python\n' + COUNTER + '```', /exactly as it was/);
});

test('pathFromLabelLine', () => {
  assert.equal(pathFromLabelLine('x.py:'), 'x.py');
  assert.equal(pathFromLabelLine('**src/pkg/x.py**'), 'src/pkg/x.py');
  assert.equal(pathFromLabelLine('File: `a/b.py`'), 'a/b.py');
  assert.equal(pathFromLabelLine('### lib/util.py (fixed)'), 'lib/util.py');
  assert.equal(pathFromLabelLine('Here is the corrected `train.py`:'), 'train.py');
  assert.equal(pathFromLabelLine('The fix uses version 1.2.3 of the API.'), undefined);
  assert.equal(pathFromLabelLine('Here is the fix:'), undefined);
  // a name that starts like a label keeps its start
  assert.equal(pathFromLabelLine('filejob.py'), 'filejob.py');
  assert.equal(pathFromLabelLine('**paths.py**'), 'paths.py');
  assert.equal(pathFromLabelLine('filename_parser.py:'), 'filename_parser.py');
  assert.equal(pathFromLabelLine('Filename = tools/x.py'), 'tools/x.py');
  assert.equal(pathFromLabelLine('Updated file src/y.py'), 'src/y.py');
});
