// Proves the harness: a real VS Code (code-server) opens a folder, runs a palette command, opens
// a file, and leaves no process behind.
//   npx tsc -p tsconfig.test.json && node --test out/test/e2e/smoke.e2e.js
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { descendantPids, isAlive } from './codeServer';
import { withWorkbench } from './workbench';

test('smoke: workbench opens hello.py and toggles the terminal', async (t) => {
  const t0 = Date.now();
  let treeBeforeStop: number[] = [];
  await withWorkbench('smoke', { files: { 'hello.py': 'print("hello from axolotl e2e")\n' } }, async (wb, server) => {
    t.diagnostic(`server + workbench ready in ${Date.now() - t0} ms (${server.url})`);
    await wb.step('workbench loaded', async () => {
      await wb.page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'hello.py' }).waitFor();
    });
    await wb.step('toggle terminal', async () => {
      await wb.runCommand('View: Toggle Terminal');
      await wb.page.locator('.terminal-wrapper.active .xterm').waitFor();
    });
    await wb.step('open hello.py', async () => {
      await wb.openFile('hello.py');
      await wb.waitForEditorText(/print\("hello from axolotl e2e"\)/);
    });
    treeBeforeStop = server.processTree();
    // server, extension host, file watcher, pty host, shell at least
    assert.ok(treeBeforeStop.length >= 4, `process tree: ${treeBeforeStop.join(' ')}`);
  });
  assert.deepEqual(treeBeforeStop.filter(isAlive), [], 'code-server processes left behind');
  assert.deepEqual(descendantPids(process.pid).filter((p) => p !== process.pid), [], 'child processes left behind');
  t.diagnostic(`whole test ${Date.now() - t0} ms`);
});
