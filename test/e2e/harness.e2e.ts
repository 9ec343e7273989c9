// Exercises every workbench helper against a tiny fixture extension (fixture-extension/),
// installed from a .vsix like the real extension will be: palette commands that appear late,
// notifications with buttons, a webview, a diff editor with an editor-title action, and a debug
// session writing to the Debug Console. Also checks that no process is left behind.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { descendantPids, isAlive } from './codeServer';
import { packVsix } from './vsix';
import { withWorkbench } from './workbench';

const FIXTURE = path.resolve(__dirname, '../../../test/e2e/fixture-extension');

test('harness: notifications, webview, diff editor action, debug console', async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'axolotl-e2e-vsix-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const vsix = packVsix(FIXTURE, path.join(tmp, 'fixture.vsix'));
  let tree: number[] = [];

  await withWorkbench('harness', { vsix, files: { 'main.py': 'print(1)\n', 'pkg/util.py': 'def util():\n    return 42\n' } }, async (wb, server) => {
    await wb.step('open a file in a subfolder', async () => {
      await wb.openFile('pkg/util.py');
      await wb.waitForEditorText(/return 42/);
    });
    await wb.step('notification buttons', async () => {
      await wb.runCommand('E2E Fixture: Notify');
      await wb.clickNotificationButton('Fixture asks: accept?', 'Accept');
      await wb.waitForNotification('Fixture choice: Accept');
    });
    await wb.step('webview', async () => {
      await wb.runCommand('E2E Fixture: Open Webview');
      const view = await wb.waitForWebview('#title');
      assert.equal(await view.locator('#title').textContent(), 'Fixture webview');
      await view.locator('#ping').click();
      await wb.waitForNotification('Webview said ping');
    });
    await wb.step('diff editor and its title action', async () => {
      await wb.runCommand('E2E Fixture: Open Diff');
      await wb.waitForDiffEditor();
      assert.ok(await wb.isDiffEditorOpen());
      await wb.shot('diff open');
      await wb.clickEditorAction('Accept Fixture Change');
      await wb.waitForNoDiffEditor();
      await wb.waitForNotification('Fixture change accepted');
    });
    await wb.step('debug console', async () => {
      await wb.runCommand('E2E Fixture: Debug');
      await wb.waitForDebugConsoleText('fixture debuggee says hello');
    });
    await wb.step('hidden panel and toasts are found again', async () => {
      await wb.runCommand('View: Hide Panel');
      await wb.page.locator('.repl').waitFor({ state: 'hidden' });
      await wb.waitForDebugConsoleText('fixture debuggee says hello');
      // Toasts hide by themselves after a while; then the notification center is searched.
      const n = await wb.waitForNotification('Fixture change accepted', 6000);
      assert.deepEqual(n.buttons, []);
    });
    tree = server.processTree();
  });
  assert.deepEqual(tree.filter(isAlive), [], 'code-server processes left behind');
  assert.deepEqual(descendantPids(process.pid).filter((p) => p !== process.pid), [], 'child processes left behind');
});
