import { StatsD } from 'hot-shots';
import type { MetricsSettings } from './config/types.js';
import type { Logger } from './logger.js';

export type Tags = Record<string, string>;

/** The metric calls the runtime makes. Names are documented in the README (Metrics). */
export interface Metrics {
  increment(name: string, value?: number, tags?: Tags): void;
  timing(name: string, ms: number, tags?: Tags): void;
  gauge(name: string, value: number, tags?: Tags): void;
  histogram(name: string, value: number, tags?: Tags): void;
  close(): Promise<void>;
}

export const noopMetrics: Metrics = {
  increment() {},
  timing() {},
  gauge() {},
  histogram() {},
  close: async () => {},
};

/**
 * StatsD over UDP through hot-shots. Sending is fire-and-forget: a metrics error is logged (at
 * most once a minute) and never reaches the data path.
 */
export function createMetrics(settings: MetricsSettings, globalTags: Tags, logger: Logger): Metrics {
  if (!settings.enabled) return noopMetrics;
  let lastError = 0;
  const client = new StatsD({
    host: settings.host,
    port: settings.port,
    prefix: settings.prefix,
    globalTags,
    errorHandler: (err) => {
      if (Date.now() - lastError > 60_000) {
        lastError = Date.now();
        logger.warn('metrics.error', { err });
      }
    },
  });
  return {
    increment: (n, v = 1, t) => client.increment(n, v, t),
    timing: (n, ms, t) => client.timing(n, ms, t),
    gauge: (n, v, t) => client.gauge(n, v, t),
    histogram: (n, v, t) => client.histogram(n, v, t),
    close: () => new Promise((res) => client.close(() => res())),
  };
}
