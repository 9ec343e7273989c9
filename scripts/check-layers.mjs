// Which folder may import which: an import that points the wrong way fails `npm run typecheck` (and
// so `npm test`). The environments are checked by tsc itself (webview/tsconfig.json: DOM, no Node;
// adapter/ and extension/tsconfig.json: Node, no DOM); this checks the arrows between folders, type
// imports included, with TypeScript's own reading of a file's imports.
//
//   engine    imports only the engine (no vscode, no DAP)
//   protocol  the shared contracts: the engine (its domain types and defaults) and DAP's types
//   session   the debug session: the engine, the protocol, the DAP library
//   cli       the engine only
//   extension VS Code glue: the protocol, the engine, the session (run inline) and the timeline's
//             state model (webview/timelineModel.ts, DOM-free)
//   webview   the browser: the protocol only, no packages, no Node
//   dev       developer tools (the scripted model server): nothing of the product
//
// usage: node scripts/check-layers.mjs [--root DIR]   prints each wrong arrow; exit status 1 if any
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';

const DAP = ['@vscode/debugadapter', '@vscode/debugprotocol'];
const EDITOR = ['vscode', '@vscode/python-extension'];

/** Each checked folder: what it may import inside the repository, and the packages it may not use. */
export const LAYERS = {
  'adapter/engine': { may: ['adapter/engine'], noPackages: [...EDITOR, ...DAP] },
  'adapter/protocol': { may: ['adapter/protocol', 'adapter/engine'], noPackages: [...EDITOR, '@vscode/debugadapter'] },
  'adapter/session': { may: ['adapter/session', 'adapter/protocol', 'adapter/engine'], noPackages: EDITOR },
  'adapter/cli': { may: ['adapter/cli', 'adapter/engine'], noPackages: [...EDITOR, ...DAP] },
  adapter: { may: ['adapter/session'], noPackages: EDITOR },
  extension: { may: ['extension', 'adapter/protocol', 'adapter/engine', 'adapter/session', 'webview/timelineModel.ts'], noPackages: [] },
  webview: { may: ['webview', 'adapter/protocol'], noPackages: '*', noNode: true },
  dev: { may: ['dev'], noPackages: [...EDITOR, ...DAP] },
};

/** The layer a repository path belongs to: the longest folder of LAYERS that holds it. */
function layerOf(rel) {
  let best;
  for (const folder of Object.keys(LAYERS)) {
    if ((rel.startsWith(`${folder}/`) || rel === folder) && (!best || folder.length > best.length)) best = folder;
  }
  return best;
}

const inside = (rel, target) => rel === target || rel.startsWith(`${target}/`);

function tsFiles(root, dir) {
  const out = [];
  let entries;
  try { entries = fs.readdirSync(path.join(root, dir), { withFileTypes: true }); } catch { return out; }
  for (const e of entries) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) { if (e.name !== 'node_modules') out.push(...tsFiles(root, rel)); }
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** A relative import as the repository path of the file it names. */
function resolveRelative(root, fromRel, spec) {
  const base = path.join(path.dirname(fromRel), spec).split(path.sep).join('/');
  for (const cand of [`${base}.ts`, `${base}/index.ts`, base]) {
    if (fs.existsSync(path.join(root, cand)) && fs.statSync(path.join(root, cand)).isFile()) return cand;
  }
  return `${base}.ts`;
}

const packageName = (spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
const isNodeBuiltin = (spec) => spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]);

/** Every import that breaks a rule: "file: imports X (why)". */
export function wrongArrows(root) {
  const problems = [];
  const files = [...new Set(Object.keys(LAYERS).flatMap((folder) => tsFiles(root, folder)))];
  for (const file of files.sort()) {
    const layer = layerOf(file);
    const rule = LAYERS[layer];
    const text = fs.readFileSync(path.join(root, file), 'utf8');
    for (const { fileName: spec } of ts.preProcessFile(text, true, true).importedFiles) {
      if (spec.startsWith('.')) {
        const target = resolveRelative(root, file, spec);
        if (!rule.may.some((m) => inside(target, m))) {
          problems.push(`${file}: imports ${target}, but ${layer}/ may import only ${rule.may.join(', ')}`);
        }
      } else if (isNodeBuiltin(spec)) {
        if (rule.noNode) problems.push(`${file}: imports ${spec}, but ${layer}/ runs in the browser (no Node modules)`);
      } else {
        const pkg = packageName(spec);
        if (rule.noPackages === '*' || rule.noPackages.includes(pkg)) {
          problems.push(`${file}: imports the package ${pkg}, which ${layer}/ may not use`);
        }
      }
    }
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--root');
  const root = path.resolve(i > 0 ? process.argv[i + 1] : path.join(path.dirname(process.argv[1]), '..'));
  const problems = wrongArrows(root);
  for (const p of problems) process.stderr.write(`${p}\n`);
  if (problems.length) {
    process.stderr.write(`check-layers: ${problems.length} import${problems.length > 1 ? 's' : ''} against the layers (scripts/check-layers.mjs says which folder may import which)\n`);
    process.exitCode = 1;
  }
}
