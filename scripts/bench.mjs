#!/usr/bin/env node
// `npm run bench [-- --quick]`: Axolotl's performance on this machine, as root with criu installed,
// after `npm run build`. Prints a table and writes bench/results.json. Not part of `npm test`.
//
// Every figure is a ratio or a comparison measured in this run: machines are noisy, so each is the
// median and range over several runs, and the variants being compared are interleaved (run 1 of each,
// then run 2 of each, in a rotating order) so that load drifts hit all of them alike.
//
// Sections (helpers in bench/):
//   reference   memcpy bandwidth, fork() pause of a stopped child, criu's own frozen time (no engine)
//   throughput  CPU-bound and allocation-heavy programs at 20 MB / 200 MB / 1 GB: plain python3, the
//               agent alone, `axolotl run --backend criu` and `--backend fork` at default settings
//   pause       per checkpoint at --interval 1: criu's frozen time (engine log) and the program's own
//               largest step (it times every step of its loop)
//   restore     restore-to-running: the engine's `restored` ms and program-observed (probe)
//   crash       crash report → proposal shown, minus model time; accept → running again (probe)
//   disk        du of the run folder after 100 checkpoints of the 200 MB program (probe)
//   freshness   a program crashing 4 s in at --interval 0.5, at 20 MB / 300 MB / 1 GB: age of the rewind
//               point at the crash, work redone after the repair, memory the held snapshots cost (probe)
//   files       the agent's file journal: microseconds per open-write-close step of a program, plain
//               python3 vs the agent without and with the journal (bench/filewrites.py); the pause
//               section also checkpoints a program that writes files each step (workload.py files)
//   container   container mode (podman + runc + criu, scripts/install-containers.sh's image) against
//               criu frozen, criu with snapshots and fork on the same program at the same RSS: pause
//               per checkpoint, checkpoint wall time, restore to running (probe)
//   tree        a program with worker processes (a parent and 3 workers, as a pool) against one process
//               of the same total RSS, both dumped frozen by the engine: criu's frozen time, dump and
//               restore wall time (probe)
//   extension   activation time with a fake `vscode`, bundle sizes
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = path.join(ROOT, 'bench');
const WORKLOAD = path.join(BENCH, 'workload.py');
const FILEWRITES = path.join(BENCH, 'filewrites.py');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const PROBE = path.join(ROOT, 'out', 'bench', 'run-probe.js');
const QUICK = process.argv.includes('--quick');
// --only reference,pause,…: a subset of the sections (while working on one of them)
const ONLY = (() => {
  const i = process.argv.indexOf('--only');
  return i > 0 ? new Set(process.argv[i + 1].split(',')) : undefined;
})();
const wanted = (section) => !ONLY || ONLY.has(section);

// Full: ~20 minutes. Quick: < 3 minutes. Plain run lengths (s) are per size, to fit the time: at 200 MB
// a criu dump freezes the program ~130 ms, so default pacing (2% budget) first checkpoints it after
// ~7 s: that run must be long enough to see one. At 1 GB the first criu checkpoint would come after
// ~30 s: no run of a sensible length sees one (the pause section measures those at --interval 1).
const CFG = QUICK ? {
  sizes: [200], runs: 3, workS: { 200: 3 }, refReps: 3, pauseCheckpoints: 3, restoreSizes: [200], restoreReps: 3,
  crashSizes: [200], crashReps: 2, diskCheckpoints: 20, activationReps: 5, memcpyMB: 256, freshSizes: [300], freshReps: 1,
  treeSizes: [200], treeReps: 3, containerSizes: [200], containerReps: 3,
} : {
  sizes: [20, 200, 1000], runs: 5, workS: { 20: 3, 200: 8, 1000: 3 }, refReps: 5, pauseCheckpoints: 5,
  restoreSizes: [20, 200, 1000], restoreReps: 5, crashSizes: [20, 200], crashReps: 5, diskCheckpoints: 100,
  activationReps: 10, memcpyMB: 1024, freshSizes: [20, 300, 1000], freshReps: 3,
  treeSizes: [20, 200, 1000], treeReps: 5, containerSizes: [20, 200, 1000], containerReps: 5,
};
// --sizes 200,1000 / --runs N: override the mode's choice (while working on something)
{
  const flag = (name) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : undefined; };
  if (flag('sizes')) CFG.sizes = CFG.restoreSizes = CFG.crashSizes = flag('sizes').split(',').map(Number);
  if (flag('runs')) CFG.runs = Number(flag('runs'));
  for (const mb of CFG.sizes) CFG.workS[mb] ??= { 20: 5, 200: 10, 1000: 5 }[mb] ?? 5;
}
const PROGRAMS = ['cpu', 'alloc'];
// criu: the default (criu dumps a fork snapshot, the program pauses for the fork); criu-frozen: criu
// dumps the program itself, frozen throughout (AXOLOTL_SNAPSHOTS=0, as for programs with threads).
const VARIANTS = ['plain', 'agent', 'criu', 'criu-frozen', 'fork'];
const LABEL = { agent: 'agent only', criu: '--backend criu', 'criu-frozen': 'criu, frozen', fork: '--backend fork' };

// ---------------------------------------------------------------------------------------------- utils

const t0 = Date.now();
const say = (s) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const stats = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x));
  return { median: median(v), min: v.length ? Math.min(...v) : Number.NaN, max: v.length ? Math.max(...v) : Number.NaN, n: v.length };
};
const fmt = (s, digits = 0, unit = '') => !s || !Number.isFinite(s.median) ? 'n/a'
  : `${s.median.toFixed(digits)}${unit} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
const rotate = (xs, k) => xs.map((_, i) => xs[(i + k) % xs.length]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a command; resolves with its output. `onLine(line, child)` sees stdout lines as they come. */
function run(cmd, args, { env, cwd = ROOT, onLine, timeoutMs = 30 * 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let buf = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      if (!onLine) return;
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      for (const l of lines) onLine(l, child);
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: out, stderr: err, ms: performance.now() - started });
    });
  });
}

async function probe(args) {
  const r = await run(process.execPath, [PROBE, ...args, '--python', PYTHON]);
  if (r.code !== 0) throw new Error(`probe ${args.join(' ')} failed:\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function checkpointsFromLog(runRoot) {
  const out = [];
  for (const d of fs.existsSync(runRoot) ? fs.readdirSync(runRoot) : []) {
    const log = path.join(runRoot, d, 'engine.log');
    if (!fs.existsSync(log)) continue;
    for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
      const m = /^(\S+) debug checkpoint (\d+): ([\d.]+) MB, frozen ([\d.]+) ms, dump (\d+) ms/.exec(line);
      if (m) out.push({ t: Date.parse(m[1]), id: Number(m[2]), mb: Number(m[3]), frozenMs: Number(m[4]), dumpMs: Number(m[5]) });
    }
  }
  return out;
}

/** The program's slowest step around each checkpoint (its own view of the pause), minus a normal step. */
function matchPauses(checkpoints, gaps, stepMs) {
  return checkpoints.map((c) => {
    const from = c.t - c.dumpMs - 50;
    const to = c.t + 50;
    const hit = gaps.filter((g) => g.t < to && g.t + g.ms > from).sort((a, b) => b.ms - a.ms)[0];
    return { ...c, programMs: hit ? Math.max(0, hit.ms - stepMs) : Number.NaN };
  });
}

// ------------------------------------------------------------------------------------------- programs

/**
 * One run of the workload under a variant. Engine variants go through the real CLI. `stopAfter`: end
 * the run (SIGINT, as Ctrl-C) once that many checkpoints are in the engine log.
 */
async function runWorkload(variant, kind, mb, units, { cliArgs = [], stopAfter, env: extraEnv = {} } = {}) {
  const gaps = [];
  let bench;
  const wd = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-bench-run-'));
  const onLine = (line) => {
    const g = /^GAP (\S+) (\S+)$/.exec(line);
    if (g) gaps.push({ t: Number(g[1]) * 1000, ms: Number(g[2]) });
    else if (line.startsWith('BENCH ')) bench = JSON.parse(line.slice(6));
  };
  const prog = [WORKLOAD, kind, String(mb), String(units)];
  // The files workload writes in its working folder: a fresh one (not under the run folders, which the
  // journal leaves alone).
  const cwd = kind === 'files' ? fs.mkdtempSync(path.join(os.tmpdir(), 'axl-bench-work-')) : ROOT;
  let r;
  let watcher;
  try {
    if (variant === 'plain') r = await run(PYTHON, prog, { onLine, cwd });
    else if (variant === 'agent') r = await run(PYTHON, ['-m', 'axolotl_agent', ...prog], { onLine, cwd, env: { PYTHONPATH: path.join(ROOT, 'adapter', 'python') } });
    else {
      const args = [CLI, 'run', '--backend', variant === 'criu-frozen' ? 'criu' : variant, '--no-repair', '--python', PYTHON, '--working-dir', wd, ...cliArgs, ...prog];
      let child;
      if (stopAfter) {
        watcher = setInterval(() => {
          if (child && checkpointsFromLog(wd).length >= stopAfter) child.kill('SIGINT');
        }, 200);
      }
      const env = { ...(variant === 'criu-frozen' ? { AXOLOTL_SNAPSHOTS: '0' } : {}), ...extraEnv };
      r = await run(process.execPath, args, { env, cwd, onLine: (l, c) => { child = c; onLine(l); } });
      if (!child && stopAfter) throw new Error('the program printed nothing');
    }
    if (!bench && !stopAfter) throw new Error(`${variant} ${kind} ${mb} MB: no result (status ${r.code})\n${r.stderr.slice(-2000)}`);
    const checkpoints = checkpointsFromLog(wd);
    return { variant, kind, mb, workS: bench?.work_s, cpuS: bench?.cpu_s, stepMs: bench?.step_ms ?? 0.05, wallMs: r.ms, checkpoints, gaps };
  } finally {
    if (watcher) clearInterval(watcher);
    fs.rmSync(wd, { recursive: true, force: true });
    if (cwd !== ROOT) fs.rmSync(cwd, { recursive: true, force: true });
  }
}

// ----------------------------------------------------------------------------------------- sections

async function calibrate() {
  const units = 4000;
  const perUnit = {};
  for (const kind of PROGRAMS) {
    const times = [];
    for (let i = 0; i < 3; i++) times.push((await runWorkload('plain', kind, 20, units)).workS / units);
    perUnit[kind] = Math.min(...times);
  }
  return perUnit;
}

async function references(results) {
  say(`reference: memcpy of ${CFG.memcpyMB} MB`);
  const mc = JSON.parse((await run(PYTHON, [path.join(BENCH, 'refs.py'), 'memcpy', String(CFG.memcpyMB), '5'])).stdout);
  results.reference.memcpyGBps = stats(mc.gb_per_s);
  const criu = (await probe(['criu'])).criu;
  results.reference.criu = criu;
  for (const mb of CFG.sizes) {
    say(`reference: fork pause and criu's own frozen time at ${mb} MB`);
    const fork = JSON.parse((await run(PYTHON, [path.join(BENCH, 'refs.py'), 'fork', String(mb), String(CFG.refReps)])).stdout);
    results.reference.forkPauseMs[mb] = stats(fork.ms);
    results.reference.criuFrozenMs[mb] = stats(await criuDirect(criu, mb, CFG.refReps));
    say(`reference: criu's own frozen time at ${mb} MB, images kept, one dump a second`);
    results.reference.criuKeptFrozenMs[mb] = stats(await criuDirect(criu, mb, CFG.refReps, { keep: true, everyMs: 1000 }));
  }
}

/**
 * criu dump --leave-running --display-stats straight on a program holding `mb`: no engine involved.
 * By default each image is deleted at once, so its pages never reach the disk. `keep` keeps them, one
 * dump every `everyMs` as `--interval 1` asks: the disk then has to absorb what a checkpointer writes,
 * which is what the engine's pause section pays too.
 */
async function criuDirect(criu, mb, reps, { keep = false, everyMs = 0 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-bench-criu-'));
  const log = path.join(dir, 'out.txt');
  const fd = fs.openSync(log, 'a');
  // Busy, like the programs the engine checkpoints in the pause section (criu competes for the CPU).
  const child = spawn(PYTHON, [WORKLOAD, 'spin', String(mb)], { detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const frozen = [];
  try {
    for (let i = 0; i < 600 && !/^ready/m.test(fs.readFileSync(log, 'utf8')); i++) await sleep(100);
    for (let i = 0; i < reps; i++) {
      const img = path.join(dir, `img-${i}`);
      fs.mkdirSync(img);
      const t0 = Date.now();
      const r = await run(criu, ['dump', '-t', String(child.pid), '-D', img, '--leave-running', '--display-stats', '-o', 'dump.log', '-v2']);
      const m = /Frozen time:\s*(\d+)\s*us/.exec(r.stdout);
      if (r.code !== 0 || !m) throw new Error(`criu dump failed: ${r.stderr}\n${fs.readFileSync(path.join(img, 'dump.log'), 'utf8').slice(-2000)}`);
      frozen.push(Number(m[1]) / 1000);
      if (!keep) fs.rmSync(img, { recursive: true, force: true });
      await sleep(Math.max(300, everyMs - (Date.now() - t0)));
    }
  } finally {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return frozen;
}

async function throughput(results, perUnit) {
  for (const mb of CFG.sizes) {
    for (const kind of PROGRAMS) {
      const units = Math.round(CFG.workS[mb] / perUnit[kind]);
      const runs = Object.fromEntries(VARIANTS.map((v) => [v, []]));
      for (let r = 0; r < CFG.runs; r++) {
        say(`throughput: ${kind} ${mb} MB, run ${r + 1} of ${CFG.runs}`);
        for (const v of rotate(VARIANTS, r)) runs[v].push(await runWorkload(v, kind, mb, units));
      }
      const row = { kind, mb, units, plainS: stats(runs.plain.map((x) => x.workS)) };
      for (const v of VARIANTS.slice(1)) {
        // Pairwise: run i of the variant against run i of plain.
        row[v] = {
          ratio: stats(runs[v].map((x, i) => x.workS / runs.plain[i].workS)),
          cpuRatio: stats(runs[v].map((x, i) => x.cpuS / runs.plain[i].cpuS)),
          // time the program itself saw frozen (its slowest step at each checkpoint), as a share of its work
          pauseShare: stats(runs[v].map((x) => matchPauses(x.checkpoints, x.gaps, x.stepMs).reduce((s, c) => s + (c.programMs || 0), 0) / 1000 / x.workS)),
          checkpoints: stats(runs[v].map((x) => x.checkpoints.length)),
          frozenMs: stats(runs[v].flatMap((x) => x.checkpoints.map((c) => c.frozenMs))),
        };
      }
      results.throughput.push(row);
    }
  }
}

async function pauses(results, perUnit) {
  const n = CFG.pauseCheckpoints;
  // A program that writes files each step, with the file journal and without it (AXOLOTL_FILE_JOURNAL=0),
  // at the smallest size, where what the journal adds to a checkpoint is not hidden by copying memory.
  const runsOf = CFG.sizes.flatMap((mb) => [{ mb, kind: 'cpu', journal: true },
    ...(mb === Math.min(...CFG.sizes) ? [{ mb, kind: 'files', journal: false }, { mb, kind: 'files', journal: true }] : [])]);
  for (const { mb, kind, journal } of runsOf) {
    for (const backend of ['criu', 'criu-frozen', 'fork']) {
      say(`pause: ${backend} at ${mb} MB${kind === 'files' ? `, writing files, ${journal ? 'with' : 'without'} the file journal` : ''}, ${n} checkpoints at --interval 1`);
      const units = Math.round(600 / perUnit.cpu);
      const env = journal ? {} : { AXOLOTL_FILE_JOURNAL: '0' };
      // Twice the checkpoints for the file rows: whether a freeze lands while a file is open varies.
      const k = kind === 'files' ? 2 * n : n;
      const res = await runWorkload(backend, kind, mb, units, { cliArgs: ['--interval', '1'], stopAfter: k + 1, env });
      const matched = matchPauses(res.checkpoints.slice(1, k + 1), res.gaps, res.stepMs);
      results.pause.push({
        backend, mb, kind, journal, checkpoints: matched.length,
        frozenMs: stats(matched.map((c) => c.frozenMs)),
        programMs: stats(matched.map((c) => c.programMs)),
        dumpMs: stats(matched.map((c) => c.dumpMs)),
      });
    }
  }
}

/** What the file journal costs a program per open-write-close, against plain python3 and the agent without it. */
async function fileWrites(results) {
  const MODES = { append: 20000, overwrite: 5000, create: 5000 };
  const VARS = ['plain', 'agent', 'journal'];
  for (const [mode, steps] of Object.entries(MODES)) {
    const us = Object.fromEntries(VARS.map((v) => [v, []]));
    for (let r = 0; r < CFG.runs; r++) {
      say(`files: ${mode}, run ${r + 1} of ${CFG.runs}`);
      for (const v of rotate(VARS, r)) {
        const wd = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-bench-files-'));
        try {
          const work = path.join(wd, 'work');
          const journal = path.join(wd, 'journal');
          fs.mkdirSync(work);
          fs.mkdirSync(journal);
          // The journal's page as the engine makes it: the epoch, then newlines.
          const page = Buffer.alloc(4096, '\n');
          page.write('0'.repeat(20));
          fs.writeFileSync(path.join(journal, 'state'), page);
          const prog = [FILEWRITES, mode, String(steps), '100'];
          const env = v === 'plain' ? {} : {
            PYTHONPATH: path.join(ROOT, 'adapter', 'python'),
            ...(v === 'journal' ? { AXOLOTL_FILES_JOURNAL: journal, AXOLOTL_FILES_WORKSPACE: work } : {}),
          };
          const res = await run(PYTHON, v === 'plain' ? prog : ['-m', 'axolotl_agent', ...prog], { cwd: work, env });
          const line = res.stdout.split('\n').find((l) => l.startsWith('BENCH '));
          if (res.code !== 0 || !line) throw new Error(`filewrites ${mode} (${v}) failed:\n${res.stderr.slice(-2000)}`);
          us[v].push(JSON.parse(line.slice(6)).step_us);
        } finally {
          fs.rmSync(wd, { recursive: true, force: true });
        }
      }
    }
    results.files.push({
      mode, steps,
      ...Object.fromEntries(VARS.map((v) => [v, stats(us[v])])),
      journalUs: stats(us.journal.map((x, i) => x - us.agent[i])),
      ratio: stats(us.journal.map((x, i) => x / us.plain[i])),
    });
  }
}

async function restores(results) {
  for (const mb of CFG.restoreSizes) {
    for (const backend of ['criu', 'fork']) {
      say(`restore: ${backend} at ${mb} MB, ${CFG.restoreReps} rounds`);
      const r = await probe(['restore', '--backend', backend, '--mb', String(mb), '--reps', String(CFG.restoreReps)]);
      for (const which of ['newest', 'older']) {
        const rows = r.rows.filter((x) => x.which === which);
        results.restore.push({ backend, mb, which, engineMs: stats(rows.map((x) => x.engineMs)), programMs: stats(rows.map((x) => x.programMs)) });
      }
    }
  }
}

async function crashes(results) {
  for (const mb of CFG.crashSizes) {
    say(`crash → repair shown, accept → running: ${mb} MB, ${CFG.crashReps} runs`);
    const r = await probe(['crash', '--mb', String(mb), '--reps', String(CFG.crashReps)]);
    const col = (k) => stats(r.rows.map((x) => x[k]));
    results.crash.push({
      mb, withoutModelMs: col('withoutModelMs'), modelMs: col('modelMs'), crashToProposedMs: col('crashToProposedMs'),
      acceptToRunningMs: col('acceptToRunningMs'), restoredMs: col('restoredMs'),
    });
  }
}

async function disk(results) {
  for (const maxSaves of [undefined, 10]) {
    say(`disk: ${CFG.diskCheckpoints} checkpoints of the 200 MB program, --max-saves ${maxSaves ?? 'unlimited'}`);
    const r = await probe(['disk', '--mb', '200', '--checkpoints', String(CFG.diskCheckpoints), ...(maxSaves ? ['--max-saves', String(maxSaves)] : [])]);
    results.disk.push({ ...r, duPerRss: r.duBytes / r.rssBytes, rawPerDu: r.imageBytes / r.duBytes });
  }
}

async function freshness(results) {
  for (const mb of CFG.freshSizes) {
    say(`freshness: ${mb} MB crashing 4 s in at --interval 0.5, ${CFG.freshReps} runs`);
    const r = await probe(['freshness', '--mb', String(mb), '--reps', String(CFG.freshReps), '--interval', '0.5']);
    const col = (f) => stats(r.rows.map(f));
    results.freshness.push({
      mb, interval: r.interval, ageMs: col((x) => x.ageMs), redonePct: col((x) => x.redoneShare * 100),
      heldPerRss: col((x) => x.heldPeakBytes / x.rssPeakBytes), heldMB: col((x) => x.heldPeakBytes / 1e6),
      pauseMs: stats(r.rows.flatMap((x) => x.pauseMs)),
    });
  }
}

async function containers(results) {
  // podman, runc and the test image (built offline once, then cached)
  const img = spawnSync('bash', [path.join(ROOT, 'scripts', 'install-containers.sh')], { encoding: 'utf8' });
  if (img.status !== 0) throw new Error(`container: scripts/install-containers.sh failed:\n${img.stderr.slice(-2000)}`);
  const image = img.stdout.trim().split('\n').pop();
  for (const mb of CFG.containerSizes) {
    say(`container: podman checkpoint/restore vs criu and fork at ${mb} MB, ${CFG.containerReps} rounds each`);
    const r = await probe(['container', '--mb', String(mb), '--reps', String(CFG.containerReps), '--image', image]);
    for (const row of r.rows) {
      results.container.push({
        mode: row.mode, mb, frozenMs: stats(row.pauses.map((p) => p.frozenMs)), dumpMs: stats(row.pauses.map((p) => p.dumpMs)),
        mbOnDisk: stats(row.pauses.map((p) => p.bytes / 1e6)),
        restoreEngineMs: stats(row.restores.map((x) => x.engineMs)), restoreProgramMs: stats(row.restores.map((x) => x.programMs)),
      });
    }
  }
}

async function trees(results) {
  for (const mb of CFG.treeSizes) {
    say(`tree: 4 processes holding ${mb} MB in all against one process of the same RSS, ${CFG.treeReps} rounds`);
    const r = await probe(['tree', '--mb', String(mb), '--processes', '4', '--reps', String(CFG.treeReps)]);
    const of = (which, f) => stats(r.rows.filter((x) => x.which === which).map(f));
    const tree = r.rows.filter((x) => x.which === 'tree');
    const single = r.rows.filter((x) => x.which === 'single');
    // Pairwise: round k of the tree against round k of the single process (interleaved, same load).
    const ratio = (f) => stats(tree.map((t, k) => f(t) / f(single[k])));
    results.tree.push({
      mb, processes: r.processes, treeMb: r.treeMb, singleMb: r.singleMb,
      frozenMs: { tree: of('tree', (x) => x.frozenMs), single: of('single', (x) => x.frozenMs), ratio: ratio((x) => x.frozenMs) },
      dumpMs: { tree: of('tree', (x) => x.dumpMs), single: of('single', (x) => x.dumpMs), ratio: ratio((x) => x.dumpMs) },
      restoreMs: { tree: of('tree', (x) => x.restoreMs), single: of('single', (x) => x.restoreMs), ratio: ratio((x) => x.restoreMs) },
    });
  }
}

async function extension(results) {
  say('extension: bundle sizes, activation time');
  const dist = {};
  for (const f of fs.readdirSync(path.join(ROOT, 'dist')).filter((f) => f.endsWith('.js'))) dist[f] = fs.statSync(path.join(ROOT, 'dist', f)).size;
  // The production bundle (what the .vsix ships: scripts/build.mjs --production), built aside.
  const prodDir = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-bench-ext-'));
  const prod = path.join(prodDir, 'dist', 'extension.js');
  await esbuild.build({
    entryPoints: [path.join(ROOT, 'extension', 'extension.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    minify: true, external: ['vscode'], outfile: prod, logLevel: 'warning',
  });
  const times = { production: [], dist: [] };
  for (let i = 0; i < CFG.activationReps; i++) {
    for (const [k, f] of [['production', prod], ['dist', path.join(ROOT, 'dist', 'extension.js')]]) {
      const r = await run(process.execPath, [path.join(BENCH, 'activation.cjs'), f]);
      if (r.code !== 0) throw new Error(`activation of ${f} failed:\n${r.stderr.slice(-2000)}`);
      const a = JSON.parse(r.stdout);
      times[k].push({ total: a.loadMs + a.activateMs, load: a.loadMs, activate: a.activateMs });
    }
  }
  results.extension = {
    distBytes: dist, productionExtensionBytes: fs.statSync(prod).size,
    activationMs: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, {
      total: stats(v.map((x) => x.total)), load: stats(v.map((x) => x.load)), activate: stats(v.map((x) => x.activate)),
    }])),
  };
  fs.rmSync(prodDir, { recursive: true, force: true });
}

// ------------------------------------------------------------------------------------------- report

function table(r) {
  const L = [];
  const ref = r.reference;
  L.push(`Axolotl bench ${r.quick ? '(quick) ' : ''}— ${r.date}, ${r.machine}; median (min–max) over the runs`);
  L.push('');
  L.push(`Reference: memcpy ${fmt(ref.memcpyGBps, 2, ' GB/s')}`);
  for (const mb of Object.keys(ref.forkPauseMs)) {
    L.push(`  ${String(mb).padStart(4)} MB: fork() of a stopped child ${fmt(ref.forkPauseMs[mb], 1, ' ms')}, criu's own frozen time ${fmt(ref.criuFrozenMs[mb], 0, ' ms')}` +
      (ref.criuKeptFrozenMs?.[mb] ? `, ${fmt(ref.criuKeptFrozenMs[mb], 0, ' ms')} keeping its images (one a second)` : ''));
  }
  L.push('');
  L.push('Throughput ÷ plain python3, pairwise per run. wall: work time ratio (what was asked; swings with the');
  L.push('machine\'s load). cpu: CPU-time ratio (blind to freezes) + frozen: share of the run the program saw');
  L.push('itself frozen at checkpoints; their sum is the load-robust estimate of the overhead.');
  L.push('  program  RSS      variant       wall ratio            cpu ratio             frozen     ≈ overhead  checkpoints');
  for (const t of r.throughput) {
    L.push(`  ${t.kind.padEnd(8)} ${String(t.mb).padStart(4)} MB  plain         ${fmt(t.plainS, 1, ' s')}`);
    for (const v of VARIANTS.slice(1)) {
      const x = t[v];
      const est = x.cpuRatio.median + (v === 'agent' ? 0 : x.pauseShare.median || 0);
      L.push(`  ${''.padEnd(8)} ${''.padStart(7)}  ${LABEL[v].padEnd(13)} ${fmt(x.ratio, 3).padEnd(21)} ${fmt(x.cpuRatio, 3).padEnd(21)} ${v === 'agent' ? '—'.padEnd(10) : `${((x.pauseShare.median || 0) * 100).toFixed(1)}%`.padEnd(10)} ${est.toFixed(3).padEnd(11)} ${v === 'agent' ? '' : `${x.checkpoints.median} (${x.checkpoints.min}–${x.checkpoints.max})`}`);
    }
  }
  L.push('');
  L.push('Pause per checkpoint at --interval 1 (ms): frozen (engine) | the program\'s own view | vs the same alone');
  L.push('(criu, frozen: against criu alone keeping its images one a second, as the engine does; criu, which');
  L.push('dumps a fork snapshot, and fork: against a bare fork() of a process of the same size)');
  for (const p of r.pause) {
    const frozen = p.backend === 'criu-frozen';
    const alone = frozen ? (ref.criuKeptFrozenMs?.[p.mb] ?? ref.criuFrozenMs[p.mb]) : ref.forkPauseMs[p.mb];
    const over = alone && Number.isFinite(alone.median) ? ` | ${((p.frozenMs.median / alone.median - 1) * 100).toFixed(0)}% over ${frozen ? 'criu alone' : 'bare fork'}` : '';
    // Writing files each step: with the journal against the same run without it (what the journal adds).
    const off = p.kind === 'files' && p.journal && r.pause.find((q) => q.kind === 'files' && !q.journal && q.backend === p.backend && q.mb === p.mb);
    const added = off ? ` | the journal adds ${(p.frozenMs.median - off.frozenMs.median).toFixed(1)} ms frozen, ${(p.programMs.median - off.programMs.median).toFixed(1)} ms to the program` : '';
    const what = p.kind === 'files' ? `, writing files, ${p.journal ? 'journal' : 'no journal'}` : '';
    L.push(`  ${(LABEL[p.backend] ?? p.backend).padEnd(14)} ${String(p.mb).padStart(4)} MB${what}: frozen ${fmt(p.frozenMs, 1)} | program ${fmt(p.programMs, 1)}${p.kind === 'files' ? '' : over}${added}`);
  }
  L.push('');
  L.push('Restore to running (ms): engine `restored` | program (restore call → its next line)');
  for (const x of r.restore) {
    if (x.backend === 'fork' && x.which === 'older') continue;
    const which = x.backend === 'fork' ? 'snapshot' : x.which === 'newest' ? 'newest (raw pages)' : 'older (pages rebuilt)';
    L.push(`  ${x.backend.padEnd(5)} ${String(x.mb).padStart(4)} MB ${which.padEnd(22)} ${fmt(x.engineMs).padEnd(18)} | ${fmt(x.programMs)}`);
  }
  L.push('');
  L.push('Crash → repair shown (local model answering at once), accept → running again (ms)');
  for (const c of r.crash) {
    L.push(`  ${String(c.mb).padStart(4)} MB: crash→proposed minus model ${fmt(c.withoutModelMs)} (model ${fmt(c.modelMs)}); accept→running ${fmt(c.acceptToRunningMs)}`);
  }
  L.push('');
  L.push(`Disk: ${CFG.diskCheckpoints} checkpoints of the 200 MB program at --interval 0.15 (du, real blocks), once the`);
  L.push('deduplication has caught up (and when the run stopped)');
  for (const d of r.disk) {
    L.push(`  --max-saves ${String(d.maxSaves ?? 'unlimited').padEnd(9)} ${d.kept} kept: ${(d.duBytes / 1e6).toFixed(0)} MB = ${d.duPerRss.toFixed(2)}× RSS, raw images ${(d.imageBytes / 1e9).toFixed(1)} GB` +
      ` (at stop: ${(d.atStop.duBytes / 1e6).toFixed(0)} MB, ${d.atStop.rawImagesLeft} raw; caught up in ${(d.drainMs / 1000).toFixed(1)} s)`);
  }
  if (r.freshness.length) {
    L.push('');
    L.push('Rewind point at a crash, 4 s in at --interval 0.5 (goal: age ≤ 2 × interval = 1000 ms at every size):');
    L.push('age of the checkpoint restored | passes done again after the repair | held snapshots\' memory, peak');
    for (const f of r.freshness) {
      L.push(`  ${String(f.mb).padStart(4)} MB: age ${fmt(f.ageMs, 0, ' ms')} | redone ${fmt(f.redonePct, 1, '%')} | held ${fmt(f.heldMB, 0, ' MB')} = ${fmt(f.heldPerRss, 2, '× RSS')} | pause per checkpoint ${fmt(f.pauseMs, 1, ' ms')}`);
    }
  }
  if (r.tree?.length) {
    L.push('');
    L.push('A program with worker processes (a parent and 3 idle workers, as a pool) against one process of the');
    L.push('same total RSS, both dumped frozen by the engine (ms; ratio tree ÷ single, pairwise per round):');
    for (const t of r.tree) {
      const row = (what, x) => `${what} ${fmt(x.tree, 0)} vs ${fmt(x.single, 0)}, ${fmt(x.ratio, 2, '×')}`;
      L.push(`  ${String(t.mb).padStart(4)} MB (tree ${t.treeMb.toFixed(0)} MB, single ${t.singleMb.toFixed(0)} MB): ${row('frozen', t.frozenMs)} | ${row('dump', t.dumpMs)} | ${row('restore', t.restoreMs)}`);
    }
  }
  if (r.files.length) {
    L.push('');
    L.push('File writes: µs per open-write-close step (median over blocks of 100 steps, each block a new journal');
    L.push('epoch as between two checkpoints): plain python3 | agent | agent with its file journal');
    for (const f of r.files) {
      L.push(`  ${f.mode.padEnd(9)} ${fmt(f.plain, 1).padEnd(20)} | ${fmt(f.agent, 1).padEnd(20)} | ${fmt(f.journal, 1).padEnd(20)} journal +${fmt(f.journalUs, 1)} µs, ${fmt(f.ratio, 2)}× plain`);
    }
  }
  if (r.container.length) {
    L.push('');
    L.push('Container mode (podman + runc + criu) against the process modes, same program at the same RSS (ms):');
    L.push('pause per checkpoint (criu\'s frozen time; snapshots and fork: the fork) | checkpoint wall | restore');
    L.push('to running: engine `restored` | program (restore call → its next line) | on disk per checkpoint');
    const name = { container: 'container', 'criu-frozen': 'criu, frozen', criu: '--backend criu', fork: '--backend fork' };
    for (const c of r.container) {
      const ratio = (k) => {
        const base = r.container.find((x) => x.mb === c.mb && x.mode === 'criu-frozen');
        return c.mode === 'container' && base && base[k].median > 0 ? ` (${(c[k].median / base[k].median).toFixed(1)}× criu frozen)` : '';
      };
      L.push(`  ${name[c.mode].padEnd(14)} ${String(c.mb).padStart(4)} MB: pause ${fmt(c.frozenMs, 1)}${ratio('frozenMs')} | wall ${fmt(c.dumpMs)} | restore ${fmt(c.restoreEngineMs)}${ratio('restoreEngineMs')} | program ${fmt(c.restoreProgramMs)} | ${fmt(c.mbOnDisk, 0, ' MB')}`);
    }
  }
  L.push('');
  const e = r.extension;
  if (e.activationMs) L.push(`Extension: activation (load + activate) ${fmt(e.activationMs.production.total, 1, ' ms')} production bundle, ${fmt(e.activationMs.dist.total, 1, ' ms')} dist/extension.js`);
  if (e.activationMs) L.push(`  bundles: production extension.js ${(e.productionExtensionBytes / 1024).toFixed(0)} KB; dist/ ${Object.entries(e.distBytes).map(([f, b]) => `${f} ${(b / 1024).toFixed(0)} KB`).join(', ')}`);
  L.push('');
  L.push(`(${((Date.now() - t0) / 60000).toFixed(1)} min)`);
  return L.join('\n');
}

// --------------------------------------------------------------------------------------- agent alone

// The agent's own cost (test/python/bench_agent.py, with an engine listening), on python3 and on
// 3.13 when there is one. Goals (issue 16), as ratios to plain python on the program's own run time
// (the agent's start, one more interpreter start, is shown apart): dhrystone-like ≤ 1.15 on 3.11
// and 3.13, global-assigning calls ≤ 1.10, call-heavy and loop-heavy ≤ 1.05.
const AGENT_GOALS = { 'call-heavy': 1.05, 'loop-heavy': 1.05, 'global-calls': 1.10, dhrystone: 1.15, 'top-level': null };

async function agentOverhead(results) {
  // python3, then 3.11 and 3.13 as the Python tests find them (pyenv included), one per version
  const found = spawnSync(PYTHON, ['-c', 'import sys; sys.path.insert(0, "test/python"); from run_tests import resolve_python as r; print("\\n".join(filter(None, (r("python3.11"), r("python3.13")))))'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  const version = (py) => spawnSync(py, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).stdout.trim();
  const pythons = [];
  const seen = new Set();
  for (const py of [PYTHON, ...found]) {
    const v = version(py);
    if (v && !seen.has(v)) { seen.add(v); pythons.push(py); }
  }
  results.agentOverhead = [];
  for (const py of pythons) {
    say(`agent overhead (${py}): call-heavy, loop-heavy, global-calls, dhrystone, top-level`);
    const r = spawnSync(PYTHON, [path.join(ROOT, 'test/python/bench_agent.py'), '--python', py, '--runs', QUICK ? '3' : '7', '--socket', '--json'], { encoding: 'utf8' });
    const line = (r.stdout || '').trim().split('\n').pop();
    try {
      results.agentOverhead.push(JSON.parse(line));
    } catch {
      results.agentOverhead.push({ python: py, error: (r.stderr || r.stdout || '').trim().slice(-400) });
    }
  }
}

function agentTable(rows) {
  const progs = Object.keys(AGENT_GOALS);
  const L = ['Agent alone, with an engine listening (test/python/bench_agent.py): CPU time ratio to plain python,',
    'median of runs, without the start-up (shown apart: the agent starts one more interpreter); goal in ().'];
  L.push(`  ${'python'.padEnd(8)} ${progs.map((p) => p.padEnd(16)).join('')}start-up`);
  for (const r of rows) {
    if (r.error) { L.push(`  ${r.python}: ${r.error}`); continue; }
    const cells = progs.map((p) => {
      const x = r[p];
      if (!x) return '—'.padEnd(16);
      const g = AGENT_GOALS[p];
      return `${x.ratioWithoutStartup.toFixed(3)}${g ? ` (≤${g.toFixed(2)})` : ''}`.padEnd(16);
    });
    L.push(`  ${String(r.python).padEnd(8)} ${cells.join('')}+${((r.startup.agent - r.startup.plain) * 1000).toFixed(0)} ms CPU`);
  }
  L.push('  (with the start-up: ' + rows.filter((r) => !r.error).map((r) => `${r.python} ${progs.map((p) => `${p} ${r[p].ratio.toFixed(2)}`).join(', ')}`).join('; ') + ')');
  return L.join('\n');
}

// --------------------------------------------------------------------------------------------- main

/** Interpreters of the other debugger implementation than PYTHON's (3.12+ vs older), if installed. */
function otherPythons() {
  const version = (py) => spawnSync(py, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' }).stdout?.trim();
  const mine = Number(version(PYTHON)?.split('.')[1] ?? 0);
  const candidates = mine >= 12 ? ['python3.11', 'python3.10'] : ['python3.13', 'python3.12'];
  const pyenv = path.join(os.homedir(), '.pyenv', 'versions');
  for (const name of candidates) {
    const onPath = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    const fromPyenv = fs.existsSync(pyenv) ? fs.readdirSync(pyenv).filter((v) => v.startsWith(name.slice(6) + '.')).sort().reverse()
      .map((v) => path.join(pyenv, v, 'bin', name)).find((p) => fs.existsSync(p)) : undefined;
    const found = onPath && version(onPath) ? onPath : fromPyenv;
    if (found) return [found];
  }
  return [];
}

let PYTHON = 'python3';

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run the bench as root (criu needs it)');
  if (!fs.existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  PYTHON = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
  await esbuild.build({
    entryPoints: [path.join(BENCH, 'probe.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    outfile: path.join(ROOT, 'out', 'bench', 'probe.js'), logLevel: 'warning',
  });
  // Loaded from another file, so bundled modules that check `require.main === module` stay quiet.
  fs.writeFileSync(PROBE, "require('./probe.js');\n");
  const results = {
    quick: QUICK, date: new Date().toISOString(), machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB, load ${os.loadavg()[0].toFixed(1)} at start, Python ${spawnSync(PYTHON, ['--version'], { encoding: 'utf8' }).stdout.trim()}`,
    config: CFG, reference: { forkPauseMs: {}, criuFrozenMs: {}, criuKeptFrozenMs: {} }, throughput: [], pause: [], restore: [], crash: [], disk: [], freshness: [], files: [], tree: [], container: [], extension: {},
  };
  say(`calibrating the workloads (${PYTHON})`);
  const perUnit = await calibrate();
  results.perUnitMs = Object.fromEntries(Object.entries(perUnit).map(([k, v]) => [k, v * 1000]));
  if (wanted('reference')) await references(results);
  if (wanted('throughput')) await throughput(results, perUnit);
  if (wanted('pause')) await pauses(results, perUnit);
  if (wanted('restore')) await restores(results);
  if (wanted('crash')) await crashes(results);
  if (wanted('disk')) await disk(results);
  if (wanted('freshness')) await freshness(results);
  if (wanted('files')) await fileWrites(results);
  if (wanted('container')) await containers(results);
  if (wanted('tree')) await trees(results);
  if (wanted('extension')) await extension(results);
  if (wanted('agent')) {
    await agentOverhead(results);
    // The debugger's cost with no breakpoint, with one in a function never called and with one in a
    // generator never called: sys.monitoring on 3.12+; before, entry hooks (a function) or a trace
    // function at every call (a generator); so both kinds of interpreter when this machine has them.
    say('debugger overhead: no breakpoint, one in a function never called, one in a generator never called');
    for (const py of [PYTHON, ...otherPythons()]) {
      const b = spawnSync(PYTHON, ['test/python/bench_agent.py', '--breakpoints', '--python', py, '--runs', QUICK ? '3' : '5'], { encoding: 'utf8' });
      results.debuggerOverhead = `${results.debuggerOverhead ?? ''}\n${(b.stdout || b.stderr).trim()}`.trim();
    }
  }
  results.minutes = (Date.now() - t0) / 60000;
  fs.mkdirSync(BENCH, { recursive: true });
  fs.writeFileSync(path.join(BENCH, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  const text = table(results) + (results.agentOverhead ? `\n\n${agentTable(results.agentOverhead)}` : '')
    + (results.debuggerOverhead ? `\n\nDebugger overhead (test/python/bench_agent.py --breakpoints):\n${results.debuggerOverhead}` : '');
  results.table = text;
  fs.writeFileSync(path.join(BENCH, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(text + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
