// How the debug adapter is started (the pure part of extension/adapterFactory.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_KEY_ENV, parseAdapterMode, planAdapter } from '../../extension/adapterPlan';

const input = { extensionPath: '/ext/axolotl', execPath: '/usr/bin/node' };

test('inline by default, for unknown values too', () => {
  assert.equal(parseAdapterMode(undefined), 'inline');
  assert.equal(parseAdapterMode(''), 'inline');
  assert.equal(parseAdapterMode('server'), 'inline');
  assert.equal(parseAdapterMode(3), 'inline');
  assert.equal(parseAdapterMode('inline'), 'inline');
  assert.equal(parseAdapterMode(' external '), 'external');
});

test('inline: the session gets the key, nothing else', () => {
  assert.deepEqual(planAdapter('inline', { ...input, apiKey: 'sk-test-123' }), { kind: 'inline', apiKey: 'sk-test-123' });
  assert.deepEqual(planAdapter('inline', input), { kind: 'inline' });
  assert.deepEqual(planAdapter('inline', { ...input, apiKey: '' }), { kind: 'inline' });
});

test('external: node dist/adapter.js with the key in the environment only', () => {
  const plan = planAdapter('external', { ...input, apiKey: 'sk-test-123' });
  assert.equal(plan.kind, 'external');
  if (plan.kind !== 'external') return;
  assert.equal(plan.command, '/usr/bin/node');
  assert.deepEqual(plan.args, ['/ext/axolotl/dist/adapter.js']);
  assert.equal(plan.env[API_KEY_ENV], 'sk-test-123');
  assert.equal(API_KEY_ENV, 'AXOLOTL_API_KEY');
  assert.ok(!plan.args.join(' ').includes('sk-test-123'), 'the key must not be on the command line');
  // Electron's binary must behave as node
  assert.equal(plan.env.ELECTRON_RUN_AS_NODE, '1');
});

test('external without a key sets no key variable (the adapter may use its own environment)', () => {
  const plan = planAdapter('external', input);
  assert.equal(plan.kind, 'external');
  if (plan.kind === 'external') assert.equal(API_KEY_ENV in plan.env, false);
});
