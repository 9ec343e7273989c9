// The content-addressed page store for criu images: dedupe, byte-identical rebuilds, deletion that
// keeps shared pages, damage detection, and recovery from an interrupted write.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { MANIFEST_SUFFIX, PAGE_SIZE, PageStore, PageStoreError } from '../../adapter/engine/pageStore';

let root: string;
let checkpoints: string;
let storeDir: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-pages-'));
  checkpoints = path.join(root, 'checkpoints');
  storeDir = path.join(root, 'pages');
  fs.mkdirSync(checkpoints);
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A page filled from a seed (distinct seeds, distinct pages). */
function page(seed: number): Buffer {
  return Buffer.from(crypto.createHash('sha512').update(String(seed)).digest('hex').repeat(PAGE_SIZE / 128), 'latin1');
}

const ZERO = -1;
/** Writes checkpoints/<name>/pages-1.img from page seeds (ZERO = a zero page) and returns its bytes. */
function image(name: string, seeds: number[], file = 'pages-1.img', tail?: number): Buffer {
  const dir = path.join(checkpoints, name);
  fs.mkdirSync(dir, { recursive: true });
  let bytes = Buffer.concat(seeds.map((s) => (s === ZERO ? Buffer.alloc(PAGE_SIZE) : page(s))));
  if (tail !== undefined) bytes = bytes.subarray(0, bytes.length - PAGE_SIZE + tail);
  fs.writeFileSync(path.join(dir, file), bytes);
  fs.writeFileSync(path.join(dir, 'core-1.img'), 'not pages');
  return bytes;
}

const dirOf = (name: string) => path.join(checkpoints, name);
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

test('identical pages are stored once, across images and within one', async () => {
  const store = PageStore.open(storeDir, checkpoints);
  image('1', [...range(0, 100), 5, 5, ZERO, ZERO]);
  image('2', [...range(0, 90), ...range(1000, 10), ZERO]); // 10 pages changed
  const a = await store.ingest(dirOf('1'));
  const b = await store.ingest(dirOf('2'));
  assert.equal(a.pages, 104);
  assert.equal(a.newPages, 100);
  assert.equal(a.zeroPages, 2);
  assert.equal(b.newPages, 10);
  const st = store.stats();
  assert.equal(st.pages, 110);
  assert.ok(st.packBytes < 111 * PAGE_SIZE + 110 * 40, `store holds ${st.packBytes} bytes`);
  // The raw images are replaced by small manifests; other image files are left alone.
  for (const d of ['1', '2']) {
    assert.equal(fs.existsSync(path.join(dirOf(d), 'pages-1.img')), false);
    assert.ok(fs.statSync(path.join(dirOf(d), 'pages-1.img' + MANIFEST_SUFFIX)).size < 200);
    assert.equal(fs.readFileSync(path.join(dirOf(d), 'core-1.img'), 'utf8'), 'not pages');
  }
});

test('a rebuilt image is byte for byte the original, zero pages, duplicates and a partial last page included', async () => {
  const store = PageStore.open(storeDir, checkpoints);
  const one = image('1', [ZERO, ...range(0, 3000), 7, 7, 7, ZERO, ZERO, 9]);
  const two = image('2', [...range(2, 50), ZERO, 4], 'pages-2.img', 100);
  const three = image('3', range(10, 20));
  await store.ingest(dirOf('1'));
  await store.ingest(dirOf('2'));
  await store.ingest(dirOf('3'));
  assert.ok(PageStore.needsRebuild(dirOf('1')));
  const r = await store.rebuild(dirOf('1'), { verify: true });
  assert.equal(r.images, 1);
  assert.ok(fs.readFileSync(path.join(dirOf('1'), 'pages-1.img')).equals(one));
  await store.rebuild(dirOf('2'), { verify: true });
  assert.ok(fs.readFileSync(path.join(dirOf('2'), 'pages-2.img')).equals(two));
  await store.rebuild(dirOf('3'));
  assert.ok(fs.readFileSync(path.join(dirOf('3'), 'pages-1.img')).equals(three));
  // Rebuilding again is a no-op; dropping the rebuilt copy keeps the manifest.
  assert.equal((await store.rebuild(dirOf('1'))).images, 0);
  store.dropRebuilt(dirOf('1'));
  assert.equal(fs.existsSync(path.join(dirOf('1'), 'pages-1.img')), false);
  assert.ok(fs.existsSync(path.join(dirOf('1'), 'pages-1.img' + MANIFEST_SUFFIX)));
});

test('deleting a checkpoint keeps the pages others share and frees the rest', async () => {
  const store = PageStore.open(storeDir, checkpoints);
  image('1', range(0, 40));
  const two = image('2', [...range(0, 30), ...range(500, 10)]);
  image('3', [...range(0, 30), ...range(500, 5), ...range(900, 5)]);
  for (const d of ['1', '2', '3']) await store.ingest(dirOf(d));
  assert.equal(store.stats().packs, 3);
  // 1 goes: its pack still holds pages 0-29 that 2 and 3 use.
  fs.rmSync(dirOf('1'), { recursive: true });
  assert.equal(store.release(dirOf('1')), 0);
  await store.rebuild(dirOf('2'), { verify: true });
  assert.ok(fs.readFileSync(path.join(dirOf('2'), 'pages-1.img')).equals(two));
  store.dropRebuilt(dirOf('2'));
  // 3 goes: the pack of its own pages 900-904 is no longer used by anyone.
  fs.rmSync(dirOf('3'), { recursive: true });
  assert.equal(store.release(dirOf('3')), 1);
  assert.equal(store.stats().packs, 2);
  await store.rebuild(dirOf('2'), { verify: true });
  assert.ok(fs.readFileSync(path.join(dirOf('2'), 'pages-1.img')).equals(two));
  // A page whose pack was deleted is stored again when it comes back.
  image('4', range(900, 5));
  assert.equal((await store.ingest(dirOf('4'))).newPages, 5);
});

test('a damaged manifest or a missing pack is reported, never rebuilt into a wrong image', async () => {
  const store = PageStore.open(storeDir, checkpoints);
  image('1', range(0, 20));
  image('2', range(100, 20));
  await store.ingest(dirOf('1'));
  await store.ingest(dirOf('2'));
  const man = path.join(dirOf('1'), 'pages-1.img' + MANIFEST_SUFFIX);
  const good = fs.readFileSync(man);
  const flipped = Buffer.from(good);
  flipped[21] ^= 1;
  fs.writeFileSync(man, flipped);
  await assert.rejects(store.rebuild(dirOf('1')), (e: Error) => e instanceof PageStoreError && /checksum/.test(e.message));
  fs.writeFileSync(man, good.subarray(0, good.length - 5));
  await assert.rejects(store.rebuild(dirOf('1')), PageStoreError);
  fs.writeFileSync(man, 'garbage that is long enough to be read as a header of something');
  await assert.rejects(store.rebuild(dirOf('1')), PageStoreError);
  assert.equal(fs.existsSync(path.join(dirOf('1'), 'pages-1.img')), false, 'no partial image left');
  // A pack deleted behind the store's back.
  for (const f of fs.readdirSync(storeDir)) fs.rmSync(path.join(storeDir, f));
  const fresh = PageStore.open(storeDir, checkpoints);
  await assert.rejects(fresh.rebuild(dirOf('2')), (e: Error) => e instanceof PageStoreError && /does not have/.test(e.message));
});

test('an interrupted write leaves a usable store: temp files and unused packs go, raw images win', async () => {
  const first = PageStore.open(storeDir, checkpoints);
  const one = image('1', range(0, 30));
  await first.ingest(dirOf('1'));
  // Crashed after a pack was written but before its manifest, and in the middle of another pack.
  image('2', range(200, 10));
  await first.ingest(dirOf('2'));
  const two = image('2', range(200, 10));
  fs.rmSync(path.join(dirOf('2'), 'pages-1.img' + MANIFEST_SUFFIX));
  fs.writeFileSync(path.join(storeDir, 'pack-999.dat.tmp'), 'half');
  fs.writeFileSync(path.join(dirOf('1'), 'pages-1.img' + MANIFEST_SUFFIX + '.tmp'), 'half');
  const again = PageStore.open(storeDir, checkpoints);
  assert.deepEqual(fs.readdirSync(storeDir).filter((f) => f.endsWith('.tmp')), []);
  assert.equal(again.stats().packs, 1, 'the pack without a manifest was swept');
  await again.rebuild(dirOf('1'), { verify: true });
  assert.ok(fs.readFileSync(path.join(dirOf('1'), 'pages-1.img')).equals(one));
  // The raw image of 2 is still there and is ingested normally; dedupe works across sessions.
  assert.ok(PageStore.hasRawImages(dirOf('2')));
  image('3', range(0, 30));
  assert.equal((await again.ingest(dirOf('3'))).newPages, 0);
  assert.equal((await again.ingest(dirOf('2'))).newPages, 10);
  await again.rebuild(dirOf('2'), { verify: true });
  assert.ok(fs.readFileSync(path.join(dirOf('2'), 'pages-1.img')).equals(two));
});

test('a checkpoint released while its ingest runs keeps nothing, and pinned raw images stay', async () => {
  const store = PageStore.open(storeDir, checkpoints);
  image('1', range(0, 3000)); // several read chunks
  const pending = store.ingest(dirOf('1'));
  // Released once the first chunk has gone into a pack that is not complete yet.
  while (!fs.readdirSync(storeDir).some((f) => f.endsWith('.dat.tmp'))) await new Promise(setImmediate);
  fs.rmSync(dirOf('1'), { recursive: true });
  store.release(dirOf('1'));
  const r = await pending;
  assert.equal(r.done, false);
  assert.equal(store.stats().packs, 0);
  assert.deepEqual(fs.readdirSync(storeDir), []);
  // Its pages were forgotten with it: they are stored again when they come back.
  image('1b', range(0, 30));
  assert.equal((await store.ingest(dirOf('1b'))).newPages, 30);
  const raw = image('2', range(0, 10));
  store.pin(dirOf('2'));
  await store.ingest(dirOf('2'));
  assert.ok(fs.readFileSync(path.join(dirOf('2'), 'pages-1.img')).equals(raw), 'a restore is reading it');
  store.unpin(dirOf('2'));
  store.dropRebuilt(dirOf('2'));
  assert.equal(fs.existsSync(path.join(dirOf('2'), 'pages-1.img')), false);
  await store.rebuild(dirOf('2'), { verify: true });
  assert.ok(fs.readFileSync(path.join(dirOf('2'), 'pages-1.img')).equals(raw));
});
