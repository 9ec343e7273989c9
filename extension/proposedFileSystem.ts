// The editable proposed side of a repair diff: an in-memory file system behind `axolotl-proposed:`.
// The user may edit the proposal (and even save it: that only updates this memory, never the real
// file); what is accepted is the text the editor shows. Folders exist implicitly above each file.
import * as vscode from 'vscode';
import { PROPOSED_SCHEME } from './ids';

interface Entry {
  data: Uint8Array;
  ctime: number;
  mtime: number;
}

export class ProposedFileSystem implements vscode.FileSystemProvider, vscode.Disposable {
  private readonly files = new Map<string, Entry>();
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;

  static register(context: vscode.ExtensionContext): ProposedFileSystem {
    const fsp = new ProposedFileSystem();
    context.subscriptions.push(fsp, vscode.workspace.registerFileSystemProvider(PROPOSED_SCHEME, fsp, { isCaseSensitive: true }));
    return fsp;
  }

  uri(path: string): vscode.Uri {
    return vscode.Uri.from({ scheme: PROPOSED_SCHEME, path });
  }

  /** Puts a text in memory (replacing what was there) and returns its URI. */
  put(path: string, text: string): vscode.Uri {
    const uri = this.uri(path);
    const existed = this.files.has(path);
    const now = Date.now();
    this.files.set(path, { data: new TextEncoder().encode(text), ctime: this.files.get(path)?.ctime ?? now, mtime: now });
    this.emitter.fire([{ type: existed ? vscode.FileChangeType.Changed : vscode.FileChangeType.Created, uri }]);
    return uri;
  }

  /** The text in memory (what was last saved there), undefined when unknown. */
  text(uri: vscode.Uri): string | undefined {
    const e = this.files.get(uri.path);
    return e ? new TextDecoder().decode(e.data) : undefined;
  }

  remove(uri: vscode.Uri): void {
    if (this.files.delete(uri.path)) this.emitter.fire([{ type: vscode.FileChangeType.Deleted, uri }]);
  }

  // ---- FileSystemProvider ----------------------------------------------------------------------

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  stat(uri: vscode.Uri): vscode.FileStat {
    const e = this.files.get(uri.path);
    if (e) return { type: vscode.FileType.File, ctime: e.ctime, mtime: e.mtime, size: e.data.byteLength };
    if (this.isDir(uri.path)) return { type: vscode.FileType.Directory, ctime: 0, mtime: 0, size: 0 };
    throw vscode.FileSystemError.FileNotFound(uri);
  }

  readDirectory(uri: vscode.Uri): [string, vscode.FileType][] {
    if (!this.isDir(uri.path)) throw vscode.FileSystemError.FileNotFound(uri);
    const prefix = uri.path.endsWith('/') ? uri.path : `${uri.path}/`;
    const out = new Map<string, vscode.FileType>();
    for (const p of this.files.keys()) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash < 0) out.set(rest, vscode.FileType.File);
      else out.set(rest.slice(0, slash), vscode.FileType.Directory);
    }
    return [...out];
  }

  createDirectory(): void {
    // folders are implicit
  }

  readFile(uri: vscode.Uri): Uint8Array {
    const e = this.files.get(uri.path);
    if (!e) throw vscode.FileSystemError.FileNotFound(uri);
    return e.data;
  }

  writeFile(uri: vscode.Uri, content: Uint8Array, options: { create: boolean; overwrite: boolean }): void {
    const e = this.files.get(uri.path);
    if (!e && !options.create) throw vscode.FileSystemError.FileNotFound(uri);
    if (e && !options.overwrite) throw vscode.FileSystemError.FileExists(uri);
    const now = Date.now();
    this.files.set(uri.path, { data: content, ctime: e?.ctime ?? now, mtime: now });
    this.emitter.fire([{ type: e ? vscode.FileChangeType.Changed : vscode.FileChangeType.Created, uri }]);
  }

  delete(uri: vscode.Uri): void {
    const prefix = `${uri.path}/`;
    for (const p of [...this.files.keys()]) if (p === uri.path || p.startsWith(prefix)) this.files.delete(p);
    this.emitter.fire([{ type: vscode.FileChangeType.Deleted, uri }]);
  }

  rename(): void {
    throw vscode.FileSystemError.NoPermissions('Proposed repair files cannot be renamed.');
  }

  dispose(): void {
    this.emitter.dispose();
    this.files.clear();
  }

  private isDir(path: string): boolean {
    if (path === '/' || path === '') return true;
    const prefix = path.endsWith('/') ? path : `${path}/`;
    for (const p of this.files.keys()) if (p.startsWith(prefix)) return true;
    return false;
  }
}
