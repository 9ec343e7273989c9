// Reading criu's image files. Only what the engine needs before a restore: the process tree
// (pstree.img), every PID and thread ID the restore will need. The images are protobuf records
// behind criu's magic numbers; nothing here trusts them (a damaged image is an Error, never a crash).
import fs from 'node:fs';
import path from 'node:path';

const IMG_COMMON_MAGIC = 0x54564319;
const PSTREE_MAGIC = 0x50273030;

export interface PstreeEntry {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  threads: number[];
}

/** The process tree of a criu image (pstree.img): every PID and thread ID the restore will need. */
export function readPstree(dir: string): PstreeEntry[] {
  const buf = fs.readFileSync(path.join(dir, 'pstree.img'));
  if (buf.length < 8 || buf.readUInt32LE(0) !== IMG_COMMON_MAGIC || buf.readUInt32LE(4) !== PSTREE_MAGIC) {
    throw new Error('pstree.img is not a criu process tree image');
  }
  const out: PstreeEntry[] = [];
  let off = 8;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new Error('pstree.img is truncated');
    const len = buf.readUInt32LE(off);
    off += 4;
    if (off + len > buf.length) throw new Error('pstree.img is truncated');
    out.push(decodePstreeEntry(buf.subarray(off, off + len)));
    off += len;
  }
  if (!out.length) throw new Error('pstree.img lists no process');
  return out;
}

function decodePstreeEntry(b: Buffer): PstreeEntry {
  const e: PstreeEntry = { pid: 0, ppid: 0, pgid: 0, sid: 0, threads: [] };
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (i >= b.length) throw new Error('pstree.img entry is truncated');
      const byte = b[i++];
      v += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) return v;
      shift += 7;
      if (shift > 63) throw new Error('pstree.img entry is malformed');
    }
  };
  while (i < b.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const v = varint();
      if (field === 1) e.pid = v;
      else if (field === 2) e.ppid = v;
      else if (field === 3) e.pgid = v;
      else if (field === 4) e.sid = v;
      else if (field === 5) e.threads.push(v);
    } else if (wire === 2) {
      const len = varint();
      const end = i + len;
      if (field === 5) while (i < end) e.threads.push(varint()); // packed
      i = end;
    } else if (wire === 5) {
      i += 4;
    } else if (wire === 1) {
      i += 8;
    } else {
      throw new Error('pstree.img entry is malformed');
    }
  }
  if (!e.pid) throw new Error('pstree.img entry has no pid');
  return e;
}
