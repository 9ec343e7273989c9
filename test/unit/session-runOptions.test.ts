// Launch arguments become the same engine options as the CLI's: checkpoints paced by what they cost
// unless the configuration asks for a literal interval.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RUN_DEFAULTS } from '../../adapter/engine/runDefaults';
import type { AxolotlLaunchArgs } from '../../adapter/protocol/launchArgs';
import { resolveLaunchConfig, type ResolvedLaunchConfig } from '../../adapter/protocol/launchConfig';
import { runOptionsFrom } from '../../adapter/session/launchOptions';

/** A configuration as the adapter has it after checking (launchOptions.checkLaunchArgs, without the file system). */
function checked(args: AxolotlLaunchArgs): ResolvedLaunchConfig {
  const r = resolveLaunchConfig(args, { settings: {}, substituted: true });
  if (!r.ok) assert.fail(r.error);
  return r.config;
}

describe('launch arguments → engine options', () => {
  test('checkpointInterval is a floor, paced by the default 2% pause budget', () => {
    const o = runOptionsFrom(checked({ program: '/w/job.py', checkpointInterval: 0.5 }));
    assert.equal(o.interval, 0.5);
    assert.equal(o.pauseBudget, RUN_DEFAULTS.pauseBudget);
    assert.equal(RUN_DEFAULTS.pauseBudget, 0.02);
  });

  test('pauseBudget is a percentage; 0 takes the interval literally', () => {
    assert.equal(runOptionsFrom(checked({ program: '/w/job.py', pauseBudget: 5 })).pauseBudget, 0.05);
    assert.equal(runOptionsFrom(checked({ program: '/w/job.py', pauseBudget: 0 })).pauseBudget, 0);
  });

  test('the defaults: python3, 1 s, auto, the run folders in .axolotl next to the script, unlimited checkpoints', () => {
    const o = runOptionsFrom(checked({ program: '/w/job.py' }));
    assert.deepEqual(o, {
      program: '/w/job.py', args: [], cwd: '/w', env: {}, python: 'python3', interval: 1, pauseBudget: 0.02,
      maxSaves: undefined, snapshotMemory: undefined, workingDir: '/w/.axolotl', backend: 'auto', agent: true, root: '/w', verbose: false,
    });
  });

  test('snapshotMemory, maxCheckpoints and a relative workingDir (from the script\'s folder)', () => {
    const o = runOptionsFrom(checked({ program: '/w/job.py', snapshotMemory: '512M', maxCheckpoints: 4, workingDir: 'runs', backend: 'fork' }));
    assert.deepEqual(o.snapshotMemory, { bytes: 512 * 1024 ** 2 });
    assert.equal(o.maxSaves, 4);
    assert.equal(o.workingDir, '/w/runs');
    assert.equal(o.backend, 'fork');
    assert.deepEqual(runOptionsFrom(checked({ program: '/w/job.py', snapshotMemory: '1.5x' })).snapshotMemory, { rssFactor: 1.5 });
  });
});
