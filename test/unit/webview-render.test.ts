// Renders the real webview bundle in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) under the real CSP, and checks what a user would: virtualization with 1,000
// checkpoints, keyboard navigation, the confirm step and the message it posts, tooltips, state
// surviving a reload, no CSP violations. Screenshots of dark, light and high-contrast themes go to
// out/screenshots/. Without Chromium or playwright-core this file fails (one test says what is
// missing and how to install it) instead of passing with nothing rendered.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { timelineHtml } from '../../extension/timeline/timelineHtml';
import type { FromWebviewMessage, ToWebviewMessage } from '../../adapter/protocol/timeline';
import { SAMPLE_T0, sampleCheckpoint, sampleInit, sampleStory } from '../../webview/sampleTimeline';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHROMIUM = process.env.AXOLOTL_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'out', 'screenshots');

function unavailable(): string | false {
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM}`;
  if (!fs.existsSync(path.join(ROOT, 'node_modules', 'playwright-core'))) return 'playwright-core is not installed';
  if (!fs.existsSync(path.join(ROOT, 'node_modules', '@vscode', 'codicons', 'dist', 'codicon.css'))) return '@vscode/codicons is not installed';
  return false;
}

// A few of VS Code's theme colors per theme (values of Dark Modern, Light Modern, High Contrast).
const THEMES: Record<string, { bodyClass: string; vars: Record<string, string> }> = {
  dark: {
    bodyClass: 'vscode-dark',
    vars: {
      background: '#181818', foreground: '#cccccc', descriptionForeground: '#9d9d9d', focusBorder: '#0078d4',
      'charts-blue': '#3794ff', 'charts-red': '#f14c4c', 'charts-green': '#89d185', 'charts-yellow': '#cca700',
      'charts-orange': '#d18616', 'charts-purple': '#b180d7', disabledForeground: '#cccccc80',
      'list-hoverBackground': '#2a2d2e', 'list-activeSelectionBackground': '#04395e', 'list-inactiveSelectionBackground': '#37373d',
      'button-background': '#0078d4', 'button-foreground': '#ffffff', 'button-hoverBackground': '#026ec1', 'button-border': '#ffffff12',
      'button-secondaryBackground': '#313131', 'button-secondaryForeground': '#cccccc', 'button-secondaryHoverBackground': '#3c3c3c',
      'editorHoverWidget-background': '#202020', 'editorHoverWidget-foreground': '#cccccc', 'editorHoverWidget-border': '#454545',
      'widget-shadow': '#0000005c', 'widget-border': '#313131', 'editorWidget-background': '#202020', 'editorWidget-border': '#454545',
      'textCodeBlock-background': '#2b2b2b', 'icon-foreground': '#cccccc', 'toolbar-hoverBackground': '#5a5d5e50',
      'inputValidation-infoBackground': '#063b49', 'inputValidation-infoBorder': '#007acc',
      'inputValidation-warningBackground': '#352a05', 'inputValidation-warningBorder': '#b89500',
      'inputValidation-errorBackground': '#5a1d1d', 'inputValidation-errorBorder': '#be1100',
      errorForeground: '#f85149', 'editorWarning-foreground': '#cca700',
    },
  },
  light: {
    bodyClass: 'vscode-light',
    vars: {
      background: '#f8f8f8', foreground: '#3b3b3b', descriptionForeground: '#717171', focusBorder: '#005fb8',
      'charts-blue': '#1a85ff', 'charts-red': '#e51400', 'charts-green': '#388a34', 'charts-yellow': '#bf8803',
      'charts-orange': '#d18616', 'charts-purple': '#652d90', disabledForeground: '#61616180',
      'list-hoverBackground': '#f2f2f2', 'list-activeSelectionBackground': '#e8e8e8', 'list-inactiveSelectionBackground': '#e4e6f1',
      'button-background': '#005fb8', 'button-foreground': '#ffffff', 'button-hoverBackground': '#0258a8', 'button-border': '#0000001a',
      'button-secondaryBackground': '#e5e5e5', 'button-secondaryForeground': '#3b3b3b', 'button-secondaryHoverBackground': '#cccccc',
      'editorHoverWidget-background': '#f8f8f8', 'editorHoverWidget-foreground': '#3b3b3b', 'editorHoverWidget-border': '#c8c8c8',
      'widget-shadow': '#00000029', 'widget-border': '#e5e5e5', 'editorWidget-background': '#f8f8f8', 'editorWidget-border': '#c8c8c8',
      'textCodeBlock-background': '#dcdcdc66', 'icon-foreground': '#3b3b3b', 'toolbar-hoverBackground': '#b8b8b850',
      'inputValidation-infoBackground': '#d6ecf2', 'inputValidation-infoBorder': '#007acc',
      'inputValidation-warningBackground': '#f6f5d2', 'inputValidation-warningBorder': '#b89500',
      'inputValidation-errorBackground': '#f2dede', 'inputValidation-errorBorder': '#be1100',
      errorForeground: '#a1260d', 'editorWarning-foreground': '#bf8803',
    },
  },
  'high-contrast': {
    bodyClass: 'vscode-high-contrast',
    vars: {
      background: '#000000', foreground: '#ffffff', descriptionForeground: '#ffffffb3', focusBorder: '#f38518',
      contrastBorder: '#6fc3df', contrastActiveBorder: '#f38518',
      'charts-blue': '#3794ff', 'charts-red': '#f14c4c', 'charts-green': '#89d185', 'charts-yellow': '#ffd700',
      'charts-orange': '#d18616', 'charts-purple': '#b180d7', disabledForeground: '#a5a5a5',
      'button-background': '#000000', 'button-foreground': '#ffffff', 'button-border': '#6fc3df',
      'button-secondaryBackground': '#000000', 'button-secondaryForeground': '#ffffff',
      'editorHoverWidget-background': '#0c141f', 'editorHoverWidget-foreground': '#ffffff', 'editorHoverWidget-border': '#6fc3df',
      'widget-border': '#6fc3df', 'editorWidget-background': '#0c141f', 'editorWidget-border': '#6fc3df',
      'textCodeBlock-background': '#000000', 'icon-foreground': '#ffffff',
      'inputValidation-infoBackground': '#000000', 'inputValidation-infoBorder': '#6fc3df',
      'inputValidation-warningBackground': '#000000', 'inputValidation-warningBorder': '#6fc3df',
      'inputValidation-errorBackground': '#000000', 'inputValidation-errorBorder': '#6fc3df',
      errorForeground: '#f48771', 'editorWarning-foreground': '#ffd700',
    },
  },
  'high-contrast-light': {
    bodyClass: 'vscode-high-contrast-light',
    vars: {
      background: '#ffffff', foreground: '#292929', descriptionForeground: '#292929e6', focusBorder: '#006bbd',
      contrastBorder: '#0f4a85', contrastActiveBorder: '#006bbd',
      'charts-blue': '#1a85ff', 'charts-red': '#b5200d', 'charts-green': '#374e06', 'charts-yellow': '#895503',
      'charts-orange': '#b45a00', 'charts-purple': '#652d90', disabledForeground: '#7f7f7f',
      'button-background': '#0f4a85', 'button-foreground': '#ffffff', 'button-border': '#0f4a85',
      'button-secondaryBackground': '#ffffff', 'button-secondaryForeground': '#292929',
      'editorHoverWidget-background': '#ffffff', 'editorHoverWidget-foreground': '#292929', 'editorHoverWidget-border': '#292929',
      'widget-border': '#0f4a85', 'editorWidget-background': '#ffffff', 'editorWidget-border': '#0f4a85',
      'textCodeBlock-background': '#f2f2f2', 'icon-foreground': '#292929',
      'inputValidation-infoBackground': '#ffffff', 'inputValidation-infoBorder': '#0f4a85',
      'inputValidation-warningBackground': '#ffffff', 'inputValidation-warningBorder': '#0f4a85',
      'inputValidation-errorBackground': '#ffffff', 'inputValidation-errorBorder': '#0f4a85',
      errorForeground: '#b5200d', 'editorWarning-foreground': '#895503',
    },
  },
};

function themeCss(vars: Record<string, string>): string {
  const decl = Object.entries(vars).map(([k, v]) => `  --vscode-${k}: ${v};`).join('\n');
  return `:root {\n${decl}\n  --vscode-font-family: system-ui, "Ubuntu", "Droid Sans", sans-serif;\n  --vscode-font-size: 13px;\n  --vscode-font-weight: normal;\n  --vscode-editor-font-family: "Droid Sans Mono", monospace;\n}\nbody { background: var(--vscode-background); }\n`;
}

/** Writes a page like the one the extension builds, with file: as the CSP source. */
function writePage(dir: string, theme: string): string {
  const { bodyClass, vars } = THEMES[theme]!;
  fs.writeFileSync(path.join(dir, `theme-${theme}.css`), themeCss(vars));
  const html = timelineHtml({ cspSource: 'file:', nonce: 'dGVzdG5vbmNlMTIzNDU2Nw==', scriptUri: 'webview.js', styleUri: 'timeline.css', codiconUri: 'codicons/codicon.css' })
    .replace('<body>', `<body class="${bodyClass}">`)
    .replace('</head>', `<link rel="stylesheet" href="theme-${theme}.css">\n</head>`);
  const file = path.join(dir, `${theme}.html`);
  fs.writeFileSync(file, html);
  return file;
}

/** Stands in for acquireVsCodeApi(): records posted messages and the saved state on window. */
function fakeVsCodeApi(saved: unknown): void {
  const w = window as unknown as { __posted: unknown[]; __saved: unknown; acquireVsCodeApi: () => unknown };
  w.__posted = [];
  w.__saved = saved;
  w.acquireVsCodeApi = () => ({
    postMessage: (m: unknown) => w.__posted.push(m),
    getState: () => w.__saved,
    setState: (s: unknown) => {
      w.__saved = s;
    },
  });
}

const missing = unavailable();

test('Chromium and playwright-core are installed for the render tests', () => {
  assert.equal(missing, false, `${missing || ''}: the timeline cannot be rendered. Run scripts/install-e2e.sh (Debian's chromium and playwright-core), or set AXOLOTL_CHROMIUM to a Chromium binary.`);
});

describe('timeline webview in Chromium', { skip: missing || false }, () => {
  let browser: Browser;
  let dir: string;
  const problems: string[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'axolotl-webview-'));
    const esbuild = await import('esbuild');
    await esbuild.build({
      entryPoints: [path.join(ROOT, 'webview', 'main.ts')],
      outfile: path.join(dir, 'webview.js'),
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      logLevel: 'silent',
    });
    fs.copyFileSync(path.join(ROOT, 'media', 'timeline.css'), path.join(dir, 'timeline.css'));
    fs.mkdirSync(path.join(dir, 'codicons'));
    for (const f of ['codicon.css', 'codicon.ttf']) {
      fs.copyFileSync(path.join(ROOT, 'node_modules', '@vscode', 'codicons', 'dist', f), path.join(dir, 'codicons', f));
    }
    for (const theme of Object.keys(THEMES)) writePage(dir, theme);
    fs.mkdirSync(SHOTS, { recursive: true });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--allow-file-access-from-files'],
    });
  });

  after(async () => {
    await browser?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function open(theme: string, size: { width: number; height: number }, saved?: unknown): Promise<Page> {
    const page = await browser.newPage({ viewport: size });
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`${theme}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${theme}: ${e.message}`));
    await page.addInitScript(fakeVsCodeApi, saved);
    await page.goto(`file://${path.join(dir, `${theme}.html`)}`);
    await page.waitForSelector('.tl');
    return page;
  }

  async function send(page: Page, messages: ToWebviewMessage[]): Promise<void> {
    await page.evaluate((ms) => {
      for (const m of ms) window.postMessage(m, '*');
    }, messages);
    // postMessage is delivered as tasks; the render that follows waits for a frame.
    await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(undefined))));
  }

  const posted = (page: Page): Promise<FromWebviewMessage[]> => page.evaluate(() => (window as unknown as { __posted: FromWebviewMessage[] }).__posted);
  const options = (page: Page): Promise<number> => page.locator('[role=option]').count();
  const active = (page: Page): Promise<string | null> => page.locator('[role=listbox]').getAttribute('aria-activedescendant');

  test('says ready, then renders only the visible slots of 1,000 checkpoints, following the live end', async () => {
    const page = await open('dark', { width: 600, height: 260 });
    assert.deepEqual(await posted(page), [{ type: 'ready' }]);
    await send(page, [sampleInit(1000)]);
    const count = await options(page);
    assert.ok(count > 10 && count < 60, `rendered ${count} options`);
    assert.match((await page.locator('.tl-counts').textContent()) ?? '', /train\.py · 1000 checkpoints/);
    const last = await page.locator('[role=option]').evaluateAll((els) => Math.max(...els.map((e) => Number(e.getAttribute('aria-posinset')))));
    assert.equal(last, 1000, 'the view follows the live end');
    assert.equal(await page.locator('.tl-head').isVisible(), true);
    assert.equal(await page.locator('[role=option]').first().getAttribute('aria-setsize'), '1000');

    // New checkpoints keep the view at the end.
    await send(page, [{ type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(1001, SAMPLE_T0 + 1_001_000) }]);
    assert.equal(await page.locator('#tl-i-cp_3a_1001').count(), 1);

    // Scrolling renders a different window, still small; and it is quick.
    const ms = await page.evaluate(async () => {
      const vp = document.querySelector('.tl-viewport') as HTMLElement;
      const t0 = performance.now();
      for (let x = 0; x < vp.scrollWidth; x += 400) {
        vp.scrollLeft = x;
        vp.dispatchEvent(new Event('scroll'));
        await new Promise((r) => requestAnimationFrame(() => r(undefined)));
      }
      vp.scrollLeft = 14000;
      await new Promise((r) => requestAnimationFrame(() => r(undefined)));
      return performance.now() - t0;
    });
    const positions = await page.locator('[role=option]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('aria-posinset'))));
    assert.ok(positions.length < 60, `rendered ${positions.length} options after scrolling`);
    assert.ok(Math.min(...positions) > 400 && Math.max(...positions) < 600, `window ${Math.min(...positions)}..${Math.max(...positions)}`);
    assert.ok(ms < 5000, `scrolled across in ${ms.toFixed(0)} ms`);
    await page.close();
  });

  test('keyboard: Home, arrows, Enter opens the confirm step, Enter again posts restoreRequest', async () => {
    const page = await open('dark', { width: 600, height: 260 });
    await send(page, [sampleInit(1000)]);
    await page.focus('[role=listbox]');
    await page.keyboard.press('Home');
    assert.equal(await active(page), 'tl-i-cp_3a_1');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    assert.equal(await active(page), 'tl-i-cp_3a_3');
    assert.equal(await page.locator('#tl-i-cp_3a_3').getAttribute('aria-selected'), 'true');
    assert.match((await page.locator('.tl-details-title').textContent()) ?? '', /Checkpoint #3/);
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('.tl-confirm').isVisible(), true);
    assert.equal(await page.locator('.tl-confirm-title').textContent(), 'Rewind to checkpoint #3 (3.0 s)?');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Restore');
    await page.keyboard.press('Enter');
    assert.deepEqual((await posted(page)).at(-1), { type: 'restoreRequest', checkpointId: 3 });
    assert.equal(await page.locator('.tl-confirm').isVisible(), false);
    assert.match((await page.locator('.tl-status-text').textContent()) ?? '', /Rewinding to #3/);
    await send(page, [{ type: 'restore', restore: { time: SAMPLE_T0 + 1_000_500, checkpointId: 3, ms: 150, generation: 0 } }]);
    assert.match((await page.locator('.tl-status-text').textContent()) ?? '', /Running/);

    // End goes back to the newest item; Escape cancels a confirm and focus returns to the timeline.
    await page.focus('[role=listbox]');
    await page.keyboard.press('End');
    assert.equal(await active(page), 'tl-i-restore_3a_1700001000500_3a_3');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('.tl-confirm').isVisible(), true);
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('.tl-confirm').isVisible(), false);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'listbox');
    await page.close();
  });

  test('mouse: click opens the confirm, Cancel closes it; repairs open their diff; hover shows a tooltip', async () => {
    const page = await open('dark', { width: 700, height: 260 });
    await send(page, sampleStory());
    await page.locator('#tl-i-cp_3a_44').click();
    assert.equal(await page.locator('.tl-confirm-title').textContent(), 'Rewind to checkpoint #44 (52.3 s)?');
    await page.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await page.locator('.tl-confirm').isVisible(), false);
    await page.locator('#tl-i-repair_3a_r2').click();
    assert.deepEqual((await posted(page)).at(-1), { type: 'openRepair', repairId: 'r2' });
    await page.locator('#tl-i-crash_3a_1').click();
    assert.deepEqual((await posted(page)).at(-1), { type: 'revealCrash', crashId: 1 });
    await page.locator('#tl-i-cp_3a_43').hover();
    await page.waitForSelector('.tl-tooltip.tl-visible');
    const tip = (await page.locator('.tl-tooltip').textContent()) ?? '';
    assert.match(tip, /Checkpoint #43/);
    assert.match(tip, /frozen/);
    assert.match(tip, /taken at the crash/);
    assert.match(tip, /Traceback/);
    await page.close();
  });

  test('malformed messages are ignored; the state survives a reload through setState', async () => {
    const page = await open('light', { width: 600, height: 260 });
    await send(page, [sampleInit(20)]);
    await send(page, [
      { type: 'checkpoint', change: 'added', checkpoint: { id: -1 } } as unknown as ToWebviewMessage,
      { type: 'nope' } as unknown as ToWebviewMessage,
    ]);
    assert.match((await page.locator('.tl-counts').textContent()) ?? '', /20 checkpoints/);
    await page.focus('[role=listbox]');
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => (window as unknown as { __saved?: { selectedKey?: string } }).__saved?.selectedKey === 'cp:2');
    const saved = await page.evaluate(() => (window as unknown as { __saved: unknown }).__saved);
    await page.close();

    const again = await open('light', { width: 600, height: 260 }, saved);
    assert.match((await again.locator('.tl-counts').textContent()) ?? '', /20 checkpoints/);
    assert.equal(await active(again), 'tl-i-cp_3a_2');
    await again.close();
  });

  test('a ring buffer dropping old checkpoints does not move what the user is looking at', async () => {
    const page = await open('dark', { width: 600, height: 260 });
    await send(page, [sampleInit(200)]);
    await page.evaluate(async () => {
      const vp = document.querySelector('.tl-viewport') as HTMLElement;
      vp.scrollLeft = 2000;
      await new Promise((r) => requestAnimationFrame(() => r(undefined)));
    });
    const x = (): Promise<number> => page.locator('#tl-i-cp_3a_80').evaluate((e) => Math.round(e.getBoundingClientRect().left));
    const before = await x();
    const churn: ToWebviewMessage[] = [];
    for (let i = 1; i <= 10; i++) {
      churn.push({ type: 'checkpoint', change: 'deleted', id: i });
      churn.push({ type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(200 + i, SAMPLE_T0 + (200 + i) * 1000) });
    }
    await send(page, churn);
    assert.equal(await x(), before);
    assert.match((await page.locator('.tl-counts').textContent()) ?? '', /200 checkpoints \(10 dropped\)/);
    assert.equal(await page.locator('.tl-icon-button[aria-label^="Go to the live end"]').isVisible(), true);
    await page.close();
  });

  test('empty until a session starts; the end of the program replaces the live head', async () => {
    const page = await open('dark', { width: 600, height: 260 });
    assert.equal(await page.locator('.tl-empty').isVisible(), true);
    assert.equal(await page.locator('.tl-viewport').isVisible(), false);
    await send(page, sampleStory(3));
    assert.equal(await page.locator('.tl-empty').isVisible(), false);
    assert.equal(await page.locator('.tl-head').isVisible(), true);
    await send(page, [{ type: 'session', change: 'ended', end: { time: SAMPLE_T0 + 60_000, status: 1 } }]);
    assert.equal(await page.locator('.tl-head').isVisible(), false);
    assert.equal(await page.locator('.tl-status-text').textContent(), 'Exited · status 1');
    assert.equal(await page.locator('#tl-i-end').count(), 1);
    // A checkpoint of an ended session can be selected, but the confirm says why it cannot be restored.
    await page.locator('#tl-i-cp_3a_2').click();
    assert.equal(await page.locator('.tl-confirm-note').textContent(), 'The session has ended: its checkpoints can no longer be restored.');
    assert.equal(await page.getByRole('button', { name: 'Restore' }).isDisabled(), true);
    await page.close();
  });

  test('screenshots in dark, light and high contrast (out/screenshots)', async () => {
    for (const theme of Object.keys(THEMES)) {
      for (const [name, size] of [['sidebar', { width: 380, height: 250 }], ['panel', { width: 900, height: 250 }]] as const) {
        const page = await open(theme, size);
        await send(page, sampleStory());
        await page.evaluate(() => document.fonts.ready);
        await page.focus('[role=listbox]');
        await page.keyboard.press('End');
        for (let i = 0; i < 8; i++) await page.keyboard.press('ArrowLeft'); // the restore marker
        await page.locator('#tl-i-cp_3a_43').hover();
        await page.waitForSelector('.tl-tooltip.tl-visible');
        await page.screenshot({ path: path.join(SHOTS, `webview-${name}-${theme}.png`) });
        if (name === 'sidebar') {
          await page.mouse.move(0, 0);
          await page.locator('#tl-i-cp_3a_46').click();
          await page.mouse.move(0, 0);
          await page.screenshot({ path: path.join(SHOTS, `webview-${name}-${theme}-confirm.png`) });
        }
        await page.close();
      }
    }
    // 1,000 checkpoints zoomed all the way out, with the story at the end.
    const page = await open('dark', { width: 900, height: 250 });
    await send(page, [sampleInit(1000), ...sampleStory(1000).slice(1000 * 2 + 1)]);
    await page.focus('[role=listbox]');
    for (let i = 0; i < 4; i++) await page.keyboard.press('-');
    await page.keyboard.press('End');
    await page.screenshot({ path: path.join(SHOTS, 'webview-panel-dark-1000.png') });
    await page.close();
    assert.deepEqual(problems, []);
  });
});
