// Rewrites criu images in tests, to check that the helper refuses what an attacker could make criu
// write. An image file is two magic words, then entries (u32 length + protobuf message); this knows
// just enough protobuf for that (images/core.proto, images/creds.proto in criu's source).
import fs from 'node:fs';
import path from 'node:path';

export interface PbField {
  num: number;
  wire: number;
  /** varint and fixed values */
  int?: bigint;
  /** length-delimited values */
  bytes?: Buffer;
}

function readVarint(buf: Buffer, at: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    if (at >= buf.length) throw new Error('protobuf: truncated varint');
    const b = buf[at++];
    v |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [v, at];
    shift += 7n;
  }
}

function varint(v: bigint): Buffer {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

export function pbDecode(buf: Buffer): PbField[] {
  const out: PbField[] = [];
  let at = 0;
  while (at < buf.length) {
    let key: bigint;
    [key, at] = readVarint(buf, at);
    const num = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      let v: bigint;
      [v, at] = readVarint(buf, at);
      out.push({ num, wire, int: v });
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      out.push({ num, wire, int: wire === 1 ? buf.readBigUInt64LE(at) : BigInt(buf.readUInt32LE(at)) });
      at += n;
    } else if (wire === 2) {
      let n: bigint;
      [n, at] = readVarint(buf, at);
      out.push({ num, wire, bytes: buf.subarray(at, at + Number(n)) });
      at += Number(n);
    } else {
      throw new Error(`protobuf: wire type ${wire}`);
    }
  }
  return out;
}

export function pbEncode(fields: PbField[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    parts.push(varint(BigInt(f.num << 3 | f.wire)));
    if (f.wire === 0) parts.push(varint(f.int!));
    else if (f.wire === 2) parts.push(varint(BigInt(f.bytes!.length)), f.bytes!);
    else if (f.wire === 1) { const b = Buffer.alloc(8); b.writeBigUInt64LE(f.int!); parts.push(b); }
    else { const b = Buffer.alloc(4); b.writeUInt32LE(Number(f.int!)); parts.push(b); }
  }
  return Buffer.concat(parts);
}

/** Replaces every occurrence of field `num` by varints `values` (a repeated uint32, or one value). */
export function setInts(fields: PbField[], num: number, values: (number | bigint)[]): PbField[] {
  const at = fields.findIndex((f) => f.num === num);
  const rest = fields.filter((f) => f.num !== num);
  const add = values.map((v) => ({ num, wire: 0, int: BigInt(v) }));
  rest.splice(at < 0 ? rest.length : at, 0, ...add);
  return rest;
}

export function setBytes(fields: PbField[], num: number, value: Buffer): PbField[] {
  return [...fields.filter((f) => f.num !== num), { num, wire: 2, bytes: value }];
}

function editEntry(file: string, edit: (entry: Buffer) => Buffer): void {
  const buf = fs.readFileSync(file);
  const entries: Buffer[] = [];
  for (let at = 8; at < buf.length;) {
    const n = buf.readUInt32LE(at);
    entries.push(buf.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  const out: Buffer[] = [buf.subarray(0, 8)];
  for (const [i, e] of entries.entries()) {
    const next = i === 0 ? edit(e) : e;
    const len = Buffer.alloc(4);
    len.writeUInt32LE(next.length);
    out.push(len, next);
  }
  fs.writeFileSync(file, Buffer.concat(out));
}

function editSub(fields: PbField[], num: number, edit: (sub: PbField[]) => PbField[]): PbField[] {
  return fields.map((f) => (f.num === num && f.wire === 2 ? { ...f, bytes: pbEncode(edit(pbDecode(f.bytes!))) } : f));
}

/** Edits thread_core_entry (core_entry field 5) of a core-ID.img. */
export function editThreadCore(coreFile: string, edit: (thread: PbField[]) => PbField[]): void {
  editEntry(coreFile, (e) => pbEncode(editSub(pbDecode(e), 5, edit)));
}

/** Edits the creds_entry (thread_core_entry field 10) of a core-ID.img. */
export function editCreds(coreFile: string, edit: (creds: PbField[]) => PbField[]): void {
  editThreadCore(coreFile, (thread) => editSub(thread, 10, edit));
}

/** A capability set as criu stores it: two u32 words. */
export function capWords(...caps: number[]): bigint[] {
  let mask = 0n;
  for (const c of caps) mask |= 1n << BigInt(c);
  return [mask & 0xffffffffn, mask >> 32n];
}

/**
 * Copies checkpoint `from` of a run folder in the helper's store to number `to`, lets `alter` change
 * its image folder, and records the new sizes as the helper's seal would (the test is root: this is
 * what an attacker's forged parasite data would have made criu write).
 */
export function plantCheckpoint(runDir: string, from: number, to: number, alter: (imgDir: string) => void): void {
  const dir = path.join(runDir, String(to));
  fs.cpSync(path.join(runDir, String(from)), dir, { recursive: true });
  alter(dir);
  const meta = JSON.parse(fs.readFileSync(path.join(runDir, `${from}.json`), 'utf8')) as { files: Record<string, number> };
  meta.files = {};
  for (const f of fs.readdirSync(dir)) {
    if (f === 'stats-restore') { fs.rmSync(path.join(dir, f)); continue; }
    fs.chmodSync(path.join(dir, f), 0o644);
    meta.files[f] = fs.statSync(path.join(dir, f)).size;
  }
  fs.writeFileSync(path.join(runDir, `${to}.json`), JSON.stringify(meta), { mode: 0o600 });
}
