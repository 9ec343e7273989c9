// How the criu backend keeps checkpoint images small (pageStore.ts does the storing):
//   - the newest ordinary checkpoint of a run keeps its raw `pages-*.img`: it is the one an accepted
//     repair restores, and a restore from raw images needs no rebuild;
//   - after each ordinary dump, every other kept checkpoint (older ones, a crash checkpoint) has its
//     pages moved into the run's page store in the background, one at a time, off the dump's critical
//     path (not after a crash dump: the repair in progress and the restore that follows come first);
//   - a restore of a deduplicated checkpoint first writes its `pages-*.img` back, and deletes that copy
//     once criu has read it;
//   - a deleted checkpoint releases its pages (packs nothing else uses are deleted).
import fs from 'node:fs';
import path from 'node:path';
import { PageStore, PageStoreError } from './pageStore';
import { listCheckpoints } from './runDir';
import { AxolotlError } from './types';

export type PagesLog = (level: 'debug' | 'warn', message: string) => void;

export class CheckpointPages {
  /** run dir → its store, opened on first use */
  private readonly stores = new Map<string, PageStore>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly log: PagesLog = () => undefined) {}

  /** A dump into `dir` just finished: dedupe the run's other checkpoints in the background. */
  dumped(dir: string): void {
    if (this.closed) return;
    dir = path.resolve(dir);
    // After the caller has written the checkpoint's record (it says whether it is a crash checkpoint).
    setImmediate(() => {
      if (isCrashCheckpoint(dir)) return;
      this.queue = this.queue
        .then(() => this.compactRun(runDirOf(dir)))
        .catch((e: Error) => this.log('warn', `could not deduplicate checkpoint pages: ${e.message}`));
    });
  }

  /**
   * Makes the page images of `dir` present for criu restore. Returns `done`, to call once criu has
   * read them (a rebuilt copy is deleted then) or has failed.
   */
  async prepare(dir: string): Promise<{ done: () => void; rebuiltMs?: number }> {
    dir = path.resolve(dir);
    const runDir = runDirOf(dir);
    const open = this.stores.get(runDir);
    if (!open && !PageStore.needsRebuild(dir)) return { done: () => undefined };
    const store = open ?? this.store(runDir);
    store.pin(dir);
    const done = () => {
      store.unpin(dir);
      store.dropRebuilt(dir);
    };
    try {
      const r = await store.rebuild(dir);
      if (r.images) this.log('debug', `checkpoint ${path.basename(dir)}: ${(r.bytes / 1e6).toFixed(1)} MB of pages rebuilt in ${r.ms.toFixed(0)} ms`);
      return { done, rebuiltMs: r.images ? r.ms : undefined };
    } catch (e) {
      done();
      if (e instanceof PageStoreError) {
        throw new AxolotlError(`checkpoint ${path.basename(dir)} cannot be restored: its memory pages are damaged`, 'Restore another checkpoint.', e.message);
      }
      throw e;
    }
  }

  /**
   * Deduplicates now every checkpoint of `runDir` except the newest ordinary one (what the background
   * work would do next), e.g. for a run that ended before it caught up.
   */
  async compact(runDir: string): Promise<void> {
    const run = this.queue.then(() => this.compactRun(path.resolve(runDir)));
    this.queue = run.catch(() => undefined);
    await run;
  }

  /** `dir` was deleted: free the pages only it used. */
  discarded(dir: string): void {
    dir = path.resolve(dir);
    this.stores.get(runDirOf(dir))?.release(dir);
  }

  /** Finishes the deduplication in progress (not the queued ones: they happen in a later session). */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    for (const s of this.stores.values()) await s.close();
  }

  private store(runDir: string): PageStore {
    let s = this.stores.get(runDir);
    if (!s) {
      s = PageStore.open(path.join(runDir, 'pages'), path.join(runDir, 'checkpoints'));
      this.stores.set(runDir, s);
    }
    return s;
  }

  private async compactRun(runDir: string): Promise<void> {
    const kept = listCheckpoints(runDir);
    const newest = kept.filter((c) => !c.atCrash).pop();
    for (const c of kept) {
      if (this.closed) return;
      if (c === newest || c.backend !== 'criu' || !c.dir || !PageStore.hasRawImages(c.dir)) continue;
      const r = await this.store(runDir).ingest(c.dir);
      if (r.done && r.images) {
        this.log('debug', `checkpoint ${c.id}: ${(r.bytesIn / 1e6).toFixed(1)} MB of pages deduplicated in ${r.ms.toFixed(0)} ms (${r.newPages} of ${r.pages} pages new)`);
      }
    }
  }
}

function isCrashCheckpoint(dir: string): boolean {
  try {
    return !!(JSON.parse(fs.readFileSync(path.join(dir, 'axolotl.json'), 'utf8')) as { atCrash?: boolean }).atCrash;
  } catch {
    return false;
  }
}

/** `<run>/checkpoints/<id>` → `<run>` */
function runDirOf(checkpointDir: string): string {
  return path.dirname(path.dirname(checkpointDir));
}
