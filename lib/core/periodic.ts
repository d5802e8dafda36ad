/**
 * A background task run every `intervalMs`: the next run is scheduled when the previous one ends,
 * so runs never overlap. The task handles its own errors (log, count); a rejection that still
 * escapes goes to `onError`. `stop()` waits for a run in flight, but only so long: with Redis
 * down a run could otherwise wait for the reconnect.
 */
export class Periodic {
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private started = false;
  private stopped = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** First run after one interval, or at once with `immediate`. A second start is refused. */
  start(immediate = false): void {
    if (this.started) throw new Error('periodic task already started');
    this.started = true;
    const run = () => {
      this.inFlight = this.task().catch(this.onError).finally(next);
    };
    const next = () => {
      if (this.stopped) return;
      this.timer = setTimeout(run, this.intervalMs);
      this.timer.unref();
    };
    if (immediate) run();
    else next();
  }

  /** No more runs; wait for the one in flight at most `waitMs`. */
  async stop(waitMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await settleWithin(this.inFlight, waitMs);
  }
}

/** Wait for `p` (if any), but no longer than `ms`. */
export async function settleWithin(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((res) => (timer = setTimeout(res, ms))),
  ]);
  clearTimeout(timer);
}
