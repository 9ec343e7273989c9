// A rewind point as fresh as the interval, whatever the program's size: a 300 MB program crashes about
// 4 s in under `--interval 0.5`; the repair must resume it from a point taken within about an interval
// of the crash, so that no more than about a second of its work (and output) is done again.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ModelServer } from '../../dev/modelServer';
import { REPO, requireCriu, tempDir } from '../support/engineHelpers';
import { LiveCli, assertNoProcesses, cleanEnv } from '../support/reliabilityHelpers';

const FIXTURES = path.join(REPO, 'test', 'fixtures', 'freshness');
const CRASH = 40;
const PASSES = CRASH + 10;
/** The repaired program's total: pass 40 weighs 0. */
const FIXED_TOTAL = Array.from({ length: PASSES }, (_, i) => (i === CRASH ? 0 : Math.floor(1000 / (CRASH - i)))).reduce((a, b) => a + b, 0);

let model: ModelServer;
before(async () => {
  await requireCriu();
  model = await ModelServer.start({ fallback: fs.readFileSync(path.join(FIXTURES, 'fix.md'), 'utf8') });
});
after(async () => { await model.close(); });

test('a 300 MB program crashing 4 s in with --interval 0.5 redoes at most about a second of work', async (t) => {
  const ws = fs.realpathSync(tempDir('axl-fresh-'));
  fs.copyFileSync(path.join(FIXTURES, 'passes.py'), path.join(ws, 'passes.py'));
  const runs = tempDir('axl-runs-');
  const cli = new LiveCli(['run', '--yes', '--interval', '0.5', '--working-dir', runs, '--base-url', model.url, '--model', 'm',
    'passes.py', '300', String(CRASH), '0.1'], { cwd: ws, env: cleanEnv() });
  const res = await cli.result(180_000);
  assert.equal(res.status, 0, res.stderr);
  const passes = [...res.stdout.matchAll(/^pass (\d+) /gm)].map((m) => Number(m[1]));
  const again = passes.length - new Set(passes).size;
  const restored = /restored checkpoint (\d+)/.exec(res.stderr);
  assert.ok(restored, `resumed from a checkpoint, not in place:\n${res.stderr}`);
  t.diagnostic(`passes printed again after the repair: ${again} (${(again * 0.1).toFixed(1)} s of work); ${restored[0]}`);
  assert.ok(again <= 12, `${again} passes (0.1 s each) were done again:\n${res.stdout}`);
  assert.match(res.stdout, new RegExp(`^done ${FIXED_TOTAL}$`, 'm'));
  assert.deepEqual([...new Set(passes)], Array.from({ length: PASSES }, (_, i) => i), 'every pass, in order');
  await assertNoProcesses([ws, runs]);
});
