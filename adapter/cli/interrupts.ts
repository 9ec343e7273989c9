// How `axolotl run` ends when the outside world ends it, stopping the program first and leaving with
// the status a shell expects: Ctrl-C or SIGTERM (130; a second Ctrl-C leaves at once), the terminal
// hanging up (129, by the hangup itself), the reader of our output going away (141, as SIGPIPE would).
import { killDescendants } from '../engine/procTree';
import type { Supervisor } from '../engine/supervisor';
import type { Terminal } from './terminal';

export class Interrupts {
  private interrupted = false;
  private hungUpFlag = false;

  constructor(private readonly sup: Supervisor, private readonly term: Terminal) {
    process.on('SIGINT', this.onInterrupt);
    process.on('SIGTERM', this.onInterrupt);
    process.on('SIGHUP', this.onHangup);
    process.stdout.on('error', this.onOutputError);
    process.stderr.on('error', this.onOutputError);
  }

  /** The terminal went away: once the program is stopped, leave by the hangup (dieOfHangup). */
  get hungUp(): boolean {
    return this.hungUpFlag;
  }

  /** The run is over: signals are ours no more (a write to a closed stdout may still come, and is ignored). */
  dispose(): void {
    process.off('SIGINT', this.onInterrupt);
    process.off('SIGTERM', this.onInterrupt);
    process.off('SIGHUP', this.onHangup);
  }

  private readonly onInterrupt = (): void => {
    if (this.interrupted) {
      // Leave at once, but leave nothing behind: the program, criu, the restore wrapper.
      killDescendants();
      process.exit(130);
    }
    this.interrupted = true;
    this.term.answered(''); // a question on the screen is abandoned
    this.term.say('interrupted: stopping the program (Ctrl-C again to leave at once)');
    void this.sup.stop().then(() => process.exit(130));
  };

  // The terminal closed: the program lives in its own session and would never see the hangup, so stop
  // it as a shell's SIGHUP would have, and leave with that status. Nobody is left to read a message.
  private readonly onHangup = (): void => {
    this.hungUpFlag = true;
    if (this.interrupted) return;
    this.interrupted = true;
    void this.sup.stop().then(dieOfHangup);
  };

  // Our reader went away (`axolotl run x.py | head`): stop the program as a closed pipe would, and
  // leave with the status a shell gives a process killed by SIGPIPE, instead of an EPIPE stack trace.
  private readonly onOutputError = (e: NodeJS.ErrnoException): void => {
    if (e.code === 'EIO') return this.onHangup(); // the terminal went away; its SIGHUP may come later
    if (this.interrupted) return;
    this.interrupted = true;
    if (e.code !== 'EPIPE') this.term.say(`cannot write the program's output: ${e.message}`);
    void this.sup.stop().then(() => process.exit(141));
  };
}

/**
 * Ends the CLI by the hangup itself, as a shell expects (status 129): a normal exit would abort
 * inside Node, which fails (EIO) to reset a terminal that is gone.
 */
export function dieOfHangup(): Promise<never> {
  process.removeAllListeners('SIGHUP');
  process.kill(process.pid, 'SIGHUP');
  setTimeout(() => process.exit(129), 1000);
  return new Promise<never>(() => undefined);
}
