// The repair review against a small fake of the `vscode` module, with real files on disk: one diff
// per file, what the user edited in the proposal is what gets written and sent to the adapter,
// Accept/Reject requests, tabs closed by scheme, the context key, conflicts, autoAccept, history.
import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { RepairProposal } from '../../adapter/protocol/customProtocol';
import type * as HistoryModule from '../../extension/repairHistory';
import type * as OriginalsModule from '../../extension/originalContentProvider';
import type * as ProposedModule from '../../extension/proposedFileSystem';
import type * as ReviewModule from '../../extension/repairReview';

// ---------------------------------------------------------------------------------------------
// The fake

class FakeUri {
  private constructor(readonly scheme: string, readonly path: string) {}
  static from(c: { scheme: string; path: string }): FakeUri {
    return new FakeUri(c.scheme, c.path);
  }
  static file(p: string): FakeUri {
    return new FakeUri('file', p);
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}:${this.path}`;
  }
}

class Emitter<T> {
  private readonly listeners = new Set<(e: T) => void>();
  readonly event = (l: (e: T) => void) => (this.listeners.add(l), { dispose: () => this.listeners.delete(l) });
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

class Position {
  constructor(readonly offset: number) {}
}
class Range {
  constructor(readonly start: Position, readonly end: Position) {}
}

type EditOp =
  | { op: 'replace'; uri: FakeUri; range: Range; text: string }
  | { op: 'create'; uri: FakeUri; contents?: Uint8Array }
  | { op: 'delete'; uri: FakeUri };
class WorkspaceEdit {
  readonly ops: EditOp[] = [];
  replace(uri: FakeUri, range: Range, text: string): void {
    this.ops.push({ op: 'replace', uri, range, text });
  }
  createFile(uri: FakeUri, options?: { contents?: Uint8Array }): void {
    this.ops.push({ op: 'create', uri, contents: options?.contents });
  }
  deleteFile(uri: FakeUri): void {
    this.ops.push({ op: 'delete', uri });
  }
}

class TabInputTextDiff {
  constructor(readonly original: FakeUri, readonly modified: FakeUri) {}
}
class TabInputText {
  constructor(readonly uri: FakeUri) {}
}

interface FsProvider {
  readFile(uri: FakeUri): Uint8Array;
  writeFile(uri: FakeUri, data: Uint8Array, o: { create: boolean; overwrite: boolean }): void;
}
interface ContentProvider {
  provideTextDocumentContent(uri: FakeUri): string;
}

class FakeDoc {
  isDirty = false;
  readonly languageId = 'python';
  constructor(readonly uri: FakeUri, public text: string) {}
  getText(): string {
    return this.text;
  }
  positionAt(offset: number): Position {
    return new Position(offset);
  }
  async save(): Promise<boolean> {
    if (this.uri.scheme === 'file') fs.writeFileSync(this.uri.path, this.text);
    else if (this.uri.scheme === 'axolotl-proposed') state.fsProvider!.writeFile(this.uri, new TextEncoder().encode(this.text), { create: true, overwrite: true });
    else return false;
    this.isDirty = false;
    return true;
  }
}

interface Tab {
  input: unknown;
  label: string;
}

const state = {
  docs: new Map<string, FakeDoc>(),
  fsProvider: undefined as FsProvider | undefined,
  contentProvider: undefined as ContentProvider | undefined,
  tabs: [] as Tab[],
  commands: new Map<string, (...a: unknown[]) => unknown>(),
  executed: [] as Array<{ id: string; args: unknown[] }>,
  context: new Map<string, unknown>(),
  info: [] as string[],
  warnings: [] as string[],
  errors: [] as string[],
  /** progress notifications: their text, and whether their task ended (VS Code then closes them) */
  notifications: [] as Array<{ title: string; messages: string[]; closed: boolean }>,
  /** answers for the next showInformationMessage / showWarningMessage calls */
  infoAnswer: undefined as string | undefined,
  warningAnswer: undefined as string | undefined,
  applied: [] as WorkspaceEdit[],
};

const fakeVscode = {
  Uri: FakeUri,
  EventEmitter: Emitter,
  Position,
  Range,
  WorkspaceEdit,
  TabInputTextDiff,
  TabInputText,
  Disposable: class {
    constructor(private readonly fn: () => void) {}
    dispose(): void {
      this.fn();
    }
  },
  FileType: { File: 1, Directory: 2 },
  ProgressLocation: { Notification: 15 },
  FileChangeType: { Changed: 1, Created: 2, Deleted: 3 },
  FileSystemError: {
    FileNotFound: (u: FakeUri) => new Error(`not found: ${u}`),
    FileExists: (u: FakeUri) => new Error(`exists: ${u}`),
    NoPermissions: (m: string) => new Error(m),
  },
  TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
  workspace: {
    get textDocuments() {
      return [...state.docs.values()];
    },
    registerTextDocumentContentProvider: (_s: string, p: ContentProvider) => ((state.contentProvider = p), { dispose() {} }),
    registerFileSystemProvider: (_s: string, p: FsProvider) => ((state.fsProvider = p), { dispose() {} }),
    openTextDocument: async (uri: FakeUri) => {
      const key = uri.toString();
      let doc = state.docs.get(key);
      if (!doc) {
        let text: string;
        if (uri.scheme === 'file') text = fs.readFileSync(uri.path, 'utf8');
        else if (uri.scheme === 'axolotl-proposed') text = new TextDecoder().decode(state.fsProvider!.readFile(uri));
        else text = state.contentProvider!.provideTextDocumentContent(uri);
        doc = new FakeDoc(uri, text);
        state.docs.set(key, doc);
      }
      return doc;
    },
    applyEdit: async (edit: WorkspaceEdit) => {
      state.applied.push(edit);
      for (const op of edit.ops) {
        if (op.op === 'create') fs.writeFileSync(op.uri.path, op.contents ?? new Uint8Array());
        else if (op.op === 'delete') fs.rmSync(op.uri.path);
        else {
          const doc = state.docs.get(op.uri.toString())!;
          assert.equal(op.range.start.offset, 0, 'replaces the whole document');
          assert.equal(op.range.end.offset, doc.text.length, 'replaces the whole document');
          doc.text = op.text;
          doc.isDirty = true;
        }
      }
      return true;
    },
  },
  window: {
    showInformationMessage: async (m: string) => (state.info.push(m), state.infoAnswer),
    withProgress: (o: { location: number; title: string }, task: (p: { report(v: { message?: string }): void }) => Promise<unknown>) => {
      assert.equal(o.location, 15, 'a notification');
      const n = { title: o.title, messages: [] as string[], closed: false };
      state.notifications.push(n);
      return task({ report: (v) => { if (v.message) n.messages.push(v.message); } }).finally(() => { n.closed = true; });
    },
    showWarningMessage: async (m: string) => (state.warnings.push(m), state.warningAnswer),
    showErrorMessage: async (m: string) => (state.errors.push(m), undefined),
    setStatusBarMessage: () => ({ dispose() {} }),
    createTreeView: () => ({ dispose() {} }),
    tabGroups: {
      get all() {
        return [{ tabs: [...state.tabs] }];
      },
      close: async (tabs: Tab[]) => {
        for (const t of tabs) state.tabs.splice(state.tabs.indexOf(t), 1);
        return true;
      },
    },
  },
  commands: {
    registerCommand: (id: string, fn: (...a: unknown[]) => unknown) => (state.commands.set(id, fn), { dispose() {} }),
    executeCommand: async (id: string, ...args: unknown[]) => {
      state.executed.push({ id, args });
      if (id === 'setContext') state.context.set(args[0] as string, args[1]);
      if (id === 'vscode.diff') state.tabs.push({ input: new TabInputTextDiff(args[0] as FakeUri, args[1] as FakeUri), label: args[2] as string });
      return undefined;
    },
  },
};

const M = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
const resolve = M._resolveFilename;
M._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]): string {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: fakeVscode } as unknown as NodeJS.Module;
const { OriginalContentProvider } = require('../../extension/originalContentProvider') as typeof OriginalsModule;
const { ProposedFileSystem } = require('../../extension/proposedFileSystem') as typeof ProposedModule;
const { RepairHistory } = require('../../extension/repairHistory') as typeof HistoryModule;
const { RepairReview } = require('../../extension/repairReview') as typeof ReviewModule;

// ---------------------------------------------------------------------------------------------

class FakeSession {
  readonly requests: Array<{ command: string; args: unknown }> = [];
  fail: string | undefined;
  constructor(readonly id = 's1', readonly configuration: Record<string, unknown> = { type: 'axolotl', repair: {} }) {}
  readonly name = 'Axolotl: train.py';
  readonly type = 'axolotl';
  async customRequest(command: string, args: unknown): Promise<unknown> {
    this.requests.push({ command, args });
    if (this.fail) throw new Error(this.fail);
    return command === 'axolotl/applyRepair' ? { restoredCheckpoint: 4, generation: 1 } : undefined;
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'axolotl-review-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const MAIN = path.join(dir, 'train.py');
const HELPER = path.join(dir, 'lib', 'safe.py');
const ORIGINAL = 'counts = {}\nfor w in words:\n    counts[w] += 1\n';
const PROPOSED = 'counts = {}\nfor w in words:\n    counts[w] = counts.get(w, 0) + 1\n';

function proposal(over: Partial<RepairProposal> = {}): RepairProposal {
  return {
    repairId: 'repair-1-attempt-1',
    crashId: 1,
    attempt: 1,
    maxAttempts: 3,
    explanation: 'The dict has no entry for a new word. Use get with a default.',
    model: 'gpt-4o-mini',
    files: [
      { path: MAIN, relPath: 'train.py', original: ORIGINAL, proposed: PROPOSED, diff: '…' },
      { path: HELPER, relPath: 'lib/safe.py', original: '', proposed: 'def safe(x):\n    return x\n', diff: '…', created: true },
    ],
    ...over,
  };
}

const context = { subscriptions: [] as Array<{ dispose(): void }> };
let review: InstanceType<typeof RepairReview>;
let history: InstanceType<typeof RepairHistory>;
const session = new FakeSession();

beforeEach(() => {
  fs.writeFileSync(MAIN, ORIGINAL);
  fs.rmSync(path.join(dir, 'lib'), { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'lib'));
  state.docs.clear();
  state.tabs.length = 0;
  state.executed.length = 0;
  state.context.clear();
  state.info.length = state.warnings.length = state.errors.length = 0;
  state.notifications.length = 0;
  state.infoAnswer = state.warningAnswer = undefined;
  state.applied.length = 0;
  session.requests.length = 0;
  session.fail = undefined;
  const originals = OriginalContentProvider.register(context as never);
  const proposedFs = ProposedFileSystem.register(context as never);
  history = RepairHistory.register(context as never, originals);
  review = RepairReview.register(context as never, originals, proposedFs, history, () => undefined);
});

const diffs = (): TabInputTextDiff[] => state.tabs.map((t) => t.input).filter((i): i is TabInputTextDiff => i instanceof TabInputTextDiff);

describe('a proposal', () => {
  test('opens one diff per file, original read-only on the left, editable proposal on the right', async () => {
    await review.onProposed(session as never, proposal());
    const opened = state.executed.filter((e) => e.id === 'vscode.diff');
    assert.equal(opened.length, 2);
    for (const e of opened) assert.deepEqual(e.args[3], { preserveFocus: true, preview: false });
    const [first, second] = diffs();
    assert.equal(first!.original.scheme, 'axolotl-original');
    assert.equal(first!.modified.scheme, 'axolotl-proposed');
    assert.equal(first!.modified.path, '/repair-1-attempt-1/train.py');
    assert.equal(second!.modified.path, '/repair-1-attempt-1/lib/safe.py');
    assert.equal(state.contentProvider!.provideTextDocumentContent(first!.original), ORIGINAL);
    assert.equal(new TextDecoder().decode(state.fsProvider!.readFile(first!.modified)), PROPOSED);
    assert.match(state.tabs[0]!.label, /^train\.py: Axolotl repair 1\/3: The dict has no entry for a new word\.$/);
    assert.equal(state.context.get('axolotl.repairPending'), true);
    const [n] = state.notifications;
    // The choices first (a collapsed notification shows one line), then the proposal.
    assert.equal(n!.title, 'Axolotl repair for crash #1: [Accept](command:axolotl.acceptRepair) · [Reject](command:axolotl.rejectRepair) · [Show Diff](command:axolotl.showProposedRepair)');
    assert.match(n!.messages[0]!, /^gpt-4o-mini proposes a repair for crash #1 .* in train\.py, lib\/safe\.py\. The dict has no entry/);
    assert.equal(n!.closed, false, 'open while the review is');
  });

  test('the model\'s text never becomes a link in the notification', async () => {
    await review.onProposed(session as never, proposal({ explanation: 'Fixed. [Click here](command:workbench.action.terminal.new) or [docs](https://example.test).' }));
    const text = state.notifications[0]!.messages[0]!;
    assert.doesNotMatch(text, /\]\(/);
    assert.match(text, /\[Click here\] \(command:workbench\.action\.terminal\.new\)/);
  });

  test('Accept in the diff editor\'s title closes the notification; Show Diff opens the diffs again', async () => {
    await review.onProposed(session as never, proposal());
    state.tabs.length = 0;
    await state.commands.get('axolotl.showProposedRepair')!();
    assert.equal(diffs().length, 2, 'Show Diff reopens both diffs');
    await state.commands.get('axolotl.acceptRepair')!();
    await new Promise((r) => setImmediate(r));
    assert.equal(state.notifications[0]!.closed, true, 'the notification is gone with the review');
    assert.equal(session.requests[0]?.command, 'axolotl/applyRepair');
  });

  test('Accept writes what the proposal editors show, saves, and resumes the adapter', async () => {
    await review.onProposed(session as never, proposal());
    // the user edits the proposal (unsaved)
    const edited = PROPOSED.replace('counts.get(w, 0) + 1', 'counts.get(w, 0) + 1  # fixed');
    const doc = await fakeVscode.workspace.openTextDocument(diffs()[0]!.modified);
    doc.text = edited;
    doc.isDirty = true;

    await state.commands.get('axolotl.acceptRepair')!();

    assert.equal(fs.readFileSync(MAIN, 'utf8'), edited);
    assert.equal(fs.readFileSync(HELPER, 'utf8'), 'def safe(x):\n    return x\n');
    assert.deepEqual(session.requests, [
      { command: 'axolotl/applyRepair', args: { repairId: 'repair-1-attempt-1', files: { [MAIN]: edited, [HELPER]: 'def safe(x):\n    return x\n' }, written: true } },
    ]);
    // one WorkspaceEdit for both files: a replace of the open document, a create of the new file
    assert.equal(state.applied.length, 1);
    assert.deepEqual(state.applied[0]!.ops.map((o) => o.op), ['replace', 'create']);
    assert.equal(state.docs.get(`file:${MAIN}`)!.isDirty, false, 'saved');
    assert.deepEqual(state.tabs, [], 'the review tabs are closed');
    assert.equal(state.context.get('axolotl.repairPending'), false);
    assert.equal(review.pendingRepairId, undefined);

    const entry = history.find('repair-1-attempt-1');
    assert.equal(entry?.status, 'accepted');
    assert.deepEqual(entry?.files.map((f) => [f.relPath, f.before, f.after]), [
      ['train.py', ORIGINAL, edited],
      ['lib/safe.py', undefined, 'def safe(x):\n    return x\n'],
    ]);
  });

  test('the notification\'s Accept link accepts', async () => {
    await review.onProposed(session as never, proposal());
    const link = /\[Accept\]\(command:([\w.]+)\)/.exec(state.notifications[0]!.title)?.[1];
    await state.commands.get(link!)!();
    assert.equal(session.requests[0]?.command, 'axolotl/applyRepair');
    assert.equal(fs.readFileSync(MAIN, 'utf8'), PROPOSED);
    await new Promise((r) => setImmediate(r));
    assert.equal(state.notifications[0]!.closed, true);
  });

  test('Reject asks the adapter to reject, writes nothing and closes the tabs', async () => {
    await review.onProposed(session as never, proposal());
    await state.commands.get('axolotl.rejectRepair')!();
    assert.deepEqual(session.requests, [{ command: 'axolotl/rejectRepair', args: { repairId: 'repair-1-attempt-1' } }]);
    assert.equal(fs.readFileSync(MAIN, 'utf8'), ORIGINAL);
    assert.equal(fs.existsSync(HELPER), false);
    assert.deepEqual(state.tabs, []);
    assert.equal(state.context.get('axolotl.repairPending'), false);
  });

  test('a file changed since the crash is not overwritten without asking', async () => {
    await review.onProposed(session as never, proposal());
    fs.writeFileSync(MAIN, ORIGINAL + '# my own edit\n');
    state.warningAnswer = undefined; // the user cancels
    await state.commands.get('axolotl.acceptRepair')!();
    assert.match(state.warnings[0]!, /Changed since the crash: .*train\.py/);
    assert.equal(fs.readFileSync(MAIN, 'utf8'), ORIGINAL + '# my own edit\n');
    assert.deepEqual(session.requests, []);
    assert.equal(review.pendingRepairId, 'repair-1-attempt-1', 'still under review');
  });

  test('an adapter that cannot resume leaves the files written and offers to undo them', async () => {
    session.fail = 'restore failed';
    await review.onProposed(session as never, proposal());
    await state.commands.get('axolotl.acceptRepair')!();
    assert.match(state.errors[0]!, /written, but the program could not resume with them: restore failed/);
    assert.equal(fs.readFileSync(MAIN, 'utf8'), PROPOSED);
  });

  test('the adapter settling the repair (Continue, say) closes the review', async () => {
    await review.onProposed(session as never, proposal());
    await review.onStatus(session as never, { crashId: 1, repairId: 'repair-1-attempt-1', status: 'rejected' });
    assert.deepEqual(state.tabs, []);
    assert.equal(state.context.get('axolotl.repairPending'), false);
    assert.deepEqual(session.requests, []);
  });

  test('a new attempt replaces the open review', async () => {
    await review.onProposed(session as never, proposal());
    await review.onProposed(session as never, proposal({ repairId: 'repair-1-attempt-2', attempt: 2 }));
    assert.deepEqual(diffs().map((d) => d.modified.path), ['/repair-1-attempt-2/train.py', '/repair-1-attempt-2/lib/safe.py']);
    assert.equal(review.pendingRepairId, 'repair-1-attempt-2');
  });

  test('the session ending closes the review', async () => {
    await review.onProposed(session as never, proposal());
    await review.onSessionEnded(session as never);
    assert.deepEqual(state.tabs, []);
    assert.equal(state.context.get('axolotl.repairPending'), false);
  });

  test('with autoAccept nothing opens, and the adapter\'s acceptance lands in the history', async () => {
    const auto = new FakeSession('s2', { type: 'axolotl', repair: { autoAccept: true } });
    await review.onProposed(auto as never, proposal());
    assert.deepEqual(state.tabs, []);
    assert.equal(state.context.get('axolotl.repairPending'), undefined);
    await review.onStatus(auto as never, { crashId: 1, repairId: 'repair-1-attempt-1', status: 'accepted' });
    assert.equal(history.find('repair-1-attempt-1')?.auto, true);
  });
});

describe('history', () => {
  test('undo puts the text from before the repair back and deletes created files', async () => {
    await review.onProposed(session as never, proposal());
    await state.commands.get('axolotl.acceptRepair')!();
    history.onStatus(session as never, { crashId: 1, repairId: 'repair-1-attempt-1', status: 'verified' });
    assert.equal(history.find('repair-1-attempt-1')?.status, 'verified');
    await state.commands.get('axolotl.undoRepair')!('repair-1-attempt-1');
    assert.equal(fs.readFileSync(MAIN, 'utf8'), ORIGINAL);
    assert.equal(fs.existsSync(HELPER), false);
    assert.equal(history.find('repair-1-attempt-1')?.status, 'undone');
  });
});
