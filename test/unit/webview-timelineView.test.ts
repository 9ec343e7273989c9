// The extension side of the timeline, against a small fake of the `vscode` module: registration,
// webview options and HTML, replay of the full state to a timeline that opens or comes back,
// validation of what the webview sends, callbacks, and the DAP event bridge.
import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Module from 'node:module';
import type * as TimelineViewModule from '../../extension/timeline/timelineView';
import type * as BridgeModule from '../../extension/timeline/timelineDebugBridge';
import type { ToWebviewMessage, TimelineUpdate } from '../../adapter/protocol/timeline';
import { sampleCheckpoint, sampleInit, sampleStory, SAMPLE_T0 } from '../../webview/sampleTimeline';

// ---------------------------------------------------------------------------------------------
// A fake of the parts of `vscode` the timeline uses

type Listener<T> = (e: T) => void;
class Emitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  readonly event = (l: Listener<T>): { dispose(): void } => {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  get size(): number {
    return this.listeners.size;
  }
}

interface FakeUri { path: string; toString(): string }
const uri = (path: string): FakeUri => ({ path, toString: () => path });

class FakeWebview {
  html = '';
  options: { enableScripts?: boolean; localResourceRoots?: FakeUri[]; enableCommandUris?: boolean } = {};
  readonly cspSource = 'vscode-webview-resource:';
  readonly posted: ToWebviewMessage[] = [];
  delivered = true;
  readonly messages = new Emitter<unknown>();
  readonly onDidReceiveMessage = this.messages.event;
  postMessage(m: ToWebviewMessage): Promise<boolean> {
    if (this.delivered) this.posted.push(structuredClone(m));
    return Promise.resolve(this.delivered);
  }
  asWebviewUri(u: FakeUri): FakeUri {
    return uri(`webview://${u.path}`);
  }
  /** The webview's script sends a message. */
  send(m: unknown): void {
    this.messages.fire(m);
  }
}

class FakeView {
  readonly webview = new FakeWebview();
  visible = true;
  readonly visibility = new Emitter<void>();
  readonly disposed = new Emitter<void>();
  readonly onDidChangeVisibility = this.visibility.event;
  readonly onDidDispose = this.disposed.event;
  setVisible(v: boolean): void {
    this.visible = v;
    this.visibility.fire();
  }
}

class FakePanel extends FakeView {
  revealed = 0;
  readonly onDidChangeViewState = this.visibility.event;
  constructor(readonly viewType: string, readonly title: string, readonly createOptions: unknown) {
    super();
    this.webview.options = createOptions as FakeWebview['options'];
  }
  reveal(): void {
    this.revealed++;
  }
  dispose(): void {
    this.disposed.fire();
  }
}

const registered = {
  views: new Map<string, unknown>(),
  commands: new Map<string, () => unknown>(),
  serializers: new Map<string, unknown>(),
  panels: [] as FakePanel[],
  executed: [] as string[],
};
const debugEvents = new Emitter<{ event: string; body: unknown; session: { id: string; type: string } }>();
const debugTerminated = new Emitter<{ id: string; type: string }>();

const fakeVscode = {
  Uri: { joinPath: (base: FakeUri, ...parts: string[]) => uri([base.path, ...parts].join('/')) },
  ViewColumn: { Active: -1, Beside: -2 },
  window: {
    registerWebviewViewProvider: (id: string, p: unknown) => (registered.views.set(id, p), { dispose() {} }),
    registerWebviewPanelSerializer: (id: string, s: unknown) => (registered.serializers.set(id, s), { dispose() {} }),
    createWebviewPanel: (viewType: string, title: string, _column: unknown, options: unknown) => {
      const p = new FakePanel(viewType, title, options);
      registered.panels.push(p);
      return p;
    },
  },
  commands: {
    registerCommand: (id: string, fn: () => unknown) => (registered.commands.set(id, fn), { dispose() {} }),
    executeCommand: (id: string) => { registered.executed.push(id); return Promise.resolve(); },
  },
  debug: { onDidReceiveDebugSessionCustomEvent: debugEvents.event, onDidTerminateDebugSession: debugTerminated.event },
};

// `vscode` only exists inside the extension host: resolve it to the fake.
const M = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
const resolve = M._resolveFilename;
M._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: fakeVscode } as unknown as NodeJS.Module;
const { TimelineController, TIMELINE_VIEW_ID, TIMELINE_PANEL_VIEW_ID, OPEN_TIMELINE_COMMAND, SHOW_TIMELINE_IN_PANEL_COMMAND, TIMELINE_PANEL_TYPE } =
  require('../../extension/timeline/timelineView') as typeof TimelineViewModule;
const { TimelineDebugBridge } = require('../../extension/timeline/timelineDebugBridge') as typeof BridgeModule;

// ---------------------------------------------------------------------------------------------

const EXT = uri('/ext');
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Calls { restore: number[]; repair: string[]; crash: number[]; log: string[] }
function controller(fail = false): { c: InstanceType<typeof TimelineController>; calls: Calls } {
  const calls: Calls = { restore: [], repair: [], crash: [], log: [] };
  const c = new TimelineController(EXT as never, {
    onRestoreRequest: (id) => {
      calls.restore.push(id);
      if (fail) throw new Error('criu restore failed: see engine.log');
    },
    onOpenRepair: async (id) => {
      calls.repair.push(id);
    },
    onRevealCrash: (id) => calls.crash.push(id),
    log: (m) => calls.log.push(m),
  });
  return { c, calls };
}

function resolveView(c: InstanceType<typeof TimelineController>): FakeView {
  const view = new FakeView();
  c.resolveWebviewView(view as never);
  return view;
}

describe('TimelineController', () => {
  beforeEach(() => {
    registered.views.clear();
    registered.commands.clear();
    registered.serializers.clear();
    registered.panels.length = 0;
  });

  test('register: the two views (sidebar, panel area), the commands and the panel serializer', () => {
    const subscriptions: unknown[] = [];
    const c = TimelineController.register({ extensionUri: EXT, subscriptions } as never, {});
    assert.equal(TIMELINE_VIEW_ID, 'axolotl.timeline');
    assert.equal(TIMELINE_PANEL_VIEW_ID, 'axolotl.timelinePanelView');
    assert.equal(OPEN_TIMELINE_COMMAND, 'axolotl.openTimeline');
    assert.equal(registered.views.get(TIMELINE_VIEW_ID), c);
    assert.equal(registered.views.get(TIMELINE_PANEL_VIEW_ID), c);
    assert.ok(registered.serializers.has(TIMELINE_PANEL_TYPE));
    assert.equal(subscriptions.length, 6);
    registered.commands.get(OPEN_TIMELINE_COMMAND)!();
    assert.equal(registered.panels.length, 1);
    assert.equal(registered.panels[0]!.viewType, TIMELINE_PANEL_TYPE);
    registered.commands.get(SHOW_TIMELINE_IN_PANEL_COMMAND)!();
    assert.deepEqual(registered.executed.splice(0), ['axolotl.timelinePanelView.focus']);
  });

  test('the sidebar\'s timeline offers the panel area, and asks for it', async () => {
    const { c } = controller();
    const sidebar = new FakeView();
    c.resolveWebviewView(sidebar as never);
    assert.match(sidebar.webview.html, /<body data-host="sidebar">/);
    const below = Object.assign(new FakeView(), { viewType: TIMELINE_PANEL_VIEW_ID });
    c.resolveWebviewView(below as never);
    assert.match(below.webview.html, /<body data-host="panel">/);
    sidebar.webview.send({ type: 'showInPanel' });
    await tick();
    assert.deepEqual(registered.executed.splice(0), ['axolotl.timelinePanelView.focus']);
  });

  test('webview options: scripts on, resources only from dist/ and media/; HTML with the CSP and bundle URIs', () => {
    const { c } = controller();
    const view = resolveView(c);
    const o = view.webview.options;
    assert.equal(o.enableScripts, true);
    assert.equal(o.enableCommandUris, false);
    assert.deepEqual(o.localResourceRoots?.map((u) => u.path), ['/ext/dist', '/ext/media']);
    const html = view.webview.html;
    const nonce = /script-src 'nonce-([^']+)'/.exec(html)?.[1];
    assert.ok(nonce);
    assert.match(html, new RegExp(`content="default-src 'none'; style-src vscode-webview-resource:; font-src vscode-webview-resource:; img-src vscode-webview-resource:; script-src 'nonce-${nonce.replace(/[+/]/g, '\\$&')}'"`));
    assert.match(html, /<script nonce="[^"]+" src="webview:\/\/\/ext\/dist\/webview\.js"><\/script>/);
    assert.match(html, /href="webview:\/\/\/ext\/media\/timeline\.css"/);
    assert.match(html, /href="webview:\/\/\/ext\/dist\/codicons\/codicon\.css"/);
    // A new nonce per render.
    const other = resolveView(c);
    assert.notEqual(/nonce="([^"]+)"/.exec(other.webview.html)?.[1], nonce);
  });

  test('nothing is sent before `ready`; `ready` gets the full state; later updates follow', async () => {
    const { c } = controller();
    for (const m of sampleStory(3)) c.post(m);
    const view = resolveView(c);
    assert.equal(view.webview.posted.length, 0);
    view.webview.send({ type: 'ready' });
    await tick();
    assert.equal(view.webview.posted.length, 1);
    const init = view.webview.posted[0]!;
    assert.equal(init.type, 'init');
    assert.equal(init.type === 'init' && init.checkpoints.length, 11);
    assert.equal(init.type === 'init' && init.repairs.find((r) => r.id === 'r2')?.status, 'verified');
    const next: TimelineUpdate = { type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(50, SAMPLE_T0 + 90_000, 1) };
    c.post(next);
    assert.deepEqual(view.webview.posted[1], next);
    assert.equal(c.state.items.at(-1)?.key, 'cp:50');
  });

  test('every open timeline gets updates; the panel opens once and is revealed after', async () => {
    const { c } = controller();
    const view = resolveView(c);
    view.webview.send({ type: 'ready' });
    const panel = c.openPanel() as unknown as FakePanel;
    assert.equal(c.openPanel() as unknown, panel);
    assert.equal(panel.revealed, 1);
    assert.deepEqual(panel.webview.options.localResourceRoots?.map((u) => u.path), ['/ext/dist', '/ext/media']);
    panel.webview.send({ type: 'ready' });
    await tick();
    c.post(sampleInit(0).head ? { type: 'head', head: sampleInit(0).head! } : { type: 'notice', notice: null });
    assert.equal(view.webview.posted.at(-1)?.type, 'head');
    assert.equal(panel.webview.posted.at(-1)?.type, 'head');
    panel.dispose();
    c.post({ type: 'notice', notice: { level: 'info', text: 'x' } });
    assert.equal(panel.webview.posted.at(-1)?.type, 'head');
    assert.equal(view.webview.posted.at(-1)?.type, 'notice');
    // After the panel closed, the command opens a new one.
    assert.notEqual(c.openPanel() as unknown, panel);
  });

  test('a hidden timeline gets nothing, and the whole state when shown again', async () => {
    const { c } = controller();
    const view = resolveView(c);
    view.webview.send({ type: 'ready' });
    await tick();
    view.setVisible(false);
    c.post({ type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(1, SAMPLE_T0 + 1000) });
    assert.equal(view.webview.posted.length, 1);
    view.setVisible(true);
    const last = view.webview.posted.at(-1)!;
    assert.equal(last.type, 'init');
    assert.equal(last.type === 'init' && last.checkpoints.length, 1);
  });

  test('a webview that drops a message is treated as not ready until it says ready again', async () => {
    const { c } = controller();
    const view = resolveView(c);
    view.webview.send({ type: 'ready' });
    await tick();
    view.webview.delivered = false;
    c.post({ type: 'notice', notice: null });
    await tick();
    view.webview.delivered = true;
    c.post({ type: 'notice', notice: null });
    assert.equal(view.webview.posted.length, 1);
    view.webview.send({ type: 'ready' });
    await tick();
    assert.equal(view.webview.posted.at(-1)?.type, 'init');
  });

  test('validated requests reach the callbacks; malformed ones are logged and dropped', async () => {
    const { c, calls } = controller();
    c.post({ type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(12, SAMPLE_T0 + 12_000) });
    const view = resolveView(c);
    view.webview.send({ type: 'ready' });
    view.webview.send({ type: 'restoreRequest', checkpointId: 12 });
    view.webview.send({ type: 'openRepair', repairId: 'r1' });
    view.webview.send({ type: 'revealCrash', crashId: 2 });
    view.webview.send({ type: 'restoreRequest', checkpointId: '12; rm -rf /' });
    view.webview.send({ type: 'evaluate', code: 'process.exit()' });
    view.webview.send(null);
    await tick();
    assert.deepEqual(calls.restore, [12]);
    assert.deepEqual(calls.repair, ['r1']);
    assert.deepEqual(calls.crash, [2]);
    assert.equal(calls.log.length, 3);
    assert.match(calls.log[0]!, /malformed/);
  });

  test('a restore of a checkpoint that is not kept, or a failing callback, shows an error notice', async () => {
    const { c, calls } = controller(true);
    c.post({ type: 'checkpoint', change: 'added', checkpoint: sampleCheckpoint(12, SAMPLE_T0 + 12_000) });
    const view = resolveView(c);
    view.webview.send({ type: 'ready' });
    view.webview.send({ type: 'restoreRequest', checkpointId: 99 });
    await tick();
    assert.deepEqual(calls.restore, []);
    assert.deepEqual(view.webview.posted.at(-1), { type: 'notice', notice: { level: 'error', text: 'Checkpoint #99 is no longer kept; choose a newer one.' } });
    view.webview.send({ type: 'restoreRequest', checkpointId: 12 });
    await tick();
    assert.deepEqual(calls.restore, [12]);
    assert.deepEqual(view.webview.posted.at(-1), {
      type: 'notice',
      notice: { level: 'error', text: 'Could not restore checkpoint #12: criu restore failed: see engine.log' },
    });
    assert.equal(c.state.notice?.level, 'error');
  });
});

describe('TimelineDebugBridge', () => {
  test('forwards valid timeline events of the followed Axolotl session only', () => {
    const posted: TimelineUpdate[] = [];
    const logs: string[] = [];
    const { c } = controller();
    const sink = { post: (u: TimelineUpdate) => (posted.push(u), c.post(u)), get state() { return c.state; } };
    const bridge = new TimelineDebugBridge(sink, 'axolotl', (m) => logs.push(m));
    const s1 = { id: 's1', type: 'axolotl' };
    const s2 = { id: 's2', type: 'axolotl' };
    const story = sampleStory(2);
    debugEvents.fire({ event: 'axolotl/timeline', body: story[0], session: s1 });
    debugEvents.fire({ event: 'axolotl/timeline', body: story[1], session: s1 });
    debugEvents.fire({ event: 'output', body: story[1], session: s1 });
    debugEvents.fire({ event: 'axolotl/timeline', body: story[1], session: { id: 's9', type: 'python' } });
    debugEvents.fire({ event: 'axolotl/timeline', body: { type: 'checkpoint', change: 'added', checkpoint: { id: 'x' } }, session: s1 });
    debugEvents.fire({ event: 'axolotl/timeline', body: story[2], session: s2 }); // not followed
    assert.equal(posted.length, 2);
    assert.equal(logs.length, 1);
    assert.equal(bridge.session?.id, 's1');

    // A new session that starts is followed from then on.
    const started = { type: 'session', change: 'started', session: { id: 'run-2', program: 'b.py', startTime: 5, backend: 'fork' } };
    debugEvents.fire({ event: 'axolotl/timeline', body: started, session: s2 });
    assert.equal(bridge.session?.id, 's2');
    debugEvents.fire({ event: 'axolotl/timeline', body: story[1], session: s1 });
    assert.equal(posted.length, 3);

    // The followed debug session ends without the adapter having said so: the timeline ends it.
    const endOf = (): string | undefined => c.state.end?.reason;
    debugTerminated.fire(s1);
    assert.equal(endOf(), undefined);
    debugTerminated.fire(s2);
    assert.equal(endOf(), 'debug session ended');
    assert.equal(bridge.session, undefined);
    bridge.dispose();
    assert.equal(debugEvents.size, 0);
  });
});
