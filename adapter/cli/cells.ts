// How much room text takes on a terminal, as far as we can tell without asking the terminal. The
// status line uses it to stay shorter than the terminal is wide and to learn where the program's open
// line left the cursor. Whatever we cannot be sure of is reported as unknown, never guessed.

/** Code points that take exactly one cell everywhere (besides printable ASCII). */
const NARROW: Array<[number, number]> = [
  [0xa0, 0x2ff], // Latin-1, Latin extended
  [0x370, 0x4ff], // Greek, Cyrillic
  [0x2010, 0x2027], [0x2030, 0x205e], // dashes, quotes, bullets, ellipsis
  [0x2190, 0x21ff], // arrows
  [0x2500, 0x25ff], // box drawing, blocks (progress bars), geometric shapes
  [0x2800, 0x28ff], // braille (spinners)
];

/** Cells one code point takes: 0 or 1 when sure, undefined when it depends on the terminal. */
export function codePointCells(cp: number): number | undefined {
  if (cp >= 0x20 && cp < 0x7f) return 1;
  if (cp === 0x07) return 0; // bell
  if (cp < 0xa0) return undefined; // tabs, backspace, C1 controls: the cursor moves in ways we do not follow
  if (cp >= 0x300 && cp <= 0x36f) return 0; // combining accents
  return NARROW.some(([lo, hi]) => cp >= lo && cp <= hi) ? 1 : undefined;
}

/**
 * The cursor column after `line` was written from the start of a row, counting from the last carriage
 * return: 0-based, not wrapped (a caller divides by the width). Colors (SGR), erase-in-line and titles
 * (OSC) take no room; any other escape sequence, control or unsure character makes it undefined.
 */
export function columnAfter(line: string): number | undefined {
  let col = 0;
  for (let i = line.lastIndexOf('\r') + 1; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x1b) {
      const next = line[i + 1];
      if (next === '[') {
        let j = i + 2;
        while (j < line.length && /[0-9;:?<=>]/.test(line[j])) j++;
        if (line[j] !== 'm' && line[j] !== 'K') return undefined;
        i = j;
      } else if (next === ']') {
        const bel = line.indexOf('\x07', i);
        const st = line.indexOf('\x1b\\', i);
        const end = bel < 0 ? st : st < 0 ? bel : Math.min(bel, st);
        if (end < 0) return undefined; // unfinished: the rest comes in a later chunk
        i = end + (end === st ? 1 : 0);
      } else {
        return undefined;
      }
      continue;
    }
    const cp = line.codePointAt(i)!;
    if (cp > 0xffff) return undefined; // emoji and the like: one or two cells, depending on the terminal
    const w = codePointCells(cp);
    if (w === undefined) return undefined;
    col += w;
  }
  return col;
}

/**
 * `text` cut to at most `max` cells, controls replaced by spaces. Unsure characters count as two
 * cells, so the result is never wider than `max` on any terminal.
 */
export function fitCells(text: string, max: number): string {
  let out = '';
  let used = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const safe = cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? ' ' : ch;
    const w = safe === ' ' ? 1 : codePointCells(cp) ?? 2;
    if (used + w > max) break;
    out += safe;
    used += w;
  }
  return out;
}

/**
 * Whether program output moves the cursor to other rows, saves and restores it, sets scroll margins or
 * switches screens (multi-line progress displays, full-screen programs). Then no row is known to be
 * free for the status line.
 */
export function drawsOwnScreen(text: string): boolean {
  return /\x1b(?:[78DEMc]|\[[0-9;]*[ABEFHLMSTdfrsu]|\[\?(?:1049|1047|47|7|6)[hl])/.test(text);
}
