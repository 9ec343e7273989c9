// `normalRun`: the program under plain python, no agent and no checkpoints, with the same output and
// exit events as a supervised run so consumers need no second code path.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { ExitEvent, OutputEvent, RunOptions } from './types';

export class PlainRun extends EventEmitter<{ output: [OutputEvent]; exit: [ExitEvent] }> {
  private readonly child;

  constructor(opts: RunOptions) {
    super();
    this.child = spawn(opts.python, [opts.program, ...opts.args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env, PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.child.stdout.on('data', (data: Buffer) => this.emit('output', { stream: 'stdout', data }));
    this.child.stderr.on('data', (data: Buffer) => this.emit('output', { stream: 'stderr', data }));
    this.child.once('error', (e) => {
      this.emit('output', { stream: 'stderr', data: Buffer.from(`cannot run ${opts.python}: ${e.message}\n`) });
      this.emit('exit', { status: 127 });
    });
    this.child.once('close', (code, signal) => {
      this.emit('exit', signal ? { status: 128 + (os.constants.signals[signal] ?? 0), signal } : { status: code ?? 0 });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const closed = new Promise((r) => this.child.once('close', r));
    try { process.kill(-this.child.pid!, 'SIGKILL'); } catch { /* gone */ }
    await closed;
  }
}

export function runPlain(opts: RunOptions): PlainRun {
  return new PlainRun(opts);
}
