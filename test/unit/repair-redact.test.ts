// The one rule for secret-looking names (repair/redact.ts), against the table the agent's tests use
// too (test/fixtures/redaction/secret-names.json), and where the engine applies it: locals in
// prompts and `name = value` text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isSecretName, nameWords, redactSecretAssignments, SECRET_WORDS } from '../../adapter/engine/repair/redact';

const TABLE = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../test/fixtures/redaction/secret-names.json'), 'utf8')) as {
  words: string[]; secret: string[]; notSecret: string[];
};

test('the secret words are the table\'s', () => {
  assert.deepEqual([...SECRET_WORDS].sort(), [...TABLE.words].sort());
});

test('every name the table calls secret is secret', () => {
  for (const n of TABLE.secret) assert.equal(isSecretName(n), true, `${JSON.stringify(n)} (words: ${nameWords(n).join(' ')})`);
});

test('every name the table calls harmless is shown: whole words only, key alone is not a secret', () => {
  for (const n of TABLE.notSecret) assert.equal(isSecretName(n), false, `${JSON.stringify(n)} (words: ${nameWords(n).join(' ')})`);
});

test('names split into words at separators, digits and camelCase, acronyms included', () => {
  assert.deepEqual(nameWords('AWS_SECRET_ACCESS_KEY'), ['aws', 'secret', 'access', 'key']);
  assert.deepEqual(nameWords('myAPIToken'), ['my', 'api', 'token']);
  assert.deepEqual(nameWords('db2-password3'), ['db', 'password']);
  assert.deepEqual(nameWords('apiKey'), ['api', 'key']);
  assert.deepEqual(nameWords('monkey'), ['monkey']);
});

test('assignments in text follow the same rule', () => {
  assert.equal(redactSecretAssignments("{'password1': 'hunter2', 'keys': 3, 'author': 'ann'}"), "{'password1': '[REDACTED]', 'keys': 3, 'author': 'ann'}");
  assert.equal(redactSecretAssignments('MY_API_TOKEN=abc123\nMONKEY=banana'), 'MY_API_TOKEN=[REDACTED]\nMONKEY=banana');
});
