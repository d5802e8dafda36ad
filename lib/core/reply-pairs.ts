/** A Redis reply's flat field/value list (XINFO STREAM / GROUPS / CONSUMERS rows) as a map. */
export function pairs(raw: unknown[]): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (let i = 0; i + 1 < raw.length; i += 2) m.set(String(raw[i]), raw[i + 1]);
  return m;
}
