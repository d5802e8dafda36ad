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
