// The `axolotl` command: run, doctor, checkpoints, restore, undo.
import path from 'node:path';
import { formatDoctor, runDoctor } from '../engine/doctor';
import { undoLastRepair } from '../engine/repair';
import { listCheckpoints, readRunInfo } from '../engine/runDir';
import { AxolotlError } from '../engine/types';
import { parseRunArgs, RUN_USAGE } from './options';
import { runCommand } from './runCommand';
import { formatBytes } from './terminal';

const USAGE = `usage: axolotl <command> [options]

  run [options] script.py [args...]   run a script under checkpoints (see: axolotl run --help)
  doctor                              check criu, privileges and Python here
  checkpoints <run-dir>               list the checkpoints kept by a run
  restore <run-dir> [id] [options]    continue a run from a kept checkpoint (default: the latest)
  undo <run-dir> [--force]            put back the files the last accepted repair changed
  help                                this text`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      if (rest.includes('--help') && rest.indexOf('--help') < firstPositional(rest)) { process.stdout.write(RUN_USAGE + '\n'); return 0; }
      return runCommand(parseRunArgs(rest));
    case 'doctor': {
      const report = await runDoctor();
      process.stdout.write(formatDoctor(report) + '\n');
      return report.canCheckpoint ? 0 : 1;
    }
    case 'checkpoints':
      return checkpointsCommand(rest);
    case 'restore':
      return restoreCommand(rest);
    case 'undo':
      return undoCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return cmd === undefined ? 2 : 0;
    default:
      throw new AxolotlError(`unknown command "${cmd}"`, USAGE);
  }
}

function firstPositional(args: string[]): number {
  const i = args.findIndex((a) => !a.startsWith('-'));
  return i < 0 ? args.length : i;
}

/** Continues an earlier run from a checkpoint, with the same options `run` takes. */
function restoreCommand(args: string[]): Promise<number> {
  const [dirArg, ...more] = args;
  if (!dirArg) throw new AxolotlError('usage: axolotl restore <run-dir> [id] [options]');
  const runDir = path.resolve(dirArg);
  let info;
  try {
    info = readRunInfo(runDir);
  } catch {
    throw new AxolotlError(`${runDir} is not an Axolotl run folder (no run.json)`, 'Run folders are under .axolotl/ next to the script.');
  }
  const kept = listCheckpoints(runDir);
  const idArg = more[0] !== undefined && /^\d+$/.test(more[0]) ? more.shift() : undefined;
  const id = idArg !== undefined ? Number(idArg) : kept[kept.length - 1]?.id;
  if (id === undefined) throw new AxolotlError(`no checkpoints are kept in ${runDir}`);
  // A run in a container continues in the same image, with the same mounts and environment.
  const python = info.container ? [] : ['--python', info.python];
  const opts = parseRunArgs([...more, ...(info.agent ? [] : ['--no-agent']), ...python, '--working-dir', path.dirname(runDir), info.program, ...info.args], info.cwd);
  return runCommand({ ...opts, ...(info.container ? { container: info.container } : {}), from: { runDir, id } });
}

async function undoCommand(args: string[]): Promise<number> {
  const force = args.includes('--force');
  const dirs = args.filter((a) => a !== '--force');
  if (dirs.length !== 1) throw new AxolotlError('usage: axolotl undo <run-dir> [--force]');
  const res = await undoLastRepair(path.resolve(dirs[0]), { force });
  process.stderr.write(`axolotl: undid repair ${res.number}: restored ${res.restored.join(', ') || 'nothing'}` +
    `${res.deleted.length ? `; deleted ${res.deleted.join(', ')}` : ''}\n`);
  return 0;
}

function checkpointsCommand(args: string[]): number {
  if (args.length !== 1) throw new AxolotlError('usage: axolotl checkpoints <run-dir>');
  const dir = path.resolve(args[0]);
  const list = listCheckpoints(dir);
  if (list.length === 0) {
    process.stdout.write(`no checkpoints kept in ${dir}\n`);
    return 0;
  }
  process.stdout.write('id  time                      size      frozen  generation\n');
  for (const c of list) {
    process.stdout.write(
      `${String(c.id).padEnd(3)} ${new Date(c.time).toISOString().padEnd(25)} ${formatBytes(c.bytes).padEnd(9)} ` +
      `${(c.frozenMs.toFixed(0) + ' ms').padEnd(7)} ${c.generation}${c.atCrash ? '  (at crash)' : ''}\n`,
    );
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof AxolotlError) {
      process.stderr.write(`axolotl: ${e.message}\n`);
      if (e.hint) process.stderr.write(`${e.hint}\n`);
      if (e.details) process.stderr.write(`${e.details.trimEnd()}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`axolotl: internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 70;
    }
  },
);
