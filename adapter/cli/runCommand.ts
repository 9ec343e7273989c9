// `axolotl run`: the engine in a terminal. Program output passes through unchanged on stdout/stderr;
// everything Axolotl says goes to stderr, prefixed.
import { spawn } from 'node:child_process';
import os from 'node:os';
import { createEngine } from '../engine/backendChoice';
import { AxolotlError, type ExitEvent } from '../engine/types';
import { describeCrash } from './crashText';
import { dieOfHangup, Interrupts } from './interrupts';
import type { CliRunOptions } from './options';
import { repairingCrashHandler, type CrashHandler } from './repairReview';
import { formatBytes, Terminal } from './terminal';

export async function runCommand(opts: CliRunOptions): Promise<number> {
  if (opts.normalRun) return normalRun(opts);
  const term = new Terminal();
  const { supervisor: sup, note } = await createEngine(opts);
  if (note) term.say(note);
  let onCrash: CrashHandler | undefined;
  if (opts.repair && opts.agent) {
    const review = repairingCrashHandler(opts);
    review.attach(sup, term);
    onCrash = review.handler;
  }
  let crashes = 0;
  // A reader slower than the program (a pager, a slow pipe) must slow the program down, not fill
  // our memory: stop reading its output until our stdout/stderr drains.
  let waitingForDrain = false;
  sup.on('output', (o) => {
    if (term.program(o.stream, o.data) || waitingForDrain) return;
    waitingForDrain = true;
    sup.pauseOutput();
    (o.stream === 'stdout' ? process.stdout : process.stderr).once('drain', () => {
      waitingForDrain = false;
      sup.resumeOutput();
    });
  });
  sup.on('started', (s) => {
    if (opts.verbose) term.say(`process ${s.pid} running; checkpoints in ${s.runDir}`);
    term.setStatus(`running · checkpoint every ${opts.interval} s`);
  });
  // Where the program's open line stood at each checkpoint: a rewind there continues that line, so it
  // is shown again first (the line the checkpoint began in; see Terminal.rewound).
  const lineAt = new Map<number, Buffer>();
  let lineAtDump: Buffer = Buffer.alloc(0);
  sup.on('checkpointStarted', () => { lineAtDump = term.openLine(); });
  sup.on('checkpointDeleted', (c) => lineAt.delete(c.id));
  sup.on('checkpoint', (c) => {
    lineAt.set(c.id, lineAtDump);
    const where = c.inMemory && !c.saved ? 'in memory' : formatBytes(c.bytes);
    const text = `checkpoint ${c.id}${c.atCrash ? ' (at crash)' : ''} · ${where} · frozen ${c.frozenMs.toFixed(0)} ms`;
    if (opts.verbose) term.say(text);
    term.setStatus(`running · ${text}`);
  });
  sup.on('restored', (r) => {
    term.rewound(lineAt.get(r.checkpoint.id) ?? Buffer.alloc(0));
    term.say(`restored checkpoint ${r.checkpoint.id} in ${r.ms.toFixed(0)} ms${r.generation ? ` with repair ${r.generation}` : ''}`);
    term.setStatus('running (restored)');
  });
  // Before a rewind: what it cannot undo (output already printed, sockets, child processes, files).
  sup.on('rewind', (n) => term.say(n.level === 'warning' ? term.yellow(n.text) : n.text));
  sup.on('log', (l) => {
    if (l.level === 'warn' || l.level === 'error' || (opts.verbose && l.level === 'info')) term.say(l.level === 'info' ? l.message : term.yellow(l.message));
  });
  // The run ends at an exit that no crash handling (repair, restore) followed with a new copy.
  let lastExit: ExitEvent | undefined;
  let wake = () => undefined as void;
  sup.on('exit', (ev) => { lastExit = ev; wake(); });
  sup.on('restored', () => { lastExit = undefined; });
  const nextExit = () => new Promise<void>((resolve) => { if (lastExit) resolve(); else wake = resolve; });
  let handling: Promise<void> = Promise.resolve();
  sup.on('crash', (crash) => {
    crashes++;
    handling = handling.then(async () => {
      term.clearStatus();
      term.say(term.red(describeCrash(crash)));
      if (onCrash) {
        await onCrash(sup, crash, term);
      } else if (crash.paused) {
        sup.decide({ type: 'abort' });
      }
    }).catch((e: Error) => {
      term.say(term.red(e.message));
      const more = e instanceof AxolotlError ? [e.hint, e.details].filter(Boolean).join('\n') : '';
      if (more) term.say(more);
      // A failed restore has already ended the run (the paused copy was stopped for it).
      try { if (crash.paused) sup.decide({ type: 'abort' }); } catch { /* nothing paused any more */ }
    });
  });

  const stdinForward = (d: Buffer) => sup.writeStdin(d);
  const stdinEnd = () => sup.endStdin();
  if (!process.stdin.isTTY) {
    process.stdin.on('data', stdinForward);
    process.stdin.on('end', stdinEnd);
  }
  const interrupts = new Interrupts(sup, term);
  try {
    if (opts.from) await sup.startFrom(opts.from.runDir, opts.from.id);
    else await sup.start();
    for (;;) {
      await nextExit();
      await handling;
      if (lastExit) break;
    }
    const ev = lastExit;
    term.clearStatus();
    if (ev.reason) term.say(term.red(ev.reason));
    else if (ev.signal) term.say(`the program was killed by ${ev.signal}`);
    // Held only in memory, the others end with the session: what is left is on disk.
    const kept = sup.checkpoints.filter((c) => c.saved !== false).length;
    if (ev.status !== 0 && crashes > 0) {
      term.say(`${kept} checkpoint${kept === 1 ? '' : 's'} kept in ${sup.runDir}` +
        (kept ? ` (axolotl checkpoints ${sup.runDir}; axolotl restore ${sup.runDir} <id>)` : ''));
    } else if (opts.verbose) {
      term.say(`program exited with status ${ev.status}; ${kept} checkpoints in ${sup.runDir}`);
    }
    term.close(); // nothing will end the program's last line now: say what waits for it
    return ev.status;
  } catch (e) {
    term.close(true); // the error is printed next, on a row of its own
    throw e;
  } finally {
    interrupts.dispose();
    process.stdin.off('data', stdinForward);
    process.stdin.off('end', stdinEnd);
    process.stdin.pause();
    await sup.stop();
    if (interrupts.hungUp) await dieOfHangup();
  }
}

/** `--normal-run`: exactly `python3 script.py args`, no supervision; same output and status. */
function normalRun(opts: CliRunOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(opts.python, [opts.program, ...opts.args], { cwd: opts.cwd, stdio: 'inherit' });
    child.once('error', (e) => reject(new AxolotlError(`cannot run ${opts.python}`, 'Pass --python with a working interpreter.', e.message)));
    // Let the child see Ctrl-C like it would under a plain shell; we only wait for its status.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(signal ? 128 + (os.constants.signals[signal] ?? 0) : code ?? 0);
    });
  });
}
