// Rewind from the timeline, as a user would: while a counting program runs under Axolotl, hover an
// earlier checkpoint on the Axolotl Timeline (its tooltip shows the last line printed before it),
// click it, confirm "Restore" in the webview, and see the output start again from that point: the
// ticks printed after the checkpoint are printed a second time, the ones before it are not.
//   npm run package && npx tsc -p test/e2e && node --test out/test/e2e/rewind.e2e.js
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertNothingLeft, axolotlVsix, fixtureFiles, showTimeline, waitForCheckpoints } from './axolotl';
import { waitFor, withWorkbench } from './workbench';

const tick = (n: number) => `tick ${String(n).padStart(3, '0')} `;
const ticksIn = (text: string) => [...text.matchAll(/tick (\d{3}) total/g)].map((m) => Number(m[1]));

test('rewind: click an earlier checkpoint on the timeline, confirm, and the output restarts from it', async () => {
  const vsix = axolotlVsix();
  let tree: number[] = [];
  await withWorkbench('rewind', { vsix, files: fixtureFiles('rewind') }, async (wb, server) => {
    await wb.step('start debugging count.py', async () => {
      await wb.openFile('count.py');
      await wb.waitForEditorText(/for i in range\(300\):/);
      await wb.startDebugging();
      await wb.waitForDebugConsoleText(tick(2));
    });
    // Checkpoints are paced by what they cost (at least checkpointInterval apart, more on a busy
    // machine): the test takes the first one once a later one exists.
    const { timeline, target } = await wb.step('checkpoints on the timeline', async () => {
      const frame = await showTimeline(wb);
      const cps = await waitForCheckpoints(frame, 2, 60_000);
      return { timeline: frame, target: cps[0].id };
    });
    const marker = timeline.locator(`.tl-item.tl-checkpoint[data-key="cp:${target}"]`);
    const { tick: last, dumpMs } = await wb.step('hover the earlier checkpoint: its last output', async () => {
      await marker.hover();
      const tooltip = timeline.locator('.tl-tooltip.tl-visible');
      await tooltip.waitFor();
      const text = await tooltip.innerText();
      assert.match(text, new RegExp(`^Checkpoint #${target}\\n`));
      const m = /tick (\d{3}) total/.exec(text);
      assert.ok(m, `the tooltip shows the last line printed before checkpoint #${target}: ${JSON.stringify(text)}`);
      const dump = /dump ([\d.]+) (ms|s)\)/.exec(text);
      assert.ok(dump, `the tooltip shows how long the dump took: ${JSON.stringify(text)}`);
      return { tick: Number(m[1]), dumpMs: Number(dump[1]) * (dump[2] === 's' ? 1000 : 1) };
    });
    const before = await wb.step('click it: the webview asks to confirm', async () => {
      await marker.click();
      const confirm = timeline.locator('.tl-confirm');
      await confirm.waitFor({ state: 'visible' });
      assert.match(await confirm.locator('.tl-confirm-title').innerText(), new RegExp(`^Rewind to checkpoint #${target} \\([\\d.]+ s\\)\\?$`));
      assert.match(await confirm.locator('.tl-confirm-note').innerText(), /goes back to this point/);
      // what was printed up to now, later than the checkpoint
      const seen = Math.max(...ticksIn(await wb.debugConsoleText()));
      assert.ok(seen > last + 3, `ticks up to ${seen} printed, checkpoint #${target} after tick ${last}`);
      return seen;
    });
    const resumedAt = await wb.step('Restore: the output restarts from the checkpoint', async () => {
      await timeline.locator('.tl-confirm .tl-button.tl-primary', { hasText: 'Restore' }).click();
      // The restore message comes before any output of the restored program.
      const restored = new RegExp(`axolotl: restored checkpoint ${target} in \\d+ ms\\s+tick (\\d{3}) total`);
      const text = await wb.waitForDebugConsoleText(restored, 30_000);
      const n = Number(restored.exec(text)![1]);
      // The tooltip's line is the last one printed when the dump began; criu froze the program
      // during the dump, so it resumes a little later (a tick per 200 ms of dump), never earlier.
      const latest = last + 2 + Math.ceil(dumpMs / 200);
      assert.ok(n > last && n <= latest, `resumed at tick ${n}; checkpoint #${target} was taken after tick ${last} in a ${dumpMs} ms dump`);
      assert.ok(n <= before, `tick ${n} was printed before the rewind (up to ${before})`);
      // The timeline marks the restore (the newest item, so in view) and runs again.
      const restore = timeline.locator('.tl-item.tl-restore');
      await restore.first().waitFor();
      assert.match((await restore.first().getAttribute('aria-label')) ?? '', new RegExp(`^Restored checkpoint ${target} at `));
      await waitFor('the timeline running again', async () => /^Running · /.test(await timeline.locator('.tl-status-text').innerText()));
      return n;
    });
    await wb.step('ticks after the checkpoint appear again, earlier ones do not', async () => {
      // until the replay passes the point of the rewind (that tick was printed once before it)
      await waitFor(`${tick(before + 1)}printed a second time`, async () => (await wb.debugConsoleCount(tick(before + 1))) >= 2, 30_000);
      assert.equal(await wb.debugConsoleCount(tick(resumedAt)), 2, `${tick(resumedAt)}printed before and after the rewind`);
      assert.equal(await wb.debugConsoleCount(tick(before)), 2, `${tick(before)}printed before and after the rewind`);
      assert.equal(await wb.debugConsoleCount(tick(last)), 1, `${tick(last)}came before the checkpoint`);
      assert.equal(await wb.debugConsoleCount(tick(0)), 1, 'the program did not start over');
    });
    await wb.step('stop debugging', async () => {
      await wb.runCommand('Debug: Stop');
      await wb.waitForDebugEnd();
      assert.doesNotMatch(await wb.debugConsoleText(), /count: done/);
      // stopped, not finished: the timeline must not claim a successful exit
      const header = timeline.locator('.tl-status-text');
      await waitFor('the timeline to show the stop', async () => /^Ended$/.test(await header.innerText()))
        .catch(async (e: Error) => { throw new Error(`${e.message}; the header says ${JSON.stringify(await header.innerText())}`); });
    });
    tree = server.processTree();
  });
  assertNothingLeft(tree);
});
