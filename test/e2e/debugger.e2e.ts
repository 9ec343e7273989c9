// Axolotl as a debugger people expect, in a real VS Code: an expression typed in the Debug Console at a
// crash shows its value; a breakpoint set in the gutter stops the program, Step Over and Continue go
// on from it; Pause stops a running loop and the timeline (shown in the panel area) marks the stops.
//   npm run package && npx tsc -p test/e2e && node --test out/test/e2e/debugger.e2e.js
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertNothingLeft, axolotlVsix, EXTENSION_ID, fixtureFiles } from './axolotl';
import { waitFor, withWorkbench, type Workbench } from './workbench';

const PROGRAM = 'job.py';
const SCALE_LINE = 7; // scaled = value * factor
const RETURN_LINE = 8; // return scaled

/** The Call Stack's rows as [name, file, line:col]. */
async function frames(wb: Workbench): Promise<string[][]> {
  return (await wb.callStackRows()).map((r) => r.split('\n').map((s) => s.trim()).filter(Boolean));
}

async function waitForTopFrame(wb: Workbench, name: string, line: number): Promise<void> {
  let seen: string[][] = [];
  await waitFor(`${name} at line ${line} on top of the Call Stack`, async () => {
    seen = await frames(wb);
    return seen[0]?.[0] === name && seen[0]?.[2] === `${line}:1`;
  }).catch((e: Error) => { throw new Error(`${e.message}: it shows ${JSON.stringify(seen)}`); });
}

async function waitForVariable(wb: Workbench, row: string): Promise<void> {
  let vars: string[] = [];
  await waitFor(`"${row}" in Variables`, async () => (vars = await wb.variableRows()).includes(row))
    .catch((e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(vars)}`); });
}

async function callStackSays(wb: Workbench, re: RegExp): Promise<void> {
  const header = wb.page.locator('.pane-header').filter({ hasText: /call stack/i }).first();
  await waitFor(`the Call Stack header to say ${re}`, async () => re.test((await header.textContent()) ?? ''));
}

test('debugger: the Debug Console evaluates in the program paused on its crash', async () => {
  const vsix = axolotlVsix();
  let tree: number[] = [];
  await withWorkbench('debugger-console', { vsix, files: fixtureFiles('debug', { STEPS: '5' }) }, async (wb, server) => {
    await wb.step('run until the crash', async () => {
      await wb.openFile(PROGRAM);
      await wb.startDebugging();
      await wb.waitForExceptionWidget(/ZeroDivisionError/, 30_000);
      await callStackSays(wb, /Paused on exception/i);
    });
    await wb.step('the first line names the interpreter', async () => {
      const text = await wb.waitForDebugConsoleText(/axolotl: Python 3\.\d+\.\d+ \(/);
      assert.match(text, /^axolotl: Python 3\.\d+\.\d+ \(\/\S+\), the default python3/);
    });
    await wb.step('an expression typed in the Debug Console shows its value', async () => {
      assert.equal(await wb.evaluateInDebugConsole('sum(results)', /^30$/), '30');
      assert.equal(await wb.evaluateInDebugConsole('[scale(v, 10) for v in range(3)]', /\]$/), '[0, 10, 20]');
    });
    await wb.step('one that raises shows its exception; the program stays paused', async () => {
      assert.equal(await wb.evaluateInDebugConsole('results[99]', /Error/), 'IndexError: list index out of range');
      assert.equal(await wb.evaluateInDebugConsole('len(results)', /^\d+$/), '5');
      await callStackSays(wb, /Paused on exception/i);
    });
    await wb.step('stop', async () => {
      await wb.press('Shift+F5');
      await wb.waitForDebugEnd(30_000);
    });
    tree = server.processTree();
  });
  assertNothingLeft(tree);
});

test('debugger: a gutter breakpoint, Step Over, Continue, then Pause a running loop', async () => {
  const vsix = axolotlVsix();
  let tree: number[] = [];
  await withWorkbench('debugger-breakpoint', { vsix, files: fixtureFiles('debug', { STEPS: '600' }) }, async (wb, server) => {
    await wb.step('a breakpoint in the gutter of scale()', async () => {
      await wb.openFile(PROGRAM);
      await wb.waitForEditorText(/scaled = value \* factor/);
      await wb.clickGutter(SCALE_LINE);
      await wb.runCommand('View: Show Run and Debug');
      let rows: string[] = [];
      await waitFor('the breakpoint in the Breakpoints view', async () => (rows = await wb.breakpointRows()).some((r) => r.includes(`${PROGRAM} ${SCALE_LINE}`)))
        .catch((e: Error) => { throw new Error(`${e.message}: it lists ${JSON.stringify(rows)}`); });
    });
    await wb.step('F5: the program stops at the breakpoint', async () => {
      await wb.startDebugging();
      await waitForTopFrame(wb, 'scale', SCALE_LINE);
      await callStackSays(wb, /Paused on breakpoint/i);
      await waitForVariable(wb, 'value = 0');
      await waitForVariable(wb, 'factor = 3');
    });
    await wb.step('Step Over goes to the next line', async () => {
      await wb.press('F10');
      await waitForTopFrame(wb, 'scale', RETURN_LINE);
      await waitForVariable(wb, 'scaled = 0');
    });
    await wb.step('Continue stops at the breakpoint again, on the next call', async () => {
      await wb.press('F5');
      await waitForTopFrame(wb, 'scale', SCALE_LINE);
      await waitForVariable(wb, 'value = 1');
    });
    await wb.step('without the breakpoint, Continue runs the loop on', async () => {
      await wb.clickGutter(SCALE_LINE);
      await waitFor('no breakpoint left', async () => !(await wb.breakpointRows()).some((r) => r.includes(`${PROGRAM} ${SCALE_LINE}`)));
      await wb.press('F5');
      await wb.waitForDebugConsoleText('step 4: 12', 30_000);
    });
    let step = 0;
    await wb.step('Pause stops the running loop', async () => {
      await wb.press('F6');
      await callStackSays(wb, /Paused/i);
      await waitFor('<module> in the Call Stack', async () => (await frames(wb)).some((f) => f[0] === '<module>'));
      // (Read in Variables: an evaluation's rows in the Debug Console would stay in its filter below.)
      await wb.page.locator('.debug-call-stack .monaco-list-row', { hasText: '<module>' }).first().click();
      step = Number(await waitFor('step in the Variables of <module>', async () => (await wb.variableRows())
        .map((r) => /^step = (\d+)$/.exec(r)?.[1]).find(Boolean)));
      assert.ok(step >= 4, `paused at step ${step}`);
      // Paused, it prints nothing more: the last line printed is still that step's.
      await new Promise((r) => setTimeout(r, 1000));
      const printed = [...(await wb.debugConsoleText()).matchAll(/step (\d+): /g)].map((m) => Number(m[1]));
      assert.equal(printed[printed.length - 1], step, `printed after the pause: ${JSON.stringify(printed.slice(-3))}`);
    });
    await wb.step('the timeline, shown in the panel area, marks the stops', async () => {
      await wb.runCommand('Axolotl: Show Timeline in Panel');
      const timeline = await wb.waitForWebview('.tl-track', { extensionId: EXTENSION_ID });
      await waitFor('breakpoint, step and pause marks', async () => {
        const kinds = await timeline.locator('.tl-item.tl-stop').evaluateAll((els) => els.map((el) => el.className));
        return kinds.some((k) => k.includes('tl-stop-breakpoint')) && kinds.some((k) => k.includes('tl-stop-step')) && kinds.some((k) => k.includes('tl-stop-pause'));
      });
      assert.match(await timeline.locator('.tl-counts').innerText(), /· 4 stops$/);
    });
    await wb.step('Continue: the loop goes on from where it was paused', async () => {
      await wb.press('F5');
      await wb.waitForDebugConsoleText(/step \d+: /, 30_000);
      assert.equal(await wb.debugConsoleCount(`step ${step + 1}: ${(step + 1) * 3}`), 1, `step ${step + 1} comes next`);
    });
    await wb.step('stop', async () => {
      await wb.press('Shift+F5');
      await wb.waitForDebugEnd(30_000);
    });
    tree = server.processTree();
  });
  assertNothingLeft(tree);
});
