// The scripted model server itself: its HTTP surface and CLI mode (used by the demo and e2e tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { ModelServer } from '../../dev/modelServer';

test('GET /v1/models, SSE format, recorded requests, exhausted script', async () => {
  const s = await ModelServer.start({ replies: ['hello there'], models: ['m1', 'm2'] });
  try {
    const models = await (await fetch(`${s.url}/models`)).json();
    assert.deepEqual(models.data.map((m: { id: string }) => m.id), ['m1', 'm2']);

    const res = await fetch(`${s.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm1', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const body = await res.text();
    const events = body.split('\n\n').filter(Boolean);
    assert.equal(events[events.length - 1], 'data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')));
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 'hello there');
    assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, 'stop');
    assert.equal(s.chatRequests[0].body.messages[0].content, 'hi');

    const exhausted = await fetch(`${s.url}/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [] }) });
    assert.equal(exhausted.status, 500);
    assert.match((await exhausted.json()).error.message, /no scripted reply left/);
  } finally {
    await s.close();
  }
});

test('CLI mode prints its URL first and serves a JSON script with rules', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'axolotl-ms-'));
  const script = path.join(dir, 'script.json');
  await fs.writeFile(script, JSON.stringify({ replies: ['first reply'], rules: [{ when: 'KeyError', reply: 'rule reply' }], fallback: 'fallback reply' }));
  const child = spawn(process.execPath, [path.join(__dirname, '..', '..', 'dev', 'modelServer.js'), '--port', '0', '--script', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      readline.createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const ask = async (content: string) => {
      const r = await fetch(`${url}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content }] }) });
      return (await r.json()).choices[0].message.content as string;
    };
    assert.equal(await ask('anything'), 'first reply');
    assert.equal(await ask('a KeyError happened'), 'rule reply');
    assert.equal(await ask('something else'), 'fallback reply');
  } finally {
    child.kill('SIGTERM');
    await fs.rm(dir, { recursive: true, force: true });
  }
});
