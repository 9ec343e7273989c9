// The .vsix the other e2e tests install: `npm run package` (vsce with .vscodeignore) must write
// dist/axolotl.vsix holding the four bundles and the codicons, the Python agent, media, README,
// LICENSE and package.json, and nothing else; the bundles must load nothing from node_modules.
//   npx tsc -p test/e2e && node --test out/test/e2e/package.e2e.js
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { packageVsix, readZip, ROOT } from './axolotl';

/** Files under `dir` (relative to the repo), recursively, without caches. */
function repoFiles(dir: string, keep: (name: string) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) { if (e.name !== '__pycache__') out.push(...repoFiles(rel, keep)); } else if (keep(e.name)) out.push(rel);
  }
  return out;
}

test('package: npm run package writes dist/axolotl.vsix with exactly what the extension needs', (t) => {
  const started = Date.now();
  const vsix = packageVsix();
  t.diagnostic(`npm run package: ${Date.now() - started} ms`);
  const entries = readZip(vsix);
  const names = entries.map((e) => e.name).sort();
  t.diagnostic(`${names.length} entries, ${(entries.reduce((n, e) => n + e.size, 0) / 1024).toFixed(0)} KB unpacked: ${names.join(', ')}`);

  const expected = [
    '[Content_Types].xml',
    'extension.vsixmanifest',
    'extension/package.json',
    'extension/readme.md',
    'extension/LICENSE.txt',
    ...['extension', 'adapter', 'cli', 'webview'].map((b) => `extension/dist/${b}.js`),
    'extension/dist/codicons/codicon.css',
    'extension/dist/codicons/codicon.ttf',
    // the Python side: the agent, the restore wrapper, and whatever else adapter/python holds
    ...repoFiles('adapter/python', (n) => !n.endsWith('.pyc')).map((f) => `extension/${f}`),
    ...repoFiles('media').map((f) => `extension/${f}`),
  ].sort();
  assert.ok(expected.includes('extension/adapter/python/axolotl_agent/__main__.py'), 'the agent is among the expected files');
  assert.ok(expected.includes('extension/adapter/python/axolotl_restore.py'), 'the restore wrapper is among the expected files');
  assert.deepEqual(names, expected, 'the .vsix holds exactly the bundles, the Python agent, media, README, LICENSE and package.json');

  const file = (name: string) => entries.find((e) => e.name === name)!.data();
  // The manifest is the repo's, and its entry points are inside.
  const manifest = JSON.parse(file('extension/package.json').toString('utf8'));
  const repoManifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(`${manifest.publisher}.${manifest.name}@${manifest.version}`, `${repoManifest.publisher}.${repoManifest.name}@${repoManifest.version}`);
  assert.equal(manifest.main, './dist/extension.js');
  assert.ok(names.includes(`extension/${manifest.icon}`), `the icon ${manifest.icon} is packed`);
  assert.deepEqual(manifest.contributes, repoManifest.contributes);
  // The Python side is the repo's, byte for byte, and what is executable stays executable.
  for (const f of repoFiles('adapter/python', (n) => !n.endsWith('.pyc'))) {
    const entry = entries.find((e) => e.name === `extension/${f}`)!;
    assert.ok(entry.data().equals(readFileSync(path.join(ROOT, f))), `${f} differs in the .vsix`);
    if (statSync(path.join(ROOT, f)).mode & 0o100) assert.ok(entry.mode & 0o100, `${f} is not executable in the .vsix (mode ${entry.mode.toString(8)})`);
  }
  assert.match(file('extension/readme.md').toString('utf8'), /^# Axolotl\n/);
  assert.ok(file('extension/LICENSE.txt').equals(readFileSync(path.join(ROOT, 'LICENSE'))));

  // --no-dependencies: the bundles must not require anything but Node's modules (and vscode).
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  for (const bundle of ['extension', 'adapter', 'cli']) {
    const js = file(`extension/dist/${bundle}.js`).toString('utf8');
    assert.ok(js.length > 10_000, `dist/${bundle}.js is a bundle`);
    const required = new Set([...js.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]));
    assert.ok(required.has('fs') || required.has('node:fs'), `no require() found in dist/${bundle}.js: the check would see nothing`);
    const foreign = [...required].filter((m) => !builtins.has(m) && !(bundle === 'extension' && m === 'vscode'));
    assert.deepEqual(foreign, [], `dist/${bundle}.js requires modules that are not in the .vsix`);
  }
  assert.match(file('extension/dist/cli.js').toString('utf8'), /^#!\/usr\/bin\/env node\n/);
});
