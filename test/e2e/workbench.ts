// Drives the VS Code workbench served by code-server with playwright-core and Debian's chromium.
//
// Typical test:
//   await withWorkbench('my-test', { files: { 'a.py': '...' }, vsix }, async (wb) => {
//     await wb.step('open a.py', () => wb.openFile('a.py'));
//     await wb.step('run', () => wb.runCommand('Axolotl: Run Current File with Axolotl'));
//     await wb.step('output', () => wb.waitForDebugConsoleText('done'));
//   });
// Each step takes a screenshot test/e2e/screenshots/<test>-<NN>-<step>.png; a failing step
// takes one too and its error names the step and the screenshot. Nothing sleeps for a fixed
// time: everything waits for a condition, with a timeout.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type FrameLocator, type Locator, type Page } from 'playwright-core';
import { startCodeServer, type CodeServer, type CodeServerOptions } from './codeServer';

export const CHROMIUM = process.env.AXOLOTL_E2E_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-dev-shm-usage',
];
/** Default timeout of every wait, in ms (AXOLOTL_E2E_TIMEOUT overrides). */
export const DEFAULT_TIMEOUT = Number(process.env.AXOLOTL_E2E_TIMEOUT) || 20_000;

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'step';
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json')) || !existsSync(path.join(dir, 'test', 'e2e'))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

/** Where screenshots and failure logs go (AXOLOTL_E2E_SCREENSHOTS overrides). */
export const SCREENSHOT_DIR = process.env.AXOLOTL_E2E_SCREENSHOTS
  || path.join(projectRoot(), 'test', 'e2e', 'screenshots');

/** Removes the screenshots and failure log of an earlier run of `test`. */
function removeOldShots(test: string): void {
  if (!existsSync(SCREENSHOT_DIR)) return;
  const re = new RegExp(`^${escapeRe(test)}-(\\d\\d-.*\\.png|failure\\.log)$`);
  for (const f of readdirSync(SCREENSHOT_DIR)) if (re.test(f)) rmSync(path.join(SCREENSHOT_DIR, f), { force: true });
}

const STEP_ERROR = Symbol('e2eStepError');

export type TextMatch = string | RegExp;
const matches = (text: string, m: TextMatch) => (typeof m === 'string' ? text.includes(m) : m.test(text));

/** Polls `fn` until it returns a value other than undefined/false, or throws after `timeout`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeout = DEFAULT_TIMEOUT, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeout;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message.split('\n')[0]})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface Notification {
  message: string;
  source: string;
  buttons: string[];
  /** link texts in the message (a progress notification offers its choices as links) */
  links: string[];
}

export interface WorkbenchOptions {
  /** Test name: prefix of screenshot files. */
  test: string;
  /** Folder to open; default: the server's workspace. */
  folder?: string;
  /** Screenshot after every successful step (default true; failures always get one). */
  shotEachStep?: boolean;
  viewport?: { width: number; height: number };
}

export class Workbench {
  /** Browser console errors and page errors, for failure reports. */
  readonly consoleErrors: string[] = [];
  /** Name of the step running now (for timeout reports). */
  currentStep: string | undefined;
  private shots = 0;

  private constructor(
    readonly server: CodeServer,
    readonly browser: Browser,
    readonly page: Page,
    readonly test: string,
    private readonly shotEachStep: boolean,
  ) {}

  /** Opens the workbench of `server` on `folder` in a new headless chromium. */
  static async open(server: CodeServer, options: WorkbenchOptions): Promise<Workbench> {
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const context = await browser.newContext({ viewport: options.viewport ?? { width: 1400, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(DEFAULT_TIMEOUT);
      const wb = new Workbench(server, browser, page, slug(options.test), options.shotEachStep ?? true);
      removeOldShots(wb.test);
      page.on('console', (m) => { if (m.type() === 'error') wb.consoleErrors.push(m.text()); });
      page.on('pageerror', (e) => wb.consoleErrors.push(`pageerror: ${e.message}`));
      await page.goto(server.folderUrl(options.folder));
      await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      // The status bar is among the last parts laid out.
      await page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: 60_000 });
      return wb;
    } catch (e) {
      await browser.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.browser.close();
  }

  // ---- steps and screenshots -------------------------------------------------------------

  /** Saves test/e2e/screenshots/<test>-<NN>-<step>.png and returns its path. */
  async shot(step: string): Promise<string> {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const n = String(++this.shots).padStart(2, '0');
    const file = path.join(SCREENSHOT_DIR, `${this.test}-${n}-${slug(step)}.png`);
    await this.page.screenshot({ path: file, timeout: 10_000 });
    return file;
  }

  /**
   * Runs one named step. On failure takes a screenshot and throws an error that names the test,
   * the step and the screenshot (nested steps are reported once, by the innermost).
   */
  async step<T>(name: string, fn: () => Promise<T>): Promise<T> {
    let result: T;
    const outer = this.currentStep;
    this.currentStep = name;
    try {
      result = await fn();
    } catch (e) {
      if (e instanceof Error && (e as any)[STEP_ERROR]) throw e;
      let shot: string;
      try { shot = await this.shot(`FAILED-${name}`); } catch (se) { shot = `(no screenshot: ${(se as Error).message})`; }
      const msg = e instanceof Error ? e.message : String(e);
      const err = new Error(`[${this.test}] step "${name}" failed: ${msg}\n  screenshot: ${shot}`, { cause: e });
      (err as any)[STEP_ERROR] = true;
      throw err;
    } finally {
      this.currentStep = outer;
    }
    if (this.shotEachStep) await this.shot(name);
    return result;
  }

  // ---- command palette and quick open ----------------------------------------------------

  private get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }

  private async openQuickInput(text: string): Promise<void> {
    await this.closeQuickInput();
    await this.page.keyboard.press('F1');
    const input = this.quickInput.locator('.quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 5000 });
    await input.fill(text);
  }

  private async closeQuickInput(): Promise<void> {
    if (await this.quickInput.isVisible()) {
      await this.page.keyboard.press('Escape');
      await this.quickInput.waitFor({ state: 'hidden', timeout: 5000 });
    }
  }

  /** Rows of the open quick input whose label is exactly `label`. */
  private quickRow(label: string): Locator {
    return this.quickInput.locator('.monaco-list-row').filter({
      has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(label)}$`) }),
    });
  }

  /**
   * Waits until the command palette lists `label` exactly. The palette snapshots the commands
   * when it opens, and an extension's commands appear a few seconds after the workbench, so it
   * is reopened until the label is there. Leaves the palette open with the label typed.
   */
  async waitForCommand(label: string, timeout = DEFAULT_TIMEOUT): Promise<void> {
    const deadline = Date.now() + timeout;
    for (;;) {
      await this.openQuickInput(`>${label}`);
      const row = this.quickRow(label).first();
      try {
        await row.waitFor({ state: 'visible', timeout: Math.min(1500, Math.max(200, deadline - Date.now())) });
        return;
      } catch {
        if (Date.now() >= deadline) {
          const listed = await this.quickInput.locator('.monaco-list-row .label-name').allTextContents();
          await this.closeQuickInput();
          throw new Error(`command "${label}" not in the palette after ${timeout} ms; it listed: ${JSON.stringify(listed.slice(0, 10))}`);
        }
      }
    }
  }

  /** Runs the command whose palette label is exactly `label` (e.g. "View: Toggle Terminal"). */
  async runCommand(label: string, timeout = DEFAULT_TIMEOUT): Promise<void> {
    await this.waitForCommand(label, timeout);
    await this.quickRow(label).first().click();
    await this.quickInput.waitFor({ state: 'hidden', timeout: 5000 });
  }

  /** Opens `relPath` (relative to the opened folder) through Quick Open; waits for its editor. */
  async openFile(relPath: string, timeout = DEFAULT_TIMEOUT): Promise<void> {
    const base = path.basename(relPath);
    const dir = path.dirname(relPath);
    const deadline = Date.now() + timeout;
    for (;;) {
      await this.openQuickInput(relPath);
      // Label is the file name; the description is its folder ("" or "." for the root).
      const rows = this.quickRow(base).filter(dir === '.' ? {} : { hasText: dir });
      try {
        await rows.first().waitFor({ state: 'visible', timeout: Math.min(2000, Math.max(200, deadline - Date.now())) });
        await rows.first().click();
        break;
      } catch (e) {
        if (Date.now() >= deadline) { await this.closeQuickInput(); throw new Error(`Quick Open did not list ${relPath}: ${(e as Error).message}`); }
      }
    }
    await this.quickInput.waitFor({ state: 'hidden', timeout: 5000 });
    await this.activeTab(base).waitFor({ timeout: Math.max(1000, deadline - Date.now()) });
  }

  /** The active editor tab whose label starts with `label`. */
  activeTab(label: TextMatch): Locator {
    const re = typeof label === 'string' ? new RegExp(`^${escapeRe(label)}`) : label;
    return this.page.locator('.tabs-container .tab.active').filter({ has: this.page.locator('.label-name', { hasText: re }) });
  }

  /** Labels of all open editor tabs. */
  async tabLabels(): Promise<string[]> {
    return this.page.locator('.tabs-container .tab .label-name').allTextContents();
  }

  /**
   * Runs "Debug: Start Debugging" once the palette has it (it appears after the extensions'
   * commands; F5 pressed earlier only opens the Run view).
   */
  async startDebugging(timeout = DEFAULT_TIMEOUT): Promise<void> {
    await this.runCommand('Debug: Start Debugging', timeout);
  }

  /** Presses keys on the page, e.g. `press('Control+S')`. */
  async press(...keys: string[]): Promise<void> {
    for (const k of keys) await this.page.keyboard.press(k);
  }

  // ---- editors ---------------------------------------------------------------------------

  /** Text of the visible lines of the active editor (Monaco renders only what is on screen). */
  async editorText(): Promise<string> {
    const lines = this.page.locator('.editor-group-container.active .monaco-editor .view-lines').first();
    return (await lines.innerText()).replace(/\u00a0/g, ' ');
  }

  /** Waits until the visible lines of the active editor show `text` (an editor renders a moment after its tab). */
  async waitForEditorText(text: TextMatch, timeout = DEFAULT_TIMEOUT): Promise<string> {
    return waitFor(`the editor to show ${String(text)}`, async () => {
      const t = await this.editorText();
      return matches(t, text) ? t : undefined;
    }, timeout);
  }

  /** The visible diff editor (`.monaco-diff-editor`). */
  diffEditor(): Locator {
    return this.page.locator('.monaco-diff-editor').filter({ visible: true }).first();
  }

  async isDiffEditorOpen(): Promise<boolean> {
    return (await this.page.locator('.monaco-diff-editor').filter({ visible: true }).count()) > 0;
  }

  async waitForDiffEditor(timeout = DEFAULT_TIMEOUT): Promise<Locator> {
    const d = this.diffEditor();
    await d.waitFor({ state: 'visible', timeout });
    return d;
  }

  async waitForNoDiffEditor(timeout = DEFAULT_TIMEOUT): Promise<void> {
    await waitFor('the diff editor to close', async () => !(await this.isDiffEditorOpen()), timeout);
  }

  /** Labels (aria-label, else title) of the visible editor-title actions, active group first. */
  async editorActionLabels(): Promise<string[]> {
    return (await this.editorActionCandidates()).map((c) => c.label);
  }

  private async editorActionCandidates(): Promise<{ label: string; index: number }[]> {
    const all = this.page.locator('.editor-group-container .editor-actions .action-label');
    const found = await all.evaluateAll((els) => els.map((el, index) => {
      const group = el.closest('.editor-group-container');
      const visible = (el as HTMLElement).offsetParent !== null;
      const label = el.getAttribute('aria-label') || el.getAttribute('title') || '';
      return { label, index, visible, active: !!group?.classList.contains('active') };
    }));
    return found.filter((f) => f.visible).sort((x, y) => Number(y.active) - Number(x.active));
  }

  /**
   * Clicks an action in the title bar of an editor group (the active group first), by its
   * aria-label or title: "Accept" matches "Accept" and "Accept (Ctrl+Enter)", not "Accept All".
   * Waits for it to appear (menus follow context keys, which update a moment after focus).
   */
  async clickEditorAction(label: string, timeout = DEFAULT_TIMEOUT): Promise<void> {
    const re = new RegExp(`^${escapeRe(label)}(?: \\(|\\n|$)`);
    let seen: string[] = [];
    const index = await waitFor(`editor action "${label}"`, async () => {
      const c = await this.editorActionCandidates();
      seen = c.map((x) => x.label);
      return c.find((x) => re.test(x.label))?.index;
    }, timeout).catch((e: Error) => {
      throw new Error(`${e.message}; visible editor actions: ${JSON.stringify(seen)}`);
    });
    await this.page.locator('.editor-group-container .editor-actions .action-label').nth(index).click();
  }

  // ---- panels ----------------------------------------------------------------------------

  /** Text of the Debug Console (`.repl`). Only rendered (scrolled-into-view) lines are seen. */
  async debugConsoleText(): Promise<string> {
    const repl = this.page.locator('.repl').filter({ visible: true });
    if (!(await repl.count())) return '';
    return (await repl.first().locator('.monaco-list-rows').innerText()).replace(/\u00a0/g, ' ');
  }

  /** Waits until the Debug Console shows `text`; opens the Debug Console if it stays hidden. */
  async waitForDebugConsoleText(text: TextMatch, timeout = DEFAULT_TIMEOUT): Promise<string> {
    const start = Date.now();
    let opened = false;
    return waitFor(`Debug Console text ${String(text)}`, async () => {
      const t = await this.debugConsoleText();
      if (matches(t, text)) return t;
      if (!opened && Date.now() - start > 2000 && !(await this.page.locator('.repl').filter({ visible: true }).count())) {
        opened = true;
        await this.runCommand('Debug Console: Focus on Debug Console View', 5000);
      }
      return undefined;
    }, timeout, 200);
  }

  /**
   * How many times `text` occurs in the whole Debug Console, not only in its rendered lines: the
   * console's filter box is set to `text` (so only matching lines remain), then cleared again.
   */
  async debugConsoleCount(text: string, timeout = DEFAULT_TIMEOUT): Promise<number> {
    const filter = this.page.locator('input[placeholder*="!exclude, \\\\escape"]').filter({ visible: true }).first();
    if (!(await filter.count())) await this.runCommand('Debug Console: Focus on Debug Console View', 5000);
    await filter.fill(text);
    try {
      // Applied when every rendered line matches; read twice in a row alike, so it has settled.
      let last: string | undefined;
      return await waitFor(`the Debug Console filter "${text}"`, async () => {
        const rows = await this.page.locator('.repl').filter({ visible: true }).first()
          .locator('.monaco-list-row').allInnerTexts();
        const t = rows.join('\n').replace(/\u00a0/g, ' ');
        const settled = rows.every((r) => r.replace(/\u00a0/g, ' ').includes(text)) && t === last;
        last = t;
        return settled ? t.split(text).length - 1 : undefined;
      }, timeout, 250);
    } finally {
      await filter.fill('');
      // back to every line (when some line does not match), so later reads and shots see them all
      await waitFor('the Debug Console filter to clear', async () => (await this.page.locator('.repl').filter({ visible: true })
        .first().locator('.monaco-list-row').allInnerTexts()).some((r) => !r.replace(/\u00a0/g, ' ').includes(text)), 2000, 100)
        .catch(() => undefined);
    }
  }

  // ---- debugging -------------------------------------------------------------------------

  /** True while a debug session runs (the debug toolbar is shown). */
  async isDebugging(): Promise<boolean> {
    return (await this.page.locator('.debug-toolbar').filter({ visible: true }).count()) > 0;
  }

  /** Waits until no debug session runs any more. */
  async waitForDebugEnd(timeout = DEFAULT_TIMEOUT): Promise<void> {
    await waitFor('the debug session to end', async () => !(await this.isDebugging()), timeout, 200);
  }

  /** The exception widget (peek) a debugger shows in the editor on a break on an exception. */
  async waitForExceptionWidget(text: TextMatch, timeout = DEFAULT_TIMEOUT): Promise<string> {
    const widget = this.page.locator('.monaco-editor .exception-widget').filter({ visible: true });
    return waitFor(`the exception widget to show ${String(text)}`, async () => {
      const t = (await widget.allInnerTexts()).join('\n');
      return matches(t, text) ? t : undefined;
    }, timeout, 200);
  }

  /**
   * Types an expression into the Debug Console's input and presses Enter; returns the answer (the
   * evaluation result row it adds, a value or an error) once it matches `expect`.
   */
  async evaluateInDebugConsole(expression: string, expect: TextMatch, timeout = DEFAULT_TIMEOUT): Promise<string> {
    await this.runCommand('Debug Console: Focus on Debug Console View', 5000);
    const results = this.page.locator('.repl').filter({ visible: true }).first().locator('.evaluation-result');
    const before = await results.count();
    const input = this.page.locator('.repl-input-wrapper .monaco-editor').filter({ visible: true }).first();
    await input.click();
    await this.page.keyboard.type(expression);
    await this.press('Enter');
    let answer = '';
    return waitFor(`the Debug Console to answer ${expression} with ${String(expect)}`, async () => {
      if ((await results.count()) <= before) return undefined;
      answer = (await results.last().innerText()).replace(/\u00a0/g, ' ').trim();
      return matches(answer, expect) ? answer : undefined;
    }, timeout, 200).catch((e: Error) => { throw new Error(`${e.message}; it answered ${JSON.stringify(answer)}`); });
  }

  /** Clicks the gutter (glyph margin) of `line` in the active editor: toggles a breakpoint there. */
  async clickGutter(line: number): Promise<void> {
    const editor = this.page.locator('.editor-group-container.active .monaco-editor').filter({ visible: true }).first();
    const number = editor.locator('.margin-view-overlays .line-numbers', { hasText: new RegExp(`^\\s*${line}\\s*$`) }).first();
    const row = await number.boundingBox();
    const glyph = await editor.locator('.glyph-margin').first().boundingBox();
    if (!row || !glyph) throw new Error(`line ${line} or the glyph margin is not on screen`);
    await this.page.mouse.click(glyph.x + glyph.width / 2, row.y + row.height / 2);
  }

  /** Rows of the Breakpoints view ("job.py 7", the exception filters too). */
  async breakpointRows(): Promise<string[]> {
    const rows = await this.page.locator('.debug-breakpoints .monaco-list-row').filter({ visible: true }).allInnerTexts();
    return rows.map((r) => r.replace(/\s+/g, ' ').replace(/\u00a0/g, ' ').trim());
  }

  /** Rows of the Call Stack view, each "name\nfile\nline:col" (threads and sessions included). */
  async callStackRows(): Promise<string[]> {
    return this.page.locator('.debug-call-stack .monaco-list-row').filter({ visible: true }).allInnerTexts();
  }

  /** Rows of the Variables view: scopes ("Locals") and "name =\nvalue" lines. */
  async variableRows(): Promise<string[]> {
    const rows = await this.page.locator('.debug-variables .monaco-list-row').filter({ visible: true }).allInnerTexts();
    return rows.map((r) => r.replace(/\s*\n\s*/g, ' ').replace(/\u00a0/g, ' ').trim());
  }

  /** The status bar items' texts (e.g. "Ln 7, Col 1"). */
  async statusBarItems(): Promise<string[]> {
    return (await this.page.locator('.statusbar-item').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
  }

  /** The terminal panel's rendered text (xterm's DOM/accessibility rows). */
  async terminalText(): Promise<string> {
    const rows = this.page.locator('.terminal-wrapper.active .xterm-rows, .terminal-wrapper.active .xterm-accessibility-tree');
    return (await rows.allInnerTexts()).join('\n');
  }

  // ---- notifications ---------------------------------------------------------------------

  private notificationItems(): Locator {
    return this.page.locator('.notifications-toasts .notification-list-item, .notifications-center .notification-list-item')
      .filter({ visible: true });
  }

  /** Visible notifications (toasts, and the notification center when it is open). */
  async notifications(): Promise<Notification[]> {
    return this.notificationItems().evaluateAll((items) => items.map((el) => ({
      message: (el.querySelector('.notification-list-item-message') as HTMLElement | null)?.innerText.trim() ?? '',
      source: (el.querySelector('.notification-list-item-source') as HTMLElement | null)?.innerText.trim() ?? '',
      buttons: Array.from(el.querySelectorAll('.notification-list-item-buttons-container .monaco-button'))
        .map((b) => (b as HTMLElement).innerText.trim()),
      links: Array.from(el.querySelectorAll('.notification-list-item-message a')).map((a) => (a as HTMLElement).innerText.trim()),
    })));
  }

  /** Waits until no notification (toast, or in the notification center) matches `message`. */
  async waitForNoNotification(message: TextMatch, timeout = DEFAULT_TIMEOUT): Promise<void> {
    await waitFor(`no notification ${String(message)}`, async () => {
      const open = (await this.notifications()).some((n) => matches(n.message, message));
      if (open) return false;
      // A toast may only be hidden: the notification center lists every notification still there.
      await this.runCommand('Notifications: Show Notifications', 5000);
      const kept = await this.page.locator('.notifications-center .notification-list-item-message').allInnerTexts();
      await this.press('Escape');
      return !kept.some((t) => matches(t, message));
    }, timeout, 500);
  }

  /** Clicks the link `label` in the message of the (first visible) notification that matches. */
  async clickNotificationLink(message: TextMatch, label: string, timeout = DEFAULT_TIMEOUT): Promise<void> {
    await this.waitForNotification(message, timeout);
    const msg = typeof message === 'string' ? new RegExp(escapeRe(message)) : message;
    await this.notificationItems()
      .filter({ has: this.page.locator('.notification-list-item-message', { hasText: msg }) })
      .locator('.notification-list-item-message a', { hasText: new RegExp(`^\\s*${escapeRe(label)}\\s*$`) })
      .first().click();
  }

  /**
   * Waits for a notification whose message matches. Toasts hide after a while, so after half the
   * timeout it opens the notification center, which keeps them all.
   */
  async waitForNotification(message: TextMatch, timeout = DEFAULT_TIMEOUT): Promise<Notification> {
    const start = Date.now();
    let centerOpened = false;
    return waitFor(`a notification ${String(message)}`, async () => {
      const found = (await this.notifications()).find((n) => matches(n.message, message));
      if (found) return found;
      if (!centerOpened && Date.now() - start > timeout / 2) {
        centerOpened = true;
        await this.runCommand('Notifications: Show Notifications', 5000);
      }
      return undefined;
    }, timeout, 200);
  }

  /** The button `button` of the (first visible) notification whose message matches. */
  notificationButton(message: TextMatch, button: string): Locator {
    const msg = typeof message === 'string' ? new RegExp(escapeRe(message)) : message;
    return this.notificationItems()
      .filter({ has: this.page.locator('.notification-list-item-message', { hasText: msg }) })
      .locator('.notification-list-item-buttons-container .monaco-button')
      .filter({ hasText: new RegExp(`^\\s*${escapeRe(button)}\\s*$`) })
      .first();
  }

  /** Waits for the notification, then clicks its button `button`. */
  async clickNotificationButton(message: TextMatch, button: string, timeout = DEFAULT_TIMEOUT): Promise<void> {
    const n = await this.waitForNotification(message, timeout);
    if (!n.buttons.includes(button)) {
      throw new Error(`notification "${n.message}" has buttons ${JSON.stringify(n.buttons)}, not "${button}"`);
    }
    await this.notificationButton(message, button).click();
  }

  /** Clears all notifications ("Notifications: Clear All Notifications"). */
  async clearNotifications(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications');
  }

  // ---- webviews --------------------------------------------------------------------------

  /**
   * The content frame of the visible webview (VS Code nests two iframes:
   * `iframe.webview.ready` → `#active-frame`). Webviews that are not shown are not in the DOM or
   * are hidden. With several visible (an editor panel and a view), pass the owning extension's
   * id ("publisher.name") and/or use `nth`.
   */
  webview(options: { extensionId?: string; nth?: number } = {}): FrameLocator {
    const sel = options.extensionId ? `iframe.webview.ready[src*="extensionId=${options.extensionId}"]` : 'iframe.webview.ready';
    return this.page.locator(sel).filter({ visible: true }).nth(options.nth ?? 0)
      .contentFrame().locator('#active-frame').contentFrame();
  }

  /** Waits for a visible webview whose document contains `selector`; returns its frame. */
  async waitForWebview(selector = 'body', options: { extensionId?: string; nth?: number; timeout?: number } = {}): Promise<FrameLocator> {
    const frame = this.webview(options);
    const timeout = options.timeout ?? DEFAULT_TIMEOUT;
    await frame.locator(selector).first().waitFor({ state: 'attached', timeout });
    return frame;
  }
}

/** Report written next to the screenshots when a test fails: server output, VS Code logs, console. */
function writeFailureLogs(test: string, server: CodeServer | undefined, wb: Workbench | undefined): string | undefined {
  try {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const file = path.join(SCREENSHOT_DIR, `${slug(test)}-failure.log`);
    writeFileSync(file, [
      `==== code-server output\n${server?.output() ?? ''}`,
      `==== browser console errors\n${wb?.consoleErrors.join('\n') ?? ''}`,
      server?.vscodeLogs() ?? '',
    ].join('\n'));
    return file;
  } catch {
    return undefined;
  }
}

export interface WithWorkbenchOptions extends CodeServerOptions, Omit<WorkbenchOptions, 'test'> {
  /**
   * Fails the test after this long (default 180 s, AXOLOTL_E2E_TEST_TIMEOUT overrides) and still
   * cleans up. Prefer it to node:test's own timeout, after which the open browser and server
   * would keep the test process alive.
   */
  timeoutMs?: number;
}

/**
 * Starts a code-server (see CodeServerOptions: files, vsix, settings, ...), opens its workbench,
 * runs `fn`, and always closes the browser and stops the server. On failure the server output,
 * VS Code's logs and the browser console go to screenshots/<test>-failure.log, named in the error.
 */
export async function withWorkbench<T>(test: string, options: WithWorkbenchOptions,
  fn: (wb: Workbench, server: CodeServer) => Promise<T>): Promise<T> {
  let server: CodeServer | undefined;
  let wb: Workbench | undefined;
  const times: string[] = [];
  let t = Date.now();
  const lap = (what: string) => { const n = Date.now(); times.push(`${what} ${((n - t) / 1000).toFixed(1)}s`); t = n; };
  try {
    server = await startCodeServer(options);
    lap('server');
    wb = await Workbench.open(server, { ...options, test });
    lap('workbench');
    const timeoutMs = options.timeoutMs ?? (Number(process.env.AXOLOTL_E2E_TEST_TIMEOUT) || 180_000);
    const running = fn(wb, server);
    running.catch(() => undefined); // if the timeout wins, its later failure is not unhandled
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`[${test}] timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    const current = wb;
    const result = await Promise.race([running, timedOut]).catch(async (e) => {
      if (e instanceof Error && e.message.startsWith(`[${test}] timed out`)) {
        if (current.currentStep) e.message += ` in step "${current.currentStep}"`;
        try { e.message += `\n  screenshot: ${await current.shot('TIMEOUT')}`; } catch { /* ignore */ }
      }
      throw e;
    }).finally(() => clearTimeout(timer));
    lap('test');
    return result;
  } catch (e) {
    lap('failed after');
    const log = writeFailureLogs(test, server, wb);
    if (e instanceof Error && log) e.message += `\n  logs: ${log}`;
    throw e;
  } finally {
    await wb?.close().catch(() => undefined);
    const stopped = await server?.stop();
    lap('stop');
    if (stopped?.killed.length) times.push(`SIGKILLed ${stopped.killed.length} of ${stopped.pids.length} processes`);
    process.stderr.write(`[e2e] ${test}: ${times.join(', ')}\n`);
  }
}

export { startCodeServer };
export type { CodeServer, CodeServerOptions };
