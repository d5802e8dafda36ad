/**
 * A timer for a deadline on a reply from a socket. `fn` runs once `ms` have passed **and** the
 * event loop has been through its I/O phase since: a loop held up past the deadline (a long
 * synchronous task, a burst of work) runs its overdue timers before it reads its sockets, so a
 * plain timer declared "no reply" for a reply that had already arrived and was waiting to be read
 * (the API answered `outcome unknown` for records Redis had taken). The timer hands `fn` to
 * `setImmediate`, which runs after the poll phase that reads what has arrived.
 * Returns the cancel function.
 */
export function ioDeadline(ms: number, fn: () => void): () => void {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => (immediate = setImmediate(fn)), ms);
  return () => {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  };
}

/**
 * `work`'s result, or `undefined` when it has not settled within `ms` (an ioDeadline: a reply that
 * arrived in time is read first). A rejection within `ms` is thrown; one after it is dropped.
 */
export function within<T>(ms: number, work: Promise<T>): Promise<T | undefined> {
  let cancel: (() => void) | undefined;
  const late = new Promise<undefined>((resolve) => (cancel = ioDeadline(Math.max(0, ms), () => resolve(undefined))));
  work.catch(() => undefined); // settled after the deadline: nobody waits for it
  return Promise.race([work, late]).finally(() => cancel?.());
}
