// A crashing Python program debugged with Axolotl in a real VS Code, as a user would: a launch.json
// of type `axolotl` pointing at a local model, F5 (Debug: Start Debugging), live output in the Debug
// Console, checkpoints appearing on the timeline, the crash shown at its line with the Call Stack and
// Variables, then the repair diff: Accept (the program resumes from a checkpoint and finishes with
// the fix on disk) or Reject (the exception ends the run and the file stays byte-identical).
//   npm run package && npx tsc -p test/e2e && node --test out/test/e2e/repair.e2e.js
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ModelServer } from '../../dev/modelServer';
import {
  assertNothingLeft, axolotlVsix, fixtureFiles, fixtureText, showTimeline, timelineCheckpoints, timelineCounts, waitForCheckpoints,
} from './axolotl';
import type { CodeServer } from './codeServer';
import { waitFor, withWorkbench, type Workbench } from './workbench';

const PROGRAM = 'batches.py';
const ORIGINAL = fixtureText('crash', PROGRAM);
const FIXED = ORIGINAL.replace('def average(batch):\n', 'def average(batch):\n    if not batch:\n        return 0.0\n');
const FIX = `\`average\` divides by \`len(batch)\`, and batch 12 is empty. Return 0.0 for an empty batch.

\`\`\`diff
--- a/batches.py
+++ b/batches.py
@@ -11,3 +11,5 @@
 def average(batch):
+    if not batch:
+        return 0.0
     total = sum(batch)
\`\`\`
`;

/**
 * A model that answers only when the test says so: the crash can be looked at in peace before the
 * repair diff opens over it.
 */
async function gatedModel(): Promise<{ model: ModelServer; release: () => void }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const model = await ModelServer.start({ handler: async () => { await gate; return FIX; } });
  return { model, release };
}

/** Steps 1-3 of both tests: launch from launch.json, live output, timeline, the crash in the UI. */
async function runUntilCrash(wb: Workbench, server: CodeServer): Promise<void> {
  await wb.step('open the program', async () => {
    await wb.openFile(PROGRAM);
    await wb.waitForEditorText(/def average\(batch\):/);
  });
  await wb.step('start debugging from launch.json', async () => {
    await wb.startDebugging();
    await wb.waitForDebugConsoleText('job: start');
  });
  await wb.step('live output in the Debug Console', async () => {
    await wb.waitForDebugConsoleText('batch 2: average 3.0');
    assert.ok(await wb.isDebugging(), 'the debug session runs');
    // it waits for part 2 of its input (the test gives it below) before it gets to batch 12
    await wb.waitForDebugConsoleText(/batch 5: average 6\.0\s+job: waiting for part 2/);
  });
  await wb.step('checkpoints appear on the timeline', async () => {
    const timeline = await showTimeline(wb);
    const first = await waitForCheckpoints(timeline, 1);
    const more = await waitForCheckpoints(timeline, first.length + 1);
    assert.match(more[0].label, /^Checkpoint 1 at [\d.]+ s, [\d.]+ [kM]B/);
    // still running, with a live clock
    const header = timeline.locator('.tl-status-text');
    await waitFor('the timeline clock to run', async () => Number(/^Running · ([\d.]+) s$/.exec(await header.innerText())?.[1]) >= 1)
      .catch(async (e: Error) => { throw new Error(`${e.message}; the header says ${JSON.stringify(await header.innerText())}`); });
    // "now" is after the newest checkpoint (the header re-renders on each one and every second)
    const newest = Math.max(...(await timelineCheckpoints(timeline)).map((c) => Number(/ at ([\d.]+) s,/.exec(c.label)?.[1])));
    const now = Number(/^Running · ([\d.]+) s$/.exec(await header.innerText())?.[1]);
    assert.ok(now >= newest - 0.15, `the timeline clock says ${now} s, but a checkpoint was taken at ${newest} s`);
    assert.match(await timelineCounts(timeline), /^batches\.py · \d+ checkpoints$/);
  });
  await wb.step('part 2 of the input arrives', async () => {
    writeFileSync(path.join(server.workspace, 'part2.ready'), '');
    await wb.waitForDebugConsoleText('batch 6: average 7.0');
  });
  await wb.step('the crash: exception widget at the crash line', async () => {
    const widget = await wb.waitForExceptionWidget(/ZeroDivisionError/, 30_000);
    assert.match(widget, /Exception has occurred: (builtins\.)?ZeroDivisionError/);
    assert.match(widget, /division by zero/);
    assert.match(widget, new RegExp(`${path.join(server.workspace, PROGRAM).replace(/[/.]/g, '\\$&')}", line 13, in average`));
    await wb.activeTab(PROGRAM).waitFor();
    await waitFor('the cursor on the crash line', async () => (await wb.statusBarItems()).includes('Ln 13, Col 1'));
    assert.doesNotMatch(await wb.debugConsoleText(), /batch 12:/);
  });
  await wb.step('Call Stack and Variables show the frames and locals', async () => {
    // the crashed function on top, then the module that called it: name, file, line:column
    const expected = JSON.stringify([['average', PROGRAM, '13:1'], ['<module>', PROGRAM, '29:1']]);
    let frames: string[][] = [];
    await waitFor('the frames in the Call Stack', async () => {
      frames = (await wb.callStackRows()).map((r) => r.split('\n').map((s) => s.trim()).filter(Boolean));
      return JSON.stringify(frames) === expected;
    }).catch((e: Error) => { throw new Error(`${e.message}: it shows ${JSON.stringify(frames)}, not ${expected}`); });
    const header = wb.page.locator('.pane-header').filter({ hasText: /call stack/i }).first();
    assert.match((await header.textContent()) ?? '', /Paused on exception/i);
    let vars: string[] = [];
    await waitFor('the locals of average()', async () => {
      vars = await wb.variableRows();
      return vars.includes('batch = []') && vars.includes('total = 0');
    }).catch((e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(vars)}`); });
    assert.equal(vars[0], 'Locals');
  });
  await wb.step('the <module> frame has its own locals', async () => {
    await wb.page.locator('.debug-call-stack .monaco-list-row', { hasText: '<module>' }).click();
    let vars: string[] = [];
    await waitFor('the locals of <module>', async () => {
      vars = await wb.variableRows();
      // the twelve averages computed before the crash, and the step that crashed
      return vars.includes('step = 12') && vars.some((v) => v.startsWith('results = [1.0, 2.0, 3.0')) ? vars : undefined;
    }).catch((e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(vars)}`); });
    await waitFor('the cursor on line 29', async () => (await wb.statusBarItems()).includes('Ln 29, Col 1'));
  });
}

/** Step 4 up to the open diff: the model answers, the review opens with its notification. */
async function reviewOpens(wb: Workbench, release: () => void): Promise<void> {
  await wb.step('the repair diff opens', async () => {
    release();
    const diff = await wb.waitForDiffEditor(30_000);
    const side = async (which: 'original' | 'modified') =>
      (await diff.locator(`.${which}-in-monaco-diff-editor .view-lines`).innerText()).replace(/\u00a0/g, ' ');
    // left the file as it is, right the proposal
    await waitFor('the original and the proposal in the diff', async () =>
      /def average\(batch\):\n\s*total = sum\(batch\)/.test(await side('original'))
      && /def average\(batch\):\n\s*if not batch:\n\s*return 0\.0\n\s*total = sum\(batch\)/.test(await side('modified')));
    const tab = (await wb.tabLabels()).find((l) => l.startsWith(`${PROGRAM}: Axolotl repair`));
    assert.ok(tab, `a tab titled "${PROGRAM}: Axolotl repair…": ${JSON.stringify(await wb.tabLabels())}`);
    const n = await wb.waitForNotification(/proposes a repair for crash #1/);
    assert.deepEqual(n.links, ['Accept', 'Reject', 'Show Diff']);
  });
}

test('repair: crash → diff → Accept → resumes from a checkpoint and finishes with the fix on disk', async () => {
  const vsix = axolotlVsix();
  const { model, release } = await gatedModel();
  let tree: number[] = [];
  try {
    await withWorkbench('repair-accept', { vsix, files: fixtureFiles('crash', { MODEL_URL: model.url }) }, async (wb, server) => {
      const file = path.join(server.workspace, PROGRAM);
      await runUntilCrash(wb, server);
      await reviewOpens(wb, release);
      await wb.step('the notification\'s Show Diff opens the diff again', async () => {
        await wb.runCommand('View: Close All Editors');
        await wb.waitForNoDiffEditor();
        await wb.clickNotificationLink(/proposes a repair for crash #1/, 'Show Diff');
        await wb.waitForDiffEditor();
      });
      await wb.step('Accept in the diff editor title', async () => {
        await wb.clickEditorAction('Accept Repair');
        await wb.waitForNoDiffEditor();
      });
      await wb.step('the repair\'s notification is gone with its review', async () => {
        await wb.waitForNoNotification(/proposes a repair for crash #1/);
      });
      await wb.step('the program resumes from a checkpoint and finishes', async () => {
        await wb.waitForDebugConsoleText(/axolotl: restored checkpoint \d+/, 30_000);
        await wb.waitForDebugConsoleText('job: done, 15 batches', 30_000);
        await wb.waitForDebugEnd(30_000);
        // The rest of the output, with the fixed average for the empty batch.
        for (const line of ['batch 12: average 0.0', 'batch 13: average 14.0', 'batch 14: average 15.0', 'job: done, 15 batches']) {
          assert.equal(await wb.debugConsoleCount(line), 1, `"${line}" once in the Debug Console`);
        }
        // Resumed, not started over: the first lines were printed once.
        assert.equal(await wb.debugConsoleCount('job: start'), 1);
        assert.equal(await wb.debugConsoleCount('batch 0: average'), 1);
      });
      await wb.step('the fix is on disk and in the editor', async () => {
        assert.equal(readFileSync(file, 'utf8'), FIXED);
        await wb.openFile(PROGRAM);
        await wb.press('Control+Home');
        await wb.waitForEditorText(/def average\(batch\):\n\s*if not batch:\n\s*return 0\.0/);
        assert.equal(model.chatRequests.length, 1, 'one request to the model');
      });
      tree = server.processTree();
    });
  } finally {
    await model.close();
  }
  assertNothingLeft(tree);
});

test('repair: crash → diff → Reject → the exception ends the run and the file is unchanged', async () => {
  const vsix = axolotlVsix();
  const { model, release } = await gatedModel();
  let tree: number[] = [];
  try {
    await withWorkbench('repair-reject', { vsix, files: fixtureFiles('crash', { MODEL_URL: model.url }) }, async (wb, server) => {
      const file = path.join(server.workspace, PROGRAM);
      const before = readFileSync(file);
      await runUntilCrash(wb, server);
      await reviewOpens(wb, release);
      await wb.step('Reject in the diff editor title', async () => {
        await wb.clickEditorAction('Reject Repair');
        await wb.waitForNoDiffEditor();
        await wb.waitForNoNotification(/proposes a repair for crash #1/);
      });
      await wb.step('the exception ends the run', async () => {
        await wb.waitForDebugEnd(30_000);
        await wb.waitForDebugConsoleText(/ZeroDivisionError: division by zero/);
        const text = await wb.debugConsoleText();
        // Python's traceback, whole: no line cut into pieces that the console counts ("14 ^").
        // (Each output event is a row; the rows' text is joined with blank lines in between.)
        assert.match(text.replace(/\n{2,}/g, '\n'), /File ".*batches\.py", line 13, in average\n\s+return total \/ len\(batch\)\n(\s+[~^]+\n)?ZeroDivisionError: division by zero/);
        assert.equal(await wb.page.locator('.repl .monaco-count-badge').filter({ visible: true }).count(), 0, 'repeated pieces in the Debug Console');
        for (const never of ['batch 12: average', 'job: done', 'restored checkpoint']) {
          assert.equal(await wb.debugConsoleCount(never), 0, `"${never}" in the Debug Console`);
        }
        // Nothing of the dead program stays on screen.
        await waitFor('empty Call Stack and Variables', async () =>
          (await wb.callStackRows()).length === 0 && (await wb.variableRows()).length === 0);
      });
      await wb.step('the file is byte-identical', async () => {
        assert.ok(readFileSync(file).equals(before), 'batches.py changed on disk');
        assert.equal(before.toString('utf8'), ORIGINAL);
        await wb.openFile(PROGRAM);
        await wb.press('Control+Home');
        assert.match(await wb.waitForEditorText(/def average\(batch\):/), /def average\(batch\):\n\s*total = sum\(batch\)/);
      });
      tree = server.processTree();
    });
  } finally {
    await model.close();
  }
  assertNothingLeft(tree);
});
