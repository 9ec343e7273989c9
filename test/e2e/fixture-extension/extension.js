// Minimal extension for the harness test: a notification with buttons, a webview that talks
// back, a diff editor with an editor-title action, and an inline debug adapter that prints.
const vscode = require('vscode');

const LEFT = 'value = 1\nprint(value)\n';
const RIGHT = 'value = 2\nprint(value)\n';

/** A debug adapter that prints one line to the Debug Console and ends. */
class FixtureAdapter {
  constructor() {
    this.emitter = new vscode.EventEmitter();
    this.onDidSendMessage = this.emitter.event;
    this.seq = 1;
  }
  send(msg) { this.emitter.fire({ seq: this.seq++, ...msg }); }
  reply(req, body) { this.send({ type: 'response', request_seq: req.seq, success: true, command: req.command, body }); }
  event(event, body) { this.send({ type: 'event', event, body }); }
  handleMessage(req) {
    switch (req.command) {
      case 'initialize':
        this.reply(req, { supportsConfigurationDoneRequest: true });
        this.event('initialized');
        break;
      case 'launch':
        this.reply(req);
        break;
      case 'configurationDone':
        this.reply(req);
        this.event('output', { category: 'stdout', output: 'fixture debuggee says hello\n' });
        this.event('terminated');
        break;
      case 'threads':
        this.reply(req, { threads: [] });
        break;
      default:
        this.reply(req);
    }
  }
  dispose() {}
}

function activate(context) {
  const sub = (d) => context.subscriptions.push(d);

  sub(vscode.commands.registerCommand('e2eFixture.notify', async () => {
    const choice = await vscode.window.showInformationMessage('Fixture asks: accept?', 'Accept', 'Reject');
    vscode.window.showInformationMessage(`Fixture choice: ${choice}`);
  }));

  sub(vscode.commands.registerCommand('e2eFixture.webview', () => {
    const panel = vscode.window.createWebviewPanel('e2eFixture', 'Fixture Webview', vscode.ViewColumn.One,
      { enableScripts: true });
    panel.webview.html = `<!DOCTYPE html><html><body>
      <h1 id="title">Fixture webview</h1><button id="ping">Ping</button>
      <script>
        const api = acquireVsCodeApi();
        document.getElementById('ping').addEventListener('click', () => api.postMessage('ping'));
      </script></body></html>`;
    panel.webview.onDidReceiveMessage((m) => vscode.window.showInformationMessage(`Webview said ${m}`));
  }));

  sub(vscode.workspace.registerTextDocumentContentProvider('e2e-fixture', {
    provideTextDocumentContent: (uri) => (uri.path.endsWith('left.py') ? LEFT : RIGHT),
  }));
  sub(vscode.commands.registerCommand('e2eFixture.diff', () => vscode.commands.executeCommand('vscode.diff',
    vscode.Uri.parse('e2e-fixture:/left.py'), vscode.Uri.parse('e2e-fixture:/right.py'), 'Fixture Diff')));
  sub(vscode.commands.registerCommand('e2eFixture.accept', async () => {
    for (const group of vscode.window.tabGroups.all) {
      for (const tab of group.tabs) {
        if (tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.scheme === 'e2e-fixture') {
          await vscode.window.tabGroups.close(tab);
        }
      }
    }
    vscode.window.showInformationMessage('Fixture change accepted');
  }));

  sub(vscode.debug.registerDebugAdapterDescriptorFactory('e2e-fixture', {
    createDebugAdapterDescriptor: () => new vscode.DebugAdapterInlineImplementation(new FixtureAdapter()),
  }));
  sub(vscode.commands.registerCommand('e2eFixture.debug', () => vscode.debug.startDebugging(undefined,
    { type: 'e2e-fixture', request: 'launch', name: 'Fixture' })));
}

module.exports = { activate, deactivate() {} };
