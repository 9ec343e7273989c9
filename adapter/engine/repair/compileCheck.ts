// A warm Python for the compile check of proposed repairs. Starting `python -m py_compile` for each
// check costs 40 ms on an idle machine and several hundred while criu is dumping the crashed program
// beside it; this process is started when a repair is requested (in parallel with the model call) and
// answers each check in about a millisecond, with exactly py_compile's message. It exits when its
// stdin closes (the engine is gone) or after two idle minutes. If it cannot run, validate.ts falls
// back to `python -m py_compile`.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

const IDLE_EXIT_S = 120;

// What `python -m py_compile FILE` does, one JSON request per line: {"file", "cfile"} → {"msg"?}.
const SERVER = `
import json, os, py_compile, select, sys
buf = b""
while True:
    while b"\\n" not in buf:
        if not select.select([0], [], [], ${IDLE_EXIT_S})[0]:
            sys.exit(0)
        chunk = os.read(0, 65536)
        if not chunk:
            sys.exit(0)
        buf += chunk
    line, buf = buf.split(b"\\n", 1)
    req = json.loads(line)
    try:
        py_compile.compile(req["file"], cfile=req["cfile"], doraise=True)
        res = {}
    except py_compile.PyCompileError as e:
        res = {"msg": e.msg}
    except OSError as e:
        res = {"msg": str(e)}
    sys.stdout.write(json.dumps(res) + "\\n")
    sys.stdout.flush()
`;

type Pending = { resolve: (msg: string | undefined) => void; reject: (e: Error) => void };

export class CompileChecker {
  private static readonly byPython = new Map<string, CompileChecker>();
  private child?: ChildProcess;
  private readonly pending: Pending[] = [];
  private buf = '';

  private constructor(private readonly python: string) {}

  /** The checker for `python` (one per interpreter, shared). */
  static for(python: string): CompileChecker {
    let c = CompileChecker.byPython.get(python);
    if (!c) {
      c = new CompileChecker(python);
      CompileChecker.byPython.set(python, c);
    }
    return c;
  }

  /** Starts the interpreter now, so that it is ready when a check comes. */
  warm(): void {
    this.start();
  }

  /**
   * py_compile's message for `file` (undefined: it compiles); the bytecode goes to `cfile`. Rejects
   * when the checker cannot run (the caller then runs py_compile itself).
   */
  check(file: string, cfile: string): Promise<string | undefined> {
    const child = this.start();
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      setRef(child, true);
      (child.stdin as Writable).write(JSON.stringify({ file, cfile }) + '\n');
    });
  }

  private start(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(this.python, ['-I', '-S', '-c', SERVER], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child = child;
    child.stdin!.on('error', () => undefined);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const p = this.pending.shift();
        if (!p) continue;
        try {
          p.resolve((JSON.parse(line) as { msg?: string }).msg);
        } catch (e) {
          p.reject(e as Error);
        }
      }
      if (!this.pending.length) setRef(child, false);
    });
    const gone = (why: string) => {
      if (this.child === child) this.child = undefined;
      this.buf = '';
      for (const p of this.pending.splice(0)) p.reject(new Error(why));
    };
    child.on('error', (e) => gone(e.message));
    child.on('exit', () => gone('the compile checker exited'));
    setRef(child, false);
    return child;
  }
}

/** An idle checker must not keep the engine's process alive. */
function setRef(child: ChildProcess, on: boolean): void {
  for (const s of [child, child.stdin, child.stdout] as Array<ChildProcess | Readable | Writable | null>) {
    const h = s as unknown as { ref?: () => void; unref?: () => void } | null;
    if (on) h?.ref?.();
    else h?.unref?.();
  }
}
