// A scripted OpenAI-compatible server for the demo, the bench and the tests (node:http only, so it
// bundles to dist/dev/modelServer.js; never shipped in the .vsix).
//   POST /v1/chat/completions  streaming (SSE) and not
//   GET  /v1/models
// Replies come from a queue (consumed in order), then from rules (`when` regex on the last user
// message), then from a handler function. Each reply is text or a fault: an HTTP status (with
// Retry-After), a hang, a connection closed mid-stream, a server that refuses or ignores `stream`.
// Every request body is recorded for assertions.
//
// CLI: node dist/dev/modelServer.js --port 0 --script replies.json [--host 127.0.0.1]
//   prints the base URL (http://127.0.0.1:<port>/v1) as the first line of stdout.
//   The script is a JSON array of replies, or {"replies": [...], "rules": [{"when": "KeyError", "reply": ...}], "fallback": reply}.
import http from 'node:http';
import fs from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';

export type ScriptedReply =
  | string
  | {
      text: string;
      /** stream in this many pieces (default: ~24-char pieces) */
      chunks?: number;
      /** pause between streamed pieces */
      chunkDelayMs?: number;
      /** finish_reason of the last chunk (default 'stop') */
      finishReason?: string;
      /** wait before answering */
      delayMs?: number;
    }
  | { fault: 'status'; status: number; message?: string; retryAfter?: string | number; retryAfterMs?: number }
  /** accept the request and never answer (until the server closes) */
  | { fault: 'hang' }
  /** stream `afterChunks` pieces of `text`, then destroy the socket (abrupt) or end the response cleanly without finishing */
  | { fault: 'close-mid-stream'; text: string; afterChunks: number; clean?: boolean }
  /** 400 "stream is not supported" for streaming requests; streaming-free requests get `text` */
  | { fault: 'reject-stream'; text: string }
  /** answer streaming requests with a plain JSON completion */
  | { fault: 'ignore-stream'; text: string };

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** parsed JSON body (undefined for GET) */
  body: any;
  time: number;
}

export interface ModelServerOptions {
  replies?: ScriptedReply[];
  rules?: Array<{ when: string | RegExp; reply: ScriptedReply }>;
  handler?: (req: RecordedRequest) => ScriptedReply | Promise<ScriptedReply>;
  /** used when nothing else gives a reply; default: a 500 saying the script ran out */
  fallback?: ScriptedReply;
  port?: number;
  host?: string;
  /** if set, requests must carry `Authorization: Bearer <apiKey>` or get 401 */
  apiKey?: string;
  models?: string[];
}

function lastUserMessage(body: any): string {
  const msgs = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i]?.role === 'user') return String(msgs[i].content ?? '');
  return '';
}

function splitText(text: string, chunks?: number): string[] {
  const n = Math.max(1, chunks ?? Math.ceil(text.length / 24));
  const size = Math.max(1, Math.ceil(text.length / n));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length ? out : [''];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ModelServer {
  readonly requests: RecordedRequest[] = [];
  private readonly queue: ScriptedReply[];
  private readonly sockets = new Set<Socket>();
  private server!: http.Server;
  private port = 0;
  private host = '127.0.0.1';

  private constructor(private readonly opts: ModelServerOptions) {
    this.queue = [...(opts.replies ?? [])];
  }

  static async start(opts: ModelServerOptions = {}): Promise<ModelServer> {
    const s = new ModelServer(opts);
    await s.listen();
    return s;
  }

  /** Base URL including /v1, as OPENAI_BASE_URL expects. */
  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}/v1`;
  }

  /** Chat-completion requests only. */
  get chatRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.url.endsWith('/chat/completions'));
  }

  push(...replies: ScriptedReply[]): void {
    this.queue.push(...replies);
  }

  private listen(): Promise<void> {
    this.host = this.opts.host ?? '127.0.0.1';
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(e), type: 'server_error' } }));
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, this.host, () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Stop listening and cut every open connection (hanging requests included). */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async nextReply(rec: RecordedRequest): Promise<ScriptedReply> {
    if (this.queue.length) return this.queue.shift()!;
    const text = lastUserMessage(rec.body);
    for (const r of this.opts.rules ?? []) {
      if ((typeof r.when === 'string' ? new RegExp(r.when) : r.when).test(text)) return r.reply;
    }
    if (this.opts.handler) return this.opts.handler(rec);
    return this.opts.fallback ?? { fault: 'status', status: 500, message: 'the test model server has no scripted reply left' };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return json(res, 400, { error: { message: 'invalid JSON body', type: 'invalid_request_error' } });
    }
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, time: Date.now() };
    this.requests.push(rec);

    if (this.opts.apiKey && req.headers.authorization !== `Bearer ${this.opts.apiKey}`) {
      return json(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && /\/models$/.test(path)) {
      return json(res, 200, { object: 'list', data: (this.opts.models ?? ['test-model']).map((id) => ({ id, object: 'model', created: 0, owned_by: 'axolotl-test' })) });
    }
    if (req.method !== 'POST' || !/\/chat\/completions$/.test(path)) {
      return json(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'invalid_request_error' } });
    }
    const reply = await this.nextReply(rec);
    const streaming = body?.stream === true;
    const model = String(body?.model ?? 'test-model');

    if (typeof reply === 'string') return streaming ? stream(res, model, reply, {}) : complete(res, model, reply, 'stop');
    if ('text' in reply && !('fault' in reply)) {
      if (reply.delayMs) await sleep(reply.delayMs);
      return streaming ? stream(res, model, reply.text, reply) : complete(res, model, reply.text, reply.finishReason ?? 'stop');
    }
    switch (reply.fault) {
      case 'status': {
        const headers: Record<string, string> = {};
        if (reply.retryAfter !== undefined) headers['retry-after'] = String(reply.retryAfter);
        if (reply.retryAfterMs !== undefined) headers['retry-after-ms'] = String(reply.retryAfterMs);
        // the OpenAI SDK retries by itself when told to; this server leaves retry decisions to the client
        headers['x-should-retry'] = 'false';
        return json(res, reply.status, { error: { message: reply.message ?? `scripted status ${reply.status}`, type: 'server_error' } }, headers);
      }
      case 'hang':
        return new Promise<void>((resolve) => res.on('close', resolve));
      case 'close-mid-stream': {
        const pieces = splitText(reply.text);
        if (!streaming) {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
          res.write('{"id":"x","choices":[{"message":{"content":"');
          res.socket?.destroy();
          return;
        }
        sseHead(res);
        for (const p of pieces.slice(0, reply.afterChunks)) sseChunk(res, model, { content: p }, null);
        await sleep(20);
        if (reply.clean) res.end();
        else res.socket?.destroy();
        return;
      }
      case 'reject-stream':
        if (streaming) return json(res, 400, { error: { message: "'stream' is not supported by this server", type: 'invalid_request_error', param: 'stream' } });
        return complete(res, model, reply.text, 'stop');
      case 'ignore-stream':
        return complete(res, model, reply.text, 'stop');
    }
  }
}

function json(res: http.ServerResponse, status: number, data: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(data);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function complete(res: http.ServerResponse, model: string, text: string, finishReason: string): void {
  json(res, 200, {
    id: 'chatcmpl-test',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finishReason }],
    usage: { prompt_tokens: 0, completion_tokens: Math.ceil(text.length / 4), total_tokens: Math.ceil(text.length / 4) },
  });
}

function sseHead(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
}

function sseChunk(res: http.ServerResponse, model: string, delta: Record<string, string>, finish: string | null): void {
  const chunk = {
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
  res.write(`data: ${JSON.stringify(chunk)}\n\n`);
}

async function stream(res: http.ServerResponse, model: string, text: string, opts: { chunks?: number; chunkDelayMs?: number; finishReason?: string }): Promise<void> {
  sseHead(res);
  sseChunk(res, model, { role: 'assistant', content: '' }, null);
  for (const p of splitText(text, opts.chunks)) {
    if (opts.chunkDelayMs) await sleep(opts.chunkDelayMs);
    if (res.destroyed) return;
    sseChunk(res, model, { content: p }, null);
  }
  sseChunk(res, model, {}, opts.finishReason ?? 'stop');
  res.write('data: [DONE]\n\n');
  res.end();
}

// ---------------------------------------------------------------- CLI

function parseArgs(argv: string[]): { port: number; host: string; script?: string } {
  const out = { port: 0, host: '127.0.0.1', script: undefined as string | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') out.port = Number(argv[++i]);
    else if (a === '--host') out.host = argv[++i];
    else if (a === '--script') out.script = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

export async function main(argv = process.argv.slice(2)): Promise<ModelServer> {
  const args = parseArgs(argv);
  let opts: ModelServerOptions = {};
  if (args.script) {
    const data = JSON.parse(fs.readFileSync(args.script, 'utf8'));
    opts = Array.isArray(data) ? { replies: data } : { replies: data.replies, rules: data.rules, fallback: data.fallback, models: data.models };
  }
  const server = await ModelServer.start({ ...opts, port: args.port, host: args.host });
  process.stdout.write(server.url + '\n');
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return server;
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`modelServer: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
