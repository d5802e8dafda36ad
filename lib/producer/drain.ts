/**
 * How fast a stage's backlog drains, from the lag readings backpressure takes anyway (no extra
 * command): the net fall of the lag per second (entries delivered minus entries added, as the lag
 * itself moves) since its highest reading of the last `windowMs`. The `Retry-After` of a 429 is derived from it.
 */
export class DrainRate {
  private readonly samples = new Map<string, { at: number; lag: number }[]>();

  constructor(
    /** Readings older than this are dropped; the rate spans the oldest one kept. @defaultValue 10000 */
    private readonly windowMs = 10_000,
    /** Readings closer together than this give no rate (too noisy). @defaultValue 500 */
    private readonly minSpanMs = 500,
  ) {}

  /** Record a reading of `stage`'s lag. */
  add(stage: string, lag: number, at = Date.now()): void {
    let s = this.samples.get(stage);
    if (!s) this.samples.set(stage, (s = []));
    s.push({ at, lag });
    while (s.length > 0 && (at - s[0]!.at > this.windowMs || s.length > 64)) s.shift();
  }

  /**
   * Entries per second the lag of `stage` fell lately (<= 0: it did not fall), or undefined while the
   * readings span less than `minSpanMs`. Once the lag has fallen from its highest reading in the
   * window for at least `minSpanMs`, the rate since that reading; else the net fall over the window.
   * (Over the whole window, a burst that had raised the lag in it read as a lag that grows while it
   * fell 4,000 a second: every 429 said the most, 60 s, for 10 s after each burst.)
   */
  perSecond(stage: string): number | undefined {
    const s = this.samples.get(stage);
    if (!s || s.length < 2) return undefined;
    const last = s[s.length - 1]!;
    let peak = 0;
    for (let i = 1; i < s.length; i++) if (s[i]!.lag >= s[peak]!.lag) peak = i;
    const falling = peak < s.length - 1 && last.at - s[peak]!.at >= this.minSpanMs;
    const from = falling ? s[peak]! : s[0]!;
    const span = last.at - from.at;
    if (span < this.minSpanMs) return undefined;
    return ((from.lag - last.lag) * 1000) / span;
  }
}

/**
 * Seconds a client refused for backlog should wait: the lag above maxLag over the drain rate,
 * rounded up, within [min, max]. Unknown rate (too few readings yet): `min`. A lag that does not
 * fall: `max`.
 */
export function retryAfterSeconds(excess: number, perSecond: number | undefined, min: number, max: number): number {
  if (perSecond === undefined) return min;
  if (perSecond <= 0) return max;
  return Math.min(max, Math.max(min, Math.ceil(excess / perSecond)));
}
