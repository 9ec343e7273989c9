// The model endpoint misbehaving (hanging, closing mid-stream, 500, 429) and model replies that cannot
// be used (empty, 10 MB, binary, outside the project, a file not on the stack, broken syntax, refusals
// in a loop), through `axolotl run --yes` against a scripted local server. A run either gets a usable
// repair and finishes, or says why there is none and ends with the program's own traceback, with
// every source byte-identical and nothing left running.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ModelServer, type ScriptedReply } from '../../dev/modelServer';
import { requireCriu, tempDir } from '../support/engineHelpers';
import { LiveCli, RELIABILITY, assertNoProcesses, cleanEnv, readTree, workspace, type CliResult, assertNothingLeftRunning } from '../support/reliabilityHelpers';

const FIX = fs.readFileSync(path.join(RELIABILITY, 'fix.md'), 'utf8');
const FIXED_TOTAL = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (i === 5 ? 0 : i * 10 + 1.5)).reduce((a, b) => a + b, 0);
const TRACEBACK = /Traceback \(most recent call last\):\n[^]*ZeroDivisionError: division by zero\n/;

interface Outcome {
  res: CliResult;
  server: ModelServer;
  ws: string;
  before: Record<string, string>;
  ms: number;
}

/** `axolotl run --yes job.py` against a model server scripted with `replies` (then `fallback`). */
async function run(opts: { replies?: ScriptedReply[]; fallback?: ScriptedReply; config?: object; files?: string[]; extra?: string[] }): Promise<Outcome> {
  await requireCriu();
  const ws = workspace('job.py', ...(opts.files ?? []));
  const before = readTree(ws);
  const server = await ModelServer.start({ replies: opts.replies, fallback: opts.fallback });
  const env: NodeJS.ProcessEnv = {};
  if (opts.config) {
    const file = path.join(tempDir('axl-cfg-'), 'config.json');
    fs.writeFileSync(file, JSON.stringify(opts.config));
    env.AXOLOTL_CONFIG = file;
  }
  const started = Date.now();
  try {
    const cli = new LiveCli([
      'run', '--yes', '--interval', '0.3', '--working-dir', tempDir('axl-runs-'), '--base-url', server.url, '--model', 'test-model',
      ...(opts.extra ?? []), 'job.py', '8', '0.15',
    ], { cwd: ws, env: cleanEnv(env) });
    const res = await cli.result(180_000);
    await assertNoProcesses([ws]);
    return { res, server, ws, before, ms: Date.now() - started };
  } finally {
    await server.close();
  }
}

function assertRepaired(o: Outcome): void {
  assert.equal(o.res.status, 0, o.res.stderr);
  assert.match(o.res.stdout, new RegExp(`item 5: 0\\.0\\n[^]*done: ${FIXED_TOTAL}\\n$`));
  assert.match(fs.readFileSync(path.join(o.ws, 'job.py'), 'utf8'), /if not values:/);
}

function assertNotRepaired(o: Outcome, reason: RegExp): void {
  assert.equal(o.res.status, 1, o.res.stderr);
  assert.match(o.res.stderr, reason);
  assert.match(o.res.stderr, TRACEBACK, 'the program ends with its own traceback');
  assert.doesNotMatch(o.res.stderr, /internal error|accepted:/);
  assert.deepEqual(readTree(o.ws), o.before, 'every source byte-identical');
}

describe('model endpoint faults', () => {
  test('a hanging endpoint: gives up after the configured time, the program ends with its traceback', async () => {
    const o = await run({ fallback: { fault: 'hang' }, config: { timeoutMs: 2000 } });
    assertNotRepaired(o, /axolotl: no repair: The model server http:\/\/127\.0\.0\.1:\d+\/v1 sent nothing for 2 s; gave up waiting\. A slow or loading local model may need more time/);
    assert.equal(o.server.chatRequests.length, 1, 'a timeout is not retried');
  });

  test('a stream closed mid-reply is retried, and the retry repairs', async () => {
    const o = await run({ replies: [{ fault: 'close-mid-stream', text: FIX, afterChunks: 4 }], fallback: FIX });
    assertRepaired(o);
    assert.equal(o.server.chatRequests.length, 2);
  });

  test('a stream closed mid-reply every time: a clear reason after the retries', async () => {
    const o = await run({ fallback: { fault: 'close-mid-stream', text: FIX, afterChunks: 4 } });
    assertNotRepaired(o, /axolotl: no repair: The model server .* closed the connection in the middle of the reply \(after \d+ characters.*\(after 4 requests\)\. The server may have crashed/);
  });

  test('500 twice, then an answer: repaired after backing off', async () => {
    const o = await run({ replies: [{ fault: 'status', status: 500 }, { fault: 'status', status: 500 }], fallback: FIX });
    assertRepaired(o);
    assert.equal(o.server.chatRequests.length, 3);
  });

  test('500 every time: a clear reason after the retries', async () => {
    const o = await run({ fallback: { fault: 'status', status: 500, message: 'model crashed' } });
    assertNotRepaired(o, /axolotl: no repair: The model server .* failed \(500 model crashed\) \(after 4 requests\)\./);
  });

  test('429 with Retry-After 1: waits and repairs', async () => {
    const o = await run({ replies: [{ fault: 'status', status: 429, retryAfter: 1 }], fallback: FIX });
    assertRepaired(o);
    const [a, b] = o.server.chatRequests;
    assert.ok(b.time - a.time >= 900, `waited ${b.time - a.time} ms`);
  });

  test('429 asking to wait an hour: fails at once with the reason', async () => {
    const o = await run({ fallback: { fault: 'status', status: 429, retryAfter: 3600 } });
    assertNotRepaired(o, /axolotl: no repair: The model server .* is rate-limiting requests \(429.*The server asks to wait 3600 s before retrying, longer than Axolotl waits/);
    assert.ok(o.ms < 30_000, `took ${o.ms} ms`);
  });
});

describe('model replies that cannot be used', () => {
  const NOT_USABLE = /axolotl: no repair: The model did not produce a usable repair in 3 attempts\. Last problem: /;

  test('an empty reply', async () => {
    const o = await run({ fallback: '' });
    assertNotRepaired(o, NOT_USABLE);
    assert.equal(o.server.chatRequests.length, 3);
  });

  test('a 10 MB reply: refused without trouble', async () => {
    const huge = 'Here is the fix.\n```python\n' + 'x = 1\n'.repeat(10 * 1024 * 1024 / 6) + '```\n';
    const o = await run({ fallback: { text: huge, chunks: 200 } });
    assertNotRepaired(o, /Last problem: .*characters long, far more than a fix needs/);
  });

  test('a binary reply', async () => {
    let bytes = '';
    for (let i = 0; i < 20000; i++) bytes += String.fromCharCode((i * 7919) % 256);
    const o = await run({ fallback: bytes });
    assertNotRepaired(o, NOT_USABLE);
  });

  test('a patch to a path outside the project', async () => {
    const escape = 'Fix it in the shared code.\n\n```diff\n--- a/../outside.py\n+++ b/../outside.py\n@@ -1,1 +1,2 @@\n # shared\n+FIXED = True\n```\n';
    const o = await run({ fallback: escape });
    assertNotRepaired(o, /Last problem: the reply names the path "\.\.\/outside\.py", which uses "\.\."/);
    const abs = 'Fix.\n\n/etc/hostname\n```\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n';
    const o2 = await run({ fallback: abs });
    assertNotRepaired(o2, NOT_USABLE);
  });

  test('a patch to a file that does not exist', async () => {
    const reply = 'Fix.\n\nother.py\n```python\n<<<<<<< SEARCH\ndef mean(values):\n=======\ndef mean(values=()):\n>>>>>>> REPLACE\n```\n';
    const o = await run({ fallback: reply });
    assertNotRepaired(o, /Last problem: .*other\.py.*does not exist/);
  });

  test('a patch to a project file not on the stack: applied, the crash returns, the next attempt repairs', async () => {
    const reply = 'The helper is wrong.\n\nhelpers.py\n```python\n<<<<<<< SEARCH\nSCALE = 1\n=======\nSCALE = 2\n>>>>>>> REPLACE\n```\n';
    const o = await run({ replies: [reply], fallback: FIX, files: ['helpers.py'] });
    assertRepaired(o);
    assert.match(o.res.stderr, /the repair did not hold: ZeroDivisionError: division by zero/);
    assert.equal(fs.readFileSync(path.join(o.ws, 'helpers.py'), 'utf8'), o.before['helpers.py'].replace('SCALE = 1', 'SCALE = 2'));
  });

  test('a patch that breaks the syntax: refused by the compile check', async () => {
    const reply = 'Fix.\n\njob.py\n```python\n<<<<<<< SEARCH\ndef mean(values):\n=======\ndef mean(values:\n>>>>>>> REPLACE\n```\n';
    const o = await run({ fallback: reply });
    assertNotRepaired(o, /Last problem: job\.py does not compile/);
  });

  test('refusals in a loop: three attempts, then the reason, never a fourth request', async () => {
    const o = await run({ fallback: "I'm sorry, but I can't help with that request." });
    assertNotRepaired(o, NOT_USABLE);
    assert.equal(o.server.chatRequests.length, 3);
  });
});

// Whatever a test above left running in one of its workspaces fails the file.
after(() => assertNothingLeftRunning());
