// The part of the Python extension's public API (@vscode/python-extension) that Axolotl uses: the
// selected environment is the workspace's .venv, if there is one.
const path = require('path');
const vscode = require('vscode');

function selected(resource) {
  const folder = (resource && vscode.workspace.getWorkspaceFolder(resource)) || (vscode.workspace.workspaceFolders || [])[0];
  const python = folder ? path.join(folder.uri.fsPath, '.venv', 'bin', 'python') : 'python';
  return { id: python, path: python };
}

exports.activate = () => ({
  environments: {
    getActiveEnvironmentPath: (resource) => selected(resource),
    resolveEnvironment: async (env) => {
      const p = typeof env === 'string' ? env : env.path;
      return { id: p, path: p, executable: { uri: vscode.Uri.file(p), bitness: '64-bit', sysPrefix: path.dirname(path.dirname(p)) } };
    },
  },
});
exports.deactivate = () => undefined;
