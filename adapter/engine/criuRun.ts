// Runs one criu command to completion, bounded in time, without letting criu's own helpers hold the
// engine hostage. Used for dumps; restores go through the subreaper wrapper instead.
import { spawn } from 'node:child_process';

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
