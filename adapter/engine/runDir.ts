// One folder per run under the working dir: run.json, engine.log, checkpoints/<id>/ (criu images plus
// axolotl.json), repairs/<n>/ (originals of accepted repairs).
import fs from 'node:fs';
import path from 'node:path';
import type { Checkpoint, ContainerOptions } from './types';

export interface CheckpointRecord extends Checkpoint {
  /** socket inodes of fds 0-2 in the image: restore must --inherit-fd exactly these */
  stdioInodes: number[];
  pid: number;
  /** the program's stdin had reached end-of-file (its peer was closed) when the image was taken */
  stdinClosed?: boolean;
  /** processes of the image besides its root that run the agent (forked workers): a restore tells them to poll too */
  agents?: number[];
}

export interface RunInfo {
  program: string;
  args: string[];
  cwd: string;
  python: string;
  started: string;
  backend: string;
  /** the agent socket path the program was given (a restored copy still uses it) */
  socketPath?: string;
  /** whether the program runs under the agent (a restore must match) */
  agent: boolean;
  /** the program ran in a container (a restore must run it in the same one) */
  container?: ContainerOptions;
}

export function createRunDir(workingDir: string, now = new Date()): string {
  fs.mkdirSync(workingDir, { recursive: true, mode: 0o700 });
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  for (let n = 0; ; n++) {
    const dir = path.join(workingDir, `run-${stamp}${n ? `-${n}` : ''}`);
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.mkdirSync(path.join(dir, 'checkpoints'));
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

export function checkpointDir(runDir: string, id: number): string {
  return path.join(runDir, 'checkpoints', String(id));
}

export function writeRunInfo(runDir: string, info: RunInfo): void {
  fs.writeFileSync(path.join(runDir, 'run.json'), JSON.stringify(info, null, 2) + '\n');
}

export function readRunInfo(runDir: string): RunInfo {
  return JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as RunInfo;
}

export function writeCheckpointRecord(rec: CheckpointRecord): void {
  fs.writeFileSync(path.join(rec.dir!, 'axolotl.json'), JSON.stringify(rec, null, 2) + '\n');
}

/** Checkpoints of a run saved on disk, oldest first (folders without a record are incomplete dumps;
 *  those held only in memory by their session are gone with it). */
export function listCheckpoints(runDir: string): CheckpointRecord[] {
  const base = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(base)) return [];
  const out: CheckpointRecord[] = [];
  for (const name of fs.readdirSync(base)) {
    const file = path.join(base, name, 'axolotl.json');
    if (!fs.existsSync(file)) continue;
    try {
      out.push({ ...(JSON.parse(fs.readFileSync(file, 'utf8')) as CheckpointRecord), dir: path.join(base, name) });
    } catch { /* a corrupt record is not a checkpoint */ }
  }
  return out.filter((c) => c.saved !== false).sort((a, b) => a.id - b.id);
}

export function deleteCheckpoint(rec: Checkpoint): void {
  if (rec.dir) fs.rmSync(rec.dir, { recursive: true, force: true });
}
