/**
 * `fn`'s result, shared while `version()` (cheap) stays the same: concurrent callers and callers
 * after them get one call's result until the data it reads changes; a failure is not kept. For
 * reads whose cost grows with the data, such as the DLQ's tally (version: its length and last id).
 */
export function sharedWhileSame<T>(version: () => Promise<string>, fn: () => Promise<T>): () => Promise<T> {
  let kept: { version: string; p: Promise<T> } | undefined;
  return async () => {
    const v = await version();
    if (kept?.version === v) return kept.p;
    const entry = { version: v, p: fn() };
    kept = entry;
    entry.p.catch(() => {
      if (kept === entry) kept = undefined;
    });
    return entry.p;
  };
}
