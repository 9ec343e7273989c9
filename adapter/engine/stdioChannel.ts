// The stdio of one process the engine started: the program itself, or a restore wrapper whose restored
// task was handed the wrapper's sockets. Fork snapshots inherit those sockets, so after a rewind to an
// in-memory snapshot the program writes to the channel of the copy the snapshot was forked from. The
// channel hands its bytes to whichever copy is live on it; the supervisor only ever reads copies.
import { PassThrough, type Readable, type Writable } from 'node:stream';

/** What a copy reads its output from. */
export interface CopyOutput {
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
}

export class StdioChannel {
  private live?: CopyOutput;
  private lastData = 0;
  private ended = 0;

  constructor(
    readonly stdin: Writable,
    stdout: Readable,
    stderr: Readable,
    /** inodes of the sockets behind fds 0-2 (criu: --external at dump, --inherit-fd at restore) */
    readonly inodes: number[],
  ) {
    stdin.on('error', () => undefined); // the program may close stdin; not our error
    this.route(stdout, 'stdout');
    this.route(stderr, 'stderr');
  }

  /** From now on the bytes are `copy`'s. */
  attach(copy: CopyOutput): void {
    this.live = copy;
  }

  detach(copy: CopyOutput): void {
    if (this.live === copy) this.live = undefined;
  }

  /**
   * Resolves when the output a copy wrote before it exited has arrived: the sockets have closed, or
   * nothing came for `quietMs` (snapshots still hold the sockets open), at most after `maxMs`.
   */
  async settle(quietMs = 25, maxMs = 500): Promise<void> {
    const start = Date.now();
    while (this.ended < 2 && Date.now() - start < maxMs) {
      if (Date.now() - Math.max(this.lastData, start) >= quietMs) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private route(src: Readable, which: 'stdout' | 'stderr'): void {
    src.on('data', (d: Buffer) => {
      this.lastData = Date.now();
      const target = this.live?.[which];
      // Bytes with no live copy belong to a timeline that was rewound (a copy killed for a restore).
      if (!target || target.writableEnded) return;
      // A slow consumer pauses the copy's stream: hold the socket too, so the program blocks on write.
      if (!target.write(d)) {
        src.pause();
        target.once('drain', () => src.resume());
        target.once('close', () => src.resume());
      }
    });
    // Both ends closed: no process holds the sockets any more (the program and every snapshot of it
    // are gone), so nobody can read stdin either.
    src.once('end', () => { if (++this.ended === 2) this.stdin.destroy(); });
    src.on('error', () => undefined);
  }
}
