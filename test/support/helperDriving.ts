// Driving the pkexec helper directly over its protocol in tests (helper-security and helper-attacks):
// refusals, a copy's output, /proc views of what the helper started.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { HelperError, type HelperCopy } from '../../adapter/engine/helperBackend';

/** Asserts a refusal: the helper's code and a message that says what was refused. */
export async function refused(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof HelperError, `a HelperError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

/** Everything a copy writes to stdout, once it has ended. */
export function text(copy: HelperCopy): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    copy.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    copy.stdout.once('end', () => resolve(out));
  });
}

/** Waits until the copy's stdout (from now on) matches `re`. */
export async function waitFor(copy: HelperCopy, re: RegExp, timeoutMs = 20_000): Promise<string> {
  let out = '';
  return new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; got ${out}`)), timeoutMs);
    const on = (d: Buffer) => {
      out += d.toString();
      if (re.test(out)) { clearTimeout(t); copy.stdout.off('data', on); resolve(out); }
    };
    copy.stdout.on('data', on);
  });
}

/** /proc/PID/status (or /proc/PID/task/TID/status) as fields. */
export function procStatus(pid: number | string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** The process's own PID namespace (an inode name such as "pid:[4026532174]"). */
export function pidNamespace(pid: number): string {
  return fs.readlinkSync(`/proc/${pid}/ns/pid`);
}
