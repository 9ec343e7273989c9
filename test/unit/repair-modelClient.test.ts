// The model client against the real local OpenAI-compatible test server.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ModelClient, ModelError, RepairCancelledError, retryAfterMs } from '../../adapter/engine/repair/modelClient';
import type { ModelConfig, ModelProgress } from '../../adapter/engine/repair/types';
import { ModelServer, type ModelServerOptions } from '../../dev/modelServer';

const KEY = 'sk-test-SECRET-0123456789abcdefghij';
const MESSAGES = [
  { role: 'system' as const, content: 'You repair programs.' },
  { role: 'user' as const, content: 'It crashed.' },
];

let server: ModelServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(opts: ModelServerOptions): Promise<ModelServer> {
  server = await ModelServer.start(opts);
  return server;
}

function config(baseUrl: string, over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    model: 'test-model',
    baseUrl,
    apiKey: KEY,
    apiKeySource: '$TEST_KEY',
    local: true,
    timeoutMs: 3000,
    maxRepairs: 3,
    tokenBudget: 16000,
    sources: { model: 'test', baseUrl: 'test', apiKey: 'test', timeoutMs: 'test', maxRepairs: 'test', tokenBudget: 'test' },
    ...over,
  };
}

async function expectModelError(p: Promise<unknown>, kind: string, pattern?: RegExp): Promise<ModelError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    return true;
  });
  assert.ok(caught instanceof ModelError, `expected ModelError, got ${(caught as Error)?.name}: ${(caught as Error)?.message}`);
  const err = caught as ModelError;
  assert.equal(err.kind, kind, err.message);
  if (pattern) assert.match(err.message, pattern);
  assert.ok(!err.message.includes(KEY) && !(err.hint ?? '').includes(KEY), 'the API key leaked into an error');
  return err;
}

test('streams a reply, reports progress, sends the key and the messages', async () => {
  const text = 'The key is missing. '.repeat(20);
  const s = await start({ replies: [{ text, chunks: 10 }], apiKey: KEY });
  const events: ModelProgress[] = [];
  const reply = await new ModelClient(config(s.url)).complete(MESSAGES, { onProgress: (e) => events.push(e) });
  assert.equal(reply.text, text);
  assert.equal(reply.streamed, true);
  assert.equal(reply.finishReason, 'stop');
  const req = s.chatRequests[0];
  assert.equal(req.body.stream, true);
  assert.deepEqual(req.body.messages, MESSAGES);
  assert.equal(req.body.model, 'test-model');
  const receiving = events.filter((e): e is Extract<ModelProgress, { type: 'receiving' }> => e.type === 'receiving');
  assert.equal(receiving.length, 10);
  assert.equal(receiving[receiving.length - 1].chars, text.length);
  assert.equal(receiving[receiving.length - 1].tokens, Math.ceil(text.length / 4));
  assert.ok(receiving.every((e, i) => i === 0 || e.chars > receiving[i - 1].chars));
});

test('non-streaming mode', async () => {
  const s = await start({ replies: ['whole reply'] });
  const reply = await new ModelClient(config(s.url), { stream: false }).complete(MESSAGES);
  assert.equal(reply.text, 'whole reply');
  assert.equal(reply.streamed, false);
  assert.notEqual(s.chatRequests[0].body.stream, true);
});

test('falls back to non-streaming when the server rejects stream, and remembers it', async () => {
  // each request takes one scripted reply: the refused streaming request takes the first
  const s = await start({ replies: [{ fault: 'reject-stream', text: 'unused' }, { fault: 'reject-stream', text: 'first' }, { fault: 'reject-stream', text: 'second' }] });
  const events: ModelProgress[] = [];
  const client = new ModelClient(config(s.url));
  const r1 = await client.complete(MESSAGES, { onProgress: (e) => events.push(e) });
  assert.equal(r1.text, 'first');
  assert.ok(events.some((e) => e.type === 'stream-unsupported'));
  assert.deepEqual(s.chatRequests.map((r) => r.body.stream === true), [true, false]);
  const r2 = await client.complete(MESSAGES);
  assert.equal(r2.text, 'second');
  assert.equal(s.chatRequests[2].body.stream === true, false, 'second call should not try streaming again');
});

test('a server that ignores stream and answers with JSON is understood', async () => {
  const s = await start({ replies: [{ fault: 'ignore-stream', text: 'plain json' }] });
  const reply = await new ModelClient(config(s.url)).complete(MESSAGES);
  assert.equal(reply.text, 'plain json');
  assert.equal(s.chatRequests.length, 1);
});

test('429 then success honours Retry-After (seconds) over the shorter backoff', async () => {
  const s = await start({ replies: [{ fault: 'status', status: 429, retryAfter: 1 }, 'ok after rate limit'] });
  const events: ModelProgress[] = [];
  const t0 = Date.now();
  const reply = await new ModelClient(config(s.url), { baseDelayMs: 10 }).complete(MESSAGES, { onProgress: (e) => events.push(e) });
  const elapsed = Date.now() - t0;
  assert.equal(reply.text, 'ok after rate limit');
  assert.equal(reply.requests, 2);
  assert.ok(elapsed >= 950, `waited only ${elapsed} ms`);
  const retry = events.find((e) => e.type === 'retry');
  assert.ok(retry && retry.type === 'retry' && retry.delayMs === 1000 && /429/.test(retry.reason));
});

test('Retry-After longer than Axolotl is willing to wait fails at once', async () => {
  const s = await start({ replies: [{ fault: 'status', status: 429, retryAfter: 3600 }, 'never'] });
  const t0 = Date.now();
  await expectModelError(new ModelClient(config(s.url), { maxDelayMs: 5000 }).complete(MESSAGES), 'rate-limit', /asks to wait 3600 s/);
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(s.chatRequests.length, 1);
});

test('500s are retried with exponential backoff, then succeed', async () => {
  const s = await start({ replies: [{ fault: 'status', status: 500 }, { fault: 'status', status: 503 }, 'finally'] });
  const t0 = Date.now();
  const reply = await new ModelClient(config(s.url), { baseDelayMs: 100 }).complete(MESSAGES);
  assert.equal(reply.text, 'finally');
  assert.equal(s.chatRequests.length, 3);
  assert.ok(Date.now() - t0 >= 300, 'expected 100 + 200 ms of backoff');
});

test('retries are bounded: 4 server errors with 3 retries fail with a clear error', async () => {
  const s = await start({ replies: Array(5).fill({ fault: 'status', status: 500, message: 'model crashed' }) });
  await expectModelError(new ModelClient(config(s.url), { baseDelayMs: 5, retries: 3 }).complete(MESSAGES), 'server', /model crashed.*after 4 requests/);
  assert.equal(s.chatRequests.length, 4);
});

test('a hanging server times out (no retry) with advice', async () => {
  const s = await start({ replies: [{ fault: 'hang' }, 'not reached'] });
  const t0 = Date.now();
  const err = await expectModelError(new ModelClient(config(s.url, { timeoutMs: 300 }), { baseDelayMs: 5 }).complete(MESSAGES), 'timeout', /sent nothing for/);
  assert.match(err.hint ?? '', /timeoutMs/);
  assert.ok(Date.now() - t0 < 2000);
  assert.equal(s.chatRequests.length, 1);
});

test('the timeout is about silence: a slow but steady stream completes', async () => {
  const s = await start({ replies: [{ text: 'x'.repeat(100), chunks: 10, chunkDelayMs: 80 }] });
  const reply = await new ModelClient(config(s.url, { timeoutMs: 400 })).complete(MESSAGES);
  assert.equal(reply.text.length, 100);
});

test('a connection closed mid-stream is a clear error (and is retried)', async () => {
  const s = await start({ replies: [{ fault: 'close-mid-stream', text: 'partial reply text here', afterChunks: 2 }] });
  await expectModelError(new ModelClient(config(s.url), { retries: 0 }).complete(MESSAGES), 'stream-closed', /closed the connection in the middle of the reply/);

  s.push({ fault: 'close-mid-stream', text: 'abc', afterChunks: 1, clean: true });
  await expectModelError(new ModelClient(config(s.url), { retries: 0 }).complete(MESSAGES), 'stream-closed', /without a finish reason/);

  s.push({ fault: 'close-mid-stream', text: 'partial', afterChunks: 1 }, 'complete reply');
  const reply = await new ModelClient(config(s.url), { retries: 1, baseDelayMs: 5 }).complete(MESSAGES);
  assert.equal(reply.text, 'complete reply');
});

test('cancellation via AbortSignal, during a request and during a backoff wait', async () => {
  const s = await start({ replies: [{ fault: 'hang' }, { fault: 'status', status: 500 }, 'x'] });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const t0 = Date.now();
  await assert.rejects(new ModelClient(config(s.url)).complete(MESSAGES, { signal: ac.signal }), RepairCancelledError);
  assert.ok(Date.now() - t0 < 1000);

  const ac2 = new AbortController();
  const p = new ModelClient(config(s.url), { baseDelayMs: 10_000 }).complete(MESSAGES, {
    signal: ac2.signal,
    onProgress: (e) => {
      if (e.type === 'retry') setTimeout(() => ac2.abort(), 20);
    },
  });
  const t1 = Date.now();
  await assert.rejects(p, RepairCancelledError);
  assert.ok(Date.now() - t1 < 2000, 'cancel during the backoff wait took too long');
});

test('a refused key is not retried and the key never appears in the message', async () => {
  const s = await start({ replies: [{ fault: 'status', status: 401, message: `Incorrect API key provided: ${KEY}` }] });
  const err = await expectModelError(new ModelClient(config(s.url)).complete(MESSAGES), 'auth', /refused the API key from \$TEST_KEY/);
  assert.match(err.message, /\[REDACTED\]/);
  assert.equal(s.chatRequests.length, 1);
});

test('unknown model: not-found with a hint', async () => {
  const s = await start({ replies: [{ fault: 'status', status: 404, message: 'model "nope" not found, try pulling it first' }] });
  const err = await expectModelError(new ModelClient(config(s.url, { model: 'nope' })).complete(MESSAGES), 'not-found', /model "nope"/);
  assert.match(err.hint ?? '', /ollama pull nope/);
});

test('nothing listening: connection error after bounded retries', async () => {
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const events: ModelProgress[] = [];
  await expectModelError(
    new ModelClient(config(`http://127.0.0.1:${port}/v1`), { retries: 2, baseDelayMs: 5 }).complete(MESSAGES, { onProgress: (e) => events.push(e) }),
    'connection',
    /Could not reach the model server http:\/\/127\.0\.0\.1:\d+\/v1.*ECONNREFUSED/,
  );
  assert.equal(events.filter((e) => e.type === 'retry').length, 2);
});

test('retryAfterMs parses seconds, ms and HTTP dates', () => {
  const h = (o: Record<string, string>) => new Headers(o);
  assert.equal(retryAfterMs(h({ 'retry-after': '2' })), 2000);
  assert.equal(retryAfterMs(h({ 'retry-after-ms': '150', 'retry-after': '9' })), 150);
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(retryAfterMs(h({ 'retry-after': 'Wed, 01 Jan 2025 00:00:05 GMT' }), now), 5000);
  assert.equal(retryAfterMs(h({})), undefined);
});
