// A content-addressed store for the memory pages of criu images, shared by every checkpoint of a run.
//
// criu has no dirty-page tracking here, so every dump is full: 100 checkpoints of a 200 MB program
// would take 20 GB. Most pages do not change between checkpoints, so after a dump each `pages-N.img`
// is split into 4 KiB pages, every distinct page is stored once, and the image file is replaced by a
// small manifest. Before a restore the manifest is turned back into `pages-N.img`.
//
// Layout (in `<run>/pages/`):
//   pack-<first>.dat  the pages one ingest added, back to back; they get the ids first, first+1, …
//   pack-<first>.idx  'AXPI', version, first, count, the SHA-256 of each page, SHA-256 of the above
// and next to each image, `pages-N.img.axpages`: 'AXPM', version, file size, then runs of page ids
// (first id, count; id 0 = a run of zero pages), then the SHA-256 of everything before it.
//
// Why packs and ids rather than a file per page: 50k pages per 200 MB image would mean millions of
// inodes, and a manifest of runs of consecutive ids is a few KB where a list of hashes is 1.6 MB.
//
// Crash safety: a pack is written under a .tmp name and renamed once complete (data, then index); the
// manifest is written (tmp + rename) only after its pack exists; the raw image is deleted last. A
// crash at any point leaves either the raw image or a complete manifest (plus, at worst, a pack no
// manifest uses, which the next sweep deletes).
//
// Deletion is mark-and-sweep: when a checkpoint goes, the packs no remaining manifest refers to are
// deleted. Packs are not compacted: a pack stays whole while any of its pages is in use.
//
// Hashing (~1 s of CPU per GB) runs on a worker thread at the lowest CPU priority: it neither blocks
// the engine's event loop nor takes a core from the program, criu or a repair in progress.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

export const PAGE_SIZE = 4096;
export const MANIFEST_SUFFIX = '.axpages';
const HASH_BYTES = 32;
const MANIFEST_MAGIC = 0x4d505841; // "AXPM"
const PACK_MAGIC = 0x49505841; // "AXPI"
const VERSION = 1;
/** bytes read from an image at a time: 1024 pages, a few ms of hashing between yields */
const READ_CHUNK = 4 << 20;
/** largest single read when rebuilding an image */
const COPY_CHUNK = 8 << 20;
const IMAGE_RE = /^pages-\d+\.img$/;
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

/** A damaged or inconsistent manifest or pack. */
export class PageStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PageStoreError';
  }
}

export interface Manifest {
  /** exact size of the image file */
  fileSize: number;
  /** [first id, count]; first id 0 = `count` zero pages */
  runs: Array<[number, number]>;
}

interface Pack {
  first: number;
  count: number;
  /** the hash keys of its pages, in id order (to forget them when the pack is deleted) */
  keys: string[];
}

export interface IngestResult {
  images: number;
  pages: number;
  /** pages that were not in the store yet */
  newPages: number;
  zeroPages: number;
  /** raw image bytes replaced by manifests */
  bytesIn: number;
  ms: number;
  /** false when the checkpoint was discarded meanwhile (nothing was kept) */
  done: boolean;
}

export interface RebuildResult {
  images: number;
  bytes: number;
  ms: number;
}

export interface PageStoreStats {
  packs: number;
  pages: number;
  packBytes: number;
  manifests: number;
}

export class PageStore {
  private packs: Pack[] = [];
  private readonly byHash = new Map<string, number>();
  private nextId = 1;
  /** manifest path → manifest, for every checkpoint still kept */
  private readonly manifests = new Map<string, Manifest>();
  /** checkpoint dirs whose raw images must stay (a restore is reading them) */
  private readonly pins = new Map<string, number>();
  /** checkpoint dirs dropped while an ingest of theirs ran */
  private readonly dropped = new Set<string>();
  private ingesting: Promise<unknown> = Promise.resolve();
  private readonly hasher = new ChunkHasher();
  /** an ingest is running: its pages may refer to packs no manifest names yet, so sweeps wait */
  private active = false;
  private sweepPending = false;

  private constructor(readonly dir: string, readonly checkpointsRoot: string) {}

  /**
   * Opens (or creates) the store in `dir` for the checkpoint folders under `checkpointsRoot`. Leftovers
   * of an interrupted write are removed, and packs no manifest uses are deleted.
   */
  static open(dir: string, checkpointsRoot: string): PageStore {
    const store = new PageStore(dir, checkpointsRoot);
    store.load();
    return store;
  }

  /** Manifest path of an image path. */
  static manifestOf(image: string): string {
    return image + MANIFEST_SUFFIX;
  }

  /** True when `checkpointDir` has raw page images that are not in the store yet. */
  static hasRawImages(checkpointDir: string): boolean {
    return listDir(checkpointDir).some((f) => IMAGE_RE.test(f) && !fs.existsSync(path.join(checkpointDir, f + MANIFEST_SUFFIX)));
  }

  /** True when some page image of `checkpointDir` exists only as a manifest. */
  static needsRebuild(checkpointDir: string): boolean {
    return listDir(checkpointDir).some((f) => f.endsWith(MANIFEST_SUFFIX) && !fs.existsSync(path.join(checkpointDir, f.slice(0, -MANIFEST_SUFFIX.length))));
  }

  stats(): PageStoreStats {
    let packBytes = 0;
    for (const p of this.packs) packBytes += fileSize(this.packFile(p, 'dat')) + fileSize(this.packFile(p, 'idx'));
    return { packs: this.packs.length, pages: this.packs.reduce((n, p) => n + p.count, 0), packBytes, manifests: this.manifests.size };
  }

  /** Stops the hashing thread (after the ingests queued so far). */
  async close(): Promise<void> {
    await this.ingesting;
    await this.hasher.close();
  }

  /**
   * Moves the page images of `checkpointDir` into the store, replacing each by a manifest. Runs one at
   * a time (ids are handed out in order); yields between chunks so the caller's event loop stays live.
   */
  ingest(checkpointDir: string): Promise<IngestResult> {
    const run = this.ingesting.then(() => this.ingestNow(checkpointDir));
    this.ingesting = run.catch(() => undefined);
    return run;
  }

  /** Waits for the ingests queued so far. */
  async idle(): Promise<void> {
    await this.ingesting;
  }

  /**
   * Writes back every page image of `checkpointDir` that only exists as a manifest. Throws a
   * PageStoreError when a manifest is damaged or refers to pages the store does not have. `verify`
   * also checks every page against its hash (slower).
   */
  async rebuild(checkpointDir: string, opts: { verify?: boolean } = {}): Promise<RebuildResult> {
    const started = performance.now();
    let images = 0;
    let bytes = 0;
    for (const name of listDir(checkpointDir)) {
      if (!name.endsWith(MANIFEST_SUFFIX)) continue;
      const image = path.join(checkpointDir, name.slice(0, -MANIFEST_SUFFIX.length));
      if (fs.existsSync(image)) continue;
      const m = readManifest(path.join(checkpointDir, name));
      await this.writeImage(m, image, opts.verify ?? false);
      images++;
      bytes += m.fileSize;
    }
    return { images, bytes, ms: performance.now() - started };
  }

  /** Keeps the raw images of `checkpointDir` on disk until unpin (an ingest then deletes them later). */
  pin(checkpointDir: string): void {
    this.pins.set(checkpointDir, (this.pins.get(checkpointDir) ?? 0) + 1);
  }

  unpin(checkpointDir: string): void {
    const n = (this.pins.get(checkpointDir) ?? 0) - 1;
    if (n > 0) this.pins.set(checkpointDir, n);
    else this.pins.delete(checkpointDir);
  }

  /** Deletes the raw images of `checkpointDir` that have a manifest (e.g. rebuilt for a restore). */
  dropRebuilt(checkpointDir: string): void {
    if (this.pins.has(checkpointDir)) return;
    for (const name of listDir(checkpointDir)) {
      if (IMAGE_RE.test(name) && fs.existsSync(path.join(checkpointDir, name + MANIFEST_SUFFIX))) {
        fs.rmSync(path.join(checkpointDir, name), { force: true });
      }
    }
  }

  /**
   * Forgets the manifests of `checkpointDir` (the caller deletes the folder) and deletes the packs
   * that no other checkpoint uses. Returns the number of packs deleted.
   */
  release(checkpointDir: string): number {
    this.dropped.add(checkpointDir);
    const prefix = checkpointDir + path.sep;
    for (const file of [...this.manifests.keys()]) if (file.startsWith(prefix)) this.manifests.delete(file);
    // The ingest of this folder (if any) notices `dropped` and rolls back; the set is cleared then.
    void this.ingesting.then(() => this.dropped.delete(checkpointDir));
    return this.sweep();
  }

  /** Deletes the packs no kept manifest refers to; returns how many (0 when deferred to the end of an ingest). */
  sweep(): number {
    if (this.active) {
      this.sweepPending = true;
      return 0;
    }
    this.sweepPending = false;
    const live = new Uint8Array(this.packs.length);
    for (const m of this.manifests.values()) {
      for (const [first, count] of m.runs) {
        if (first === 0) continue;
        for (let i = this.packIndex(first); i >= 0 && i < this.packs.length && this.packs[i].first < first + count; i++) live[i] = 1;
      }
    }
    const keep: Pack[] = [];
    let deleted = 0;
    this.packs.forEach((p, i) => {
      if (live[i]) {
        keep.push(p);
        return;
      }
      for (const k of p.keys) {
        const id = this.byHash.get(k);
        if (id !== undefined && id >= p.first && id < p.first + p.count) this.byHash.delete(k);
      }
      fs.rmSync(this.packFile(p, 'idx'), { force: true });
      fs.rmSync(this.packFile(p, 'dat'), { force: true });
      deleted++;
    });
    this.packs = keep;
    return deleted;
  }

  // ------------------------------------------------------------------------------------------------

  private load(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const name of listDir(this.dir)) {
      if (name.endsWith('.tmp')) fs.rmSync(path.join(this.dir, name), { force: true });
    }
    for (const name of listDir(this.dir)) {
      const m = /^pack-(\d+)\.idx$/.exec(name);
      if (!m) continue;
      const pack = this.readPack(Number(m[1]));
      if (!pack) continue;
      this.packs.push(pack);
    }
    this.packs.sort((a, b) => a.first - b.first);
    for (const p of this.packs) {
      p.keys.forEach((k, i) => { if (!this.byHash.has(k)) this.byHash.set(k, p.first + i); });
      this.nextId = Math.max(this.nextId, p.first + p.count);
    }
    for (const sub of listDir(this.checkpointsRoot)) {
      const d = path.join(this.checkpointsRoot, sub);
      for (const name of listDir(d)) {
        if (!name.endsWith(MANIFEST_SUFFIX)) continue;
        try {
          const man = readManifest(path.join(d, name));
          this.manifests.set(path.join(d, name), man);
          for (const [first, count] of man.runs) if (first) this.nextId = Math.max(this.nextId, first + count);
        } catch { /* a damaged manifest keeps nothing alive; restoring it reports the damage */ }
      }
    }
    this.sweep();
  }

  private readPack(first: number): Pack | undefined {
    const idx = path.join(this.dir, `pack-${first}.idx`);
    const dat = path.join(this.dir, `pack-${first}.dat`);
    try {
      const b = fs.readFileSync(idx);
      if (b.length < 16 + HASH_BYTES || b.readUInt32LE(0) !== PACK_MAGIC || b.readUInt32LE(4) !== VERSION) return undefined;
      const count = b.readUInt32LE(12);
      if (b.readUInt32LE(8) !== first || b.length !== 16 + count * HASH_BYTES + HASH_BYTES) return undefined;
      const body = b.subarray(0, b.length - HASH_BYTES);
      if (!sha256(body).equals(b.subarray(b.length - HASH_BYTES))) return undefined;
      if (fileSize(dat) < count * PAGE_SIZE) return undefined;
      const keys: string[] = new Array(count);
      for (let i = 0; i < count; i++) keys[i] = b.toString('latin1', 16 + i * HASH_BYTES, 16 + (i + 1) * HASH_BYTES);
      return { first, count, keys };
    } catch {
      return undefined;
    }
  }

  private packFile(p: { first: number }, ext: 'dat' | 'idx'): string {
    return path.join(this.dir, `pack-${p.first}.${ext}`);
  }

  /** Index in `packs` of the pack holding id, or of the first pack after it (-1 if none). */
  private packIndex(id: number): number {
    let lo = 0;
    let hi = this.packs.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = this.packs[mid];
      if (id < p.first) {
        ans = mid;
        hi = mid - 1;
      } else if (id >= p.first + p.count) {
        lo = mid + 1;
      } else {
        return mid;
      }
    }
    return ans;
  }

  private async ingestNow(checkpointDir: string): Promise<IngestResult> {
    this.active = true;
    try {
      return await this.ingestPages(checkpointDir);
    } finally {
      this.active = false;
      if (this.sweepPending) this.sweep();
    }
  }

  private async ingestPages(checkpointDir: string): Promise<IngestResult> {
    const started = performance.now();
    const result: IngestResult = { images: 0, pages: 0, newPages: 0, zeroPages: 0, bytesIn: 0, ms: 0, done: true };
    const images = listDir(checkpointDir).filter((f) => IMAGE_RE.test(f)).map((f) => path.join(checkpointDir, f));
    const first = this.nextId;
    const added: string[] = [];
    const datTmp = path.join(this.dir, `pack-${first}.dat.tmp`);
    const idxTmp = path.join(this.dir, `pack-${first}.idx.tmp`);
    const manifests: Array<[string, Manifest]> = [];
    let dat: fs.promises.FileHandle | undefined;
    let committed = false;
    // Dropped by the ring buffer while we read it: the folder may be deleted before release() says so.
    const cancelled = () => this.dropped.has(checkpointDir) || !fs.existsSync(checkpointDir);
    try {
      for (const image of images) {
        if (cancelled()) break;
        if (fs.existsSync(PageStore.manifestOf(image))) continue; // ingested before; only the delete was missed
        let size: number;
        try {
          size = fs.statSync(image).size;
        } catch (e) {
          if (cancelled()) break;
          throw e;
        }
        const runs: Array<[number, number]> = [];
        const out = Buffer.allocUnsafe(READ_CHUNK);
        // One chunk ahead: the thread hashes the next while this one is looked up and stored.
        const read = (off: number) => {
          const p = this.hasher.read(image, off, Math.min(READ_CHUNK, size - off));
          p.catch(() => undefined);
          return p;
        };
        let next = size > 0 ? read(0) : undefined;
        for (let off = 0; off < size; off += READ_CHUNK) {
          let chunk;
          try {
            chunk = await next!;
          } catch (e) {
            if (cancelled()) break;
            throw e;
          }
          next = off + READ_CHUNK < size ? read(off + READ_CHUNK) : undefined;
          if (cancelled()) break;
          let outLen = 0;
          for (let i = 0; i < chunk.zero.length; i++) {
            let id = 0;
            if (chunk.zero[i]) {
              result.zeroPages++;
            } else {
              const key = chunk.hashes.toString('latin1', i * HASH_BYTES, (i + 1) * HASH_BYTES);
              const known = this.byHash.get(key);
              if (known !== undefined) {
                id = known;
              } else {
                id = this.nextId++;
                this.byHash.set(key, id);
                added.push(key);
                chunk.data.copy(out, outLen, i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
                outLen += PAGE_SIZE;
              }
            }
            pushRun(runs, id);
            result.pages++;
          }
          if (outLen) {
            dat ??= await fs.promises.open(datTmp, 'w', 0o600);
            await dat.write(out, 0, outLen, (this.nextId - first - outLen / PAGE_SIZE) * PAGE_SIZE);
          }
        }
        await next?.catch(() => undefined);
        manifests.push([PageStore.manifestOf(image), { fileSize: size, runs }]);
        result.bytesIn += size;
      }
      if (cancelled()) {
        result.done = false;
        throw new Cancelled();
      }
      const count = this.nextId - first;
      if (count) {
        await dat!.close();
        dat = undefined;
        const idx = Buffer.allocUnsafe(16 + count * HASH_BYTES);
        idx.writeUInt32LE(PACK_MAGIC, 0);
        idx.writeUInt32LE(VERSION, 4);
        idx.writeUInt32LE(first, 8);
        idx.writeUInt32LE(count, 12);
        added.forEach((k, i) => idx.write(k, 16 + i * HASH_BYTES, 'latin1'));
        fs.writeFileSync(idxTmp, Buffer.concat([idx, sha256(idx)]), { mode: 0o600 });
        fs.renameSync(datTmp, this.packFile({ first }, 'dat'));
        fs.renameSync(idxTmp, this.packFile({ first }, 'idx'));
        this.packs.push({ first, count, keys: added });
        committed = true;
        result.newPages = count;
      }
      // Manifests last: each one is only written once every page it names is in a complete pack.
      for (const [file, man] of manifests) {
        writeFileAtomic(file, encodeManifest(man));
        this.manifests.set(file, man);
      }
      if (!this.pins.has(checkpointDir)) {
        for (const [file] of manifests) fs.rmSync(file.slice(0, -MANIFEST_SUFFIX.length), { force: true });
      }
      result.images = manifests.length;
      result.ms = performance.now() - started;
      return result;
    } catch (e) {
      if (dat) await dat.close().catch(() => undefined);
      fs.rmSync(datTmp, { force: true });
      fs.rmSync(idxTmp, { force: true });
      for (const [file] of manifests) fs.rmSync(file + '.tmp', { force: true });
      if (!committed) {
        // Nothing of this ingest was kept: forget its ids.
        for (const k of added) this.byHash.delete(k);
        this.nextId = first;
      }
      // A committed pack that no manifest got to use goes at the end of the ingest.
      this.sweepPending = true;
      if (e instanceof Cancelled || (cancelled() && isNotFound(e))) {
        return { ...result, done: false, ms: performance.now() - started };
      }
      throw e;
    }
  }

  private async writeImage(m: Manifest, image: string, verify: boolean): Promise<void> {
    const tmp = image + '.tmp';
    const out = await fs.promises.open(tmp, 'w', 0o600);
    try {
      await out.truncate(m.fileSize); // zero runs stay holes
      // Consecutive ids in one pack are consecutive bytes: copy them in large reads.
      const segments: Array<{ pack: Pack; from: number; at: number; len: number }> = [];
      let at = 0;
      for (const [first, count] of m.runs) {
        if (first === 0) {
          at += count * PAGE_SIZE;
          continue;
        }
        let id = first;
        const end = first + count;
        while (id < end) {
          const i = this.packIndex(id);
          const p = i >= 0 ? this.packs[i] : undefined;
          if (!p || id < p.first) throw new PageStoreError(`${PageStore.manifestOf(image)} refers to page ${id}, which the store does not have`);
          const n = Math.min(end, p.first + p.count, id + COPY_CHUNK / PAGE_SIZE) - id;
          segments.push({ pack: p, from: (id - p.first) * PAGE_SIZE, at, len: n * PAGE_SIZE });
          id += n;
          at += n * PAGE_SIZE;
        }
      }
      if (Math.ceil(m.fileSize / PAGE_SIZE) * PAGE_SIZE !== at) {
        throw new PageStoreError(`${PageStore.manifestOf(image)} does not add up to its image size`);
      }
      const handles = new Map<Pack, Promise<fs.promises.FileHandle>>();
      try {
        const copy = async (s: (typeof segments)[number], buf: Buffer) => {
          let opening = handles.get(s.pack);
          if (!opening) {
            opening = fs.promises.open(this.packFile(s.pack, 'dat'), 'r');
            handles.set(s.pack, opening);
          }
          const h = await opening;
          const { bytesRead } = await h.read(buf, 0, s.len, s.from);
          if (bytesRead !== s.len) throw new PageStoreError(`pack-${s.pack.first}.dat is truncated`);
          if (verify) {
            for (let o = 0; o < s.len; o += PAGE_SIZE) {
              const id = s.pack.first + (s.from + o) / PAGE_SIZE;
              if (sha256(buf.subarray(o, o + PAGE_SIZE)).toString('latin1') !== s.pack.keys[id - s.pack.first]) {
                throw new PageStoreError(`page ${id} in pack-${s.pack.first}.dat does not match its hash`);
              }
            }
          }
          const len = Math.min(s.len, m.fileSize - s.at);
          await out.write(buf, 0, len, s.at);
        };
        // A few copies in flight: reads and writes overlap in libuv's thread pool.
        const lanes = 4;
        let next = 0;
        await Promise.all(Array.from({ length: Math.min(lanes, segments.length) }, async () => {
          const buf = Buffer.allocUnsafe(COPY_CHUNK);
          while (next < segments.length) await copy(segments[next++], buf);
        }));
      } finally {
        for (const h of handles.values()) await h.then((fh) => fh.close(), () => undefined);
      }
      await out.close();
      fs.renameSync(tmp, image);
    } catch (e) {
      await out.close().catch(() => undefined);
      fs.rmSync(tmp, { force: true });
      throw e;
    }
  }
}

class Cancelled extends Error {}

interface HashedChunk {
  /** the bytes read, the last page padded with zeros */
  data: Buffer;
  /** SHA-256 of each page, back to back */
  hashes: Buffer;
  /** 1 for an all-zero page (not hashed) */
  zero: Uint8Array;
}

/** Reads `length` bytes of `file` at `offset` and hashes them page by page. */
function hashChunk(file: string, offset: number, length: number): HashedChunk {
  const pages = Math.ceil(length / PAGE_SIZE);
  const data = Buffer.alloc(pages * PAGE_SIZE);
  const fd = fs.openSync(file, 'r');
  try {
    let got = 0;
    while (got < length) {
      const n = fs.readSync(fd, data, got, length - got, offset + got);
      if (n <= 0) break;
      got += n;
    }
    if (got !== length) throw new PageStoreError(`${file} shrank while it was read`);
  } finally {
    fs.closeSync(fd);
  }
  const hashes = Buffer.alloc(pages * HASH_BYTES);
  const zero = new Uint8Array(pages);
  for (let i = 0; i < pages; i++) {
    const page = data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
    if (page.equals(ZERO_PAGE)) zero[i] = 1;
    else sha256(page).copy(hashes, i * HASH_BYTES);
  }
  return { data, hashes, zero };
}

// The same as hashChunk, as the source of a worker thread (which cannot load this module when it is
// bundled). os.setPriority(19) from a thread lowers that thread only (Linux: per-thread nice).
const HASHER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const fs = require('node:fs');
try { require('node:os').setPriority(19); } catch {}
const PAGE = ${PAGE_SIZE}, HASH = ${HASH_BYTES}, ZERO = Buffer.alloc(PAGE);
const sha256 = crypto.hash ? (b) => crypto.hash('sha256', b, 'buffer') : (b) => crypto.createHash('sha256').update(b).digest();
parentPort.on('message', (m) => {
  let fd;
  try {
    const pages = Math.ceil(m.length / PAGE);
    const data = Buffer.alloc(pages * PAGE);
    fd = fs.openSync(m.file, 'r');
    let got = 0;
    while (got < m.length) {
      const n = fs.readSync(fd, data, got, m.length - got, m.offset + got);
      if (n <= 0) break;
      got += n;
    }
    if (got !== m.length) throw new Error(m.file + ' shrank while it was read');
    const hashes = Buffer.alloc(pages * HASH);
    const zero = new Uint8Array(pages);
    for (let i = 0; i < pages; i++) {
      const page = data.subarray(i * PAGE, (i + 1) * PAGE);
      if (page.equals(ZERO)) zero[i] = 1; else sha256(page).copy(hashes, i * HASH);
    }
    parentPort.postMessage({ id: m.id, data: data.buffer, hashes: hashes.buffer, zero: zero.buffer }, [data.buffer, hashes.buffer, zero.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
});
`;

/** hashChunk on a low-priority worker thread, started on first use; inline if no thread can start. */
class ChunkHasher {
  private worker?: Worker;
  private broken = false;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (c: HashedChunk) => void; reject: (e: Error) => void }>();

  async read(file: string, offset: number, length: number): Promise<HashedChunk> {
    const w = this.start();
    if (!w) return hashChunk(file, offset, length);
    return new Promise((resolve, reject) => {
      const id = ++this.seq;
      this.waiting.set(id, { resolve, reject });
      if (this.waiting.size === 1) w.ref();
      w.postMessage({ id, file, offset, length });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private start(): Worker | undefined {
    if (this.worker || this.broken) return this.worker;
    try {
      const w = new Worker(HASHER_SOURCE, { eval: true });
      w.on('message', (m: { id: number; error?: string; data?: ArrayBuffer; hashes?: ArrayBuffer; zero?: ArrayBuffer }) => {
        const p = this.waiting.get(m.id);
        if (!p) return;
        this.waiting.delete(m.id);
        if (this.waiting.size === 0) w.unref();
        if (m.error !== undefined) p.reject(new PageStoreError(m.error));
        else p.resolve({ data: Buffer.from(m.data!), hashes: Buffer.from(m.hashes!), zero: new Uint8Array(m.zero!) });
      });
      w.on('error', (e) => this.fail(w, e));
      w.on('exit', () => this.fail(w, new Error('the page hashing thread exited')));
      w.unref();
      this.worker = w;
    } catch {
      this.broken = true;
    }
    return this.worker;
  }

  private fail(w: Worker, e: Error): void {
    if (this.worker === w) {
      this.worker = undefined;
      this.broken = true;
    }
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
  }
}

function pushRun(runs: Array<[number, number]>, id: number): void {
  const last = runs[runs.length - 1];
  if (last && (id === 0 ? last[0] === 0 : last[0] !== 0 && last[0] + last[1] === id)) last[1]++;
  else runs.push([id, 1]);
}

export function encodeManifest(m: Manifest): Buffer {
  const b = Buffer.allocUnsafe(20 + m.runs.length * 8);
  b.writeUInt32LE(MANIFEST_MAGIC, 0);
  b.writeUInt32LE(VERSION, 4);
  b.writeBigUInt64LE(BigInt(m.fileSize), 8);
  b.writeUInt32LE(m.runs.length, 16);
  m.runs.forEach(([first, count], i) => {
    b.writeUInt32LE(first, 20 + i * 8);
    b.writeUInt32LE(count, 24 + i * 8);
  });
  return Buffer.concat([b, sha256(b)]);
}

/** Reads and checks a manifest; a PageStoreError says what is wrong with it. */
export function readManifest(file: string): Manifest {
  const b = fs.readFileSync(file);
  const bad = (why: string) => new PageStoreError(`page manifest ${file} is damaged: ${why}`);
  if (b.length < 20 + HASH_BYTES) throw bad('too short');
  if (b.readUInt32LE(0) !== MANIFEST_MAGIC) throw bad('not a page manifest');
  if (b.readUInt32LE(4) !== VERSION) throw bad(`unknown version ${b.readUInt32LE(4)}`);
  const n = b.readUInt32LE(16);
  if (b.length !== 20 + n * 8 + HASH_BYTES) throw bad('wrong length');
  if (!sha256(b.subarray(0, b.length - HASH_BYTES)).equals(b.subarray(b.length - HASH_BYTES))) throw bad('checksum mismatch');
  const fileSize = Number(b.readBigUInt64LE(8));
  const runs: Array<[number, number]> = new Array(n);
  let pages = 0;
  for (let i = 0; i < n; i++) {
    runs[i] = [b.readUInt32LE(20 + i * 8), b.readUInt32LE(24 + i * 8)];
    pages += runs[i][1];
  }
  if (pages !== Math.ceil(fileSize / PAGE_SIZE)) throw bad('runs do not cover the image');
  return { fileSize, runs };
}

function sha256(b: Uint8Array): Buffer {
  return crypto.hash('sha256', b, 'buffer');
}

function writeFileAtomic(file: string, data: Buffer): void {
  fs.writeFileSync(file + '.tmp', data, { mode: 0o600 });
  fs.renameSync(file + '.tmp', file);
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}
