/**
 * A count with its noun in the number it takes, `1 title`, `0 titles`, `3 titles` (what the CLI
 * prints: `1 titles` read as a slip); `plural` for a noun that does not just add an s.
 */
export const counted = (n: number, noun: string, plural = `${noun}s`): string => `${n} ${n === 1 ? noun : plural}`;
