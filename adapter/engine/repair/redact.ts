// Keeps secrets out of logs, error messages and prompts. Two layers: the exact secrets we know
// (the API key) and shapes that look like credentials (sk-…, Bearer …, password='…').

const MASK = '[REDACTED]';

/** Well-known credential shapes: OpenAI/Anthropic-style keys, GitHub and Slack tokens, AWS key ids, bearer tokens. */
const SECRET_VALUE_PATTERNS: RegExp[] = [
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  /\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}/g,
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\bAIza[0-9A-Za-z_-]{35}\b/g,
  /(\bBearer\s+)[A-Za-z0-9._~+/=-]{12,}/gi,
];

/**
 * The one rule for secret-looking names on the TypeScript side (the agent applies the same to the
 * values it reports; both are tested against test/fixtures/redaction/secret-names.json):
 *
 * - a name is split into words: at every character that is not an ASCII letter (digits, `_`, `-`,
 *   `.`), between a lower-case and an upper-case letter (`apiKey`), and before the last capital of
 *   a run of capitals followed by lower case (`APIToken`: API, Token); words compare lower-cased;
 * - it is secret when one word is in SECRET_WORDS (whole words: `author`, `tokenizer` are not), or
 *   when its last word is `key` after at least one other (`api_key`, `secret_key`, `apiKey`).
 *
 * `key` alone is deliberately not secret: `for key in d` is the most common variable in a KeyError,
 * and hiding it would hide the bug; `keys` and `monkey` are other words.
 */
export const SECRET_WORDS: ReadonlySet<string> = new Set([
  'token', 'tokens', 'password', 'passwords', 'passwd', 'pwd', 'secret', 'secrets', 'credential', 'credentials',
  'apikey', 'auth', 'authorization', 'cookie', 'session', 'private', 'passphrase', 'signature',
]);

/** Split `apiKey`, `API_KEY`, `db-password2`, `APIToken` into lower-case words. */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .split(/[^A-Za-z]+/)
    .filter(Boolean)
    .map((s) => s.toLowerCase());
}

/** True for names such as `password`, `api_key`, `AWS_SECRET_ACCESS_KEY`, `auth_token`, `apiKey`. */
export function isSecretName(name: string): boolean {
  const words = nameWords(name);
  if (words.some((w) => SECRET_WORDS.has(w))) return true;
  // "<something>_key" (api_key, access_key, private_key, openai_key); not "key", "keys", "key_count"
  const keyIdx = words.lastIndexOf('key');
  return keyIdx > 0 && keyIdx === words.length - 1;
}

/**
 * Mask known secrets and credential-shaped values in free text. Used on everything that reaches a
 * log file or an error message.
 */
export function redact(text: string, secrets: ReadonlyArray<string | undefined> = []): string {
  let out = text;
  for (const s of secrets) {
    // very short "secrets" (dummy keys) would mask ordinary words
    if (s && s.length >= 8) out = out.split(s).join(MASK);
  }
  for (const re of SECRET_VALUE_PATTERNS) {
    out = out.replace(re, (_m: string, prefix?: string) => (typeof prefix === 'string' && /^Bearer/i.test(prefix) ? prefix + MASK : MASK));
  }
  return out;
}

/**
 * Mask values assigned to secret-looking names inside repr()/source-like text:
 * `{'password': 'hunter2'}`, `api_key="sk…"`, `TOKEN = abc`. Used on locals and output in prompts.
 */
export function redactSecretAssignments(text: string): string {
  // quoted values: 'name': 'value' / name="value" / name = 'value'
  const quoted = /(['"]?)([A-Za-z_][\w.-]*)\1(\s*[:=]\s*)(b?)(['"])((?:\\.|(?!\5).)*)\5/g;
  let out = text.replace(quoted, (m, q: string, name: string, sep: string, bprefix: string, vq: string) =>
    isSecretName(name) ? `${q}${name}${q}${sep}${bprefix}${vq}${MASK}${vq}` : m,
  );
  // unquoted env-style lines: NAME=value
  out = out.replace(/^(\s*(?:export\s+)?)([A-Za-z_][\w]*)(\s*=\s*)([^\s'"][^\s]*)\s*$/gm, (m, lead: string, name: string, sep: string) =>
    isSecretName(name) ? `${lead}${name}${sep}${MASK}` : m,
  );
  return redact(out);
}

export const REDACTED = MASK;
