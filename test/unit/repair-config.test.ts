// Model configuration: precedence, config file locations, the no-key message, redaction.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveModelConfig, configFilePath, isLocalEndpoint, describeModelConfig, LOCAL_DUMMY_KEY, DEFAULT_MODEL } from '../../adapter/engine/repair/config';
import { redact, redactSecretAssignments, isSecretName } from '../../adapter/engine/repair/redact';
import { AxolotlError } from '../../adapter/engine/types';

let home: string;
before(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'axolotl-config-test-'));
});
after(async () => {
  await fs.rm(home, { recursive: true, force: true });
});

async function writeConfig(data: unknown, file = path.join(home, '.config', 'axolotl', 'config.json')): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, typeof data === 'string' ? data : JSON.stringify(data));
  return file;
}

async function removeConfig(): Promise<void> {
  await fs.rm(path.join(home, '.config'), { recursive: true, force: true });
}

function axolotlError(fn: () => unknown): AxolotlError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AxolotlError, `expected AxolotlError, got ${e}`);
    return e;
  }
  assert.fail('expected an error');
}

test('defaults: gpt-4o-mini on the OpenAI API with OPENAI_API_KEY', async () => {
  await removeConfig();
  const c = resolveModelConfig({}, { OPENAI_API_KEY: 'sk-abcdefghijklmnopqrstuvwx' }, home);
  assert.equal(c.model, DEFAULT_MODEL);
  assert.equal(c.model, 'gpt-4o-mini');
  assert.equal(c.baseUrl, undefined);
  assert.equal(c.apiKey, 'sk-abcdefghijklmnopqrstuvwx');
  assert.equal(c.apiKeySource, '$OPENAI_API_KEY');
  assert.equal(c.local, false);
  assert.equal(c.maxRepairs, 3);
});

test('precedence: options over environment over config file over defaults', async () => {
  await writeConfig({ model: 'file-model', baseUrl: 'http://localhost:9/v1', timeoutMs: 5000, maxRepairs: 5, tokenBudget: 8000 });
  const env = { AXOLOTL_MODEL: 'env-model', OPENAI_BASE_URL: 'http://127.0.0.1:8/v1' };
  let c = resolveModelConfig({ model: 'flag-model', baseUrl: 'http://[::1]:7/v1' }, env, home);
  assert.equal(c.model, 'flag-model');
  assert.equal(c.baseUrl, 'http://[::1]:7/v1');
  assert.equal(c.sources.model, '--model');
  c = resolveModelConfig({}, env, home);
  assert.equal(c.model, 'env-model');
  assert.equal(c.baseUrl, 'http://127.0.0.1:8/v1');
  assert.equal(c.sources.model, '$AXOLOTL_MODEL');
  c = resolveModelConfig({}, {}, home);
  assert.equal(c.model, 'file-model');
  assert.equal(c.baseUrl, 'http://localhost:9/v1');
  assert.equal(c.timeoutMs, 5000);
  assert.equal(c.maxRepairs, 5);
  assert.equal(c.tokenBudget, 8000);
  assert.match(c.sources.model, /config file/);
  assert.equal(c.configFile, path.join(home, '.config', 'axolotl', 'config.json'));
  c = resolveModelConfig({ maxRepairs: 2 }, {}, home);
  assert.equal(c.maxRepairs, 2);
  await removeConfig();
});

test('config file location: $AXOLOTL_CONFIG, then $XDG_CONFIG_HOME, then ~/.config', async () => {
  assert.equal(configFilePath({ AXOLOTL_CONFIG: '/etc/ax.json', XDG_CONFIG_HOME: '/x' }, home), '/etc/ax.json');
  assert.equal(configFilePath({ XDG_CONFIG_HOME: '/x' }, home), '/x/axolotl/config.json');
  assert.equal(configFilePath({}, home), path.join(home, '.config', 'axolotl', 'config.json'));
  const xdg = path.join(home, 'xdg');
  await writeConfig({ model: 'xdg-model', baseUrl: 'http://localhost:1/v1' }, path.join(xdg, 'axolotl', 'config.json'));
  assert.equal(resolveModelConfig({}, { XDG_CONFIG_HOME: xdg }, home).model, 'xdg-model');
  const named = await writeConfig({ model: 'named-model', baseUrl: 'http://localhost:1/v1' }, path.join(home, 'named.json'));
  assert.equal(resolveModelConfig({}, { AXOLOTL_CONFIG: named, XDG_CONFIG_HOME: xdg }, home).model, 'named-model');
  // a config file that was asked for by name must exist
  const e = axolotlError(() => resolveModelConfig({}, { AXOLOTL_CONFIG: path.join(home, 'missing.json') }, home));
  assert.match(e.message, /missing\.json/);
});

test('no key for a remote endpoint: a message that says exactly how to configure one', async () => {
  await removeConfig();
  const e = axolotlError(() => resolveModelConfig({}, {}, home));
  assert.match(e.message, /No API key/);
  assert.match(e.message, /export OPENAI_API_KEY=/);
  assert.match(e.message, /AXOLOTL_API_KEY/);
  assert.match(e.message, /--api-key-env/);
  assert.match(e.message, /apiKeyEnv/);
  assert.match(e.message, /config\.json/);
  assert.match(e.message, /OPENAI_BASE_URL=http:\/\/localhost:11434\/v1/);
  const e2 = axolotlError(() => resolveModelConfig({ baseUrl: 'https://example.com/v1' }, {}, home));
  assert.match(e2.message, /https:\/\/example\.com\/v1/);
});

test('local endpoints need no key and get a dummy one', async () => {
  await removeConfig();
  for (const url of ['http://localhost:11434/v1', 'http://127.0.0.1:8080/v1', 'http://127.3.4.5/v1', 'http://[::1]:1234/v1']) {
    const c = resolveModelConfig({ baseUrl: url }, {}, home);
    assert.equal(c.local, true, url);
    assert.equal(c.apiKey, LOCAL_DUMMY_KEY);
    assert.match(c.apiKeySource, /none needed/);
  }
  assert.equal(isLocalEndpoint('http://localhost.evil.com/v1'), false);
  assert.equal(isLocalEndpoint('http://128.0.0.1/v1'), false);
  assert.equal(isLocalEndpoint('https://api.openai.com/v1'), false);
  assert.equal(isLocalEndpoint(undefined), false);
});

test('key variables: --api-key-env, AXOLOTL_API_KEY, the file\'s apiKeyEnv, OPENAI_API_KEY', async () => {
  await removeConfig();
  const env = { MY_KEY: 'key-from-my-key-var', AXOLOTL_API_KEY: 'key-from-axolotl', OPENAI_API_KEY: 'key-from-openai', GROQ_KEY: 'key-from-groq' };
  assert.equal(resolveModelConfig({ apiKeyEnv: 'MY_KEY' }, env, home).apiKey, 'key-from-my-key-var');
  assert.equal(resolveModelConfig({}, env, home).apiKey, 'key-from-axolotl');
  await writeConfig({ baseUrl: 'https://api.groq.com/openai/v1', apiKeyEnv: 'GROQ_KEY' });
  // the file names its own key: an OpenAI key must not be sent to the file's provider
  const c = resolveModelConfig({}, { OPENAI_API_KEY: 'key-from-openai', GROQ_KEY: 'key-from-groq' }, home);
  assert.equal(c.apiKey, 'key-from-groq');
  assert.match(c.apiKeySource, /GROQ_KEY/);
  const e = axolotlError(() => resolveModelConfig({}, { OPENAI_API_KEY: 'key-from-openai' }, home));
  assert.match(e.message, /\$GROQ_KEY is not set/);
  const e2 = axolotlError(() => resolveModelConfig({ apiKeyEnv: 'NOPE_KEY', baseUrl: 'https://x.example/v1' }, env, home));
  assert.match(e2.message, /\$NOPE_KEY is not set/);
  await removeConfig();
});

test('bad config files are reported with their path; keys in files are refused', async () => {
  let file = await writeConfig('{ "model": ');
  assert.match(axolotlError(() => resolveModelConfig({}, { OPENAI_API_KEY: 'k' }, home)).message, new RegExp(`${file.replace(/[.]/g, '\\.')} is not valid JSON`));
  file = await writeConfig({ apiKey: 'sk-in-a-file-0123456789abcdef' });
  const e = axolotlError(() => resolveModelConfig({}, { OPENAI_API_KEY: 'k' }, home));
  assert.match(e.message, /keys are not read from files/);
  assert.doesNotMatch(e.message, /sk-in-a-file/);
  await writeConfig({ maxRepairs: 'three' });
  assert.match(axolotlError(() => resolveModelConfig({}, { OPENAI_API_KEY: 'k' }, home)).message, /"maxRepairs" must be a non-negative number/);
  await writeConfig({ baseUrl: 'ftp://example.com' });
  assert.match(axolotlError(() => resolveModelConfig({}, { OPENAI_API_KEY: 'k' }, home)).message, /must start with http/);
  await removeConfig();
});

test('the key never appears in descriptions; redact() masks it and key-shaped values', async () => {
  await removeConfig();
  const secret = 'sk-proj-THISISSECRET0123456789';
  const c = resolveModelConfig({}, { OPENAI_API_KEY: secret }, home);
  const d = describeModelConfig(c);
  assert.doesNotMatch(d, /THISISSECRET/);
  assert.match(d, /\$OPENAI_API_KEY/);
  assert.equal(redact(`auth with ${secret} failed`, [secret]), 'auth with [REDACTED] failed');
  assert.equal(redact('Authorization: Bearer abcdefghijklmnop1234'), 'Authorization: Bearer [REDACTED]');
  assert.equal(redact('token ghp_abcdefghijklmnopqrstuvwxyz0123 here'), 'token [REDACTED] here');
  assert.equal(redact('custom-secret-value appears', ['custom-secret-value']), '[REDACTED] appears');
});

test('secret-looking names and assignments', () => {
  for (const n of ['password', 'api_key', 'apiKey', 'AWS_SECRET_ACCESS_KEY', 'auth_token', 'db_passwd', 'secret', 'github_token']) assert.ok(isSecretName(n), n);
  for (const n of ['key', 'keys', 'key_count', 'monkey', 'tokenizer_name', 'word', 'counts']) assert.ok(!isSecretName(n), n);
  assert.equal(redactSecretAssignments("{'user': 'bob', 'password': 'hunter2'}"), "{'user': 'bob', 'password': '[REDACTED]'}");
  assert.equal(redactSecretAssignments('api_key="abc123" retries=3'), 'api_key="[REDACTED]" retries=3');
  assert.equal(redactSecretAssignments('DB_PASSWORD=letmein'), 'DB_PASSWORD=[REDACTED]');
});
