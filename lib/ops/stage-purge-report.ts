import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { PurgeSummary } from './stage-purge.js';

/**
 * A stage purge's dead letters, counted and logged as the workers' are (`messages.dead_lettered`
 * with `reason: purged`, and one warn line `stage.purge` instead of one per entry): a purge from the
 * CLI or the API shows on the same dashboards and alerts as other dead letters. `stopped`: an error (or the API server closing)
 * ended it after `summary.purged` entries.
 */
export function reportPurge(metrics: Metrics, logger: Logger, summary: PurgeSummary, by: string, stopped = false): void {
  if (summary.purged > 0) metrics.increment('messages.dead_lettered', summary.purged, { stage: summary.stage, reason: 'purged' });
  logger.warn('stage.purge', {
    stage: summary.stage,
    purged: summary.purged,
    by,
    shards: summary.shards.map((s) => ({ ...(s.shard === undefined ? {} : { shard: s.shard }), purged: s.purged })),
    ...(stopped ? { stopped: true } : {}),
  });
}
