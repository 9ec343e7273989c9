// One crash → one validated repair, or a reason there is none: prompt → model → parse →
// validate, feeding each failure back to the model for another try, up to maxRepairs attempts.
// Every prompt and reply is kept as <logDir>/repair-<N>-attempt-<k>-{prompt,reply}.md so the
// user can see exactly what was sent and received (API key redacted).
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CrashReport } from '../agentProtocol';
import { CompileChecker } from './compileCheck';
import { fileDiff } from './diffView';
import { resolveEdits, type SourceFile } from './edits';
import { ModelClient, type ChatModel } from './modelClient';
import { buildPrompt } from './prompt';
import { redact } from './redact';
import { parseReply, ReplyError } from './replyParser';
import type { AttemptFailure, ChatMessage, ModelConfig, Repair, RepairAttempt, RepairAttemptResult, RepairLimits, RepairProgress } from './types';
import { validateRepair } from './validate';

export interface RepairContext {
  /** the project folder (AXOLOTL_ROOT): only files inside may change */
  root: string;
  /** the run's interpreter, for the compile check */
  python: string;
  /** folder for the prompt/reply logs (usually the run folder) */
  logDir: string;
  /** which crash of the run this is (1-based): names the log files and the repair id */
  repairNumber: number;
  model: ModelConfig;
  /** defaults to a ModelClient for `model`; tests and embedders may pass their own */
  client?: ChatModel;
  limits?: Partial<RepairLimits>;
  /** engine log (messages are already redacted) */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

export interface ProposeOptions {
  signal?: AbortSignal;
  onProgress?: (event: RepairProgress) => void;
  /** attempts already made for this crash (their diffs and failures are shown to the model) */
  previousAttempts?: RepairAttempt[];
  /** model calls in this call; default: maxRepairs minus the previous attempts */
  maxAttempts?: number;
}

async function readSources(files: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of files) {
    try {
      out.set(f, await fs.readFile(f, 'utf8'));
    } catch {
      /* deleted since the crash: nothing to show */
    }
  }
  return out;
}

function renderPromptLog(messages: ChatMessage[], meta: string): string {
  return [`<!-- ${meta} -->`, ...messages.map((m) => `# ${m.role}\n\n${m.content}`)].join('\n\n') + '\n';
}

/**
 * Ask the model for a repair of `crash`. Resolves with the first repair that parses and validates,
 * or `{ok: false}` after the attempts run out. Throws ModelError (server unreachable, key refused…)
 * and RepairCancelledError (signal), which no further attempt would fix.
 */
export async function proposeRepair(crash: CrashReport, ctx: RepairContext, opts: ProposeOptions = {}): Promise<RepairAttemptResult> {
  const { signal, onProgress } = opts;
  const history: RepairAttempt[] = [...(opts.previousAttempts ?? [])];
  const firstAttempt = history.reduce((m, a) => Math.max(m, a.attempt), 0) + 1;
  const budget = opts.maxAttempts ?? ctx.model.maxRepairs - history.length;
  const client = ctx.client ?? new ModelClient(ctx.model);
  const secrets = [ctx.model.apiKey];
  const log = (level: 'debug' | 'info' | 'warn' | 'error', msg: string) => ctx.log?.(level, redact(msg, secrets));
  const made: RepairAttempt[] = [];
  if (budget <= 0) {
    return { ok: false, reason: `No repair attempts left for this crash (${history.length} made, maxRepairs is ${ctx.model.maxRepairs}).`, attempts: made };
  }
  // The compile check's interpreter starts while the model thinks (compileCheck.ts).
  CompileChecker.for(ctx.python).warm();
  await fs.mkdir(ctx.logDir, { recursive: true });
  const root = path.resolve(ctx.root);
  const lastAttempt = firstAttempt + budget - 1;

  for (let attempt = firstAttempt; attempt <= lastAttempt; attempt++) {
    onProgress?.({ type: 'attempt', attempt, maxAttempt: lastAttempt });
    const stem = path.join(ctx.logDir, `repair-${ctx.repairNumber}-attempt-${attempt}`);
    const record: RepairAttempt = { attempt, promptLog: `${stem}-prompt.md`, replyLog: `${stem}-reply.md` };

    // files: the user's frames, plus whatever earlier attempts touched
    const wanted = [...new Set([...crash.frames.filter((f) => f.user).map((f) => f.file), ...history.flatMap((a) => a.repair?.files.map((f) => f.path) ?? [])])];
    const sources = await readSources(wanted);
    const prompt = buildPrompt({ crash, root, sources, previousAttempts: history, tokenBudget: ctx.model.tokenBudget, secrets });
    await fs.writeFile(
      record.promptLog!,
      redact(renderPromptLog(prompt.messages, `model ${ctx.model.model}; ~${prompt.estimatedTokens} tokens${prompt.trimmed.length ? `; shortened: ${prompt.trimmed.join('; ')}` : ''}`), secrets),
    );
    onProgress?.({ type: 'prompt', attempt, tokens: prompt.estimatedTokens, trimmed: prompt.trimmed, logFile: record.promptLog! });
    log('info', `repair ${ctx.repairNumber} attempt ${attempt}: asking ${ctx.model.model} (~${prompt.estimatedTokens} tokens)`);

    const reply = await client.complete(prompt.messages, { signal, onProgress });
    record.reply = reply.text;
    onProgress?.({ type: 'reply', attempt, chars: reply.text.length, finishReason: reply.finishReason, logFile: record.replyLog! });

    let failure: AttemptFailure | undefined;
    let repair: Repair | undefined;
    try {
      const parsed = parseReply(reply.text);
      const files: SourceFile[] = prompt.files.map((f) => ({ path: f.path, relPath: f.relPath, text: f.text, shownWhole: f.shownWhole }));
      const edits = await resolveEdits(parsed, { root, files });
      repair = {
        id: `repair-${ctx.repairNumber}-attempt-${attempt}`,
        repairNumber: ctx.repairNumber,
        attempt,
        explanation: parsed.explanation,
        files: edits.files.map((f) => ({ ...f, diff: fileDiff(f.relPath, f.original, f.proposed, f.created) })),
        format: edits.format,
        reply: reply.text,
        model: ctx.model.model,
        generation: crash.generation,
      };
      record.repair = repair;
      onProgress?.({ type: 'validating', attempt });
      const result = await validateRepair(repair.files, { root, python: ctx.python, limits: ctx.limits, signal });
      if (!result.ok) failure = { kind: 'validation', message: result.problems.join('\n') };
    } catch (e) {
      if (!(e instanceof ReplyError)) throw e;
      failure = { kind: 'parse', message: e.message };
    }
    if (failure && reply.finishReason === 'length') {
      failure.message += '\n(The reply was cut off by the output token limit: keep the next one short, with SEARCH/REPLACE blocks.)';
    }
    await fs.writeFile(
      record.replyLog!,
      redact(`${reply.text}\n\n<!-- axolotl: finish_reason=${reply.finishReason}; ${failure ? `${failure.kind} failure:\n${failure.message}` : 'valid repair'} -->\n`, secrets),
    );

    if (!failure && repair) {
      made.push(record);
      onProgress?.({ type: 'proposed', repair });
      log('info', `repair ${ctx.repairNumber} attempt ${attempt}: valid repair of ${repair.files.map((f) => f.relPath).join(', ')}`);
      return { ok: true, repair, attempts: made };
    }
    record.failure = failure;
    made.push(record);
    history.push(record);
    onProgress?.({ type: 'attempt-failed', attempt, failure: failure! });
    log('warn', `repair ${ctx.repairNumber} attempt ${attempt} failed (${failure!.kind}): ${failure!.message.split('\n')[0]}`);
  }
  const last = made[made.length - 1]?.failure;
  return {
    ok: false,
    reason: `The model did not produce a usable repair in ${made.length} attempt${made.length === 1 ? '' : 's'}. Last problem: ${last?.message ?? 'unknown'}`,
    attempts: made,
  };
}
