// Runs one criu command to completion, bounded in time, without letting criu's own helpers hold the
// engine hostage. Used for dumps; restores go through the subreaper wrapper instead, whose report
// (the restored PID) is awaited here too, within a time limit. And what a failed dump means, in words.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { processTree } from './procTree';
import type { CheckpointRecord } from './runDir';
import { AxolotlError } from './types';

export interface CriuRun {
  exitCode?: number;
  signal?: string;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs `criu dump` in its own process group (a Ctrl-C at the terminal is ours to handle, not criu's)
 * and settles when criu itself exits: helpers criu forked may outlive a criu that was killed (one was
 * seen stopped under ptrace, holding our pipes, so waiting for them never ended). Those are SIGKILLed
 * with the group when criu fails, and after `timeoutMs` criu is too.
 */
export function runCriu(
  cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number,
  opts: { signal?: AbortSignal; onStart?: (pid: number) => void } = {},
): Promise<CriuRun> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    if (child.pid !== undefined) opts.onStart?.(child.pid);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const killGroup = () => {
      if (child.pid === undefined) return;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    };
    const timer = setTimeout(() => { timedOut = true; killGroup(); }, timeoutMs);
    const abort = () => killGroup();
    opts.signal?.addEventListener('abort', abort, { once: true });
    const finish = (exitCode: number | undefined, signal: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', abort);
      child.stdout!.destroy();
      child.stderr!.destroy();
      resolve({ exitCode, signal, stdout, stderr, timedOut });
    };
    child.once('error', (e) => { stderr += e.message; finish(undefined, undefined); });
    child.once('exit', (code, signal) => {
      if (code !== 0) killGroup();
      // The rest of its output, if nothing else holds the pipes; never wait long for it.
      const grace = setTimeout(() => finish(code ?? undefined, signal ?? undefined), 200);
      child.once('close', () => { clearTimeout(grace); finish(code ?? undefined, signal ?? undefined); });
    });
  });
}

/** The error for a failed `criu dump`, with the reason in words when it is recognised. */
export function dumpFailure(pid: number, dir: string, res: { signal?: string; stderr?: unknown; timedOut?: boolean }, log: string): AxolotlError {
  const stderr = String(res.stderr ?? '');
  if (/No space left on device|ENOSPC/.test(log + stderr)) {
    return new AxolotlError(
      `the disk is full: no space left for the checkpoint images in ${path.dirname(path.dirname(path.dirname(dir)))}`,
      'Free some space or choose another folder with --working-dir.',
    );
  }
  if (res.timedOut) {
    return new AxolotlError(`criu could not checkpoint process ${pid}: it did not finish in time and was stopped`, 'The program was left running; the next checkpoint is taken at the next interval.', log || undefined);
  }
  if (res.signal) {
    return new AxolotlError(`criu could not checkpoint process ${pid}: criu was killed (${res.signal})`, 'The program was left running; the next checkpoint is taken at the next interval.');
  }
  // glibc opens a named semaphore under a temporary name it then renames: criu finds the mapping's file
  // deleted yet linked, and wants --link-remap, whose links a restore uses up. Named semaphores are what
  // multiprocessing's spawn and forkserver start methods use (fork unlinks them at once).
  if (/link remap for \/?dev\/shm\/sem\./.test(log)) {
    return new AxolotlError(
      `criu cannot checkpoint process ${pid}: it holds named semaphores (/dev/shm/sem.*), as multiprocessing's spawn and forkserver start methods make`,
      'Start its workers with the fork method (multiprocessing.get_context("fork"), the default on Linux before Python 3.14): criu then checkpoints the program with its workers.',
      log || undefined,
    );
  }
  const ours = /^axolotl: .*$/m.exec(stderr)?.[0];
  if (ours) return new AxolotlError(`criu could not checkpoint process ${pid}: ${ours.replace(/^axolotl: /, '')}`, undefined, log || undefined);
  return new AxolotlError(`criu could not checkpoint process ${pid}`, 'See the criu log below; `axolotl doctor` checks the environment.', log || stderr);
}

/** criu restore did not finish in time (it was stopped, with everything it had started). */
export class RestoreTimeoutError extends AxolotlError {}

/** How long a restore may take: far above the measured times (1 GB: under 2 s), never under 30 s. */
export function restoreTimeoutMs(rec: CheckpointRecord): number {
  return Math.max(30_000, 20 * (rec.dumpMs || 0));
}

/**
 * The restored PID the wrapper reports on fd 3; undefined if the wrapper exits first (criu failed);
 * 'timeout' after `timeoutMs`, when the wrapper, criu and the half-restored task are SIGKILLed.
 */
export function awaitRestoredPid(child: ChildProcess, timeoutMs: number): Promise<number | 'timeout' | undefined> {
  return new Promise((resolve) => {
    let buf = '';
    let settled = false;
    const done = (v: number | 'timeout' | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        for (const p of processTree(child.pid).reverse()) {
          try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
        }
      }
      done('timeout');
    }, timeoutMs);
    const control = child.stdio[3] as NodeJS.ReadableStream;
    control.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /pid (\d+)\n/.exec(buf);
      if (m) done(Number(m[1]));
    });
    child.once('exit', () => done(undefined));
    child.once('error', () => done(undefined));
  });
}
