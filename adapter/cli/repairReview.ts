// The CLI's side of a crash: ask the model (with a live status line), show the diff, and let the user
// accept, reject or edit it; `--yes` accepts without asking.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RepairFlow, type RepairProposal } from '../engine/repairFlow';
import { colorizeDiff, fileDiff, validateRepair } from '../engine/repair';
import type { Supervisor } from '../engine/supervisor';
import type { CrashEvent } from '../engine/types';
import { openKeyboard, readKey } from './keyPrompt';
import type { CliRunOptions } from './options';
import type { Terminal } from './terminal';

/** What the run does with a crash the program reported: ask the model, review, decide. */
export type CrashHandler = (sup: Supervisor, crash: CrashEvent, term: Terminal) => Promise<void>;

export function repairingCrashHandler(opts: CliRunOptions): { handler: CrashHandler; attach: (sup: Supervisor, term: Terminal) => void } {
  let flow: RepairFlow | undefined;
  const attach = (sup: Supervisor, term: Terminal) => {
    flow = new RepairFlow(sup, { model: { model: opts.model, baseUrl: opts.baseUrl }, maxAttempts: opts.maxRepairs, resume: opts.resume });
    flow.on('progress', (line) => term.setStatus(`asking the model · ${line}`, true));
    flow.on('status', (s) => {
      if (s.status === 'verified') term.say(term.green('✓ the repaired program ran past the crash point'));
      if (s.status === 'failed') term.say(term.yellow(s.cannotResume ? s.message ?? 'cannot resume' : `the repair did not hold: ${s.message ?? ''}`));
    });
  };
  const handler: CrashHandler = async (sup: Supervisor, crash: CrashEvent, term: Terminal) => {
    if (!crash.paused || !flow) {
      if (crash.paused) sup.decide({ type: 'abort' });
      return;
    }
    term.setStatus('asking the model for a repair', true);
    const result = await flow.propose();
    term.clearStatus();
    if (!result.ok) {
      term.say(term.red(`no repair: ${result.reason}`));
      sup.decide({ type: 'abort' });
      return;
    }
    const p = result.proposal;
    term.say(`repair proposed (attempt ${p.attempt} of ${p.maxAttempts}, ${p.model}):\n${p.explanation.trim()}\n`);
    term.print(colorizeDiff(p.files.map((f) => f.diff).join(''), term.tty) + '\n');
    let files: Record<string, string> | undefined;
    while (!files) {
      const decision = opts.yes ? 'accept' : await ask(term);
      if (decision === 'reject') {
        term.say('rejected: the exception ends the program');
        flow.reject(p.repairId);
        return;
      }
      // An edit that does not compile is refused and the question asked again.
      files = decision === 'edit'
        ? await editInEditor(p, sup, term)
        : Object.fromEntries(p.files.map((f) => [f.path, f.proposed]));
    }
    const res = await flow.accept(p.repairId, files);
    term.say(`accepted: files written (originals in ${res.backupDir}); ` +
      (res.restoredCheckpoint !== undefined ? `resuming from checkpoint ${res.restoredCheckpoint}` : 'resuming in place'));
  };
  return { handler, attach };
}

const QUESTION = 'Apply this repair and resume? [a]ccept / [r]eject / [e]dit: ';
/** The keys taken: the letters shown, and y / n as people type them anyway. */
const ANSWERS: Record<string, 'accept' | 'reject' | 'edit'> = { a: 'accept', y: 'accept', r: 'reject', n: 'reject', e: 'edit' };

/** Asks on the terminal; a single key answers. */
async function ask(term: Terminal): Promise<'accept' | 'reject' | 'edit'> {
  const keyboard = openKeyboard();
  if (!keyboard) {
    term.say('no terminal to ask and no --yes: rejecting the repair');
    return 'reject';
  }
  // The question goes where the user looks: our stderr when it is the terminal, else the terminal itself.
  const screen = term.tty ? undefined : openScreen();
  try {
    if (screen) screen.write(QUESTION);
    else term.ask(QUESTION);
    const answer = await readKey(keyboard.input, Object.keys(ANSWERS).join(''));
    const echo = 'key' in answer ? answer.key : 'interrupt' in answer ? '^C' : '';
    if (screen) screen.write(`${echo}\n`);
    else term.answered(echo);
    if ('interrupt' in answer) {
      // Raw mode made Ctrl-C a plain byte: raise the SIGINT it stands for, and let it end the run.
      process.kill(process.pid, 'SIGINT');
      return await new Promise<never>(() => undefined);
    }
    if ('end' in answer) {
      // End of input (Ctrl-D, or the terminal went away) is no answer: reject rather than wait forever.
      term.say('no answer (end of input): rejecting the repair');
      return 'reject';
    }
    return ANSWERS[answer.key];
  } finally {
    keyboard.close();
    screen?.close();
  }
}

/** Writes to the controlling terminal directly (our stderr goes elsewhere). */
function openScreen(): { write(text: string): void; close(): void } | undefined {
  try {
    const fd = fs.openSync('/dev/tty', 'w');
    return {
      write: (text) => { try { fs.writeSync(fd, text); } catch { /* the terminal went away */ } },
      close: () => fs.closeSync(fd),
    };
  } catch {
    return undefined;
  }
}

/** Opens the proposed files in $EDITOR; returns the edited texts if they still compile. */
async function editInEditor(p: RepairProposal, sup: Supervisor, term: Terminal): Promise<Record<string, string> | undefined> {
  const editor = process.env.VISUAL || process.env.EDITOR || 'vi';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'axolotl-edit-'));
  const out: Record<string, string> = {};
  try {
    for (const f of p.files) {
      const tmp = path.join(dir, path.basename(f.path));
      fs.writeFileSync(tmp, f.proposed);
      const r = spawnSync(editor, [tmp], { stdio: 'inherit', shell: true });
      if (r.status !== 0) term.say(term.yellow(`${editor} exited with status ${r.status}`));
      out[f.path] = fs.readFileSync(tmp, 'utf8');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const files = p.files.map((f) => ({ path: f.path, relPath: f.relPath, original: f.original, proposed: out[f.path]! }));
  const check = await validateRepair(files, { root: sup.opts.root, python: sup.opts.python });
  if (!check.ok) {
    term.say(term.red(`the edited repair cannot be used: ${check.problems.join('; ')}`));
    return undefined;
  }
  for (const f of files) term.print(colorizeDiff(fileDiff(f.relPath, f.original, f.proposed), term.tty));
  return out;
}
