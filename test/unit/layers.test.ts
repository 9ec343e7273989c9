// The import rules between folders (scripts/check-layers.mjs, run by `npm run typecheck`): the
// repository follows them, and an arrow pointing the wrong way fails, named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const CHECK = path.join(ROOT, 'scripts', 'check-layers.mjs');

function check(root: string): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [CHECK, '--root', root], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'axolotl-layers-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

test('the repository follows the layers', () => {
  const r = check(ROOT);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
});

test('each arrow pointing the wrong way is named, and fails the check', () => {
  const dir = tree({
    'adapter/engine/types.ts': 'export interface Checkpoint { id: number }\n',
    // wrong: the engine knows nothing of the session, VS Code or DAP
    'adapter/engine/supervisor.ts': "import type { Session } from '../session/session';\nimport { DebugSession } from '@vscode/debugadapter';\nexport const x = 1;\n",
    'adapter/protocol/timeline.ts': "import type { Checkpoint } from '../engine/types';\nexport type Info = Checkpoint;\n",
    // wrong: the session does not reach up into the extension
    'adapter/session/session.ts': "import type { Info } from '../protocol/timeline';\nimport { DEBUG_TYPE } from '../../extension/ids';\nexport class Session {}\n",
    'adapter/cli/main.ts': "import fs from 'node:fs';\nimport type { Checkpoint } from '../engine/types';\n",
    'extension/ids.ts': "import * as vscode from 'vscode';\nexport const DEBUG_TYPE = 'axolotl';\n",
    // wrong: the extension takes only the DOM-free model from webview/
    'extension/view.ts': "import { App } from '../webview/timelineApp';\nimport { apply } from '../webview/timelineModel';\n",
    'webview/timelineModel.ts': "import type { Info } from '../adapter/protocol/timeline';\nexport const apply = 1;\n",
    // wrong: the browser has no Node and no vscode
    'webview/timelineApp.ts': "import path from 'node:path';\nconst ids = require('../extension/ids');\nexport class App {}\n",
  });
  try {
    const r = check(dir);
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(lines.slice(0, -1), [
      'adapter/engine/supervisor.ts: imports adapter/session/session.ts, but adapter/engine/ may import only adapter/engine',
      'adapter/engine/supervisor.ts: imports the package @vscode/debugadapter, which adapter/engine/ may not use',
      'adapter/session/session.ts: imports extension/ids.ts, but adapter/session/ may import only adapter/session, adapter/protocol, adapter/engine',
      'extension/view.ts: imports webview/timelineApp.ts, but extension/ may import only extension, adapter/protocol, adapter/engine, adapter/session, webview/timelineModel.ts',
      'webview/timelineApp.ts: imports node:path, but webview/ runs in the browser (no Node modules)',
      'webview/timelineApp.ts: imports extension/ids.ts, but webview/ may import only webview, adapter/protocol',
    ]);
    assert.match(lines[lines.length - 1], /^check-layers: 6 imports against the layers/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
