// How a crash reads on stderr: the exception, where it happened, the locals of the crashing frame.
import type { CrashEvent } from '../engine/types';

const MAX_LOCALS = 12;

export function describeCrash(crash: CrashEvent): string {
  const r = crash.report;
  if (!r) return `the program crashed:\n${crash.traceback.trimEnd()}`;
  const userFrames = r.frames.filter((f) => f.user);
  const at = userFrames[userFrames.length - 1] ?? r.frames[r.frames.length - 1];
  const lines = [`crash: ${r.exception.type}: ${r.exception.message}`];
  if (at) lines.push(`  at ${at.file}:${at.line} in ${at.qualname || at.function}()`);
  const locals = Object.entries(at?.locals ?? {}).slice(0, MAX_LOCALS);
  for (const [name, v] of locals) lines.push(`    ${name} = ${v.repr}`);
  if (Object.keys(at?.locals ?? {}).length > MAX_LOCALS) lines.push('    …');
  lines.push('  the program is paused with its stack alive');
  return lines.join('\n');
}
