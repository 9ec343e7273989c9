// Talks to any OpenAI-compatible chat-completions server (OpenAI, Azure, Ollama, vLLM, LM Studio,
// llama.cpp). Only /chat/completions is used because it is the one endpoint they all implement.
//
// Own retry loop instead of the SDK's, so that retries are reported as progress, Retry-After is
// capped (a quota reset an hour away should fail now, not hang), and a stream cut mid-reply is
// retried too. Own inactivity timer, because the SDK's timeout stops at the response headers
// and a stalled stream would otherwise hang forever.
import OpenAI, { APIError, APIConnectionError, APIConnectionTimeoutError, APIUserAbortError } from 'openai';
import { AxolotlError } from '../types';
import { redact } from './redact';
import type { ChatMessage, ModelConfig, ModelProgress } from './types';

export interface CompletionOptions {
  signal?: AbortSignal;
  onProgress?: (event: ModelProgress) => void;
}

export interface ModelReply {
  text: string;
  /** 'stop', 'length' (cut by the token limit), …; null if the server never said */
  finishReason: string | null;
  streamed: boolean;
  /** HTTP requests made, including retries */
  requests: number;
}

/** What the repair loop needs from a model; tests may inject their own. */
export interface ChatModel {
  complete(messages: ChatMessage[], opts?: CompletionOptions): Promise<ModelReply>;
}

export interface ModelClientOptions {
  /** retries after the first request for 429, 5xx, connection errors and cut streams (default 3) */
  retries?: number;
  /** first backoff delay; doubles each retry (default 1000) */
  baseDelayMs?: number;
  /** longest wait between retries; a longer Retry-After fails immediately (default 60000) */
  maxDelayMs?: number;
  /** try streaming first (default true) */
  stream?: boolean;
}

export type ModelErrorKind =
  | 'auth'
  | 'not-found'
  | 'bad-request'
  | 'rate-limit'
  | 'server'
  | 'connection'
  | 'timeout'
  | 'stream-closed'
  | 'empty';

/** A failed model call, with a message that says what to do. Never contains the API key. */
export class ModelError extends AxolotlError {
  constructor(
    readonly kind: ModelErrorKind,
    message: string,
    hint?: string,
    readonly status?: number,
  ) {
    super(message, hint);
    this.name = 'ModelError';
  }
}

/** The caller aborted (user pressed cancel). */
export class RepairCancelledError extends AxolotlError {
  constructor() {
    super('The repair request was cancelled.');
    this.name = 'RepairCancelledError';
  }
}

/** Internal: the stream ended or broke before the server said it was finished. */
class StreamCutError extends Error {
  constructor(readonly chars: number, readonly causeText: string) {
    super(`stream cut after ${chars} chars: ${causeText}`);
  }
}

/** Internal: no byte from the server for timeoutMs. */
class InactivityError extends Error {}

const STREAM_REJECTION = /stream/i;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new RepairCancelledError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new RepairCancelledError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Retry-After in ms from `retry-after-ms`, `retry-after` (seconds or HTTP date); undefined if absent. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (!ra) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(ra)) return Math.max(0, Number(ra) * 1000);
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function describeCause(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const parts = [err?.message, err?.cause?.code, err?.cause?.message].filter((p): p is string => !!p);
  return [...new Set(parts)].join(': ') || String(e);
}

export class ModelClient implements ChatModel {
  private readonly client: OpenAI;
  private readonly retries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  /** learned: this server refuses `stream: true` */
  private streamUnsupported: boolean;

  constructor(
    private readonly config: ModelConfig,
    opts: ModelClientOptions = {},
  ) {
    this.retries = opts.retries ?? 3;
    this.baseDelayMs = opts.baseDelayMs ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.streamUnsupported = opts.stream === false;
    this.client = new OpenAI({
      apiKey: config.apiKey,
      baseURL: config.baseUrl,
      maxRetries: 0,
      // the inactivity timer below is the real limit; this only backs it up
      timeout: config.timeoutMs + 5_000,
      logLevel: 'off',
    });
  }

  private get endpoint(): string {
    return this.config.baseUrl ?? 'https://api.openai.com/v1';
  }

  /** Send the messages; resolve with the whole reply text. Throws ModelError or RepairCancelledError. */
  async complete(messages: ChatMessage[], opts: CompletionOptions = {}): Promise<ModelReply> {
    const { signal, onProgress } = opts;
    let requests = 0;
    for (let retry = 0; ; retry++) {
      if (signal?.aborted) throw new RepairCancelledError();
      const streaming = !this.streamUnsupported;
      requests++;
      onProgress?.({ type: 'request', streaming, try: retry + 1 });
      try {
        const reply = await this.once(messages, streaming, signal, onProgress);
        return { ...reply, requests };
      } catch (e) {
        if (signal?.aborted || e instanceof RepairCancelledError) throw new RepairCancelledError();
        if (streaming && this.rejectsStreaming(e)) {
          this.streamUnsupported = true;
          onProgress?.({ type: 'stream-unsupported', reason: this.safe((e as Error).message) });
          retry--; // falling back is not a retry
          continue;
        }
        const failure = this.classify(e, requests);
        if (!failure.retryable || retry >= this.retries) throw failure.error;
        let delay = failure.retryAfter ?? Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** retry * (1 + Math.random() * 0.2));
        if (delay > this.maxDelayMs) {
          throw new ModelError(
            failure.error.kind,
            `${failure.error.message} The server asks to wait ${Math.ceil(delay / 1000)} s before retrying, longer than Axolotl waits (${Math.ceil(this.maxDelayMs / 1000)} s).`,
            failure.error.hint,
            failure.error.status,
          );
        }
        delay = Math.max(0, delay);
        onProgress?.({ type: 'retry', reason: failure.error.message, delayMs: Math.round(delay), retry: retry + 1, of: this.retries });
        await sleep(delay, signal);
      }
    }
  }

  /** One HTTP request, with the inactivity timer armed until the last byte. */
  private async once(
    messages: ChatMessage[],
    streaming: boolean,
    signal: AbortSignal | undefined,
    onProgress: CompletionOptions['onProgress'],
  ): Promise<Omit<ModelReply, 'requests'>> {
    const idle = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        idle.abort();
      }, this.config.timeoutMs);
    };
    const combined = signal ? AbortSignal.any([signal, idle.signal]) : idle.signal;
    const body = {
      model: this.config.model,
      messages,
      ...(this.config.temperature !== undefined ? { temperature: this.config.temperature } : {}),
    };
    arm();
    let text = '';
    try {
      if (!streaming) {
        const completion = await this.client.chat.completions.create({ ...body, stream: false }, { signal: combined });
        const choice = completion.choices?.[0];
        text = choice?.message?.content ?? '';
        onProgress?.({ type: 'receiving', chars: text.length, tokens: Math.ceil(text.length / 4), reasoningChars: 0 });
        this.checkAborted(timedOut, signal);
        return { text, finishReason: choice?.finish_reason ?? null, streamed: false };
      }
      const { data: stream, response } = await this.client.chat.completions
        .create({ ...body, stream: true }, { signal: combined })
        .withResponse();
      arm();
      const contentType = response.headers.get('content-type') ?? '';
      if (/application\/json/i.test(contentType)) {
        // The server ignored `stream: true` and answered in one piece: take it as is.
        const completion = (await response.json()) as OpenAI.Chat.ChatCompletion;
        const choice = completion.choices?.[0];
        text = choice?.message?.content ?? '';
        this.streamUnsupported = true;
        onProgress?.({ type: 'receiving', chars: text.length, tokens: Math.ceil(text.length / 4), reasoningChars: 0 });
        return { text, finishReason: choice?.finish_reason ?? 'stop', streamed: false };
      }
      let finishReason: string | null = null;
      let reasoningChars = 0;
      try {
        for await (const chunk of stream) {
          arm();
          const choice = chunk.choices?.[0];
          if (!choice) continue;
          const delta = choice.delta as { content?: string | null; reasoning_content?: string | null; reasoning?: string | null } | undefined;
          const piece = delta?.content ?? '';
          const thought = delta?.reasoning_content ?? delta?.reasoning ?? '';
          if (piece) text += piece;
          if (thought) reasoningChars += thought.length;
          if (piece || thought) {
            onProgress?.({ type: 'receiving', chars: text.length, tokens: Math.ceil((text.length + reasoningChars) / 4), reasoningChars });
          }
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
      } catch (e) {
        if (e instanceof APIError && !(e instanceof APIConnectionError) && e.status === undefined) throw e; // error event in the stream
        this.checkAborted(timedOut, signal);
        throw new StreamCutError(text.length, describeCause(e));
      }
      // The SDK ends iteration quietly when aborted, so check our own flags first.
      this.checkAborted(timedOut, signal);
      if (finishReason === null) throw new StreamCutError(text.length, 'the stream ended without a finish reason');
      return { text, finishReason, streamed: true };
    } catch (e) {
      this.checkAborted(timedOut, signal);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private checkAborted(timedOut: boolean, signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw new RepairCancelledError();
    if (timedOut) throw new InactivityError();
  }

  private rejectsStreaming(e: unknown): boolean {
    if (!(e instanceof APIError) || e instanceof APIConnectionError) return false;
    if (e.status === 501) return true;
    return (e.status === 400 || e.status === 404 || e.status === 405 || e.status === 415 || e.status === 422) && STREAM_REJECTION.test(e.message);
  }

  private safe(text: string): string {
    return redact(text, [this.config.apiKey]);
  }

  /** Map any failure to a ModelError with advice, and say whether another try may help. */
  private classify(e: unknown, requests: number): { error: ModelError; retryable: boolean; retryAfter?: number } {
    const where = this.endpoint;
    const model = this.config.model;
    const tries = requests > 1 ? ` (after ${requests} requests)` : '';
    if (e instanceof InactivityError || e instanceof APIConnectionTimeoutError) {
      return {
        retryable: false,
        error: new ModelError(
          'timeout',
          `The model server ${where} sent nothing for ${Math.round(this.config.timeoutMs / 1000)} s; gave up waiting${tries}.`,
          'A slow or loading local model may need more time: raise "timeoutMs" in the Axolotl config file.',
        ),
      };
    }
    if (e instanceof StreamCutError) {
      return {
        retryable: true,
        error: new ModelError(
          'stream-closed',
          `The model server ${where} closed the connection in the middle of the reply (after ${e.chars} characters: ${this.safe(e.causeText)})${tries}.`,
          'The server may have crashed or run out of memory; check its log.',
        ),
      };
    }
    if (e instanceof APIUserAbortError) return { retryable: false, error: new ModelError('connection', 'The request was aborted.') };
    if (e instanceof APIConnectionError) {
      return {
        retryable: true,
        error: new ModelError(
          'connection',
          `Could not reach the model server ${where}: ${this.safe(describeCause(e.cause ?? e))}${tries}.`,
          this.config.local ? 'Is the local server running (e.g. `ollama serve`)?' : 'Check the network and the base URL (OPENAI_BASE_URL).',
        ),
      };
    }
    if (e instanceof APIError) {
      const status = e.status;
      const msg = this.safe(e.message);
      if (status === 401 || status === 403) {
        return {
          retryable: false,
          error: new ModelError('auth', `The model server ${where} refused the API key from ${this.config.apiKeySource} (${msg}).`, 'Check the key, or name the right variable with --api-key-env.', status),
        };
      }
      if (status === 404) {
        return {
          retryable: false,
          error: new ModelError(
            'not-found',
            `The model server ${where} does not know model "${model}" or has no /chat/completions endpoint (${msg}).`,
            this.config.local ? `For Ollama, run \`ollama pull ${model}\`; or pick another model with --model / AXOLOTL_MODEL.` : 'Pick another model with --model / AXOLOTL_MODEL, and check the base URL ends in /v1.',
            status,
          ),
        };
      }
      if (status === 429) {
        return {
          retryable: true,
          retryAfter: retryAfterMs(e.headers),
          error: new ModelError('rate-limit', `The model server ${where} is rate-limiting requests (429: ${msg})${tries}.`, 'Wait a little, or check your plan\'s quota.', status),
        };
      }
      if (status === 408 || status === 409 || (status !== undefined && status >= 500)) {
        return {
          retryable: true,
          retryAfter: retryAfterMs(e.headers),
          error: new ModelError('server', `The model server ${where} failed (${msg})${tries}.`, undefined, status),
        };
      }
      if (status === undefined) {
        return { retryable: false, error: new ModelError('server', `The model server ${where} reported an error: ${msg}.`) };
      }
      return {
        retryable: false,
        error: new ModelError('bad-request', `The model server ${where} rejected the request (${msg}).`, 'If the prompt is too long for this model, lower "tokenBudget" in the Axolotl config file.', status),
      };
    }
    const text = this.safe(describeCause(e));
    return { retryable: true, error: new ModelError('connection', `Talking to the model server ${where} failed: ${text}${tries}.`) };
  }
}
