// The output of a program in a container, read from the log conmon writes (podman's k8s-file driver).
// `podman attach` would be the obvious way, but it adds a newline of its own when the container ends,
// and a restored container starts running before anyone can attach: the log file has every byte, in
// order, from the moment we choose (a restored container's log begins with the checkpoint's old log).
//
// One line per chunk conmon read: `<RFC 3339 time> <stdout|stderr> <F|P> <bytes>\n`, F when the chunk
// ended a line (its newline is implied), P when it did not.
import fs from 'node:fs';

export interface LogRecord {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

const NL = 0x0a;
const SPACE = 0x20;

/**
 * The records in `buf` up to its last complete line; `rest` is the unfinished line (conmon may be
 * writing it). Consecutive records of one stream are joined.
 */
export function parseLog(buf: Buffer): { records: LogRecord[]; rest: Buffer } {
  const records: LogRecord[] = [];
  let start = 0;
  for (let nl = buf.indexOf(NL, start); nl >= 0; nl = buf.indexOf(NL, start)) {
    const line = buf.subarray(start, nl);
    start = nl + 1;
    const s1 = line.indexOf(SPACE);
    const s2 = s1 < 0 ? -1 : line.indexOf(SPACE, s1 + 1);
    const s3 = s2 < 0 ? -1 : line.indexOf(SPACE, s2 + 1);
    // A line that is not conmon's (never seen) carries nothing of the program's.
    if (s3 < 0) continue;
    const stream = line.subarray(s1 + 1, s2).toString('latin1');
    if (stream !== 'stdout' && stream !== 'stderr') continue;
    const full = line.subarray(s2 + 1, s3).toString('latin1').split(':').includes('F');
    const content = line.subarray(s3 + 1);
    const data = full ? Buffer.concat([content, Buffer.from('\n')]) : Buffer.from(content);
    const last = records[records.length - 1];
    if (last?.stream === stream) last.data = Buffer.concat([last.data, data]);
    else records.push({ stream, data });
  }
  return { records, rest: Buffer.from(buf.subarray(start)) };
}

/** Follows a container's log from byte `offset` on, handing each record to `onRecord`. */
export class ContainerLogReader {
  private offset: number;
  private rest: Buffer = Buffer.alloc(0);
  private watcher?: fs.FSWatcher;
  private timer?: NodeJS.Timeout;
  private lastGrowth = Date.now();
  private closed = false;

  constructor(readonly file: string, offset: number, private readonly onRecord: (r: LogRecord) => void) {
    this.offset = offset;
  }

  /** The log's size now: where a reader that wants only what comes next starts. */
  static sizeOf(file: string): number {
    try { return fs.statSync(file).size; } catch { return 0; }
  }

  start(): void {
    // inotify for low latency; the timer for filesystems that do not report changes.
    try {
      this.watcher = fs.watch(this.file, () => this.read());
      this.watcher.on('error', () => undefined);
    } catch { /* polled */ }
    this.timer = setInterval(() => this.read(), 100);
    this.read();
  }

  /** Reads what has arrived; true if anything did. */
  read(): boolean {
    if (this.closed) return false;
    let fd: number;
    try { fd = fs.openSync(this.file, 'r'); } catch { return false; }
    let grew = false;
    try {
      const chunk = Buffer.alloc(1 << 16);
      for (;;) {
        const n = fs.readSync(fd, chunk, 0, chunk.length, this.offset);
        if (n <= 0) break;
        grew = true;
        this.offset += n;
        const { records, rest } = parseLog(Buffer.concat([this.rest, chunk.subarray(0, n)]));
        this.rest = rest;
        for (const r of records) this.onRecord(r);
      }
    } finally {
      fs.closeSync(fd);
    }
    if (grew) this.lastGrowth = Date.now();
    return grew;
  }

  /** After the container ended: reads until the log has been still for `quietMs` (at most `maxMs`). */
  async drain(quietMs = 40, maxMs = 1000): Promise<void> {
    const start = Date.now();
    this.read();
    while (Date.now() - start < maxMs && Date.now() - this.lastGrowth < quietMs) {
      await new Promise((r) => setTimeout(r, 10));
      this.read();
    }
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
  }
}
