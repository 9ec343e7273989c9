// proposeRepair end to end against the local model server: feedback between attempts, logs,
// progress, limits, cancellation; then apply and undo the result.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { proposeRepair, type RepairContext } from '../../adapter/engine/repair/repairLoop';
import { applyRepair, undoLastRepair } from '../../adapter/engine/repair/applyRepair';
import { RepairCancelledError } from '../../adapter/engine/repair/modelClient';
import type { ModelConfig, RepairProgress } from '../../adapter/engine/repair/types';
import { ModelServer, type ScriptedReply } from '../../dev/modelServer';
import { tempProject, rmrf, counterCrash } from '../support/repairFixtures';

const PYTHON = process.env.AXOLOTL_TEST_PYTHON ?? 'python3';
const KEY = 'sk-loop-SECRET-abcdefghijklmnopqrstuvwxyz';

let root: string;
let server: ModelServer;

beforeEach(async () => {
  root = await tempProject();
});
afterEach(async () => {
  await server?.close();
  await rmrf(root);
});

function modelConfig(url: string, maxRepairs = 3): ModelConfig {
  return {
    model: 'test-model',
    baseUrl: url,
    apiKey: KEY,
    apiKeySource: '$TEST',
    local: true,
    timeoutMs: 5000,
    maxRepairs,
    tokenBudget: 16000,
    sources: { model: 't', baseUrl: 't', apiKey: 't', timeoutMs: 't', maxRepairs: 't', tokenBudget: 't' },
  };
}

async function context(replies: ScriptedReply[], maxRepairs = 3): Promise<RepairContext> {
  server = await ModelServer.start({ replies, apiKey: KEY });
  return { root, python: PYTHON, logDir: path.join(root, '.axolotl', 'run'), repairNumber: 1, model: modelConfig(server.url, maxRepairs) };
}

const GOOD = `The counter reads a key before it was ever set; start missing keys at zero with dict.get.

counter.py
<<<<<<< SEARCH
        self.counts[key] += 1
=======
        self.counts[key] = self.counts.get(key, 0) + 1
>>>>>>> REPLACE
`;
const NOT_COMPILING = `Use get.

counter.py
<<<<<<< SEARCH
        self.counts[key] += 1
=======
        self.counts[key] = self.counts.get(key, 0 + 1
>>>>>>> REPLACE
`;

test('feeds a parse failure and a compile failure back, then returns the valid repair', async () => {
  const ctx = await context([`I think the dictionary is missing a key. My key is ${KEY}.`, NOT_COMPILING, GOOD]);
  const crash = counterCrash(root);
  crash.outputTail = `starting with OPENAI_API_KEY=${KEY}\n`;
  const events: RepairProgress[] = [];
  const result = await proposeRepair(crash, ctx, { onProgress: (e) => events.push(e) });

  assert.ok(result.ok, !result.ok ? result.reason : '');
  const { repair } = result;
  assert.equal(repair.attempt, 3);
  assert.equal(repair.id, 'repair-1-attempt-3');
  assert.equal(repair.format, 'search-replace');
  assert.match(repair.explanation, /start missing keys at zero/);
  assert.equal(repair.files.length, 1);
  assert.equal(repair.files[0].relPath, 'counter.py');
  assert.equal(repair.files[0].path, path.join(root, 'counter.py'));
  assert.match(repair.files[0].diff, /^\+        self\.counts\[key\] = self\.counts\.get\(key, 0\) \+ 1$/m);
  assert.equal(result.attempts.length, 3);
  assert.deepEqual(result.attempts.map((a) => a.failure?.kind), ['parse', 'validation', undefined]);

  // what the model was told on the retries
  const prompts = server.chatRequests.map((r) => r.body.messages[1].content as string);
  assert.equal(prompts.length, 3);
  assert.doesNotMatch(prompts[0], /Earlier attempts/);
  assert.match(prompts[1], /### Attempt 1[\s\S]*contained no usable repair/);
  assert.match(prompts[2], /### Attempt 2\nIt changed:[\s\S]*self\.counts\.get\(key, 0 \+ 1[\s\S]*refused before it was applied[\s\S]*does not compile[\s\S]*SyntaxError/);
  for (const p of prompts) assert.ok(!p.includes(KEY), 'the key reached the prompt');

  // logs for the user, key-free
  const logs = (await fs.readdir(ctx.logDir)).sort();
  assert.deepEqual(logs, [1, 2, 3].flatMap((k) => [`repair-1-attempt-${k}-prompt.md`, `repair-1-attempt-${k}-reply.md`]).sort());
  for (const l of logs) {
    const text = await fs.readFile(path.join(ctx.logDir, l), 'utf8');
    assert.ok(!text.includes(KEY), `${l} contains the API key`);
  }
  const reply1 = await fs.readFile(path.join(ctx.logDir, 'repair-1-attempt-1-reply.md'), 'utf8');
  assert.match(reply1, /I think the dictionary is missing a key/);
  assert.match(reply1, /parse failure/);
  const prompt3 = await fs.readFile(path.join(ctx.logDir, 'repair-1-attempt-3-prompt.md'), 'utf8');
  assert.match(prompt3, /^# system/m);
  assert.match(prompt3, /^# user/m);

  const kinds = events.map((e) => e.type);
  for (const k of ['attempt', 'prompt', 'request', 'receiving', 'reply', 'attempt-failed', 'validating', 'proposed'] as const) assert.ok(kinds.includes(k), `no ${k} event`);
  assert.equal(kinds.filter((k) => k === 'attempt-failed').length, 2);
  assert.equal(kinds[kinds.length - 1], 'proposed');

  // accept, then undo
  const original = await fs.readFile(path.join(root, 'counter.py'), 'utf8');
  await applyRepair(repair, path.join(root, '.axolotl', 'run'));
  assert.equal(await fs.readFile(path.join(root, 'counter.py'), 'utf8'), repair.files[0].proposed);
  await undoLastRepair(path.join(root, '.axolotl', 'run'));
  assert.equal(await fs.readFile(path.join(root, 'counter.py'), 'utf8'), original);
});

test('gives up after maxRepairs attempts with the last problem', async () => {
  const ctx = await context(['no idea', 'still no idea', 'unused'], 2);
  const result = await proposeRepair(counterCrash(root), ctx);
  assert.equal(result.ok, false);
  assert.ok(!result.ok);
  assert.match(result.reason, /did not produce a usable repair in 2 attempts.*no usable repair/);
  assert.equal(result.attempts.length, 2);
  assert.equal(server.chatRequests.length, 2);
});

test('previous attempts continue the numbering and use up the budget', async () => {
  const ctx = await context([GOOD]);
  const previous = [
    { attempt: 1, reply: 'x', failure: { kind: 'parse' as const, message: 'no usable repair' } },
    { attempt: 2, reply: 'y', failure: { kind: 'rejected' as const, message: 'The user says: do not use get()' } },
  ];
  const result = await proposeRepair(counterCrash(root), ctx, { previousAttempts: previous });
  assert.ok(result.ok);
  assert.equal(result.repair.attempt, 3);
  assert.match(server.chatRequests[0].body.messages[1].content, /the user rejected it: The user says: do not use get\(\)/);

  const none = await proposeRepair(counterCrash(root), ctx, { previousAttempts: [...previous, { attempt: 3, reply: 'z', failure: { kind: 'parse' as const, message: 'no' } }] });
  assert.equal(none.ok, false);
  assert.ok(!none.ok && /No repair attempts left/.test(none.reason));
});

test('cancellation aborts the model call', async () => {
  const ctx = await context([{ fault: 'hang' }]);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 150);
  await assert.rejects(proposeRepair(counterCrash(root), ctx, { signal: ac.signal }), RepairCancelledError);
});

test('a model server error is thrown, not fed back as an attempt', async () => {
  const ctx = await context([{ fault: 'status', status: 401, message: 'bad key' }]);
  await assert.rejects(proposeRepair(counterCrash(root), ctx), /refused the API key/);
});
