/**
 * `fn`'s result, shared while the caller's `version` of the data (cheap to read) stays the same:
 * concurrent callers and callers after them get one call's result until the data it reads
 * changes; a failure is not kept. For reads whose cost grows with the data, such as the DLQ's
 * tally (version: its length and last id).
 */
export function sharedWhileSame<T>(fn: () => Promise<T>): (version: string) => Promise<T> {
  let kept: { version: string; p: Promise<T> } | undefined;
  return (version) => {
    if (kept?.version === version) return kept.p;
    const entry = { version, p: fn() };
    kept = entry;
    entry.p.catch(() => {
      if (kept === entry) kept = undefined;
    });
    return entry.p;
  };
}
