// Engine-level measurements for `npm run bench` (scripts/bench.mjs bundles this file into
// out/bench/probe.js and runs it as root). Each command prints one JSON line on stdout.
//
//   probe.js criu                                   the working criu's path
//   probe.js restore --backend criu|fork --mb N --reps R
//   probe.js crash --mb N --reps R
//   probe.js disk --mb N --checkpoints C [--max-saves K] [--interval S]
//   probe.js freshness --mb N --reps R [--interval S]
//   probe.js container --mb N --reps R --image IMAGE
//   probe.js tree --mb N --processes P --reps R
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chooseBackend } from '../adapter/engine/backendChoice';
import { CheckpointPages } from '../adapter/engine/checkpointPages';
import { findCriu, whyNot } from '../adapter/engine/criuLocator';
import { ForkBackend } from '../adapter/engine/forkBackend';
import { privateBytes } from '../adapter/engine/snapshotPool';
import { RepairFlow } from '../adapter/engine/repairFlow';
import { Supervisor, type SupervisorDeps } from '../adapter/engine/supervisor';
import type { Checkpoint, RestoredEvent, RunOptions } from '../adapter/engine/types';
import { ModelServer } from '../dev/modelServer';

const BENCH = path.resolve(__dirname, '..', '..', 'bench');
const WORKLOAD = path.join(BENCH, 'workload.py');
const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (dflt === undefined) throw new Error(`--${name} is required`);
  return dflt;
}

async function criuPath(): Promise<string> {
  const st = await findCriu();
  if (!st?.works) throw new Error(`no criu that works here (${st ? whyNot(st) : "none found"}); run scripts/install-criu.sh`);
  return st.path;
}

async function deps(backend: string): Promise<SupervisorDeps> {
  return backend === 'fork' ? { backend: () => new ForkBackend() } : { criu: await criuPath() };
}

function options(program: string, args: string[], over: Partial<RunOptions>): RunOptions {
  return {
    program, args, cwd: path.dirname(program), env: {}, python: arg('python', 'python3'), interval: 3600,
    workingDir: fs.mkdtempSync(path.join(os.tmpdir(), 'axl-bench-')), backend: 'criu', agent: true,
    root: path.dirname(program), verbose: false, ...over,
  };
}

/** Program output as lines with arrival times; waits for a line matching a pattern after a time. */
class Lines {
  readonly lines: Array<{ t: number; text: string }> = [];
  private buf = '';
  private waiters: Array<{ re: RegExp; after: number; resolve: (l: { t: number; text: string }) => void }> = [];

  constructor(sup: Supervisor) {
    sup.on('output', (o) => {
      if (o.stream !== 'stdout') return;
      const t = now();
      this.buf += o.data.toString('utf8');
      const parts = this.buf.split('\n');
      this.buf = parts.pop()!;
      for (const text of parts) {
        const line = { t, text };
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (line.t < w.after || !w.re.test(text)) return true;
          w.resolve(line);
          return false;
        });
      }
    });
  }

  next(re: RegExp, after: number, timeoutMs = 60_000): Promise<{ t: number; text: string }> {
    const have = this.lines.find((l) => l.t >= after && re.test(l.text));
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no output matching ${re} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ re, after, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    });
  }
}

async function waitUntil(ok: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/** Restores checkpoint `id`: the engine's `restored` ms, and the program's (restore call → its next line). */
async function timedRestore(sup: Supervisor, out: Lines, id: number): Promise<{ engineMs: number; programMs: number }> {
  let restoredAt = 0;
  const restored = new Promise<RestoredEvent>((resolve) => sup.once('restored', (e) => { restoredAt = now(); resolve(e); }));
  const t0 = now();
  await sup.restore(id);
  // Lines from the killed copy may still arrive after t0; the restored copy prints only once running.
  const line = await out.next(/^tick/, restoredAt);
  return { engineMs: (await restored).ms, programMs: line.t - t0 };
}

/**
 * Restore-to-running: the engine's `restored` ms and the program's view (restore call → its next
 * line), for the newest checkpoint (raw pages) and an older one (pages rebuilt from the page store).
 */
async function restoreBench(): Promise<unknown> {
  const backend = arg('backend');
  const mb = Number(arg('mb'));
  const reps = Number(arg('reps'));
  const sup = new Supervisor(options(WORKLOAD, ['hold', String(mb)], { backend: backend as 'criu' | 'fork' }), await deps(backend));
  const out = new Lines(sup);
  try {
    await sup.start();
    await out.next(/^ready/, 0);
    const older = (await sup.checkpoint())!;
    await sleep(300);
    const newest = (await sup.checkpoint())!;
    if (backend === 'criu') {
      // The older image's pages go to the page store in the background after the newer dump.
      await waitUntil(() => fs.readdirSync(older.dir!).some((f) => f.endsWith('.axpages')), 60_000, 'older checkpoint deduplicated');
    }
    const rows: Array<{ which: string; engineMs: number; programMs: number }> = [];
    for (let r = 0; r < reps; r++) {
      for (const [which, c] of [['newest', newest], ['older', older]] as const) {
        await sleep(300);
        rows.push({ which, ...(await timedRestore(sup, out, c.id)) });
      }
    }
    return { backend, mb, rows };
  } finally {
    await sup.stop();
    fs.rmSync(sup.opts.workingDir, { recursive: true, force: true });
  }
}

/**
 * Container mode against the process modes on the same program (hold N MB), each round a fresh run:
 * one checkpoint, whose pause is criu's frozen time (criu with snapshots and fork: the fork) and wall
 * time are kept, then a rewind to it, as a crash repair does: restore-to-running, the engine's
 * `restored` ms and the program's view (restore call → its next line). (A fresh run each round: a
 * second rewind in one run replaces a woken snapshot, which PID 1 reaps here, slowly.)
 */
async function containerBench(): Promise<unknown> {
  const mb = Number(arg('mb'));
  const reps = Number(arg('reps'));
  const image = arg('image');
  const modes = ['container', 'criu-frozen', 'criu', 'fork'];
  const rows = new Map(modes.map((m) => [m, { mode: m, pauses: [] as Array<{ frozenMs: number; dumpMs: number; bytes: number }>, restores: [] as Array<{ engineMs: number; programMs: number }> }]));
  for (let r = 0; r < reps; r++) {
    // rounds interleaved, the order rotating, so that load drifts hit every mode alike
    for (const mode of modes.map((_, i) => modes[(i + r) % modes.length])) {
      // criu-frozen: criu dumps the program itself, frozen throughout (as for programs with threads)
      if (mode === 'criu-frozen') process.env.AXOLOTL_SNAPSHOTS = '0';
      else delete process.env.AXOLOTL_SNAPSHOTS;
      const opts = options(WORKLOAD, ['hold', String(mb)], mode === 'container'
        ? { container: { image, mounts: [], env: {}, python: 'python3' } }
        : { backend: mode === 'fork' ? 'fork' : 'criu' });
      const sup = new Supervisor(opts, mode === 'container' ? (await chooseBackend('auto', process.env, opts)).deps : await deps(mode === 'fork' ? 'fork' : 'criu'));
      const out = new Lines(sup);
      try {
        await sup.start();
        await out.next(/^ready/, 0, 120_000);
        await sleep(300);
        const c = (await sup.checkpoint())!;
        rows.get(mode)!.pauses.push({ frozenMs: c.frozenMs, dumpMs: c.dumpMs, bytes: c.bytes });
        await sleep(300);
        rows.get(mode)!.restores.push(await timedRestore(sup, out, c.id));
      } finally {
        await sup.stop();
        fs.rmSync(sup.opts.workingDir, { recursive: true, force: true });
      }
    }
  }
  delete process.env.AXOLOTL_SNAPSHOTS;
  return { mb, rows: [...rows.values()] };
}

const FIX = 'The dict has no key "c": look it up with a default.\n\n```diff\n--- a/crashjob.py\n+++ b/crashjob.py\n' +
  '@@ -11,2 +11,2 @@\n def lookup(key):\n-    return table[key]\n+    return table.get(key, 0)\n```\n';

/**
 * Crash → repair shown: from the agent's crash report reaching the engine to the `proposed` event,
 * minus the model request (a local scripted model that answers at once). Then accept → running again:
 * from accept() to the restored program's next line.
 */
async function crashBench(): Promise<unknown> {
  const mb = Number(arg('mb'));
  const reps = Number(arg('reps'));
  const server = await ModelServer.start({ handler: () => ({ text: FIX, chunks: 4 }) });
  // Time each model request from the call to the last byte of its body.
  const realFetch = globalThis.fetch;
  const modelCalls: Array<{ start: number; end: number }> = [];
  globalThis.fetch = (async (...a: Parameters<typeof fetch>) => {
    const rec = { start: now(), end: Number.NaN };
    modelCalls.push(rec);
    const res = await realFetch(...a);
    if (!res.body) {
      rec.end = now();
      return res;
    }
    const body = res.body.pipeThrough(new TransformStream({ flush() { rec.end = now(); } }));
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  }) as typeof fetch;
  const rows: unknown[] = [];
  try {
    for (let r = 0; r < reps; r++) {
      const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-bench-ws-'));
      fs.copyFileSync(path.join(BENCH, 'crashjob.py'), path.join(ws, 'crashjob.py'));
      const sup = new Supervisor(options(path.join(ws, 'crashjob.py'), [String(mb), '2.5'], { interval: 1, pauseBudget: 0 }), await deps('criu'));
      const out = new Lines(sup);
      const flow = new RepairFlow(sup, { model: { model: 'test-model', baseUrl: server.url, apiKey: 'bench' }, resume: 'checkpoint', env: {} });
      let arrived = 0;
      const trace: string[] = [];
      const mark = (what: string) => trace.push(`${(now() - arrived).toFixed(0)} ${what}`);
      sup.on('log', (l) => {
        if (l.message.startsWith('crash in process')) arrived = now();
        if (process.env.AXOLOTL_BENCH_TRACE) mark(`log ${l.message.slice(0, 80)}`);
      });
      if (process.env.AXOLOTL_BENCH_TRACE) {
        flow.on('progress', (p) => mark(`progress ${p}`));
        sup.on('checkpointStarted', () => mark('checkpointStarted'));
        sup.on('checkpoint', (c) => mark(`checkpoint ${c.id}${c.atCrash ? ' (crash)' : ''}`));
        sup.on('restored', () => mark('restored'));
      }
      const proposed = new Promise<{ t: number; repairId: string }>((resolve, reject) => {
        sup.on('crash', (c) => {
          if (!c.paused) return;
          void flow.propose().then((res) => { if (!res.ok) reject(new Error(res.reason)); });
        });
        flow.on('proposed', (p) => resolve({ t: now(), repairId: p.repairId }));
      });
      try {
        const calls = modelCalls.length;
        await sup.start();
        const p = await proposed;
        const model = modelCalls.slice(calls).reduce((ms, c) => ms + (c.end - c.start), 0);
        let restoredAt = 0;
        const restored = new Promise<RestoredEvent>((resolve) => sup.once('restored', (e) => { restoredAt = now(); resolve(e); }));
        const t0 = now();
        mark('accept');
        const accepted = await flow.accept(p.repairId);
        const line = await out.next(/^(tick|total|after)/, restoredAt);
        rows.push({
          crashToProposedMs: p.t - arrived, modelMs: model, withoutModelMs: p.t - arrived - model,
          acceptToRunningMs: line.t - t0, restoredMs: (await restored).ms, restoredCheckpoint: accepted.restoredCheckpoint,
          ...(process.env.AXOLOTL_BENCH_TRACE ? { trace } : {}),
        });
        await out.next(/^after 29/, t0);
      } finally {
        await sup.stop();
        fs.rmSync(sup.opts.workingDir, { recursive: true, force: true });
        fs.rmSync(ws, { recursive: true, force: true });
      }
    }
  } finally {
    globalThis.fetch = realFetch;
    await server.close();
  }
  return { mb, rows };
}

/** Disk used by C checkpoints of the MB program (real blocks), with and without a ring buffer. */
async function diskBench(): Promise<unknown> {
  const mb = Number(arg('mb'));
  const n = Number(arg('checkpoints'));
  const maxSaves = process.argv.includes('--max-saves') ? Number(arg('max-saves')) : undefined;
  const interval = Number(arg('interval', '0.15'));
  const sup = new Supervisor(options(WORKLOAD, ['cpu', String(mb), String(1e12)], { interval, pauseBudget: 0, maxSaves }), await deps('criu'));
  const out = new Lines(sup);
  const taken: Checkpoint[] = [];
  sup.on('checkpoint', (c) => { if (!c.atCrash) taken.push(c); });
  const started = now();
  try {
    await sup.start();
    const ready = await out.next(/^ready/, 0);
    await waitUntil(() => taken.length >= n, n * 20_000, `${n} checkpoints`);
    const rss = Number(ready.text.split(' ')[1]) * 1024 * 1024;
    const runMs = now() - started;
    const stopStart = now();
    await sup.stop();
    const stopMs = now() - stopStart;
    const du = () => Number(spawnSync('du', ['-sB1', sup.runDir], { encoding: 'utf8' }).stdout.split(/\s/)[0]);
    const raw = () => fs.readdirSync(path.join(sup.runDir, 'checkpoints')).filter((d) => {
      return fs.readdirSync(path.join(sup.runDir, 'checkpoints', d)).some((f) => /^pages-\d+\.img$/.test(f));
    }).length;
    const atStop = { duBytes: du(), rawImagesLeft: raw() };
    // The deduplication runs behind the dumps (at 0.15 s intervals it cannot keep up): let it finish,
    // as it would have with checkpoints paced by the pause budget, or in the next session.
    const drainStart = now();
    const pages = new CheckpointPages();
    await pages.compact(sup.runDir);
    await pages.close();
    return {
      mb, checkpoints: taken.length, kept: sup.checkpoints.length, maxSaves: maxSaves ?? null, rssBytes: rss,
      imageBytes: taken.reduce((s, c) => s + c.bytes, 0), duBytes: du(), rawImagesLeft: raw(), atStop,
      drainMs: now() - drainStart, runMs, stopMs,
    };
  } finally {
    if (sup.runDir) fs.rmSync(sup.opts.workingDir, { recursive: true, force: true });
  }
}

/**
 * How fresh the rewind point is when a program crashes: test/fixtures/freshness/passes.py holds and
 * rewrites N MB and crashes at pass 40 (0.1 s a pass); the repair is accepted at once. Measured: the age
 * of the checkpoint restored at the moment of the crash, the share of the passes done again, and what
 * the held snapshots cost in memory (sampled every 100 ms: private pages of the stopped copies).
 */
async function freshnessBench(): Promise<unknown> {
  const mb = Number(arg('mb'));
  const reps = Number(arg('reps'));
  const interval = Number(arg('interval', '0.5'));
  const fixtures = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'freshness');
  const server = await ModelServer.start({ fallback: fs.readFileSync(path.join(fixtures, 'fix.md'), 'utf8') });
  const rows: unknown[] = [];
  try {
    for (let r = 0; r < reps; r++) {
      const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'axl-bench-ws-'));
      fs.copyFileSync(path.join(fixtures, 'passes.py'), path.join(ws, 'passes.py'));
      const sup = new Supervisor(options(path.join(ws, 'passes.py'), [String(mb), '40', '0.1'], { interval, pauseBudget: 0 }), await deps('criu'));
      const out = new Lines(sup);
      const flow = new RepairFlow(sup, { model: { model: 'test-model', baseUrl: server.url, apiKey: 'bench' }, resume: 'checkpoint', env: {} });
      const takenAt = new Map<number, number>();
      const pauses: number[] = [];
      let crashAt = 0;
      let heldPeak = 0;
      let rssPeak = 0;
      sup.on('checkpoint', (c) => { takenAt.set(c.id, now()); if (!c.atCrash) pauses.push(c.frozenMs); });
      sup.on('log', (l) => { if (l.message.startsWith('crash in process')) crashAt = now(); });
      const sampler = setInterval(() => {
        const pid = sup.pid;
        if (!pid) return;
        rssPeak = Math.max(rssPeak, residentOf(pid));
        heldPeak = Math.max(heldPeak, stoppedChildren(pid).reduce((sum, k) => sum + (privateBytes(k) ?? 0), 0));
      }, 100);
      const done = new Promise<void>((resolve) => sup.on('exit', () => resolve()));
      let restored: number | undefined;
      try {
        sup.on('crash', (c) => {
          if (!c.paused) return;
          void flow.propose().then(async (res) => { if (res.ok) restored = (await flow.accept(res.proposal.repairId)).restoredCheckpoint; });
        });
        const t0 = now();
        await sup.start();
        await done;
        const passes = out.lines.map((l) => /^pass (\d+) /.exec(l.text)).filter(Boolean).map((m) => Number(m![1]));
        rows.push({
          ageMs: restored !== undefined ? crashAt - (takenAt.get(restored) ?? Number.NaN) : Number.NaN,
          redoneShare: (passes.length - new Set(passes).size) / new Set(passes).size,
          heldPeakBytes: heldPeak, rssPeakBytes: rssPeak, pauseMs: pauses, runMs: now() - t0, restoredCheckpoint: restored,
        });
      } finally {
        clearInterval(sampler);
        await sup.stop();
        fs.rmSync(ws, { recursive: true, force: true });
        fs.rmSync(sup.opts.workingDir, { recursive: true, force: true });
      }
    }
  } finally {
    await server.close();
  }
  return { mb, interval, rows };
}

function stoppedChildren(pid: number): number[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) => fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number))
      .filter((k) => { try { const st = fs.readFileSync(`/proc/${k}/stat`, 'utf8'); return 'Tt'.includes(st.slice(st.lastIndexOf(')') + 2)[0]); } catch { return false; } });
  } catch {
    return [];
  }
}

/**
 * A program with worker processes (workload.py tree: a parent spinning and P - 1 idle workers, N MB in
 * all) against a single process holding the same total, both checkpointed by the engine as such a
 * program is (criu dumps it frozen, whole tree; no agent, so no snapshots), turn about: criu's frozen
 * time and the dump's wall time of each, then the restore of each (the engine's `restored` ms).
 */
async function treeBench(): Promise<unknown> {
  const mb = Number(arg('mb'));
  const processes = Number(arg('processes', '4'));
  const reps = Number(arg('reps'));
  const start = async (args: string[]) => {
    const sup = new Supervisor(options(WORKLOAD, args, { agent: false }), await deps('criu'));
    const out = new Lines(sup);
    await sup.start();
    const ready = await out.next(/^ready/, 0);
    return { sup, totalMb: Number(ready.text.split(' ')[1]) };
  };
  const tree = await start(['tree', String(mb), String(processes)]);
  let single: Awaited<ReturnType<typeof start>> | undefined;
  try {
    single = await start(['spin', String(tree.totalMb)]);
    const rows: Array<{ which: string; frozenMs: number; dumpMs: number; restoreMs: number }> = [];
    for (let r = 0; r < reps; r++) {
      for (const [which, v] of (r % 2 ? [['single', single], ['tree', tree]] : [['tree', tree], ['single', single]]) as const) {
        await sleep(300);
        const c = await v.sup.checkpoint();
        if (!c) throw new Error(`no checkpoint of the ${which}`);
        await sleep(300);
        const restored = new Promise<RestoredEvent>((resolve) => v.sup.once('restored', resolve));
        await v.sup.restore(c.id);
        rows.push({ which, frozenMs: c.frozenMs, dumpMs: c.dumpMs, restoreMs: (await restored).ms });
      }
    }
    return { mb, processes, treeMb: tree.totalMb, singleMb: residentOf(single.sup.pid!) / 2 ** 20, rows };
  } finally {
    for (const v of [tree, single]) {
      if (!v) continue;
      await v.sup.stop();
      fs.rmSync(v.sup.opts.workingDir, { recursive: true, force: true });
    }
  }
}

function residentOf(pid: number): number {
  try { return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024; } catch { return 0; }
}

async function main(): Promise<void> {
  const cmd = process.argv[2];
  let result: unknown;
  if (cmd === 'criu') result = { criu: await criuPath() };
  else if (cmd === 'restore') result = await restoreBench();
  else if (cmd === 'crash') result = await crashBench();
  else if (cmd === 'disk') result = await diskBench();
  else if (cmd === 'freshness') result = await freshnessBench();
  else if (cmd === 'tree') result = await treeBench();
  else if (cmd === 'container') result = await containerBench();
  else throw new Error(`unknown probe command ${cmd}`);
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().then(() => process.exit(0), (e: Error) => {
  process.stderr.write(`probe: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
