/**
 * Resolves after `ms`, or as soon as the event `arm` listens for comes first. `arm` subscribes
 * `done` and returns how to unsubscribe it: the timer and the listener are both removed either
 * way, so a long-lived emitter (a stop signal, a connection) does not collect listeners.
 */
export function timerOrEvent(ms: number, arm: (done: () => void) => () => void): Promise<void> {
  return new Promise((resolve) => {
    let disarm: (() => void) | undefined;
    let settled = false;
    const done = () => {
      settled = true;
      clearTimeout(timer);
      disarm?.();
      resolve();
    };
    const timer = setTimeout(done, ms);
    disarm = arm(done);
    if (settled) disarm(); // the event came while arming
  });
}

/** Wait `ms`, or less when `stop` is aborted (a stopping process does not sit out a backoff). */
export function abortableSleep(ms: number, stop: AbortSignal): Promise<void> {
  if (stop.aborted) return Promise.resolve();
  return timerOrEvent(ms, (done) => {
    stop.addEventListener('abort', done, { once: true });
    return () => stop.removeEventListener('abort', done);
  });
}
