// The replies of the CLI acceptance tests (test/fixtures/repair-e2e/replies), checked without criu:
// parse → resolve against the fixture sources → validate gives exactly the expected fixed files, or
// the refusal the acceptance test relies on. Plus refusals written with typographic apostrophes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseReply, ReplyError, NO_USABLE_REPAIR } from '../../adapter/engine/repair/replyParser';
import { resolveEdits, type SourceFile } from '../../adapter/engine/repair/edits';
import { validateRepair } from '../../adapter/engine/repair/validate';
import { REPO } from '../support/engineHelpers';

const E2E = path.join(REPO, 'test', 'fixtures', 'repair-e2e');
const PYTHON = process.env.AXOLOTL_TEST_PYTHON ?? 'python3';

const read = (...p: string[]) => fs.readFileSync(path.join(E2E, ...p), 'utf8');
const reply = (name: string) => read('replies', `${name}.md`);

const temps: string[] = [];
after(() => { for (const d of temps) fs.rmSync(d, { recursive: true, force: true }); });

/** A temporary copy of fixtures/repair-e2e/<name> as <tmp>/project, with <tmp>/outside.py next to it. */
function project(name: string): { root: string; files: SourceFile[] } {
  const parent = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'axl-replies-')));
  temps.push(parent);
  const root = path.join(parent, 'project');
  fs.cpSync(path.join(E2E, name), root, { recursive: true });
  fs.writeFileSync(path.join(parent, 'outside.py'), '# a file next to the project, outside it\nVALUE = 1\n');
  const files = fs.readdirSync(root).map((rel) => ({ path: path.join(root, rel), relPath: rel, text: fs.readFileSync(path.join(root, rel), 'utf8'), shownWhole: true }));
  return { root, files };
}

async function repairOf(text: string, p: { root: string; files: SourceFile[] }) {
  const edits = await resolveEdits(parseReply(text), { root: p.root, files: p.files });
  const check = await validateRepair(edits.files, { root: p.root, python: PYTHON });
  return { edits, check, byRel: Object.fromEntries(edits.files.map((f) => [f.relPath, f.proposed])) };
}

test('every format of the single-file fix gives exactly the expected file', async () => {
  const p = project('single');
  const want = read('expected', 'single', 'stats.py');
  for (const [name, format] of [
    ['single-full-file', 'full-file'], ['single-diff-fenced', 'diff'], ['single-diff-bare', 'diff'], ['single-search-replace', 'search-replace'],
  ] as const) {
    const r = await repairOf(reply(name), p);
    assert.equal(r.edits.format, format, name);
    assert.deepEqual(r.check, { ok: true, problems: [] }, name);
    assert.deepEqual(r.byRel, { 'stats.py': want }, name);
  }
  // the same SEARCH/REPLACE reply fits the slow-report variant of the program
  const slow = project('slowrepr');
  assert.deepEqual((await repairOf(reply('single-search-replace'), slow)).byRel, { 'stats.py': read('expected', 'slowrepr', 'stats.py') });
});

test('the multi-file diff changes the module and the script', async () => {
  const r = await repairOf(reply('multi-diff'), project('multi'));
  assert.deepEqual(r.check, { ok: true, problems: [] });
  assert.deepEqual(r.byRel, { 'statlib.py': read('expected', 'multi', 'statlib.py'), 'report.py': read('expected', 'multi', 'report.py') });
});

test('first fix then second fix (against the source with the first fix in it) ends at the expected file', async () => {
  const p = project('single');
  const first = await repairOf(reply('single-first-fix-none'), p);
  assert.ok(first.check.ok);
  const after = { root: p.root, files: p.files.map((f) => ({ ...f, text: first.byRel[f.relPath] ?? f.text })) };
  const second = await repairOf(reply('single-second-fix'), after);
  assert.ok(second.check.ok, second.check.problems.join('\n'));
  assert.deepEqual(second.byRel, { 'stats.py': read('expected', 'single', 'stats.py') });
});

test('the non-compiling reply resolves but fails the compile check with the syntax error', async () => {
  const r = await repairOf(reply('single-syntax-error'), project('single'));
  assert.equal(r.check.ok, false);
  assert.match(r.check.problems.join('\n'), /^stats\.py does not compile:\n[\s\S]*SyntaxError: expected ':'/);
});

test('path escapes: ../outside.py is refused while parsing, /etc/passwd by validation', async () => {
  const p = project('single');
  await assert.rejects(repairOf(reply('escape-dotdot'), p), (e: unknown) => e instanceof ReplyError && /names the path "\.\.\/outside\.py", which uses "\.\."/.test(e.message));
  const first = fs.readFileSync('/etc/passwd', 'utf8').split('\n')[0];
  const r = await repairOf(`Add an account.\n\n\`\`\`diff\n--- /etc/passwd\n+++ /etc/passwd\n@@ -1,1 +1,2 @@\n ${first}\n+x:x:0:0::/:/bin/sh\n\`\`\`\n`, p);
  assert.equal(r.check.ok, false);
  assert.match(r.check.problems.join('\n'), /etc\/passwd: outside the project folder /);
});

test('refusals are recognised with straight and typographic apostrophes', () => {
  for (const text of [
    "I can't help with that.",
    'I can’t help with that.',
    'I’m sorry, but I can’t assist with modifying this program.',
    'I am unable to help with this request.',
  ]) {
    assert.throws(() => parseReply(text), (e: unknown) => e instanceof ReplyError && new RegExp(`^${NO_USABLE_REPAIR}: the model declined`).test(e.message), text);
  }
});
