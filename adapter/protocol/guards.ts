// Run-time checks of values that crossed a boundary (a DAP message, a webview message, a launch
// configuration): JSON from a peer that is not trusted. No DOM, Node or vscode: the adapter, the
// extension and the browser bundle all use them.

export type Obj = Record<string, unknown>;

/** A plain object: not null, not an array. */
export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string of at most `max` characters. */
export function isStr(v: unknown, max = Number.POSITIVE_INFINITY): v is string {
  return typeof v === 'string' && v.length <= max;
}

export function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

export function isNonNeg(v: unknown): v is number {
  return isNum(v) && v >= 0;
}

/** A whole number (safe in JSON) of at least `min`. */
export function isInt(v: unknown, min = 0): v is number {
  return Number.isSafeInteger(v) && (v as number) >= min;
}

export function isOneOf<T extends string>(v: unknown, values: readonly T[]): v is T {
  return typeof v === 'string' && (values as readonly string[]).includes(v);
}

/** `undefined` or passes `check` (JSON has no undefined, so absent keys land here). */
export function opt(v: unknown, check: (x: unknown) => boolean): boolean {
  return v === undefined || check(v);
}

/** An array of at most `max` items, each passing `check`. */
export function isArrayOf<T>(v: unknown, check: (x: unknown) => x is T, max = Number.POSITIVE_INFINITY): v is T[] {
  return Array.isArray(v) && v.length <= max && v.every((x) => check(x));
}
