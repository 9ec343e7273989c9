// Turns a model's free-form reply into edit instructions, without touching any file:
//   • complete files in fenced blocks (path from the fence info string, a label line before it,
//     or a "# path.py" first line),
//   • unified diffs (fenced or bare, one or several files),
//   • SEARCH/REPLACE blocks (aider style).
// Which file each edit targets and whether it applies is decided later (edits.ts), because that
// needs the files. Prose outside code becomes the explanation.

/** One edit instruction found in the reply. */
export type ReplyEdit =
  | {
      kind: 'full-file';
      /** path as the model wrote it, if it labelled the block */
      path?: string;
      content: string;
      lang: string;
      /** false when the reply ended inside the block (cut off) */
      closed: boolean;
      /** 1-based index among the reply's code blocks, for messages */
      block: number;
    }
  | { kind: 'diff'; text: string; /** path from a fence label, for hunks without ---/+++ headers */ path?: string }
  | { kind: 'search-replace'; path?: string; search: string; replace: string; /** 1-based */ block: number };

export interface ParsedReply {
  explanation: string;
  edits: ReplyEdit[];
}

/** The reply cannot be turned into a repair; the message is written to be fed back to the model. */
export class ReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyError';
  }
}

export const NO_USABLE_REPAIR = "the model's reply contained no usable repair";

/** Replies beyond this are not a fix for a crash; refuse before doing quadratic work on them. */
const MAX_REPLY_CHARS = 4_000_000;

const CODE_LANGS = new Set(['python', 'py', 'python3', 'py3', 'python2', '']);
/** Fences that show things rather than carry code for a file. */
const NON_CODE_LANGS = new Set(['text', 'txt', 'console', 'bash', 'sh', 'shell', 'zsh', 'output', 'pycon', 'traceback', 'log', 'plaintext', 'pytb']);
const DIFF_LANGS = new Set(['diff', 'patch', 'udiff']);

const SEARCH_RE = /^\s*<{5,9}\s*SEARCH\b.*$/;
const DIVIDER_RE = /^\s*={5,9}\s*$/;
const REPLACE_RE = /^\s*>{5,9}\s*REPLACE\b.*$/;
const FENCE_OPEN_RE = /^(\s*)(`{3,}|~{3,})(.*)$/;

/** A path such as `x.py`, `src/pkg/x.py`, `a\b.py`, `/abs/x.py` (needs an extension; not a version number). */
const PATH_TOKEN = /^(?:\.{0,2}[\\/])?(?:[\w.@+-]+[\\/])*[\w.@+-]*[A-Za-z_][\w.@+-]*\.[A-Za-z][A-Za-z0-9]{0,7}$/;

export function looksLikePath(token: string): boolean {
  return PATH_TOKEN.test(token) && !/^\d+(\.\d+)+$/.test(token);
}

/**
 * The file named by a label line before a code block: `x.py:`, `**x.py**`, `File: x.py`,
 * `### src/x.py`, `` `x.py` ``, "Here is the fixed `src/x.py`:". Undefined for ordinary prose.
 */
export function pathFromLabelLine(line: string): string | undefined {
  let s = line.trim();
  if (!s || s.length > 300) return undefined;
  s = s.replace(/^#{1,6}\s*/, '').replace(/^[-*+]\s+/, '').replace(/^\d+\.\s+/, '');
  const bare = s
    // markdown emphasis and quotes; underscores only around the name (data_loader.py keeps its own)
    .replace(/[*`"']/g, '')
    .replace(/(^|\s)_+|_+(?=\s|:|$)/g, '$1')
    .replace(/:\s*$/, '')
    // "File: x.py", "filename = x.py", "Updated file x.py"; not the start of a name (filejob.py, paths.py)
    .replace(/^(?:(?:updated|fixed|corrected|modified|changed|new|complete|full)\s+)?(?:file(?:name)?|path)(?:\s*[:=]\s*|\s+)/i, '')
    .replace(/\s*\((?:fixed|updated|modified|complete|full file|corrected)[^)]*\)\s*$/i, '')
    .replace(/:\s*$/, '')
    .trim();
  if (looksLikePath(bare)) return bare;
  // prose ending in ':' with exactly one backticked path: "Here is the corrected `x.py`:"
  if (/:\s*\**\s*$/.test(s)) {
    const ticked = [...s.matchAll(/`([^`\s]+)`/g)].map((m) => m[1]).filter(looksLikePath);
    if (ticked.length === 1) return ticked[0];
  }
  return undefined;
}

/** `python path/to/x.py`, `python:x.py`, `py title="x.py"`, `x.py`, `diff` → language and path. */
function parseInfoString(info: string): { lang: string; path?: string } {
  const s = info.trim();
  if (!s) return { lang: '' };
  const attr = /\b(?:title|file(?:name)?|path)\s*=\s*["']?([^"'\s]+)["']?/i.exec(s);
  const tokens = s.split(/[\s:,{}]+/).filter(Boolean);
  let lang = tokens[0] ?? '';
  let p = attr?.[1];
  if (looksLikePath(lang) && !/^[A-Za-z]+$/.test(lang)) {
    // the info string is just a path
    p = p ?? lang;
    const ext = /\.([A-Za-z0-9]+)$/.exec(lang)?.[1]?.toLowerCase();
    lang = ext === 'py' ? 'python' : (ext ?? '');
  } else if (!p) {
    p = tokens.slice(1).find((t) => looksLikePath(t.replace(/^["']|["']$/g, '')))?.replace(/^["']|["']$/g, '');
  }
  return { lang: lang.toLowerCase(), path: p };
}

interface Fence {
  /** line index of the opener */
  open: number;
  /** line index of the closer, or lines.length if unclosed */
  close: number;
  lang: string;
  infoPath?: string;
  content: string[];
  closed: boolean;
}

function findFences(lines: string[]): Fence[] {
  const fences: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE_OPEN_RE.exec(lines[i]);
    if (!m) continue;
    const [, indent, marker, info] = m;
    if (marker[0] === '`' && info.includes('`')) continue; // inline code, not a fence
    const closeRe = new RegExp(`^\\s*${marker[0] === '`' ? '`' : '~'}{${marker.length},}\\s*$`);
    let j = i + 1;
    while (j < lines.length && !closeRe.test(lines[j])) j++;
    let content = lines.slice(i + 1, j);
    // fences indented inside a list item: remove that indentation from the code
    if (indent && content.every((l) => !l.trim() || l.startsWith(indent))) content = content.map((l) => l.slice(indent.length));
    const { lang, path } = parseInfoString(info);
    fences.push({ open: i, close: j, lang, infoPath: path, content, closed: j < lines.length });
    i = j;
  }
  return fences;
}

/** Label of a fence: info string, else a label line just before it (blank lines allowed between). */
function labelBefore(lines: string[], at: number, consumed: Set<number>): { path?: string; line?: number } {
  for (let k = at - 1; k >= 0 && k >= at - 3; k--) {
    if (consumed.has(k)) return {};
    if (!lines[k].trim()) continue;
    const p = pathFromLabelLine(lines[k]);
    return p ? { path: p, line: k } : {};
  }
  return {};
}

function looksLikeDiff(content: string[]): boolean {
  const first = content.find((l) => l.trim());
  if (first && /^(diff --git |--- \S|\+\+\+ \S|@@ )/.test(first)) return true;
  const hunks = content.some((l) => /^@@ .*@@/.test(l) || /^@@\s*$/.test(l));
  const changes = content.some((l) => /^[+-](?![+-]{2} )/.test(l));
  return hunks && changes;
}

const DIFF_LINE = /^([ +\-\\]|@@|diff |index |new file mode|deleted file mode|similarity index|rename (from|to) |old mode|new mode|Binary files)/;

function stripThinking(text: string): string {
  // reasoning models served through chat endpoints (deepseek-r1, qwen3) put their thoughts in the content
  let out = text.replace(/<think(?:ing)?>[\s\S]*?<\/think(?:ing)?>/gi, '');
  const open = /<think(?:ing)?>/i.exec(out);
  if (open && open.index < 20) out = ''; // the reply is nothing but unfinished thoughts
  return out;
}

function isGarbage(text: string): boolean {
  if (text.includes('\u0000')) return true;
  const sample = text.slice(0, 20000);
  let bad = 0;
  for (const ch of sample) {
    const c = ch.codePointAt(0)!;
    if (c === 0xfffd || (c < 32 && c !== 9 && c !== 10 && c !== 13)) bad++;
  }
  return sample.length > 0 && bad / sample.length > 0.02;
}

function noUsable(detail: string): ReplyError {
  return new ReplyError(`${NO_USABLE_REPAIR}: ${detail}`);
}

/** Extract edit instructions and the explanation. Throws ReplyError when there is nothing usable. */
export function parseReply(reply: string): ParsedReply {
  if (reply.length > MAX_REPLY_CHARS) throw noUsable(`it is ${reply.length} characters long, far more than a fix needs`);
  if (isGarbage(reply)) throw noUsable('it contains binary data');
  const text = stripThinking(reply.replace(/\r\n?/g, '\n'));
  if (!text.trim()) throw noUsable('the reply was empty');
  const lines = text.split('\n');
  const consumed = new Set<number>();
  const consume = (from: number, to: number) => {
    for (let k = from; k <= to; k++) consumed.add(k);
  };
  const fences = findFences(lines);
  const fenceAt = (line: number) => fences.find((f) => line > f.open && line < f.close);
  const edits: ReplyEdit[] = [];

  // SEARCH/REPLACE blocks, inside fences or not
  let lastSrPath: string | undefined;
  let srCount = 0;
  const srFences = new Set<Fence>();
  for (let i = 0; i < lines.length; i++) {
    if (!SEARCH_RE.test(lines[i])) continue;
    srCount++;
    const fence = fenceAt(i);
    let div = i + 1;
    while (div < lines.length && !DIVIDER_RE.test(lines[div]) && !SEARCH_RE.test(lines[div])) div++;
    let end = div + 1;
    while (end < lines.length && !REPLACE_RE.test(lines[end]) && !SEARCH_RE.test(lines[end])) end++;
    if (div >= lines.length || end >= lines.length || SEARCH_RE.test(lines[div]) || SEARCH_RE.test(lines[end])) {
      throw new ReplyError(`SEARCH/REPLACE block ${srCount} is malformed: it needs a "=======" line and a ">>>>>>> REPLACE" line after "<<<<<<< SEARCH".`);
    }
    // the file: a label line just above, the fence's label, or the previous block's file
    let p: string | undefined;
    for (let k = i - 1; k >= 0 && k >= i - 3; k--) {
      if (fence && k === fence.open) {
        if (fence.infoPath) p = fence.infoPath;
        else {
          const lb = labelBefore(lines, fence.open, consumed);
          p = lb.path;
          if (lb.line !== undefined) consumed.add(lb.line);
        }
        break;
      }
      if (consumed.has(k) || REPLACE_RE.test(lines[k])) break;
      if (!lines[k].trim()) continue;
      if (FENCE_OPEN_RE.test(lines[k])) continue;
      const lp = pathFromLabelLine(lines[k]);
      if (lp) {
        p = lp;
        consumed.add(k);
      }
      break;
    }
    p = p ?? lastSrPath;
    lastSrPath = p;
    edits.push({
      kind: 'search-replace',
      path: p,
      search: lines.slice(i + 1, div).join('\n'),
      replace: lines.slice(div + 1, end).join('\n'),
      block: srCount,
    });
    consume(i, end);
    if (fence) srFences.add(fence);
    i = end;
  }
  for (const f of srFences) consume(f.open, f.close);

  // fenced diffs and complete files
  let blockNo = 0;
  for (const f of fences) {
    blockNo++;
    if (srFences.has(f)) continue;
    const label = f.infoPath ? { path: f.infoPath } : labelBefore(lines, f.open, consumed);
    if (DIFF_LANGS.has(f.lang) || ((CODE_LANGS.has(f.lang) || NON_CODE_LANGS.has(f.lang)) && looksLikeDiff(f.content))) {
      edits.push({ kind: 'diff', text: f.content.join('\n'), path: label.path });
      consume(f.open, f.close);
      if (label.line !== undefined) consumed.add(label.line);
      continue;
    }
    const isCode = CODE_LANGS.has(f.lang) || (label.path !== undefined && !NON_CODE_LANGS.has(f.lang) && !DIFF_LANGS.has(f.lang));
    consume(f.open, f.close);
    if (!isCode) continue;
    let content = f.content;
    let p = label.path;
    if (!p) {
      // "# src/x.py" or "# File: x.py" as the first line of the block
      const m = /^#\s*(?:file(?:name)?\s*:\s*)?(\S+)\s*$/i.exec(content[0] ?? '');
      if (m && looksLikePath(m[1])) p = m[1];
    } else if (label.line !== undefined) {
      consumed.add(label.line);
    }
    if (content.length && !content[content.length - 1].trim()) content = content.slice(0, -1);
    edits.push({ kind: 'full-file', path: p, content: content.join('\n') + '\n', lang: f.lang, closed: f.closed, block: blockNo });
  }

  // bare diffs in the prose
  for (let i = 0; i < lines.length; i++) {
    if (consumed.has(i)) continue;
    const l = lines[i];
    const starts =
      /^diff --git /.test(l) ||
      (/^--- \S/.test(l) && /^\+\+\+ \S/.test(lines[i + 1] ?? '')) ||
      (/^@@ -\d+(,\d+)? \+\d+(,\d+)? @@/.test(l) && /^[ +-]/.test(lines[i + 1] ?? ''));
    if (!starts) continue;
    let j = i;
    while (j < lines.length && !consumed.has(j) && (DIFF_LINE.test(lines[j]) || (lines[j] === '' && DIFF_LINE.test(lines[j + 1] ?? '')))) j++;
    edits.push({ kind: 'diff', text: lines.slice(i, j).join('\n') });
    consume(i, j - 1);
    i = j - 1;
  }

  if (!edits.length) {
    const prose = text.trim();
    // models write apostrophes straight or typographic (I’m, can’t)
    const refusal = /\b(I(['’]m| am) (sorry|unable|not able)|I can(no|['’])t (help|assist|do)|as an AI)\b/i.test(prose);
    if (refusal) throw noUsable(`the model declined ("${prose.split('\n')[0].slice(0, 160)}")`);
    throw noUsable('it has no code block with the complete fixed file, no unified diff and no SEARCH/REPLACE block');
  }

  const explanation = lines
    .filter((_, k) => !consumed.has(k))
    .join('\n')
    .replace(/^\s*(?:#+\s*)?\**(?:explanation|summary|fix|cause)\**\s*:?\**\s*$/gim, '')
    .replace(/^\s*\**(?:explanation|summary)\**\s*:\s*/im, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
    .slice(0, 4000);
  return { explanation, edits };
}
