// Launch arguments become the same engine options as the CLI's: checkpoints paced by what they cost
// unless the configuration asks for a literal interval.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PAUSE_BUDGET } from '../../adapter/engine/adaptiveInterval';
import { runOptionsFrom } from '../../adapter/session/axolotlSession';

describe('launch arguments → engine options', () => {
  test('checkpointInterval is a floor, paced by the default 2% pause budget', () => {
    const o = runOptionsFrom({ program: '/w/job.py', checkpointInterval: 0.5 });
    assert.equal(o.interval, 0.5);
    assert.equal(o.pauseBudget, DEFAULT_PAUSE_BUDGET);
    assert.equal(DEFAULT_PAUSE_BUDGET, 0.02);
  });

  test('pauseBudget is a percentage; 0 takes the interval literally', () => {
    assert.equal(runOptionsFrom({ program: '/w/job.py', pauseBudget: 5 }).pauseBudget, 0.05);
    assert.equal(runOptionsFrom({ program: '/w/job.py', pauseBudget: 0 }).pauseBudget, 0);
  });
});
