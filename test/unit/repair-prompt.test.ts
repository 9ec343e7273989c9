// Prompt building: content, redaction of secret locals, budget trimming, earlier attempts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildPrompt, enclosingFunction, estimateTokens, SYSTEM_PROMPT } from '../../adapter/engine/repair/prompt';
import { fileDiff } from '../../adapter/engine/repair/diffView';
import type { Repair } from '../../adapter/engine/repair/types';
import { FIXTURES, counterCrash, crashReport, value } from '../support/repairFixtures';

const ROOT = path.join(FIXTURES, 'project');
const COUNTER_PATH = path.join(ROOT, 'counter.py');
const COUNTER = fs.readFileSync(COUNTER_PATH, 'utf8');

function userText(p: ReturnType<typeof buildPrompt>): string {
  return p.messages.find((m) => m.role === 'user')!.content;
}

test('the prompt has the exception, traceback, whole small source, locals and output', () => {
  const crash = counterCrash(ROOT);
  crash.outputTail = '1\n1\nprocessing a...\n';
  const p = buildPrompt({ crash, root: ROOT, sources: new Map([[COUNTER_PATH, COUNTER]]), tokenBudget: 16000 });
  const u = userText(p);
  assert.equal(p.messages[0].role, 'system');
  assert.equal(p.messages[0].content, SYSTEM_PROMPT);
  assert.match(SYSTEM_PROMPT, /SEARCH/);
  assert.match(SYSTEM_PROMPT, /existing behaviour/);
  assert.match(SYSTEM_PROMPT, /one paragraph/i);
  assert.match(SYSTEM_PROMPT, /not be done again|re-runs/);
  assert.match(u, /`KeyError: 'a'` \(builtins\.KeyError\)/);
  assert.ok(u.includes(crash.traceback), 'traceback missing');
  assert.ok(u.includes(COUNTER.trimEnd()), 'whole source missing');
  assert.match(u, /### counter\.py \(complete file, 21 lines\)/);
  assert.match(u, /line 9 in `Counter\.step`/);
  assert.match(u, /### `Counter\.step` \(counter\.py, line 9\)\n- `self`: Counter = <Counter object at 0x7f>\n- `key`: str = 'a'/);
  assert.match(u, /processing a\.\.\./);
  assert.deepEqual(p.trimmed, []);
  assert.doesNotMatch(u, /shortened/);
  assert.deepEqual(p.files.map((f) => [f.relPath, f.shownWhole]), [['counter.py', true]]);
  assert.equal(p.estimatedTokens, estimateTokens(SYSTEM_PROMPT + u));
});

test('secret-looking locals are redacted, including inside reprs and output', () => {
  const file = COUNTER_PATH;
  const crash = crashReport(
    [
      {
        file,
        line: 9,
        fn: 'step',
        locals: {
          password: value("'hunter2'"),
          api_key: value("'sk-live-abcdefghijklmnopqrstuvwxyz'"),
          config: value("{'host': 'db', 'db_password': 'letmein', 'token': 'tok123'}", 'dict'),
          agent_said_secret: value('<redacted>', 'str', { redacted: true }),
          headers: value("{'Authorization': 'Bearer abcdefghijklmnopqrstuvwxyz'}", 'dict'),
          key: value("'a'"),
        },
      },
    ],
    { type: 'KeyError', message: "'a'" },
    { outputTail: 'connecting with OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwx\nDB_PASSWORD=letmein\n' },
  );
  const u = userText(buildPrompt({ crash, root: ROOT, sources: new Map([[file, COUNTER]]), tokenBudget: 16000 }));
  for (const s of ['hunter2', 'sk-live-abcdefghijklmnop', 'letmein', 'tok123', 'abcdefghijklmnopqrstuvwxyz', 'sk-abcdefghijklmnopqrstuvwx']) {
    assert.ok(!u.includes(s), `secret ${s} leaked into the prompt`);
  }
  assert.match(u, /`password`: str = \[REDACTED\]/);
  assert.match(u, /'host': 'db'/);
  assert.match(u, /`key`: str = 'a'/, 'a plain `key` variable must stay visible: it is what a KeyError is about');
});

test('a large file is shown as numbered excerpts of the functions on the stack', () => {
  const lines: string[] = ['import math', ''];
  for (let i = 0; i < 300; i++) lines.push(`def f${i}(x):`, `    y = x * ${i}`, `    return math.sqrt(y)`, '', '');
  const text = lines.join('\n') + '\n';
  const file = path.join(ROOT, 'big.py');
  const crashLine = lines.indexOf('def f150(x):') + 3; // "return math.sqrt(y)" in f150
  const crash = crashReport([{ file, line: crashLine, fn: 'f150' }], { type: 'ValueError', message: 'math domain error' });
  const p = buildPrompt({ crash, root: ROOT, sources: new Map([[file, text]]), tokenBudget: 16000 });
  const u = userText(p);
  assert.equal(p.files[0].shownWhole, false);
  assert.match(u, /### big\.py \(excerpts;/);
  assert.match(u, new RegExp(`>\\s*${crashLine} \\|     return math\\.sqrt\\(y\\)`));
  assert.match(u, new RegExp(`\\s${crashLine - 2} \\| def f150\\(x\\):`));
  assert.match(u, /\s1 \| import math/, 'the imports at the top are shown');
  assert.doesNotMatch(u, /def f10\(x\)/, 'far-away functions are not shown');
  assert.match(u, /complete files only for files shown complete/);
});

test('the budget is respected by shortening the largest parts first, and the prompt says so', () => {
  const crash = counterCrash(ROOT);
  crash.traceback = 'Traceback (most recent call last):\n' + Array.from({ length: 3000 }, (_, i) => `  File "lib.py", line ${i}, in recurse\n    return recurse(n - 1)`).join('\n') + '\nRecursionError: maximum recursion depth exceeded';
  crash.outputTail = 'progress line\n'.repeat(400);
  const budget = 3000;
  const p = buildPrompt({ crash, root: ROOT, sources: new Map([[COUNTER_PATH, COUNTER]]), tokenBudget: budget });
  const u = userText(p);
  assert.ok(p.estimatedTokens <= budget, `estimated ${p.estimatedTokens} tokens > budget ${budget}`);
  assert.ok(p.trimmed.some((t) => /traceback/.test(t)), `trimmed: ${p.trimmed.join(', ')}`);
  assert.match(u, /parts of this report were shortened: .*traceback/);
  assert.match(u, /lines left out/);
  assert.match(u, /RecursionError: maximum recursion depth exceeded/, 'the end of the traceback is kept');
  // the small source file was not the largest part, so it is still whole
  assert.ok(u.includes(COUNTER.trimEnd()));
});

test('a tiny budget still yields the crash site, shortened as far as possible', () => {
  const lines = ['import os', ''];
  for (let i = 0; i < 40; i++) lines.push(`def f${i}(d):`, `    v = d["k${i}"]`, `    return v + ${i}`, '');
  const text = lines.join('\n') + '\n';
  const file = path.join(ROOT, 'mid.py');
  const crashLine = lines.indexOf('    v = d["k20"]') + 1;
  const crash = crashReport([{ file, line: crashLine, fn: 'f20', locals: { d: value('{}', 'dict') } }], { type: 'KeyError', message: "'k20'" });
  const roomy = buildPrompt({ crash, root: ROOT, sources: new Map([[file, text]]), tokenBudget: 16000 });
  assert.equal(roomy.files[0].shownWhole, true);
  const p = buildPrompt({ crash, root: ROOT, sources: new Map([[file, text]]), tokenBudget: 700 });
  const u = userText(p);
  assert.ok(p.trimmed.some((t) => /source of mid\.py/.test(t)), p.trimmed.join(', '));
  assert.equal(p.files[0].shownWhole, false);
  assert.match(u, new RegExp(`>\\s*${crashLine} \\|     v = d\\["k20"\\]`));
  assert.doesNotMatch(u, /def f5\(d\)/);
  assert.ok(p.estimatedTokens < roomy.estimatedTokens);
});

test('earlier attempts: their diff and how they failed', () => {
  const crash = counterCrash(ROOT);
  const proposed = COUNTER.replace('self.counts[key] += 1', 'self.counts[key] = self.count.get(key, 0) + 1');
  const repair: Repair = {
    id: 'repair-1-attempt-1',
    repairNumber: 1,
    attempt: 1,
    explanation: 'x',
    files: [{ path: COUNTER_PATH, relPath: 'counter.py', original: COUNTER, proposed, diff: fileDiff('counter.py', COUNTER, proposed) }],
    format: 'search-replace',
    reply: '',
    model: 'm',
    generation: 0,
  };
  const p = buildPrompt({
    crash,
    root: ROOT,
    sources: new Map([[COUNTER_PATH, proposed]]),
    tokenBudget: 16000,
    previousAttempts: [
      { attempt: 1, repair, applied: true, failure: { kind: 'crash', message: "Traceback ...\nAttributeError: 'Counter' object has no attribute 'count'" } },
      { attempt: 2, reply: 'I think you should check the key.', failure: { kind: 'parse', message: "the model's reply contained no usable repair: no code" } },
    ],
  });
  const u = userText(p);
  assert.match(u, /## Earlier attempts that did not work/);
  assert.match(u, /### Attempt 1\nIt changed:\n```diff\n--- a\/counter\.py\n\+\+\+ b\/counter\.py/);
  assert.match(u, /\+        self\.counts\[key\] = self\.count\.get\(key, 0\) \+ 1/);
  assert.match(u, /already contains it\), and the program crashed again/);
  assert.match(u, /AttributeError: 'Counter' object has no attribute 'count'/);
  assert.match(u, /### Attempt 2\nIts reply began:/);
  assert.match(u, /could not use the reply: the model's reply contained no usable repair/);
});

test('several files: the crash site comes first, paths are relative to the root', () => {
  const util = path.join(ROOT, 'lib', 'util.py');
  const train = path.join(ROOT, 'train.py');
  const crash = crashReport(
    [
      { file: train, line: 9, fn: '<module>' },
      { file: train, line: 6, fn: 'run' },
      { file: util, line: 6, fn: 'describe' },
      { file: util, line: 2, fn: 'average' },
    ],
    { type: 'ZeroDivisionError', message: 'division by zero' },
  );
  const p = buildPrompt({ crash, root: ROOT, sources: new Map([[train, fs.readFileSync(train, 'utf8')], [util, fs.readFileSync(util, 'utf8')]]), tokenBudget: 16000 });
  assert.deepEqual(p.files.map((f) => f.relPath), ['lib/util.py', 'train.py']);
  const u = userText(p);
  assert.ok(u.indexOf('### lib/util.py') < u.indexOf('### train.py'));
  assert.match(u, /line 6 in `describe`, line 2 in `average`/);
});

test('enclosingFunction finds decorated methods and multi-line signatures by indentation', () => {
  const src = [
    'class A:', //1
    '    @property', //2
    '    def value(', //3
    '        self,', //4
    '    ):', //5
    '        x = 1', //6
    '', //7
    '        return x / 0', //8
    '', //9
    '    def other(self):', //10
    '        pass', //11
  ];
  assert.deepEqual(enclosingFunction(src, 8, 'value'), [2, 8]);
  assert.equal(enclosingFunction(src, 1, '<module>'), undefined);
});
