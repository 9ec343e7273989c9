// Checkpoints for a non-root user through the pkexec helper (adapter/helper/axolotl-helper): one
// helper per run, started with `pkexec`, speaking line-delimited JSON on its stdin/stdout. The helper
// launches the program as this user, runs criu as this user with one capability, keeps the
// images in a root-owned store (/var/lib/axolotl/<uid>/…) and forwards the program's stdio as
// messages. The engine only ever names PIDs the helper gave it and checkpoint ids it allocated.
//
// Each checkpoint folder of the run dir holds `helper.json` ({run, checkpoint}): the helper's name
// for the image, so `axolotl restore` in a later session can ask a new helper for it.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import type { CheckpointBackend, DumpResult, ProgramCopy } from './backend';
import type { CheckpointRecord } from './runDir';
import { AxolotlError, type ExitEvent } from './types';

export const HELPER_PATH = '/usr/local/libexec/axolotl/axolotl-helper';
export const HELPER_ACTION = 'dev.axolotl.helper';
export const HELPER_POLICY = `/usr/share/polkit-1/actions/${HELPER_ACTION}.policy`;
export const HELPER_CRIU = '/usr/local/lib/axolotl/bin/criu';
export const HELPER_STATE = '/var/lib/axolotl';
export const PKEXEC = '/usr/bin/pkexec';
export const POLKITD = '/usr/lib/polkit-1/polkitd';
export const SYSTEM_BUS = '/run/dbus/system_bus_socket';
/** the helper refuses longer request lines */
const MAX_LINE = 1024 * 1024;
/** raw bytes per `stdin` message (base64 grows it by a third) */
const STDIN_CHUNK = 256 * 1024;

export interface HelperHello {
  version: number;
  uid: number;
  user: string;
  run: string;
  maxLine: number;
  criu: string;
}

export interface HelperReply {
  type: 'reply';
  id: number | null;
  ok: boolean;
  code?: 'bad-request' | 'too-large' | 'refused' | 'failed';
  error?: string;
  log?: string;
  [key: string]: unknown;
}

type HelperMessage =
  | ({ type: 'hello' } & HelperHello)
  | HelperReply
  | { type: 'output'; pid: number; stream: 'stdout' | 'stderr'; data: string }
  | { type: 'exit'; pid: number; status: number; signal?: NodeJS.Signals };

/** A refusal or failure reported by the helper. */
export class HelperError extends Error {
  constructor(readonly reply: HelperReply) {
    super(reply.error ?? 'the helper refused');
    this.name = 'HelperError';
  }
  get code(): string | undefined { return this.reply.code; }
  get log(): string | undefined { return this.reply.log; }
}

export interface HelperStartOptions {
  helper?: string;
  pkexec?: string;
  /** how long to wait for authorization and the helper's hello (a person may be typing a password) */
  timeoutMs?: number;
  /** run pkexec as this user (a root test process acting for a test user); default: ourselves */
  uid?: number;
  gid?: number;
}

/** The connection to one running helper. */
export class HelperClient extends EventEmitter<{ hello: []; exit: [number | null]; stray: [HelperMessage] }> {
  private nextId = 1;
  private readonly pending = new Map<number, { op: string; resolve: (r: HelperReply) => void; reject: (e: Error) => void }>();
  private readonly copies = new Map<number, HelperCopy>();
  /** the copy a launch/restore reply created (it may have exited again before the caller runs) */
  private readonly created = new WeakMap<HelperReply, HelperCopy>();
  private buf = '';
  private stderr = '';
  private exitCode?: number | null;
  private closing = false;
  private readonly exitedPromise: Promise<void>;
  hello?: HelperHello;

  private constructor(private readonly child: ChildProcess) {
    super();
    this.exitedPromise = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exitCode = code;
        const err = new Error(`the Axolotl helper exited (status ${code})${this.stderr ? `: ${this.stderr.trim()}` : ''}`);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        // The helper kills every copy when it ends: report them gone.
        const reason = this.closing ? undefined
          : `the Axolotl helper ended unexpectedly (${signal ? `killed by ${signal}` : `status ${code}`}); the program ran under it and was stopped`;
        for (const c of this.copies.values()) c.finish({ status: 137, signal: 'SIGKILL', ...(reason ? { reason } : {}) });
        this.copies.clear();
        this.emit('exit', code);
        resolve();
      });
    });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.onData(d));
    child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString('utf8')).slice(-8192); });
    child.stdin!.on('error', () => undefined); // a dead helper is reported by 'close'
  }

  /**
   * The helper keeps the engine's event loop alive only while it has work (a request in flight or a
   * live copy); an idle helper must not stop the CLI from exiting (it then sees EOF and exits too).
   */
  private updateRef(): void {
    const busy = this.alive && (this.closing || this.pending.size > 0 || this.copies.size > 0);
    for (const h of [this.child, this.child.stdin, this.child.stdout, this.child.stderr] as unknown as { ref?(): void; unref?(): void }[]) {
      if (busy) h?.ref?.(); else h?.unref?.();
    }
  }

  /** Starts the helper through pkexec and waits for its hello (or for pkexec to give up). */
  static async start(opts: HelperStartOptions = {}): Promise<HelperClient> {
    const child = spawn(opts.pkexec ?? PKEXEC, [opts.helper ?? HELPER_PATH], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
    });
    const client = new HelperClient(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.stdin!.end();
        reject(new Error('no answer from pkexec (authorization not given in time)'));
      }, opts.timeoutMs ?? 5 * 60_000);
      child.once('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run pkexec: ${e.message}`)); });
      client.once('exit', (code) => {
        clearTimeout(timer);
        const why = code === 126 ? 'authorization was dismissed'
          : code === 127 ? 'not authorized (or polkit is not running)'
          : `exit status ${code}`;
        reject(new Error(`pkexec ${opts.helper ?? HELPER_PATH}: ${why}${client.stderr ? `: ${client.stderr.trim()}` : ''}`));
      });
      client.once('hello', () => { clearTimeout(timer); client.removeAllListeners('exit'); resolve(); });
    });
    client.updateRef();
    return client;
  }

  get alive(): boolean { return this.exitCode === undefined; }
  get stderrText(): string { return this.stderr; }
  /** the helper's PID (pkexec execs it in place) */
  get pid(): number | undefined { return this.child.pid; }

  /** Sends one request; resolves with the helper's reply (rejects with HelperError when not ok). */
  request(op: string, fields: Record<string, unknown> = {}): Promise<HelperReply> {
    if (!this.alive) return Promise.reject(new Error('the Axolotl helper is not running'));
    const id = this.nextId++;
    const line = JSON.stringify({ id, op, ...fields });
    if (Buffer.byteLength(line) > MAX_LINE) return Promise.reject(new Error(`${op} request too large for the helper`));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { op, resolve, reject });
      this.updateRef();
      this.child.stdin!.write(line + '\n');
    });
  }

  /** Sends a raw line (tests use this to check the helper's refusals). */
  sendRaw(line: string | Buffer): void {
    this.child.stdin!.write(line);
  }

  async launch(argv: string[], cwd: string, env: Record<string, string>): Promise<HelperCopy> {
    const r = await this.request('launch', { argv, cwd, env, umask: currentUmask() });
    return this.created.get(r)!;
  }

  async restore(checkpoint: number, run?: string): Promise<{ copy: HelperCopy; reply: HelperReply }> {
    const r = await this.request('restore', run ? { checkpoint, run } : { checkpoint });
    return { copy: this.created.get(r)!, reply: r };
  }

  copy(pid: number): HelperCopy | undefined { return this.copies.get(pid); }

  /** Asks the helper to stop every copy and exit; resolves once it has. */
  async close(timeoutMs = 15_000): Promise<void> {
    if (this.alive) {
      this.closing = true; // keep the event loop alive until the helper is gone
      const bye = this.request('shutdown').catch(() => undefined);
      await Promise.race([bye, delay(timeoutMs)]);
      this.child.stdin!.end();
    }
    await Promise.race([this.exitedPromise, delay(timeoutMs)]);
  }

  /** Resolves when the helper process has exited. */
  whenExited(): Promise<void> { return this.exitedPromise; }

  private onData(d: string): void {
    this.buf += d;
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!line.trim()) continue;
      let msg: HelperMessage;
      try {
        msg = JSON.parse(line) as HelperMessage;
      } catch {
        continue; // not ours to interpret; the helper only writes JSON lines
      }
      this.dispatch(msg);
    }
  }

  private dispatch(msg: HelperMessage): void {
    switch (msg.type) {
      case 'hello':
        this.hello = msg;
        this.emit('hello');
        return;
      case 'reply': {
        const p = msg.id === null ? undefined : this.pending.get(msg.id);
        if (!p) { this.emit('stray', msg); return; }
        this.pending.delete(msg.id!);
        // Register the copy before any later line (its output, its exit) is handled.
        if (msg.ok && (p.op === 'launch' || p.op === 'restore') && typeof msg.pid === 'number') {
          const copy = new HelperCopy(this, msg.pid, (msg.stdioInodes as number[] | undefined) ?? []);
          this.copies.set(msg.pid, copy);
          this.created.set(msg, copy);
        }
        this.updateRef();
        if (msg.ok) p.resolve(msg); else p.reject(new HelperError(msg));
        return;
      }
      case 'output': {
        const c = this.copies.get(msg.pid);
        if (c) c.output(msg.stream, Buffer.from(msg.data, 'base64'));
        return;
      }
      case 'exit': {
        const c = this.copies.get(msg.pid);
        this.copies.delete(msg.pid);
        this.updateRef();
        c?.finish({ status: msg.status, ...(msg.signal ? { signal: msg.signal } : {}) });
        return;
      }
      default:
        this.emit('stray', msg);
    }
  }
}

/** A copy of the program living under the helper; its stdio travel as protocol messages. */
export class HelperCopy implements ProgramCopy {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly stdin: Writable;
  readonly exited: Promise<ExitEvent>;
  private resolveExit!: (ev: ExitEvent) => void;
  private done?: ExitEvent;

  constructor(private readonly client: HelperClient, readonly pid: number, readonly stdioInodes: number[]) {
    this.exited = new Promise((resolve) => { this.resolveExit = resolve; });
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        if (!this.alive) { cb(); return; }
        const sends: Promise<unknown>[] = [];
        for (let off = 0; off < chunk.length; off += STDIN_CHUNK) {
          sends.push(client.request('stdin', { pid, data: chunk.subarray(off, off + STDIN_CHUNK).toString('base64') }));
        }
        // Back-pressure: the next write waits until the helper has taken this one.
        Promise.all(sends).then(() => cb(), () => cb());
      },
      final: (cb) => {
        if (!this.alive) { cb(); return; }
        client.request('stdin', { pid, eof: true }).then(() => cb(), () => cb());
      },
    });
  }

  get alive(): boolean { return this.done === undefined; }

  output(stream: 'stdout' | 'stderr', data: Buffer): void {
    (stream === 'stdout' ? this.stdout : this.stderr).write(data);
  }

  finish(ev: ExitEvent): void {
    if (this.done) return;
    this.done = ev;
    this.stdout.end();
    this.stderr.end();
    this.resolveExit(ev);
  }

  async kill(): Promise<ExitEvent> {
    if (this.alive) await this.client.request('kill', { pid: this.pid }).catch(() => undefined);
    return this.exited;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) void this.client.request('signal', { pid: this.pid, signal: sig }).catch(() => undefined);
  }
}

/** Where a checkpoint lives in the helper's store: its name there (and the IDs a restore needs free). */
export interface HelperRef {
  run: string;
  checkpoint: number;
  uid: number;
  /**
   * process and thread IDs a restore needs free (restoreCheck.ts refuses a restore while one is
   * taken); empty since the helper restores every copy into a PID namespace of its own
   */
  ids?: number[];
}

export const HELPER_REF_FILE = 'helper.json';
const REF_FILE = HELPER_REF_FILE;

export class HelperBackend implements CheckpointBackend {
  readonly kind = 'criu';
  private readonly restoreLogs = new Map<string, string>();

  constructor(private readonly client: HelperClient) {}

  async launch(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<ProgramCopy> {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
    try {
      return await this.client.launch([command, ...args], cwd, clean);
    } catch (e) {
      throw new AxolotlError(`cannot start ${command}`, 'The Axolotl helper could not start the program as you.', (e as Error).message);
    }
  }

  async dump(copy: ProgramCopy, dir: string): Promise<DumpResult> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const started = performance.now();
    let r: HelperReply;
    try {
      r = await this.client.request('dump', { pid: copy.pid });
    } catch (e) {
      // A refusal (the image store is full, the copy is gone) says itself what to do; criu never ran.
      if (e instanceof HelperError && e.code === 'refused') throw new AxolotlError(e.message);
      const log = e instanceof HelperError ? e.log : undefined;
      if (log) fs.writeFileSync(path.join(dir, 'dump.log'), log);
      throw new AxolotlError(
        `criu could not checkpoint process ${copy.pid}`,
        'See the criu log below; `axolotl doctor` checks the environment.',
        tail(log) || (e as Error).message,
      );
    }
    const dumpMs = performance.now() - started;
    const ref: HelperRef = { run: r.run as string, checkpoint: r.checkpoint as number, uid: this.client.hello!.uid, ids: r.ids as number[] };
    fs.writeFileSync(path.join(dir, REF_FILE), JSON.stringify(ref) + '\n');
    if (typeof r.log === 'string') fs.writeFileSync(path.join(dir, 'dump.log'), r.log);
    return { frozenMs: r.frozenMs as number, dumpMs, bytes: r.bytes as number };
  }

  async restore(rec: CheckpointRecord, attempt: number): Promise<ProgramCopy> {
    const ref = readRef(rec);
    try {
      const { copy, reply } = await this.client.restore(ref.checkpoint, ref.run);
      if (typeof reply.log === 'string') this.restoreLogs.set(`${rec.id}/${attempt}`, reply.log);
      return copy;
    } catch (e) {
      const log = e instanceof HelperError ? e.log : undefined;
      if (log) this.restoreLogs.set(`${rec.id}/${attempt}`, log);
      throw new AxolotlError(`criu could not restore checkpoint ${rec.id}`, 'See the criu log below.', tail(log) || (e as Error).message);
    }
  }

  discard(rec: CheckpointRecord): void {
    let ref: HelperRef | undefined;
    try { ref = readRef(rec); } catch { /* nothing in the store */ }
    if (ref) void this.client.request('discard', { checkpoint: ref.checkpoint, run: ref.run }).catch(() => undefined);
    if (rec.dir) fs.rmSync(rec.dir, { recursive: true, force: true });
  }

  restoreLog(rec: CheckpointRecord, attempt: number): string | undefined {
    return this.restoreLogs.get(`${rec.id}/${attempt}`);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

function readRef(rec: CheckpointRecord): HelperRef {
  try {
    const ref = JSON.parse(fs.readFileSync(path.join(rec.dir!, REF_FILE), 'utf8')) as HelperRef;
    if (typeof ref.run !== 'string' || !Number.isInteger(ref.checkpoint)) throw new Error('bad record');
    return ref;
  } catch {
    throw new AxolotlError(
      `checkpoint ${rec.id} was not taken through the Axolotl helper`,
      'It was taken by criu running as root: restore it as root (sudo axolotl restore …).',
    );
  }
}

/** This process's umask (the program gets the same), without the deprecated process.umask(). */
function currentUmask(): number {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return parseInt(m[1], 8);
  } catch { /* no /proc */ }
  return 0o022;
}

function tail(text: string | undefined, lines = 15): string {
  return (text ?? '').trimEnd().split('\n').slice(-lines).join('\n');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

// ---------------------------------------------------------------------------------------------
// Is the helper usable here? (for backend choice and `axolotl doctor`)

export interface HelperCheck {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  optional?: boolean;
}

/** True when everything the helper needs is installed (whether polkit will say yes is another matter). */
export function helperInstalled(): boolean {
  return helperChecks().every((c) => c.ok || c.optional);
}

/** What the pkexec helper needs, each with the exact fix. Never starts the helper (no password prompt). */
export function helperChecks(): HelperCheck[] {
  const checks: HelperCheck[] = [];
  const pk = statOf(PKEXEC);
  checks.push(pk && pk.uid === 0 && pk.mode & 0o4000
    ? { name: 'pkexec', ok: true, detail: PKEXEC }
    : { name: 'pkexec', ok: false, detail: pk ? `${PKEXEC} is not setuid root` : 'pkexec is not installed', fix: 'sudo apt-get install pkexec' });
  checks.push(fs.existsSync(POLKITD)
    ? { name: 'polkit', ok: true, detail: POLKITD }
    : { name: 'polkit', ok: false, detail: 'polkitd is not installed', fix: 'sudo apt-get install polkitd' });
  const bus = statOf(SYSTEM_BUS);
  checks.push(bus && (bus.mode & 0o170000) === 0o140000
    ? { name: 'system bus', ok: true, detail: SYSTEM_BUS }
    : {
        name: 'system bus', ok: false, detail: 'the system D-Bus is not running (pkexec needs it)',
        fix: 'sudo apt-get install dbus && sudo systemctl start dbus (without systemd: sudo mkdir -p /run/dbus && sudo dbus-daemon --system --fork)',
      });
  const polkitRunning = processRunning('polkitd');
  checks.push(polkitRunning
    ? { name: 'polkitd', ok: true, detail: 'running' }
    : {
        name: 'polkitd', ok: false, optional: true,
        detail: 'not running (D-Bus usually starts it on demand; pkexec fails "Error getting authority" if it cannot)',
        fix: `sudo systemctl start polkit (without systemd: sudo ${POLKITD} --no-debug &)`,
      });
  let policy = '';
  try { policy = fs.readFileSync(HELPER_POLICY, 'utf8'); } catch { /* missing */ }
  const pinned = policy.includes(`<annotate key="org.freedesktop.policykit.exec.path">${HELPER_PATH}</annotate>`);
  checks.push(pinned
    ? { name: 'policy', ok: true, detail: `${HELPER_POLICY} (action ${HELPER_ACTION})` }
    : {
        name: 'policy', ok: false,
        detail: policy ? `${HELPER_POLICY} does not pin ${HELPER_PATH}` : `${HELPER_POLICY} is missing`,
        fix: 'sudo bash scripts/install-helper.sh',
      });
  const unsafe = [HELPER_PATH, path.dirname(HELPER_PATH), HELPER_CRIU].filter((p) => {
    const st = statOf(p);
    return !st || st.uid !== 0 || st.mode & 0o022;
  });
  checks.push(unsafe.length === 0
    ? { name: 'helper', ok: true, detail: `${HELPER_PATH} (criu ${HELPER_CRIU}, images in ${HELPER_STATE})` }
    : {
        name: 'helper', ok: false,
        detail: `${unsafe.join(', ')}: missing, or not owned by root, or writable by others`,
        fix: 'sudo bash scripts/install-helper.sh (copies the helper and a root-owned criu 4.1 into /usr/local)',
      });
  return checks;
}

function statOf(p: string): fs.Stats | undefined {
  try { return fs.statSync(p); } catch { return undefined; }
}

function processRunning(comm: string): boolean {
  try {
    for (const d of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try { if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm) return true; } catch { /* gone */ }
    }
  } catch { /* no /proc */ }
  return false;
}

/** Starts a helper session for a backend choice; errors say what the user can do. */
export async function startHelperBackend(opts: HelperStartOptions = {}): Promise<() => CheckpointBackend> {
  const client = await HelperClient.start(opts);
  let used = false;
  return () => {
    if (used) throw new Error('a helper session serves one run');
    used = true;
    return new HelperBackend(client);
  };
}

/**
 * For a non-root engine: a helper session when the helper is installed and polkit authorizes it,
 * else why not (for the user). Starting it may prompt for a password (auth_admin_keep).
 */
export async function helperBackendIfAvailable(opts: HelperStartOptions = {}): Promise<{ backend?: () => CheckpointBackend; why?: string }> {
  const missing = helperChecks().filter((c) => !c.ok && !c.optional);
  if (missing.length) return { why: `the pkexec helper is not usable here (${missing.map((c) => `${c.name}: ${c.detail}`).join('; ')})` };
  try {
    return { backend: await startHelperBackend(opts) };
  } catch (e) {
    return { why: `the pkexec helper did not start: ${(e as Error).message}` };
  }
}
