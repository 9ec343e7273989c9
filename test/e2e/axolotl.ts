// Shared by the Axolotl end-to-end tests (not a test file itself): the packaged .vsix, fixture
// workspaces, the timeline webview, and the checks that nothing is left running.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { FrameLocator } from 'playwright-core';
import { descendantPids, isAlive } from './codeServer';
import { waitFor, type Workbench } from './workbench';

export const ROOT = path.resolve(__dirname, '../../..');
export const VSIX = path.join(ROOT, 'dist', 'axolotl.vsix');
export const EXTENSION_ID = 'axolotl-dev.axolotl';
const FIXTURES = path.join(ROOT, 'test', 'e2e', 'fixtures');

// ---- the .vsix -----------------------------------------------------------------------------

/** What goes into the .vsix: a newer file here means the .vsix must be packed again. */
const PACKAGE_INPUTS = ['package.json', '.vscodeignore', 'README.md', 'LICENSE', 'extension', 'adapter', 'webview', 'media', 'scripts/build.mjs'];

function newestMtime(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(p)) {
    if (name === '__pycache__' || name === 'node_modules') continue;
    newest = Math.max(newest, newestMtime(path.join(p, name)));
  }
  return newest;
}

/** Runs `npm run package` (vsce, .vscodeignore): writes dist/axolotl.vsix and returns its path. */
export function packageVsix(): string {
  execFileSync('npm', ['run', '--silent', 'package'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
  assert.ok(existsSync(VSIX), `npm run package did not write ${VSIX}`);
  return VSIX;
}

/** dist/axolotl.vsix, packed again first when a source is newer (so a stale .vsix is never tested). */
export function axolotlVsix(): string {
  const newest = Math.max(...PACKAGE_INPUTS.map((p) => newestMtime(path.join(ROOT, p))));
  if (existsSync(VSIX) && statSync(VSIX).mtimeMs >= newest) return VSIX;
  return packageVsix();
}

export interface ZipEntry { name: string; size: number; /** Unix mode, when the zip has one */ mode: number; data: () => Buffer }

/** The entries of a zip file (a .vsix), read from its central directory. */
export function readZip(file: string): ZipEntry[] {
  const buf = readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  assert.ok(eocd >= 0, `${file} is not a zip file (no end of central directory)`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let n = 0; n < count; n++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50, `bad central directory entry ${n} in ${file}`);
    const method = buf.readUInt16LE(p + 10);
    const packed = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const mode = buf.readUInt32LE(p + 38) >>> 16;
    const local = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    entries.push({
      name,
      size,
      mode,
      data: () => {
        const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
        const raw = buf.subarray(start, start + packed);
        return method === 0 ? Buffer.from(raw) : zlib.inflateRawSync(raw);
      },
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

// ---- workspaces ----------------------------------------------------------------------------

/**
 * The files of test/e2e/fixtures/<name>/ by relative path, for `withWorkbench({ files })`, with
 * every `__KEY__` replaced by vars[KEY] (e.g. __MODEL_URL__ in a launch.json).
 */
export function fixtureFiles(name: string, vars: Record<string, string> = {}): Record<string, string> {
  const root = path.join(FIXTURES, name);
  const files: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(r);
      else files[r] = readFileSync(path.join(root, r), 'utf8').replace(/__([A-Z_]+)__/g, (m, key: string) => vars[key] ?? m);
    }
  };
  walk('');
  return files;
}

export function fixtureText(name: string, rel: string): string {
  return readFileSync(path.join(FIXTURES, name, rel), 'utf8');
}

// ---- the timeline webview ------------------------------------------------------------------

/** Shows the Axolotl Timeline view (Run and Debug side bar) and returns its webview's frame. */
export async function showTimeline(wb: Workbench): Promise<FrameLocator> {
  await wb.runCommand('Run and Debug: Focus on Axolotl Timeline View');
  return wb.waitForWebview('.tl-track', { extensionId: EXTENSION_ID });
}

export interface TimelineCheckpoint { id: number; label: string }

/** The checkpoint markers the timeline renders (it virtualizes: only those in view are in the DOM). */
export async function timelineCheckpoints(frame: FrameLocator): Promise<TimelineCheckpoint[]> {
  return frame.locator('.tl-item.tl-checkpoint').evaluateAll((els) => els.map((el) => ({
    id: Number((el as HTMLElement).dataset.key?.replace(/^cp:/, '')),
    label: el.getAttribute('aria-label') ?? '',
  })).sort((a, b) => a.id - b.id));
}

/** Waits until the timeline shows at least `n` checkpoints; returns them. */
export async function waitForCheckpoints(frame: FrameLocator, n: number, timeout?: number): Promise<TimelineCheckpoint[]> {
  let seen: TimelineCheckpoint[] = [];
  return waitFor(`${n} checkpoints on the timeline`, async () => {
    seen = await timelineCheckpoints(frame);
    return seen.length >= n ? seen : undefined;
  }, timeout).catch((e: Error) => {
    throw new Error(`${e.message}; it shows ${JSON.stringify(seen)}`);
  });
}

/** The header's counts ("5 checkpoints · 1 crash", ...). */
export async function timelineCounts(frame: FrameLocator): Promise<string> {
  return (await frame.locator('.tl-counts').textContent()) ?? '';
}

// ---- processes -----------------------------------------------------------------------------

/** Asserts that the server's processes are gone and the test process has no children left. */
export function assertNothingLeft(tree: number[]): void {
  assert.deepEqual(tree.filter(isAlive), [], 'code-server processes left behind');
  assert.deepEqual(descendantPids(process.pid).filter((p) => p !== process.pid), [], 'child processes left behind');
  const strays = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return /axolotl-e2e-/.test(cmd) && isAlive(Number(pid));
    } catch {
      return false;
    }
  });
  assert.deepEqual(strays, [], 'processes still running from an e2e workspace');
}
