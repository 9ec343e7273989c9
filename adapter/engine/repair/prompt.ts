// Builds the chat messages for a crash: exception, traceback, the user's source on the stack,
// locals (re-redacted), recent output and what earlier attempts did and how they failed.
// Everything is fitted into a token budget (≈ chars / 4) by shortening the largest part first;
// the prompt says what was shortened so the model does not assume it saw everything.
// Source code is sent as is (not redacted): a model that copies back a masked literal would
// write the mask into the user's file.
import path from 'node:path';
import type { AgentFrame, AgentValue, CrashReport } from '../agentProtocol';
import { isSecretName, redact, redactSecretAssignments, REDACTED } from './redact';
import type { ChatMessage, RepairAttempt } from './types';

export interface PromptInput {
  crash: CrashReport;
  /** the project folder (AXOLOTL_ROOT); paths are shown relative to it */
  root: string;
  /** current text of the files to show, by absolute path (files on the stack, files earlier attempts touched) */
  sources: Map<string, string>;
  previousAttempts?: RepairAttempt[];
  tokenBudget: number;
  /** exact strings to mask wherever text other than source code is shown (the API key) */
  secrets?: string[];
}

/** A file as the prompt presented it (the reply is interpreted against these). */
export interface PromptFile {
  path: string;
  relPath: string;
  text: string;
  /** shown complete, so a complete-file reply for it is acceptable */
  shownWhole: boolean;
}

export interface BuiltPrompt {
  messages: ChatMessage[];
  files: PromptFile[];
  estimatedTokens: number;
  /** what was shortened to fit the budget, in words ("locals", "source of x.py (excerpts only)") */
  trimmed: string[];
}

/** The estimate used everywhere: about four characters per token for code and English. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Files are shown whole up to this size; beyond, the functions on the stack with context. */
const WHOLE_FILE_MAX_LINES = 400;
const WHOLE_FILE_MAX_CHARS = 24_000;

export const SYSTEM_PROMPT = `You repair Python programs that crashed. The program ran under Axolotl, which checkpoints it while it runs. After your fix is written to disk, Axolotl restores the process from its last checkpoint and continues it with the new code: the work already done is kept and will not be done again.

Rules for the fix:
- Fix the cause of the crash with the smallest change that works. Keep the code's existing behaviour, names, structure, output and style; do not refactor or tidy unrelated code.
- Do not add code that restarts, re-runs or skips completed work, and do not reset the program's state: it resumes mid-run.
- Do not merely silence the exception. If skipping bad input is truly the right behaviour, skip it visibly (e.g. print a warning).
- Change only the files shown to you, naming them exactly as shown (paths relative to the project folder).

Reply with ONE paragraph that explains the cause and the fix, then the change in ONE of these formats:

1. SEARCH/REPLACE blocks (preferred). For each change, the file path on its own line, then:
<<<<<<< SEARCH
exact lines copied from the current file, enough of them to match one place only
=======
the lines that replace them
>>>>>>> REPLACE

2. A unified diff in a \`\`\`diff block, with --- a/path and +++ b/path headers and @@ hunks.

3. The complete fixed file in a code block labelled with its path, e.g. \`\`\`python path/to/file.py — only for files shown complete, and with every line written out: never placeholders such as "# ... rest unchanged".

Line numbers shown as "  12 | " in excerpts are not part of the files; never copy them into your answer.`;

function fence(text: string, lang = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return `${f}${lang}\n${text.replace(/\n$/, '')}\n${f}`;
}

function relOf(root: string, file: string): string {
  const rel = path.relative(root, file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel.split(path.sep).join('/');
}

/** Keep the first `head` and last `tail` lines, saying how many were left out. */
function middleCut(text: string, head: number, tail: number): string {
  const lines = text.split('\n');
  if (lines.length <= head + tail + 1) return text;
  return [...lines.slice(0, head), `[… ${lines.length - head - tail} lines left out …]`, ...lines.slice(lines.length - tail)].join('\n');
}

function cap(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max) + `\n[… ${text.length - max} more characters left out …]`;
}

function tailChars(text: string, max: number): string {
  return text.length <= max ? text : '[…]' + text.slice(text.length - max);
}

// ---------------------------------------------------------------- source excerpts

interface StackLine {
  line: number;
  fn: string;
  qualname: string;
}

function indentOf(s: string): number {
  return /^[ \t]*/.exec(s)![0].replace(/\t/g, '        ').length;
}

/** Lines [start, end] (1-based) of the def/class enclosing `line`, by indentation. Undefined for module level. */
export function enclosingFunction(lines: string[], line: number, fn: string): [number, number] | undefined {
  if (fn === '<module>' || line < 1 || line > lines.length) return undefined;
  let crashIndent = indentOf(lines[line - 1]);
  if (!lines[line - 1].trim()) crashIndent = Infinity;
  let start = -1;
  let fallback = -1;
  for (let k = line - 1, n = 0; k >= 0 && n < 600; k--, n++) {
    const m = /^([ \t]*)(?:async\s+def|def|class)\s+(\w+)/.exec(lines[k]);
    if (!m) continue;
    const ind = indentOf(lines[k]);
    if (k !== line - 1 && ind >= crashIndent) continue;
    if (m[2] === fn) {
      start = k;
      break;
    }
    if (fallback < 0) fallback = k;
    crashIndent = Math.min(crashIndent, ind);
  }
  if (start < 0) start = fallback;
  if (start < 0) return undefined;
  const defIndent = indentOf(lines[start]);
  let s = start;
  while (s > 0 && /^\s*@/.test(lines[s - 1]) && indentOf(lines[s - 1]) === defIndent) s--;
  // skip a signature spread over several lines
  let bodyFrom = start;
  for (let k = start; k < lines.length && k < start + 25; k++) {
    if (/:\s*(#.*)?$/.test(lines[k])) {
      bodyFrom = k + 1;
      break;
    }
  }
  let end = bodyFrom;
  for (let k = bodyFrom; k < lines.length; k++) {
    if (!lines[k].trim()) continue;
    if (indentOf(lines[k]) <= defIndent) break;
    end = k + 1;
  }
  return [s + 1, Math.max(end, line)];
}

/** Numbered excerpts of the stack's functions with `context` lines around; `>` marks stack lines. */
function renderExcerpts(text: string, stack: StackLine[], context: number, fnCap: number, withHeader: boolean): string {
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const ranges: Array<[number, number]> = [];
  for (const s of stack) {
    const fnRange = enclosingFunction(lines, s.line, s.fn);
    if (fnRange && fnRange[1] - fnRange[0] + 1 <= fnCap) ranges.push([fnRange[0] - context, fnRange[1] + context]);
    else {
      if (fnRange) ranges.push([fnRange[0], fnRange[0]]);
      const half = Math.max(3, Math.floor(fnCap / 2));
      ranges.push([s.line - Math.max(context, half), s.line + Math.max(context, Math.floor(half / 2))]);
    }
  }
  if (withHeader) {
    const firstDef = lines.findIndex((l) => /^(?:async\s+def|def|class)\s/.test(l) || /^@/.test(l));
    const headerEnd = Math.min(20, firstDef < 0 ? 20 : firstDef);
    if (headerEnd > 0) ranges.push([1, headerEnd]);
  }
  const clamped = ranges.map(([a, b]) => [Math.max(1, a), Math.min(lines.length, b)] as [number, number]).sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const r of clamped) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 2) last[1] = Math.max(last[1], r[1]);
    else merged.push([...r]);
  }
  const marks = new Set(stack.map((s) => s.line));
  const width = String(lines.length).length;
  const out: string[] = [];
  merged.forEach(([a, b], idx) => {
    if (idx > 0 || a > 1) out.push(' '.repeat(width + 1) + '⋮');
    for (let n = a; n <= b; n++) out.push(`${marks.has(n) ? '>' : ' '}${String(n).padStart(width)} | ${lines[n - 1]}`);
  });
  if (merged.length && merged[merged.length - 1][1] < lines.length) out.push(' '.repeat(width + 1) + '⋮');
  return out.join('\n');
}

// ---------------------------------------------------------------- locals

type Mask = (text: string) => string;

function renderValue(name: string, v: AgentValue, maxRepr: number, mask: Mask): string {
  const secret = v.redacted || isSecretName(name);
  const repr = secret ? REDACTED : cap(mask(redactSecretAssignments(v.repr)), maxRepr).replace(/\n/g, '\\n');
  return `- \`${name}\`: ${v.type} = ${repr}`;
}

function renderLocals(frames: AgentFrame[], root: string, maxFrames: number, maxVars: number, maxRepr: number, mask: Mask): string {
  const parts: string[] = [];
  for (const f of frames.slice(0, maxFrames)) {
    const names = Object.keys(f.locals ?? {});
    if (!names.length) continue;
    const shown = names.slice(0, maxVars).map((n) => renderValue(n, f.locals![n], maxRepr, mask));
    if (names.length > maxVars) shown.push(`- … ${names.length - maxVars} more`);
    parts.push(`### \`${f.qualname}\` (${relOf(root, f.file)}, line ${f.line})\n${shown.join('\n')}`);
  }
  return parts.join('\n\n');
}

// ---------------------------------------------------------------- previous attempts

function describeFailure(a: RepairAttempt, maxChars: number, mask: Mask): string {
  const f = a.failure;
  if (!f) return 'Result: not known.';
  const body = cap(mask(f.message), maxChars);
  switch (f.kind) {
    case 'parse':
      return `Result: Axolotl could not use the reply: ${body}`;
    case 'validation':
      return `Result: the change was refused before it was applied:\n${fence(body, 'text')}`;
    case 'crash':
      return `Result: it was applied${a.applied ? ' (the current source above already contains it)' : ''}, and the program crashed again:\n${fence(body, 'text')}`;
    case 'rejected':
      return `Result: the user rejected it: ${body}`;
  }
}

function renderAttempt(a: RepairAttempt, maxDiff: number, maxFailure: number, mask: Mask): string {
  const head = `### Attempt ${a.attempt}`;
  let change: string;
  if (a.repair) {
    const diff = a.repair.files.map((f) => f.diff).join('');
    change = `It changed:\n${fence(cap(diff, maxDiff), 'diff')}`;
  } else if (a.reply) {
    change = `Its reply began:\n${fence(cap(mask(a.reply), Math.min(maxDiff, 1500)), 'text')}`;
  } else change = 'Its change is not available.';
  return `${head}\n${change}\n${describeFailure(a, maxFailure, mask)}`;
}

function renderAttemptSummary(a: RepairAttempt, mask: Mask): string {
  const files = a.repair ? a.repair.files.map((f) => f.relPath).join(', ') : 'no usable change';
  const why = a.failure ? `${a.failure.kind}: ${mask(a.failure.message).split('\n').find((l) => l.trim())?.slice(0, 200) ?? ''}` : '';
  return `- Attempt ${a.attempt} (${files}) failed — ${why}`;
}

// ---------------------------------------------------------------- budget

/** A prompt section with renderings from fullest to shortest, and what each shortening means. */
interface Part {
  key: string;
  levels: string[];
  notes: string[];
  level: number;
}

function part(key: string, levels: string[], notes: string[]): Part {
  // drop shortenings that do not shorten
  const l: string[] = [];
  const n: string[] = [];
  levels.forEach((text, i) => {
    if (i === 0 || text.length < l[l.length - 1].length) {
      l.push(text);
      n.push(notes[i] ?? '');
    }
  });
  return { key, levels: l, notes: n, level: 0 };
}

export function buildPrompt(input: PromptInput): BuiltPrompt {
  const { crash, root, sources, tokenBudget } = input;
  const previous = input.previousAttempts ?? [];
  const mask: Mask = (text) => redact(text, input.secrets ?? []);
  const userFrames = crash.frames.filter((f) => f.user);
  const innermostFirst = [...userFrames].reverse();

  // files: the crash site first, then the rest of the stack, then files earlier attempts touched
  const order: string[] = [];
  for (const f of innermostFirst) if (!order.includes(f.file) && sources.has(f.file)) order.push(f.file);
  for (const a of previous) for (const f of a.repair?.files ?? []) if (!order.includes(f.path) && sources.has(f.path)) order.push(f.path);

  const parts: Part[] = [];
  const fileParts = new Map<string, Part>();
  const wholeAllowed = new Map<string, boolean>();
  order.forEach((file, idx) => {
    const text = sources.get(file)!;
    const rel = relOf(root, file);
    const stack: StackLine[] = userFrames.filter((f) => f.file === file).map((f) => ({ line: f.line, fn: f.function, qualname: f.qualname }));
    const lineCount = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    const stackNote = stack.length
      ? `The stack passes through ${stack.map((s) => `line ${s.line} in \`${s.qualname}\``).join(', ')}.`
      : 'Not on the stack; an earlier attempt changed it.';
    const excerptHead = `### ${rel} (excerpts; "  12 | " prefixes are line numbers, ">" marks the stack's lines)\n${stackNote}\n`;
    const whole = text.length <= WHOLE_FILE_MAX_CHARS && lineCount <= WHOLE_FILE_MAX_LINES;
    wholeAllowed.set(file, whole);
    const levels: string[] = [];
    const notes: string[] = [];
    if (whole) {
      levels.push(`### ${rel} (complete file, ${lineCount} lines)\n${stackNote}\n${fence(text, 'python')}`);
      notes.push('');
    }
    const excerptStack = stack.length ? stack : [{ line: 1, fn: '<module>', qualname: '<module>' }];
    for (const [ctx, fnCap, header, note] of [
      [15, 160, true, 'excerpts only'],
      [5, 80, true, 'excerpts only, less context'],
      [1, 40, false, 'only the crashing functions'],
      [0, 8, false, 'only the lines on the stack'],
    ] as Array<[number, number, boolean, string]>) {
      levels.push(excerptHead + fence(renderExcerpts(text, excerptStack, ctx, fnCap, header), 'python'));
      notes.push(`source of ${rel} (${note})`);
    }
    if (idx > 0) {
      levels.push(`### ${rel}\n(left out to fit the budget)`);
      notes.push(`source of ${rel} (left out)`);
    }
    const p = part(`file:${file}`, levels, notes);
    fileParts.set(file, p);
    parts.push(p);
  });

  const tb = mask(crash.traceback.trimEnd());
  const tbPart = part(
    'traceback',
    [fence(tb, 'text'), fence(middleCut(tb, 12, 30), 'text'), fence(middleCut(tb, 4, 12), 'text')],
    ['', 'traceback (middle left out)', 'traceback (only its start and end)'],
  );
  parts.push(tbPart);

  const localsFull = renderLocals(innermostFirst, root, 3, 40, 300, mask);
  let localsPart: Part | undefined;
  if (localsFull) {
    localsPart = part(
      'locals',
      [localsFull, renderLocals(innermostFirst, root, 1, 25, 120, mask), renderLocals(innermostFirst, root, 1, 10, 60, mask), ''],
      ['', 'local variables (only the crashing frame)', 'local variables (only a few)', 'local variables (left out)'],
    );
    parts.push(localsPart);
  }

  let outputPart: Part | undefined;
  if (crash.outputTail?.trim()) {
    const out = mask(redactSecretAssignments(crash.outputTail.trimEnd()));
    outputPart = part(
      'output',
      [fence(tailChars(out, 4000), 'text'), fence(tailChars(out, 1000), 'text'), ''],
      ['', 'program output (shorter)', 'program output (left out)'],
    );
    parts.push(outputPart);
  }

  let attemptsPart: Part | undefined;
  if (previous.length) {
    const last = previous[previous.length - 1];
    const earlier = previous.slice(0, -1);
    attemptsPart = part(
      'attempts',
      [
        previous.map((a) => renderAttempt(a, 6000, 4000, mask)).join('\n\n'),
        [...earlier.map((a) => renderAttemptSummary(a, mask)), renderAttempt(last, 4000, 3000, mask)].join('\n\n'),
        [...earlier.map((a) => renderAttemptSummary(a, mask)), renderAttempt(last, 1500, 1500, mask)].join('\n\n'),
      ],
      ['', 'earlier attempts (summarised)', 'earlier attempts (summarised, last one shortened)'],
    );
    parts.push(attemptsPart);
  }

  const exceptionLine = mask(`\`${crash.exception.type}: ${crash.exception.message}\` (${crash.exception.qualifiedType})`);

  const render = (): string => {
    const trimmedNotes = parts.filter((p) => p.level > 0).map((p) => p.notes[p.level]);
    const s: string[] = [];
    s.push('The program crashed with an uncaught exception. Find the cause and fix it.');
    if (trimmedNotes.length) {
      s.push(`Note: to fit the prompt size limit, parts of this report were shortened: ${trimmedNotes.join('; ')}. Work with what is shown.`);
    }
    s.push(`## Exception\n${exceptionLine}`);
    s.push(`## Traceback\n${tbPart.levels[tbPart.level]}`);
    s.push(`## Source\nPaths are relative to the project folder.\n\n${order.map((f) => fileParts.get(f)!.levels[fileParts.get(f)!.level]).join('\n\n')}`);
    if (localsPart && localsPart.levels[localsPart.level]) s.push(`## Local variables at the crash (innermost first)\n${localsPart.levels[localsPart.level]}`);
    if (outputPart && outputPart.levels[outputPart.level]) s.push(`## The program's last output\n${outputPart.levels[outputPart.level]}`);
    if (attemptsPart) s.push(`## Earlier attempts that did not work\nDo not repeat them.\n\n${attemptsPart.levels[attemptsPart.level]}`);
    s.push(
      '## Your answer\nOne paragraph explaining the cause and the fix, then the change as SEARCH/REPLACE blocks, a unified diff, or complete files' +
        (order.some((f) => !(wholeAllowed.get(f) && fileParts.get(f)!.level === 0)) ? ' (complete files only for files shown complete above)' : '') +
        '.',
    );
    return s.join('\n\n');
  };

  // shorten the largest part until the whole fits
  const budgetChars = tokenBudget * 4;
  let user = render();
  while (SYSTEM_PROMPT.length + user.length > budgetChars) {
    const candidates = parts.filter((p) => p.level < p.levels.length - 1);
    if (!candidates.length) break;
    candidates.sort((a, b) => b.levels[b.level].length - a.levels[a.level].length);
    candidates[0].level++;
    user = render();
  }

  const files: PromptFile[] = order.map((f) => ({
    path: f,
    relPath: relOf(root, f),
    text: sources.get(f)!,
    shownWhole: !!wholeAllowed.get(f) && fileParts.get(f)!.level === 0,
  }));
  return {
    messages: [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: user },
    ],
    files,
    estimatedTokens: estimateTokens(SYSTEM_PROMPT + user),
    trimmed: parts.filter((p) => p.level > 0).map((p) => p.notes[p.level]),
  };
}
