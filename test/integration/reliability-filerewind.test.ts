// Files the program opens, writes and closes rewind with it: `axolotl run --yes` of a job that writes its
// results in each common way (appended per step, overwritten, a new file per step, a temporary file,
// an atomic save, a SQLite row per step, a log outside the workspace) crashes mid-step; a local model
// repairs it and the program is rewound to its last checkpoint. Afterwards every file equals a clean run
// of the fixed program byte for byte (the database: the same rows), on criu (dumping fork snapshots, and
// frozen) and on fork snapshots; the file outside the workspace is named in the notice, not rewound.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelServer } from '../../dev/modelServer';
import { REPO, requireCriu, tempDir } from '../support/engineHelpers';
import { LiveCli, assertNoProcesses, cleanEnv } from '../support/reliabilityHelpers';

const FIXTURES = path.join(REPO, 'test', 'fixtures', 'files');
const SCRIPT = 'filejob.py';
const STEPS = 30;

let model: ModelServer;
before(async () => {
  await requireCriu();
  model = await ModelServer.start({ fallback: fs.readFileSync(path.join(FIXTURES, 'fix.md'), 'utf8') });
});
after(async () => { await model.close(); });

interface Workspace {
  project: string;
  outside: string;
}

function workspace(name: string): Workspace {
  const base = fs.realpathSync(tempDir('axl-filerewind-'));
  const project = path.join(base, name);
  fs.mkdirSync(project);
  fs.copyFileSync(path.join(FIXTURES, SCRIPT), path.join(project, SCRIPT));
  return { project, outside: path.join(base, `${name}-outside.log`) };
}

/** Every file of the project but the script: path → content, the database as its rows. */
function results(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const abs = path.join(e.parentPath, e.name);
    const rel = path.relative(dir, abs);
    if (rel === SCRIPT || rel.startsWith('__pycache__')) continue;
    if (e.isDirectory()) out[rel] = 'dir';
    else if (rel === 'rows.db') out[rel] = rows(abs);
    else out[rel] = fs.readFileSync(abs, 'utf8');
  }
  return out;
}

function rows(db: string): string {
  const r = spawnSync('python3', ['-c', 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select step, score from results order by rowid").fetchall())', db], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** The fixed program, run from scratch with plain python3: what every file must hold. */
function cleanRun(): { files: Record<string, string>; outside: string; stdout: string } {
  const ws = workspace('clean');
  const fixed = fs.readFileSync(path.join(ws.project, SCRIPT), 'utf8')
    .replace('def score(i):\n', 'def score(i):\n    if i == 24:\n        return 0.0\n');
  fs.writeFileSync(path.join(ws.project, SCRIPT), fixed);
  const r = spawnSync('python3', [SCRIPT, ws.outside], { cwd: ws.project, encoding: 'utf8', env: cleanEnv(), timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return { files: results(ws.project), outside: fs.readFileSync(ws.outside, 'utf8'), stdout: r.stdout };
}

const VARIANTS: Array<{ name: string; backend: string; env?: NodeJS.ProcessEnv }> = [
  { name: 'criu (fork snapshots dumped)', backend: 'criu' },
  { name: 'criu (the program frozen for each dump)', backend: 'criu', env: { AXOLOTL_SNAPSHOTS: '0' } },
  { name: 'fork snapshots', backend: 'fork' },
];

describe('files written with open, write, close rewind with the program', () => {
  let clean: ReturnType<typeof cleanRun>;
  before(() => { clean = cleanRun(); });

  for (const v of VARIANTS) {
    test(`${v.name}: after a crash, a repair and a rewind, every file equals a clean run of the fixed program`, async () => {
      const ws = workspace('project');
      const runs = tempDir('axl-runs-');
      const cli = new LiveCli(['run', '--yes', '--backend', v.backend, '--interval', '0.3', '--working-dir', runs,
        '--base-url', model.url, '--model', 'm', SCRIPT, ws.outside], { cwd: ws.project, env: cleanEnv(v.env) });
      const res = await cli.result();
      assert.equal(res.status, 0, res.stderr);
      assert.equal(res.stdout, clean.stdout);
      assert.match(res.stderr, /axolotl: restored checkpoint \d+ in \d+ ms with repair 1\n/, res.stderr);

      const got = results(ws.project);
      for (const [file, text] of Object.entries(clean.files)) assert.equal(got[file], text, `${file} after the rewind\n${res.stderr}`);
      assert.deepEqual(Object.keys(got).sort(), Object.keys(clean.files).sort(), 'no file more (scratch.tmp, state.json.tmp), none fewer');

      // On a busy machine a checkpoint can fall between the exception and its report reaching the
      // engine (by design the newest is restored: it restarts the crashed call with the repair). Its
      // files are those of the crash, so nothing is rewound and nothing is run again: say so exactly.
      const log = fs.readdirSync(runs).map((d) => path.join(runs, d, 'engine.log')).filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
      if (/reported a crash of generation 0 \(restored while handling it\)/.test(log)) {
        assert.doesNotMatch(res.stderr, /; rewound \d+ file/, res.stderr);
        assert.equal(fs.readFileSync(ws.outside, 'utf8'), clean.outside, 'restored at the crash: no step ran twice');
        await assertNoProcesses([ws.project]);
        return;
      }
      // What the rewind said: the files it put back, the file outside the workspace it did not.
      const notice = /axolotl: (rewinding to checkpoint \d+;.*)\n/.exec(res.stderr)?.[1] ?? '';
      assert.match(notice, /; rewound \d+ files?: .*results\.txt \(cut to \d+(\.\d)? (bytes|kB)\)/, res.stderr);
      assert.ok(notice.includes(`files outside the workspace keep what was written since the checkpoint: ${ws.outside}`), notice);
      assert.doesNotMatch(notice, /child process/, 'the fork snapshots are the engine\'s, not the program\'s children');
      assert.doesNotMatch(notice, /open socket/, 'the program\'s output goes to the engine\'s sockets, not to other programs');
      assert.doesNotMatch(notice, /journal/, 'the journal\'s own page is not a file of the program');
      const outside = fs.readFileSync(ws.outside, 'utf8');
      assert.ok(outside.split('\n').length > STEPS + 1 && outside.startsWith(clean.outside.split('\n').slice(0, 20).join('\n')),
        `the log outside the workspace keeps the lines written after the checkpoint:\n${outside}`);
      await assertNoProcesses([ws.project]);
    });
  }
});
