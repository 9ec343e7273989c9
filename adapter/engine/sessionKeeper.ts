// The guarantee that no program, snapshot, criu or restored copy outlives its session, whatever ends
// the engine (SIGKILL, a test timeout, an editor crash): a small keeper process
// (adapter/python/axolotl_keeper.py), started first, learns the session of everything the engine
// starts and, when its stdin ends because the engine is gone, kills every process in those sessions.
// On an orderly stop the engine has already ended them all; the keeper then finds nothing.
// What is not a process of ours (a container, run by podman's conmon) is handed over as a command the
// keeper runs after its sweep (`podman rm -f NAME`): harmless when the engine removed it already.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pythonDir } from './paths';

/** The keepers of this process's sessions: a last-resort kill of everything must spare them, so that
 *  they still end what a kill of the tree misses (a snapshot forked just then). */
export const keeperPids = new Set<number>();

export class SessionKeeper {
  private readonly child?: ChildProcess;

  constructor(python: string) {
    const exe = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : python;
    try {
      // Its own session: a Ctrl-C or a kill of the engine's process group does not reach it.
      this.child = spawn(exe, [path.join(pythonDir(), 'axolotl_keeper.py')], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
      this.child.on('error', () => undefined);
      this.child.stdin!.on('error', () => undefined);
      this.child.unref();
      const pid = this.child.pid;
      if (pid !== undefined) {
        keeperPids.add(pid);
        this.child.once('exit', () => keeperPids.delete(pid));
      }
      (this.child.stdin as unknown as { unref?: () => void }).unref?.();
    } catch {
      this.child = undefined; // without it only a SIGKILLed engine leaves processes behind
    }
  }

  /** The process `sid` leads a session of the engine's: end that session with the engine. */
  track(sid: number): void {
    if (sid > 1) this.child?.stdin?.write(`sid ${sid}\n`);
  }

  /**
   * A command to run when the engine is gone (after the sweep), e.g. removing a container. Returns what
   * takes it back, once the engine has done it itself.
   */
  atExit(argv: string[]): () => void {
    if (!argv.length) return () => undefined;
    const line = JSON.stringify(argv);
    this.child?.stdin?.write(`run ${line}\n`);
    return () => { this.child?.stdin?.write(`drop ${line}\n`); };
  }

  /** The engine has ended everything itself: the keeper sweeps once more and exits. */
  close(): void {
    this.child?.stdin?.end();
  }
}
