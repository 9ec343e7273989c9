// One live copy of the program in a container: the container podman started, or one it restored from
// a checkpoint. Its PID is the program's PID on the host (the child of the init podman injects), so
// the engine's signals (the agent's SIGUSR1/SIGUSR2, the debugger's) cost a kill(2), not a podman
// command. Output comes from conmon's log (containerLog.ts); input through `podman attach`, started
// at the first byte (stdin stays open and empty until then, as for a process the engine spawned);
// the exit status from `podman wait`, asked once the container's init is gone (a `podman wait` left
// polling for the whole run would cost more CPU than the engine itself).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { PassThrough, Writable } from 'node:stream';
import type { ProgramCopy } from './backend';
import { ContainerLogReader } from './containerLog';
import { isRunning, waitForPidGone } from './programCopy';
import type { ExitEvent } from './types';

export interface ContainerCopyOptions {
  name: string;
  podman: string;
  env: Record<string, string>;
  /** the container's init on the host (PID 1 inside); a SIGKILL to it ends the whole container */
  initPid: number;
  /** the program on the host (PID 2 inside) */
  pid: number;
  logFile: string;
  /** where the program's output starts in the log */
  logOffset: number;
  /** every podman process started for the copy leads a session: the session keeper ends it with the run */
  track?: (sid: number) => void;
  /** the interpreter the container runs (named when the init cannot start it) */
  python?: string;
}

/** What podman's init (catatonit) says when it cannot run the program it was given. */
const EXEC_FAILED = /ERROR \(catatonit:\d+\): failed to exec pid1: ([^\n]*)/;

export class ContainerCopy implements ProgramCopy {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly stdin: Writable;
  readonly exited: Promise<ExitEvent>;
  readonly stdioInodes: number[] = [];
  readonly pid: number;
  readonly name: string;
  private readonly log: ContainerLogReader;
  private readonly watch: NodeJS.Timeout;
  private waiter?: ChildProcess;
  private attach?: ChildProcess;
  private resolveExit!: (ev: ExitEvent) => void;
  private done?: ExitEvent;
  /** the init could not run the program (an interpreter the image does not have) */
  private execFailed?: string;

  constructor(private readonly o: ContainerCopyOptions) {
    // kill(0) and kill(-1) signal whole groups: a copy is only ever a real process
    if (!(o.pid > 1 && o.initPid > 1)) throw new Error(`container ${o.name}: no process to follow (PID ${o.pid}, init ${o.initPid})`);
    this.pid = o.pid;
    this.name = o.name;
    this.exited = new Promise((resolve) => { this.resolveExit = resolve; });
    this.log = new ContainerLogReader(o.logFile, o.logOffset, (r) => {
      const to = r.stream === 'stdout' ? this.stdout : this.stderr;
      if (r.stream === 'stderr' && this.execFailed === undefined) this.execFailed = EXEC_FAILED.exec(r.data.toString('utf8'))?.[1];
      if (!to.writableEnded) to.write(r.data);
    });
    this.log.start();
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        const a = this.attached();
        if (!a?.stdin?.writable) { cb(); return; }
        a.stdin.write(chunk, () => cb());
      },
      final: (cb) => {
        const a = this.attached();
        if (a?.stdin?.writable) a.stdin.end(cb); else cb();
      },
    });
    this.stdin.on('error', () => undefined);
    // By PID and start time: a PID handed out again is not our init.
    const started = startTicks(o.initPid);
    this.watch = setInterval(() => { if (!(started && isRunning(o.initPid) && startTicks(o.initPid) === started)) this.askStatus(); }, 50);
  }

  get alive(): boolean { return this.done === undefined; }
  /** the container's init on the host */
  get initPid(): number { return this.o.initPid; }

  signal(sig: NodeJS.Signals): void {
    if (!this.alive) return;
    // A restored container comes back with every task stopped (criu's leave-stopped): the init too.
    const targets = sig === 'SIGCONT' ? [this.o.initPid, this.pid] : [this.pid];
    for (const p of targets) {
      try { process.kill(p, sig); } catch { /* gone */ }
    }
  }

  /** Kills every process of the container (SIGKILL to its init ends the PID namespace); waits for the end. */
  async kill(): Promise<ExitEvent> {
    if (this.alive) {
      try { process.kill(this.o.initPid, 'SIGKILL'); } catch { /* gone */ }
    }
    const ev = await this.exited;
    await waitForPidGone(this.pid).catch(() => undefined);
    return ev;
  }

  /** The container has ended: `podman wait` says with what status (once conmon has recorded it). */
  private askStatus(): void {
    clearInterval(this.watch);
    if (this.waiter) return;
    const w = spawn(this.o.podman, ['wait', '--interval', '50ms', this.o.name], { env: { ...process.env, ...this.o.env }, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    this.waiter = w;
    if (w.pid !== undefined) this.o.track?.(w.pid);
    let out = '';
    w.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    w.once('error', () => this.finish(undefined));
    w.once('close', (code) => this.finish(code === 0 && /^-?\d+\s*$/.test(out) ? Number(out) : undefined));
  }

  /** The `podman attach` that carries stdin, started at the first use. */
  private attached(): ChildProcess | undefined {
    if (this.attach || !this.alive) return this.attach;
    // No detach keys: the input is the program's, whatever bytes it holds.
    const a = spawn(this.o.podman, ['attach', '--sig-proxy=false', '--detach-keys=', this.o.name], {
      env: { ...process.env, ...this.o.env }, stdio: ['pipe', 'ignore', 'ignore'], detached: true,
    });
    if (a.pid !== undefined) this.o.track?.(a.pid);
    a.once('error', () => undefined);
    a.stdin!.on('error', () => undefined);
    this.attach = a;
    return a;
  }

  private finish(code: number | undefined): void {
    if (this.done) return;
    // podman wait ended without a status (the container was removed under it): killed, as far as we know.
    const status = code ?? 137;
    const name = status > 128 ? signalName(status - 128) : undefined;
    const ev: ExitEvent = name ? { status, signal: name } : { status };
    this.done = ev;
    void this.log.drain().then(() => {
      this.log.close();
      if (this.execFailed !== undefined) {
        ev.reason = `the container could not run ${this.o.python ?? 'the program'} (${this.execFailed}): give the interpreter inside the image with --python (launch: "container.python")`;
      }
      if (this.attach?.exitCode === null) {
        try { process.kill(-this.attach.pid!, 'SIGKILL'); } catch { /* gone */ }
      }
      this.stdout.end();
      this.stderr.end();
      this.resolveExit(ev);
    });
  }
}

function startTicks(pid: number): string | undefined {
  if (!(pid > 0)) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function signalName(n: number): NodeJS.Signals | undefined {
  return (Object.entries(os.constants.signals) as [NodeJS.Signals, number][]).find(([, v]) => v === n)?.[0];
}
