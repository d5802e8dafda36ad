/**
 * Reads the `name: value` lines a run prints (chaos, soak): `line(name)` is the text after the
 * colon, `figure(name)` its number (NaN when the line is missing). Names are matched literally.
 */
export function reportLines(out: string): { line: (name: string) => string | undefined; figure: (name: string) => number } {
  const line = (name: string) => new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (.*)$`, 'm').exec(out)?.[1];
  const figure = (name: string) => {
    const text = line(name);
    return text !== undefined && /^-?\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : NaN;
  };
  return { line, figure };
}
