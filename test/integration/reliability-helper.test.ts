// The pkexec helper killed in the middle of a run (a non-root user's `axolotl run`): the run must end
// with a clear message, and nothing of the test user's may be left running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  assertNothingLeft, cleanupHelperTests, helperProcesses, setupHelperTests, userDir, userEnv, type HelperTestEnv,
} from '../support/helperSetup';
import { sleep } from '../support/reliabilityHelpers';

let env: HelperTestEnv;
before(async () => { env = await setupHelperTests(); });
after(async () => {
  if (!env) return;
  await assertNothingLeft(env.user.uid);
  cleanupHelperTests(env);
});

function runAsUser(args: string[]) {
  const child = spawn(process.execPath, [env.cli, ...args], {
    uid: env.user.uid, gid: env.user.gid, cwd: env.programs, env: userEnv(env.user), stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, done, out: () => stdout, err: () => stderr };
}

describe('the pkexec helper dies', () => {
  for (const when of ['while the program runs', 'while checkpoints are taken every 50 ms'] as const) {
    test(`killed ${when}: a clear message, the run ends, nothing left`, async () => {
      const wd = userDir(env);
      const run = runAsUser(['run', '--no-agent', '--python', '/usr/bin/python3', '--interval', when === 'while the program runs' ? '0.5' : '0.05', '--working-dir', wd, 'count.py', '400', '3', '0.05']);
      try {
        const deadline = Date.now() + 60_000;
        while (!/count 10 /.test(run.out())) {
          assert.ok(Date.now() < deadline, `the run did not start:\n${run.err()}`);
          await sleep(50);
        }
        const helpers = helperProcesses();
        assert.ok(helpers.length >= 1, 'a helper is running');
        for (const h of helpers) process.kill(h, 'SIGKILL');
        const code = await Promise.race([run.done, sleep(30_000).then(() => 'timeout' as const)]);
        assert.notEqual(code, 'timeout', `axolotl did not end after the helper was killed:\n${run.err()}`);
        assert.notEqual(code, 0);
        assert.match(run.err(), /axolotl: the Axolotl helper ended unexpectedly \(killed by SIGKILL\); the program ran under it and was stopped\n/, run.err());
        assert.doesNotMatch(run.err(), /internal error/);
        await assertNothingLeft(env.user.uid);
      } finally {
        run.child.kill('SIGKILL');
      }
    });
  }
});
