// package.json's contributions agree with the code: launch attributes with the adapter's launch
// arguments interface, commands with their registrations, menus and keybindings with commands,
// settings, views and context keys with extension/ids.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as ts from 'typescript';
import { BACKENDS, parseSnapshotMemory, RESUME_MODES, RUN_DEFAULTS } from '../../adapter/engine/runDefaults';
import { COMMANDS, CONTEXT_KEYS, DEBUG_TYPE, SETTINGS, VIEWS } from '../../extension/ids';

const ROOT = path.resolve(__dirname, '../../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as any; // any: a JSON manifest, checked field by field below
const debuggerContribution = (pkg.contributes?.debuggers ?? []).find((d: { type: string }) => d.type === DEBUG_TYPE);
const launch = debuggerContribution?.configurationAttributes?.launch;

function parse(rel: string): ts.SourceFile {
  const file = path.join(ROOT, rel);
  return ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
}

/** Properties of an interface, by name. */
function interfaceMembers(sf: ts.SourceFile, name: string): Map<string, ts.PropertySignature> {
  const out = new Map<string, ts.PropertySignature>();
  sf.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === name) {
      for (const m of node.members) if (ts.isPropertySignature(m) && m.name) out.set(m.name.getText(sf), m);
    }
  });
  return out;
}

/** The interface that extends DAP's LaunchRequestArguments: the launch arguments. */
function launchInterfaceName(sf: ts.SourceFile): string {
  let name: string | undefined;
  sf.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.heritageClauses?.some((h) => h.getText(sf).includes('LaunchRequestArguments'))) name = node.name.text;
  });
  assert.ok(name, 'adapter/protocol/launchArgs.ts declares an interface extending DebugProtocol.LaunchRequestArguments');
  return name;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sourceFiles(rel));
    else if (e.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Command ids given to registerCommand anywhere under extension/, constants resolved. */
function registeredCommands(): Set<string> {
  const files = sourceFiles('extension').map(parse);
  const constants = new Map<string, string>();
  for (const sf of files) {
    const visit = (node: ts.Node): void => {
      if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer && ts.isStringLiteral(node.initializer)) {
        constants.set(node.name.text, node.initializer.text);
      }
      node.forEachChild(visit);
    };
    visit(sf);
  }
  const ids = new Set<string>();
  for (const sf of files) {
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && node.expression.getText(sf).endsWith('registerCommand')) {
        const arg = node.arguments[0];
        assert.ok(arg, `registerCommand without arguments in ${sf.fileName}`);
        let id: string | undefined;
        if (ts.isStringLiteral(arg)) id = arg.text;
        else if (ts.isPropertyAccessExpression(arg) && arg.expression.getText(sf) === 'COMMANDS') id = (COMMANDS as Record<string, string>)[arg.name.text];
        else if (ts.isIdentifier(arg)) id = constants.get(arg.text);
        assert.ok(id, `cannot resolve the command id ${arg.getText(sf)} in ${sf.fileName}`);
        ids.add(id);
      }
      node.forEachChild(visit);
    };
    visit(sf);
  }
  return ids;
}

describe('launch attributes', () => {
  const sf = parse('adapter/protocol/launchArgs.ts');
  const members = interfaceMembers(sf, launchInterfaceName(sf));
  const props = launch?.properties ?? {};

  test('every launch argument is in package.json, and every attribute there is a launch argument', () => {
    const fromCode = [...members.keys()].sort();
    const fromPackage = Object.keys(props).sort();
    assert.deepEqual(fromPackage, fromCode);
  });

  test('repair\'s fields too', () => {
    const repair = members.get('repair');
    assert.ok(repair?.type && ts.isTypeReferenceNode(repair.type), 'repair is typed with a named interface');
    const fields = [...interfaceMembers(sf, repair.type.typeName.getText(sf)).keys()].sort();
    assert.deepEqual(Object.keys(props.repair?.properties ?? {}).sort(), fields);
    for (const f of ['model', 'baseUrl', 'autoAccept', 'maxAttempts', 'enabled']) assert.ok(fields.includes(f), f);
  });

  test('each attribute has a type, a description and a default', () => {
    const check = (name: string, p: { type?: unknown; description?: unknown; default?: unknown }): void => {
      assert.ok(p.type, `${name} has a type`);
      assert.ok(typeof p.description === 'string' && p.description.length > 10, `${name} has a description`);
      assert.ok('default' in p, `${name} has a default`);
    };
    for (const [name, p] of Object.entries<Record<string, unknown>>(props)) check(name, p);
    for (const [name, p] of Object.entries<Record<string, unknown>>(props.repair.properties)) check(`repair.${name}`, p);
    assert.deepEqual(props.backend.enum, ['auto', 'criu', 'fork']);
  });

  test('the defaults and choices shown are the engine\'s (adapter/engine/runDefaults.ts)', () => {
    assert.equal(props.python.default, RUN_DEFAULTS.python);
    assert.equal(props.checkpointInterval.default, RUN_DEFAULTS.interval);
    assert.equal(props.pauseBudget.default, RUN_DEFAULTS.pauseBudget * 100);
    assert.equal(props.snapshotMemory.default, RUN_DEFAULTS.snapshotMemory);
    assert.deepEqual(props.backend.enum, [...BACKENDS]);
    assert.equal(props.backend.default, RUN_DEFAULTS.backend);
    assert.deepEqual(props.resume.enum, [...RESUME_MODES]);
    assert.equal(props.resume.default, RUN_DEFAULTS.resume);
    assert.equal(props.repair.properties.maxAttempts.default, RUN_DEFAULTS.maxRepairAttempts);
    assert.equal(props.repair.default.maxAttempts, RUN_DEFAULTS.maxRepairAttempts);
    const settings = pkg.contributes.configuration.properties;
    assert.equal(settings['axolotl.python'].default, RUN_DEFAULTS.python);
    assert.equal(settings['axolotl.checkpointInterval'].default, RUN_DEFAULTS.interval);
    assert.deepEqual(settings['axolotl.backend'].enum, [...BACKENDS]);
    assert.equal(settings['axolotl.backend'].default, RUN_DEFAULTS.backend);
  });

  test('the editor accepts exactly the snapshotMemory sizes the engine reads', () => {
    const pattern = new RegExp(props.snapshotMemory.pattern);
    const samples = ['1x', '1.5x', '2X', ' 1x ', '0', '512M', '512 M', '2G', '2gb', '2GiB', '512MiB', '100k', '7', '1.5 x', 'x', '1x5', 'lots', '5Mi', '-1x', '1e3', ''];
    for (const s of samples) assert.equal(pattern.test(s), parseSnapshotMemory(s) !== undefined, JSON.stringify(s));
    assert.ok(parseSnapshotMemory(RUN_DEFAULTS.snapshotMemory));
  });

  test('the debugger, its languages and its starting configurations', () => {
    assert.equal(debuggerContribution.label, 'Axolotl');
    assert.deepEqual(debuggerContribution.languages, ['python']);
    assert.equal(debuggerContribution.initialConfigurations[0].name, 'Axolotl: Run current file');
    assert.equal(debuggerContribution.configurationSnippets[0].label, 'Axolotl: Run current file');
    assert.equal(debuggerContribution.configurationSnippets[0].body.type, DEBUG_TYPE);
  });
});

describe('commands', () => {
  const contributed: Array<{ command: string; title: string; category?: string; enablement?: string }> = pkg.contributes.commands;
  const ids = new Set(contributed.map((c) => c.command));

  test('every contributed command is registered in the code', () => {
    const registered = registeredCommands();
    for (const id of ids) assert.ok(registered.has(id), `${id} is contributed but never registered`);
  });

  test('every command of extension/ids.ts is contributed, in the Axolotl category', () => {
    for (const id of Object.values(COMMANDS)) assert.ok(ids.has(id), `${id} is not in package.json`);
    for (const c of contributed) assert.equal(c.category, 'Axolotl', c.command);
    for (const title of ['Run Current File with Axolotl', 'Check Environment', 'Open Timeline', 'Set API Key', 'Clear API Key', 'Show Repair History']) {
      assert.ok(contributed.some((c) => c.title === title), title);
    }
  });

  test('menus and keybindings name contributed commands only', () => {
    for (const [menu, items] of Object.entries<Array<{ command: string }>>(pkg.contributes.menus)) {
      for (const item of items) assert.ok(ids.has(item.command), `${menu}: ${item.command}`);
    }
    for (const k of pkg.contributes.keybindings) assert.ok(ids.has(k.command), `keybinding: ${k.command}`);
  });

  test('Accept / Reject appear only while a repair is pending', () => {
    const title = pkg.contributes.menus['editor/title'] as Array<{ command: string; when: string }>;
    for (const id of [COMMANDS.acceptRepair, COMMANDS.rejectRepair]) {
      const item = title.find((m) => m.command === id);
      assert.ok(item?.when.includes(CONTEXT_KEYS.repairPending), id);
      const key = (pkg.contributes.keybindings as Array<{ command: string; when: string }>).find((k) => k.command === id);
      assert.ok(key?.when.includes(CONTEXT_KEYS.repairPending), `${id} keybinding`);
    }
  });

  test('when clauses use only our context keys or VS Code\'s', () => {
    const builtIns = new Set(['resourceLangId', 'resourceScheme', 'isInDiffEditor', 'editorLangId', 'view', 'viewItem', 'debugType', 'inDebugMode', 'false', 'true']);
    const ours = new Set<string>(Object.values(CONTEXT_KEYS));
    const whens: string[] = [
      ...Object.values<Array<{ when?: string }>>(pkg.contributes.menus).flat().map((m) => m.when ?? ''),
      ...pkg.contributes.keybindings.map((k: { when?: string }) => k.when ?? ''),
      ...pkg.contributes.views.debug.map((v: { when?: string }) => v.when ?? ''),
      ...contributed.map((c) => c.enablement ?? ''),
    ];
    for (const when of whens) {
      // drop the right-hand sides of comparisons (values, not keys)
      const keys = when.replace(/(==|!=|=~)\s*(\/[^/]*\/|'[^']*'|[^\s&|)]+)/g, ' ').match(/[A-Za-z][\w.]*/g) ?? [];
      for (const key of keys) assert.ok(builtIns.has(key) || ours.has(key), `unknown context key ${key} in "${when}"`);
    }
  });
});

describe('settings, views, capabilities, icon', () => {
  test('settings match extension/ids.ts', () => {
    const props = Object.keys(pkg.contributes.configuration.properties).sort();
    assert.deepEqual(props, Object.values(SETTINGS).map((s) => `axolotl.${s}`).sort());
    assert.deepEqual(pkg.contributes.configuration.properties['axolotl.adapter.mode'].enum, ['inline', 'external']);
    for (const p of props) assert.ok(!/key|secret|token/i.test(p), `${p}: secrets never go into settings`);
  });

  test('the timeline webview and the repair history live in the Run and Debug container', () => {
    const debugViews: Array<{ id: string; type?: string }> = pkg.contributes.views.debug;
    assert.equal(debugViews.find((v) => v.id === 'axolotl.timeline')?.type, 'webview');
    assert.ok(debugViews.some((v) => v.id === VIEWS.repairs));
  });

  test('activation events', () => {
    for (const e of ['onDebugResolve:axolotl', 'onDebugDynamicConfigurations:axolotl']) assert.ok(pkg.activationEvents.includes(e), e);
  });

  test('no untrusted or virtual workspaces', () => {
    assert.deepEqual(pkg.capabilities.untrustedWorkspaces, { supported: false, description: 'Axolotl runs your code and may ask for root.' });
    assert.equal(pkg.capabilities.virtualWorkspaces, false);
  });

  test('the icon is a 128×128 PNG and the SVG exists', () => {
    const png = fs.readFileSync(path.join(ROOT, pkg.icon));
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.equal(png.readUInt32BE(16), 128);
    assert.equal(png.readUInt32BE(20), 128);
    assert.ok(fs.existsSync(path.join(ROOT, 'media/axolotl.svg')));
    for (const v of pkg.contributes.views.debug) if (v.icon) assert.ok(fs.existsSync(path.join(ROOT, v.icon)), v.icon);
  });
});
