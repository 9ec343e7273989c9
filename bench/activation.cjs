// Extension activation time for `npm run bench`: loads a bundled extension.js in a fresh Node process
// with a minimal fake `vscode` module and times the module load and `activate(context)`.
//
//   node bench/activation.cjs path/to/extension.js   → {"loadMs":…,"activateMs":…,"subscriptions":…}
'use strict';
const Module = require('node:module');
const path = require('node:path');

/** Any property is another stub; calls and `new` give stubs; `get(...)` gives undefined (no settings). */
function stub(name) {
  const own = new Map();
  return new Proxy(function () {}, {
    get(_t, prop) {
      if (own.has(prop)) return own.get(prop);
      if (prop === 'then') return undefined; // not a promise
      if (prop === Symbol.iterator) return function* () {};
      if (prop === Symbol.toPrimitive) return () => name;
      if (prop === 'get') return () => undefined;
      if (prop === 'dispose') return () => undefined;
      if (prop === 'fsPath' || prop === 'path') return '/tmp/axolotl-fake';
      if (typeof prop === 'symbol') return undefined;
      const v = stub(`${name}.${prop}`);
      own.set(prop, v);
      return v;
    },
    set(_t, prop, value) { own.set(prop, value); return true; },
    defineProperty(_t, prop, desc) { own.set(prop, desc.value); return true; },
    apply: () => stub(`${name}()`),
    construct: () => stub(`new ${name}`),
  });
}

class Disposable {
  constructor(fn) { this.fn = fn; }
  static from(...d) { return new Disposable(() => d.forEach((x) => x && x.dispose && x.dispose())); }
  dispose() { if (this.fn) this.fn(); }
}
class EventEmitter {
  constructor() { this.listeners = []; this.event = (l) => { this.listeners.push(l); return new Disposable(() => undefined); }; }
  fire(e) { for (const l of this.listeners) l(e); }
  dispose() { this.listeners = []; }
}
// A plain object (bundlers copy its own properties), every API namespace and class a stub.
const fake = { Disposable, EventEmitter };
for (const name of [
  'window', 'workspace', 'commands', 'debug', 'languages', 'env', 'extensions', 'l10n', 'Uri', 'FileSystemError',
  'FileType', 'FileChangeType', 'ViewColumn', 'TreeItem', 'TreeItemCollapsibleState', 'StatusBarAlignment',
  'ProgressLocation', 'DebugConfigurationProviderTriggerKind', 'TabInputText', 'TabInputTextDiff', 'ThemeIcon',
  'ThemeColor', 'MarkdownString', 'Range', 'Position', 'Selection', 'DebugAdapterExecutable',
  'DebugAdapterInlineImplementation', 'DebugAdapterServer', 'RelativePattern', 'CancellationTokenSource',
  'WorkspaceEdit', 'ConfigurationTarget', 'QuickPickItemKind', 'ExtensionMode', 'UIKind',
]) fake[name] = stub(`vscode.${name}`);

const realLoad = Module._load;
Module._load = function (request, parent, isMain) {
  if (request === 'vscode') return fake;
  return realLoad.call(this, request, parent, isMain);
};

const file = path.resolve(process.argv[2]);
const memento = () => { const m = new Map(); return { get: (k, d) => (m.has(k) ? m.get(k) : d), update: async (k, v) => { m.set(k, v); }, keys: () => [...m.keys()] }; };
const context = {
  subscriptions: [],
  extensionPath: path.dirname(path.dirname(file)),
  extensionUri: { fsPath: path.dirname(path.dirname(file)), path: path.dirname(path.dirname(file)), scheme: 'file' },
  globalState: memento(),
  workspaceState: memento(),
  secrets: { get: async () => undefined, store: async () => undefined, delete: async () => undefined, onDidChange: () => new Disposable() },
  asAbsolutePath: (p) => path.join(path.dirname(path.dirname(file)), p),
  storageUri: undefined,
  globalStorageUri: { fsPath: '/tmp/axolotl-fake-storage' },
  logUri: { fsPath: '/tmp/axolotl-fake-log' },
  extensionMode: 1,
};

const t0 = performance.now();
const ext = require(file);
const t1 = performance.now();
ext.activate(context);
const t2 = performance.now();
process.stdout.write(JSON.stringify({ loadMs: t1 - t0, activateMs: t2 - t1, subscriptions: context.subscriptions.length }) + '\n');
