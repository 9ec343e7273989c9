// How closely a model's lines must match the file's, and where a run of lines occurs: shared by
// diff hunks and SEARCH/REPLACE blocks.

export type LineCompare = (a: string, b: string) => boolean;
export const exact: LineCompare = (a, b) => a === b;
export const trimEnd: LineCompare = (a, b) => a.trimEnd() === b.trimEnd();
export const collapsed: LineCompare = (a, b) => a.replace(/\s+/g, ' ').trim() === b.replace(/\s+/g, ' ').trim();

/** The 1-based lines where `seq` starts in `fileLines`. */
export function countOccurrences(fileLines: string[], seq: string[], cmp: LineCompare): number[] {
  const at: number[] = [];
  if (!seq.length) return at;
  for (let i = 0; i + seq.length <= fileLines.length; i++) {
    let ok = true;
    for (let k = 0; k < seq.length && ok; k++) ok = cmp(fileLines[i + k], seq[k]);
    if (ok) at.push(i + 1);
  }
  return at;
}
