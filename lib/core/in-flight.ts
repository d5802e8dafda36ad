/**
 * At most `max` calls of `work` running at once; the others wait, in order, for one to settle
 * (whatever its outcome). The Postgres sink runs its statements through one of `postgresPoolSize`,
 * so a batch never waits in the pool's own queue, where `postgresConnectTimeoutMs` would fail it
 * as if the database were down.
 */
export function inFlightLimit(max: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(work: () => Promise<T>): Promise<T> => {
    if (running >= max) await new Promise<void>((res) => waiting.push(res));
    else running++;
    try {
      return await work();
    } finally {
      // The slot goes straight to the next waiter: `running` stays counted for it.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
