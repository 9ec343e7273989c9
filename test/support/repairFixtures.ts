// Shared test helpers for the repair engine: a temporary copy of the fixture project, crash reports.
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AgentFrame, AgentValue, CrashReport } from '../../adapter/engine/agentProtocol';

/** test/fixtures/repair, found from out/test/support at run time or test/support when run from sources. */
export const FIXTURES = (() => {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'test', 'fixtures', 'repair');
    if (fsSync.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('test/fixtures/repair not found');
})();

/** A fresh copy of fixtures/project in a temp folder; returns its real path. */
export async function tempProject(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'axolotl-repair-test-'));
  await fs.cp(path.join(FIXTURES, 'project'), dir, { recursive: true });
  return fs.realpath(dir);
}

export async function rmrf(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

export function value(repr: string, type = 'str', extra: Partial<AgentValue> = {}): AgentValue {
  return { repr, type, ...extra };
}

export interface FrameSpec {
  file: string;
  line: number;
  fn: string;
  qualname?: string;
  user?: boolean;
  locals?: Record<string, AgentValue>;
}

export function crashReport(frames: FrameSpec[], exc: { type: string; message: string }, extra: Partial<CrashReport> = {}): CrashReport {
  const agentFrames: AgentFrame[] = frames.map((f) => ({
    file: f.file,
    line: f.line,
    function: f.fn,
    qualname: f.qualname ?? f.fn,
    user: f.user ?? true,
    locals: f.locals,
    restartable: true,
  }));
  const tb = [
    'Traceback (most recent call last):',
    ...frames.map((f) => `  File "${f.file}", line ${f.line}, in ${f.fn}`),
    `${exc.type}: ${exc.message}`,
  ].join('\n');
  return {
    type: 'crash',
    pid: 4242,
    generation: 0,
    exception: { type: exc.type, message: exc.message, qualifiedType: `builtins.${exc.type}` },
    traceback: tb,
    frames: agentFrames,
    ...extra,
  };
}

/** The KeyError crash of fixtures/project/counter.py. */
export function counterCrash(root: string): CrashReport {
  const file = path.join(root, 'counter.py');
  return crashReport(
    [
      { file, line: 21, fn: "<module>" },
      { file, line: 16, fn: 'main', locals: { word: value("'a'"), c: value('<Counter object at 0x7f>', 'Counter') } },
      { file, line: 9, fn: 'step', qualname: 'Counter.step', locals: { self: value('<Counter object at 0x7f>', 'Counter'), key: value("'a'") } },
    ],
    { type: 'KeyError', message: "'a'" },
    { outputTail: '' },
  );
}

export const COUNTER_FIXED_STEP = '        self.counts[key] = self.counts.get(key, 0) + 1';
