// Remote-model consent: which endpoint a launch will talk to, when the user is asked, and what the
// dialog lists (extension/consentPolicy.ts).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_BASE_URL, LISTED_FILES, consentDecision, consentText, effectiveEndpoint, endpointOrigin, formatBytes, listCandidateFiles,
} from '../../extension/consentPolicy';

describe('the endpoint, with the engine\'s precedence', () => {
  test('launch configuration first', () => {
    const e = effectiveEndpoint({ baseUrl: 'http://localhost:11434/v1/', model: 'qwen' }, { AXOLOTL_BASE_URL: 'https://a.test/v1', AXOLOTL_MODEL: 'm' });
    assert.deepEqual(e, { baseUrl: 'http://localhost:11434/v1', source: 'launch configuration / axolotl.baseUrl', model: 'qwen' });
  });
  test('then $AXOLOTL_BASE_URL, $OPENAI_BASE_URL, the config file', () => {
    assert.equal(effectiveEndpoint({}, { AXOLOTL_BASE_URL: 'https://a.test/v1', OPENAI_BASE_URL: 'https://o.test/v1' }).source, '$AXOLOTL_BASE_URL');
    assert.equal(effectiveEndpoint({}, { OPENAI_BASE_URL: 'https://o.test/v1' }).baseUrl, 'https://o.test/v1');
    const f = effectiveEndpoint({}, {}, { baseUrl: 'https://file.test/v1', model: 'fm', path: '/home/u/.config/axolotl/config.json' });
    assert.deepEqual(f, { baseUrl: 'https://file.test/v1', source: 'config file /home/u/.config/axolotl/config.json', model: 'fm' });
  });
  test('and OpenAI with gpt-4o-mini when nothing is set', () => {
    assert.deepEqual(effectiveEndpoint({}, {}), { baseUrl: DEFAULT_BASE_URL, source: 'default (OpenAI)', model: 'gpt-4o-mini' });
    assert.equal(DEFAULT_BASE_URL, 'https://api.openai.com/v1');
  });
  test('empty values do not count', () => {
    assert.equal(effectiveEndpoint({ baseUrl: '' }, { AXOLOTL_BASE_URL: '' }).baseUrl, DEFAULT_BASE_URL);
  });
});

describe('when to ask', () => {
  const base = { repairEnabled: true, normalRun: false, memory: {} };
  test('the default OpenAI endpoint is remote: ask', () => {
    assert.deepEqual(consentDecision({ ...base, baseUrl: DEFAULT_BASE_URL }), { kind: 'ask', origin: 'https://api.openai.com', host: 'api.openai.com' });
  });
  test('any non-local host is remote, private addresses included', () => {
    for (const url of ['https://example.test/v1', 'http://192.168.1.5:8000/v1', 'http://10.0.0.2/v1', 'http://my-gpu-box:11434/v1']) {
      assert.equal(consentDecision({ ...base, baseUrl: url }).kind, 'ask', url);
    }
  });
  test('localhost, 127.x and ::1 are local: no question', () => {
    for (const url of ['http://localhost:11434/v1', 'http://127.0.0.1:8080/v1', 'http://[::1]:8000/v1', 'http://llm.localhost/v1']) {
      assert.deepEqual(consentDecision({ ...base, baseUrl: url }), { kind: 'local' }, url);
    }
  });
  test('nothing is sent with repairs off or in a plain run', () => {
    assert.deepEqual(consentDecision({ ...base, repairEnabled: false, baseUrl: DEFAULT_BASE_URL }), { kind: 'not-needed', reason: 'repair-disabled' });
    assert.deepEqual(consentDecision({ ...base, normalRun: true, baseUrl: DEFAULT_BASE_URL }), { kind: 'not-needed', reason: 'normal-run' });
  });
  test('answers are remembered per origin', () => {
    const memory = { 'https://api.openai.com': 'allow' as const, 'https://evil.test': 'deny' as const };
    assert.deepEqual(consentDecision({ ...base, memory, baseUrl: 'https://api.openai.com/v1' }), { kind: 'remembered', answer: 'allow', origin: 'https://api.openai.com' });
    assert.deepEqual(consentDecision({ ...base, memory, baseUrl: 'https://evil.test/other/v1' }), { kind: 'remembered', answer: 'deny', origin: 'https://evil.test' });
    // another port is another server
    assert.equal(consentDecision({ ...base, memory, baseUrl: 'https://api.openai.com:8443/v1' }).kind, 'ask');
    assert.equal(endpointOrigin('https://api.openai.com/v1'), 'https://api.openai.com');
  });
});

describe('what the dialog lists', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'axolotl-consent-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const write = (rel: string, bytes: number): void => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), 'x'.repeat(bytes));
  };
  write('train.py', 2048);
  write('lib/util.py', 100);
  write('lib/__init__.py', 0);
  write('README.md', 10);
  write('.venv/lib/site.py', 10);
  write('venv/x.py', 10);
  write('.axolotl/run-1/copy.py', 10);
  write('__pycache__/train.cpython-311.py', 10);

  test('the program first, then the project\'s other Python files, skipping environments and run folders', () => {
    const { files, truncated } = listCandidateFiles(root, path.join(root, 'train.py'));
    assert.deepEqual(files, [
      { relPath: 'train.py', bytes: 2048 },
      { relPath: 'lib/__init__.py', bytes: 0 },
      { relPath: 'lib/util.py', bytes: 100 },
    ]);
    assert.equal(truncated, false);
  });

  test('a big tree is cut, and says so', () => {
    const { files, truncated } = listCandidateFiles(root, path.join(root, 'train.py'), { maxFiles: 2 });
    assert.equal(files[0]!.relPath, 'train.py');
    assert.equal(truncated, true);
  });

  test('the text names the host, the model, the files with sizes and what else is sent', () => {
    const { files, truncated } = listCandidateFiles(root, path.join(root, 'train.py'));
    const t = consentText({ endpoint: { baseUrl: DEFAULT_BASE_URL, source: 'default (OpenAI)', model: 'gpt-4o-mini' }, root, files, truncated });
    assert.equal(t.message, 'Send code to api.openai.com for repairs?');
    assert.match(t.detail, /"gpt-4o-mini" at https:\/\/api\.openai\.com\/v1 \(from default \(OpenAI\)\)/);
    assert.ok(t.detail.includes(`from these in ${root}:`));
    assert.ok(t.detail.includes('    train.py (2.0 KB)'));
    assert.ok(t.detail.includes('    lib/util.py (100 B)'));
    assert.match(t.detail, /traceback/);
    assert.match(t.detail, /local variables .*secrets are masked/);
    assert.match(t.detail, /last lines the program printed/);
    assert.match(t.detail, /Nothing is sent until a crash/);
    assert.match(t.detail, /Deny runs this workspace without repairs/);
  });

  test('long lists are summed up', () => {
    const many = Array.from({ length: LISTED_FILES + 3 }, (_, i) => ({ relPath: `m${i}.py`, bytes: 1024 }));
    const t = consentText({ endpoint: { baseUrl: 'https://x.test/v1', source: 's', model: 'm' }, root: '/p', files: many, truncated: false });
    assert.ok(t.detail.includes('    … and 3 more .py files (3.0 KB)'));
    assert.ok(!t.detail.includes(`m${LISTED_FILES}.py`));
    const cut = consentText({ endpoint: { baseUrl: 'https://x.test/v1', source: 's', model: 'm' }, root: '/p', files: many.slice(0, 2), truncated: true });
    assert.ok(cut.detail.includes('… and 0+ more .py files'));
  });

  test('sizes', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1536), '1.5 KB');
    assert.equal(formatBytes(3 * 1024 * 1024), '3.0 MB');
  });
});
