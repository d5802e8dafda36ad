/**
 * `fn`'s result, shared: concurrent callers wait for one call, and a result is reused for `reuseMs`
 * after it resolved (a failure is not reused); `reset()` forgets it (after a write that changes it).
 * For reads whose cost grows with the data, such as the DLQ's tally.
 */
export function sharedFor<T>(fn: () => Promise<T>, reuseMs: number): (() => Promise<T>) & { reset: () => void } {
  let current: { p: Promise<T>; doneAt: number } | undefined;
  const get = () => {
    if (current && (current.doneAt === 0 || Date.now() - current.doneAt < reuseMs)) return current.p;
    const entry = { p: fn(), doneAt: 0 };
    current = entry;
    entry.p.then(
      () => (entry.doneAt = Date.now()),
      () => {
        if (current === entry) current = undefined;
      },
    );
    return entry.p;
  };
  return Object.assign(get, { reset: () => (current = undefined) });
}
