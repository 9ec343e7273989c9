// Drives a debug session inside the test's process, the way VS Code's extension host runs the
// product's (DebugAdapterInlineImplementation): requests go in through handleMessage, responses and
// events come back through onDidSendMessage. No adapter process, no socket: the session's engine is
// whatever the test injected.
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { AxolotlSession } from '../../adapter/session/axolotlSession';

export class InlineDap {
  private seq = 1;
  private readonly pending = new Map<number, (r: DebugProtocol.Response) => void>();
  private readonly listeners = new Set<(e: DebugProtocol.Event) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** every event so far, in order */
  readonly events: DebugProtocol.Event[] = [];

  constructor(readonly session: AxolotlSession) {
    session.onDidSendMessage((m) => this.receive(m as DebugProtocol.ProtocolMessage));
  }

  /** Sends a request: its response, or an Error with the response's message when it failed. */
  request<R extends DebugProtocol.Response = DebugProtocol.Response>(command: string, args?: unknown, timeoutMs = 30_000): Promise<R> {
    const seq = this.seq++;
    return new Promise<R>((resolve, reject) => {
      const timer = this.timer(() => {
        this.pending.delete(seq);
        reject(new Error(`no response to ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, (r) => {
        this.clear(timer);
        if (r.success) resolve(r as R);
        else reject(new Error(r.message ?? `${command} failed`));
      });
      this.session.handleMessage({ seq, type: 'request', command, arguments: args } as DebugProtocol.Request);
    });
  }

  /** The next event named `event` that passes `test` (events already received do not count). */
  waitForEvent<E extends DebugProtocol.Event = DebugProtocol.Event>(event: string, test: (e: E) => boolean = () => true, timeoutMs = 30_000): Promise<E> {
    return new Promise<E>((resolve, reject) => {
      const timer = this.timer(() => {
        this.listeners.delete(listener);
        reject(new Error(`no ${event} event within ${timeoutMs} ms; output so far:\n${this.output()}`));
      }, timeoutMs);
      const listener = (e: DebugProtocol.Event) => {
        if (e.event !== event || !test(e as E)) return;
        this.clear(timer);
        this.listeners.delete(listener);
        resolve(e as E);
      };
      this.listeners.add(listener);
    });
  }

  /**
   * The start VS Code makes: initialize, the launch, then (once the session says it is initialized)
   * `configure` (breakpoints, exception filters) and configurationDone. Resolves when the launch does.
   */
  async launch(args: Record<string, unknown>, configure: () => Promise<void> = async () => undefined): Promise<DebugProtocol.LaunchResponse> {
    const initialized = this.waitForEvent('initialized');
    await this.request('initialize', { adapterID: 'axolotl', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true, supportsProgressReporting: true });
    await initialized;
    const launched = this.request<DebugProtocol.LaunchResponse>('launch', args, 60_000);
    launched.catch(() => undefined); // awaited below, after the configuration
    await configure();
    await this.request('configurationDone');
    return launched;
  }

  /** What the Debug Console showed (`category` output events joined; all of them by default). */
  output(category?: string): string {
    return this.events
      .filter((e): e is DebugProtocol.OutputEvent => e.event === 'output' && (!category || e.body.category === category))
      .map((e) => e.body.output)
      .join('');
  }

  /** Waits until the output of `category` matches `re`. */
  async waitForOutput(re: RegExp, category?: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.output(category))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; output so far:\n${this.output()}`);
      await this.waitForEvent('output', () => true, Math.max(1, deadline - Date.now())).catch(() => undefined);
    }
  }

  /** The bodies of the timeline events, in order. */
  timeline(): Array<Record<string, unknown>> {
    return this.events.filter((e) => e.event === 'axolotl/timeline').map((e) => e.body as Record<string, unknown>);
  }

  /** Ends the test's waits: what is still awaited never settles (and so never fails a later test). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.listeners.clear();
    this.pending.clear();
  }

  private timer(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }

  private clear(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }

  private receive(m: DebugProtocol.ProtocolMessage): void {
    if (m.type === 'response') {
      const r = m as DebugProtocol.Response;
      const done = this.pending.get(r.request_seq);
      this.pending.delete(r.request_seq);
      done?.(r);
    } else if (m.type === 'event') {
      const e = m as DebugProtocol.Event;
      this.events.push(e);
      for (const l of [...this.listeners]) l(e);
    }
  }
}
