// The wait between checkpoints: the interval as a floor, stretched so frozen time stays within budget.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveInterval, residentBytes } from '../../adapter/engine/adaptiveInterval';

const MB = 1024 * 1024;

test('without a budget the interval is taken literally, whatever checkpoints cost', () => {
  const p = new AdaptiveInterval({ intervalS: 0.2 });
  p.observe({ frozenMs: 900, dumpMs: 1200 });
  assert.equal(p.waitMs(1024 * MB, 'criu'), 200);
  assert.equal(new AdaptiveInterval({ intervalS: 0.5, pauseBudget: 0 }).waitMs(1024 * MB, 'criu'), 500);
});

test('a dump that froze the program X ms is followed by at least X / budget of running', () => {
  const p = new AdaptiveInterval({ intervalS: 1, pauseBudget: 0.02 });
  p.observe({ frozenMs: 130, dumpMs: 180 });
  assert.equal(p.waitMs(), 6500);
  // Cheap checkpoints: the interval is the floor.
  const q = new AdaptiveInterval({ intervalS: 1, pauseBudget: 0.02 });
  q.observe({ frozenMs: 5, dumpMs: 8 });
  assert.equal(q.waitMs(), 1000);
  // Dump wall time has its own budget (criu works on another core): 25% by default.
  const r = new AdaptiveInterval({ intervalS: 1, pauseBudget: 0.02 });
  r.observe({ frozenMs: 5, dumpMs: 900 });
  assert.equal(r.waitMs(), 3600);
});

test('one slow dump does not stretch the wait; a program that grew does', () => {
  const p = new AdaptiveInterval({ intervalS: 1, pauseBudget: 0.02 });
  p.observe({ frozenMs: 100, dumpMs: 150 });
  p.observe({ frozenMs: 2000, dumpMs: 2100 });
  p.observe({ frozenMs: 110, dumpMs: 160 });
  assert.equal(p.waitMs(), 5500, 'median of the last three');
  const own = residentBytes(process.pid)!;
  assert.ok(own > 0);
  const q = new AdaptiveInterval({ intervalS: 1, pauseBudget: 0.02 });
  q.observe({ frozenMs: 100, dumpMs: 100, pid: process.pid });
  assert.ok(Math.abs(q.waitMs(own * 3) - 15000) < 1500, 'three times the size, three times the pause');
  assert.equal(q.waitMs(own / 2), 5000, 'never predicted below what was measured');
});

test('the first checkpoint is paced from the program size; the wait is capped; remainingMs counts down', () => {
  const p = new AdaptiveInterval({ intervalS: 1, pauseBudget: 0.02, maxIntervalS: 20 });
  assert.equal(p.waitMs(20 * MB, 'criu'), 1350); // 15 + 0.6 × 20 = 27 ms
  assert.equal(p.waitMs(1024 * MB, 'criu'), 20_000, 'a 1 GB dump would freeze it ~630 ms (31 s of budget): capped');
  assert.equal(p.waitMs(200 * MB, 'fork'), 1000);
  // criu dumping a fork snapshot: the pause is a fork's, the work criu's (paced by the work budget).
  assert.equal(p.waitMs(1024 * MB, 'criu-fork'), 4 * (15 + 0.6 * 1024), '~630 ms of criu work at 25% of a core');
  assert.equal(p.waitMs(200 * MB, 'criu-fork'), 1000);
  assert.equal(p.waitMs(undefined, 'criu'), 1000, 'size unknown: the interval');
  p.observe({ frozenMs: 40, dumpMs: 60 });
  assert.equal(p.remainingMs(500), 1500);
  assert.equal(p.remainingMs(5000), 0);
});
