// The interpreter VS Code already uses: with no `python` in the launch configuration, Axolotl runs the
// program with the interpreter selected in the Python extension (here a stand-in for ms-python.python
// that selects the workspace's venv, test/e2e/fake-python-extension), and says so in the Debug
// Console's first line.
//   npm run package && npx tsc -p test/e2e && node --test out/test/e2e/interpreter.e2e.js
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { assertNothingLeft, axolotlVsix } from './axolotl';
import { packVsix } from './vsix';
import { withWorkbench } from './workbench';

const FAKE_PYTHON_EXTENSION = path.resolve(__dirname, '../../../test/e2e/fake-python-extension');

test('interpreter: the one selected in the Python extension runs the program (a venv)', async (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'axolotl-e2e-vsix-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const vsix = [axolotlVsix(), packVsix(FAKE_PYTHON_EXTENSION, path.join(tmp, 'python.vsix'))];
  const program = 'import sys\nprint("prefix", sys.prefix, flush=True)\n';
  let tree: number[] = [];
  // A local model endpoint asks no consent (nothing crashes, so it is never called).
  const settings = { 'axolotl.baseUrl': 'http://127.0.0.1:9/v1' };
  await withWorkbench('interpreter', { vsix, files: { 'where.py': program }, settings }, async (wb, server) => {
    const venv = path.join(server.workspace, '.venv');
    await wb.step('a venv in the workspace, selected in the Python extension', async () => {
      execFileSync('python3', ['-m', 'venv', '--without-pip', venv], { timeout: 60_000 });
      await wb.openFile('where.py');
      await wb.waitForEditorText(/print\("prefix"/);
    });
    await wb.step('F5 without a launch.json runs it with the venv\'s python', async () => {
      await wb.waitForCommand('Debug: Start Debugging');
      await wb.press('Escape');
      await wb.press('F5');
      const text = await wb.waitForDebugConsoleText(`prefix ${venv}`, 60_000);
      const first = text.split('\n').find((l) => l.startsWith('axolotl: Python'));
      assert.equal(first?.replace(/ 3\.\d+\.\d+ /, ' 3.x '), `axolotl: Python 3.x (${path.join(venv, 'bin', 'python')}), selected in the Python extension`);
      await wb.waitForDebugEnd(30_000);
    });
    tree = server.processTree();
  });
  assertNothingLeft(tree);
});
