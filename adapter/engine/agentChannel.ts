// The engine's end of the agent protocol (see agentProtocol.ts): a unix socket server that answers one
// JSON line per connection. It counts open connections so the supervisor never dumps while one is open
// (CRIU must not see the agent's end of a live connection).
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AgentMessage, EngineReply } from './agentProtocol';

/** Largest message accepted from the agent: crash reports are bounded well below this. */
const MAX_MESSAGE = 8 * 1024 * 1024;

export type AgentHandler = (msg: AgentMessage) => EngineReply | Promise<EngineReply>;

export class AgentChannel extends EventEmitter<{ idle: []; error: [Error] }> {
  readonly socketPath: string;
  private readonly dir: string;
  private server?: net.Server;
  private open = 0;

  /**
   * `socketPath`: reuse a path (a restored program from an earlier session has it in its memory);
   * default: a fresh short path under the temp dir (unix socket paths are limited to 107 bytes).
   */
  constructor(private readonly handler: AgentHandler, socketPath?: string) {
    super();
    if (socketPath) {
      this.dir = path.dirname(socketPath);
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      fs.rmSync(socketPath, { force: true });
      this.socketPath = socketPath;
    } else {
      this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-'));
      this.socketPath = path.join(this.dir, 'agent.sock');
    }
  }

  /** True while an agent connection is open. */
  get busy(): boolean { return this.open > 0; }

  /** Resolves when no agent connection is open. */
  async whenIdle(): Promise<void> {
    if (this.open === 0) return;
    await new Promise<void>((resolve) => this.once('idle', resolve));
  }

  listen(): Promise<void> {
    const server = net.createServer((sock) => this.serve(sock));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        fs.chmodSync(this.socketPath, 0o600);
        resolve();
      });
    });
  }

  /** Lets a debuggee running as another user (the pkexec helper's launch) connect. */
  allowUser(uid: number, gid: number): void {
    fs.chownSync(this.dir, uid, gid);
    fs.chownSync(this.socketPath, uid, gid);
  }

  close(): void {
    this.server?.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private serve(sock: net.Socket): void {
    this.open++;
    let buf = '';
    let answered = false;
    const done = () => {
      if (--this.open === 0) this.emit('idle');
    };
    sock.once('close', done);
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk) => {
      if (answered) return;
      buf += chunk.toString('utf8');
      if (buf.length > MAX_MESSAGE) {
        answered = true;
        sock.destroy();
        this.emit('error', new Error('agent message too large; connection dropped'));
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      answered = true;
      let msg: AgentMessage;
      try {
        msg = JSON.parse(buf.slice(0, nl)) as AgentMessage;
      } catch (e) {
        sock.destroy();
        this.emit('error', new Error(`malformed agent message: ${(e as Error).message}`));
        return;
      }
      Promise.resolve()
        .then(() => this.handler(msg))
        .then((reply) => sock.end(JSON.stringify(reply) + '\n'))
        .catch((e: Error) => {
          this.emit('error', e);
          sock.destroy();
        });
    });
  }
}
