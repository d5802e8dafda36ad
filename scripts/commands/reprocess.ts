import { capMaxLag, describe, type Pressure } from '../../lib/producer/backpressure.js';
import { refuseEvictingPolicy } from '../../lib/redis/policy.js';
import { DEFAULT_MARKER_TTL_MS, emptySummary, reprocess, type ReprocessSummary } from '../../lib/ops/reprocess.js';
import { findStoreStage, parseSince, type ExportFilter } from '../../stages/sinks/export.js';
import { postgresOrigin } from '../../stages/sinks/postgres-origin.js';
import { currentModelVersions } from '../../stages/domain/model-options.js';
import { adminOnlyRefusal, cliRedis, explainRedisFailure, loadConfig, observerRefusal, warnEvictionPolicy } from './common.js';
import { goneWarning, noMatchWarning, storedProducts, UnreadableTally } from './export.js';
import type { PostgresCliOptions } from './store.js';
import { errorMessage, OtherModelWorkersError } from '../../lib/core/errors.js';
import { workersOnOtherModels } from '../../lib/ops/model-workers.js';
import { withRetry, type RetrySettings } from '../../lib/producer/retry.js';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { Redis } from 'ioredis';

export interface ReprocessCliOptions extends PostgresCliOptions {
  category?: string;
  /** Only products stored by another version of this model. */
  model?: string;
  /** ISO-8601: only products stored at or after. */
  since?: string;
  fromStage?: string;
  dryRun?: boolean;
  /** redis or postgres. @defaultValue the store stage's settings.sink */
  sink?: string;
  page: string;
  batch: string;
  /** Seconds a product put back counts as in flight. */
  markerTtl?: string;
  backpressurePoll: string;
  /** Ms a put-back, backpressure reading or scan page refused by Redis (full, failing over, unreachable) is retried. */
  retryFor: string;
  /** Hold the backlog at this lag, below the stages' maxLag, so the API keeps room (capMaxLag). @defaultValue the stages' maxLag */
  maxLag?: string;
}

/**
 * A worker keeps the model it loaded at start: one started before the files changed would store the
 * old version again. Refuses while a live one runs another version than `current`; a dry run warns
 * (and, when it cannot read the markers, says so and goes on without the check).
 */
async function checkWorkerModels(redis: Redis, config: ResolvedConfig, current: Record<string, string>, dryRun: boolean, retry: RetrySettings): Promise<void> {
  // Read (SCAN, MGET) through a failover like the scan of the products (--retry-for).
  const read = () => withRetry(redis, () => workersOnOtherModels(redis, config, current), retry);
  const others = await read().catch((err: unknown) => {
    if (!dryRun) throw err;
    process.stderr.write(`warning: the workers' model versions were not checked: ${errorMessage(err)}\n`);
    return [];
  });
  if (others.length === 0) return;
  const text =
    `${others.map((w) => `worker ${w.consumer} of stage ${w.stage} runs ${w.runs}, not ${w.current}`).join('; ')} (the config and model files here): ` +
    'restart the workers on the new model first, or what reprocess puts back is stored with the old one again';
  if (!dryRun) throw new OtherModelWorkersError(text);
  process.stderr.write(`warning: ${text}\n`);
}

const positive = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, got ${v}`);
  return n;
};

/**
 * `pipeline reprocess`: stored products (from the store stage's sink, as `pipeline export` reads
 * them) back through the pipeline from the first stage whose model changed, or `--from-stage`
 * (lib/ops/reprocess.ts). Progress on stderr when a TTY; one JSON summary line on stdout.
 */
export async function reprocessCommand(opts: ReprocessCliOptions): Promise<void> {
  const config = loadConfig(opts);
  const sink = opts.sink ?? String(findStoreStage(config, opts.stage).settings.sink ?? 'redis');
  const filter: ExportFilter = { category: opts.category, since: opts.since !== undefined ? parseSince(opts.since) : undefined };
  const page = positive('--page', opts.page);
  const batch = positive('--batch', opts.batch);
  const markerTtlMs = opts.markerTtl !== undefined ? positive('--marker-ttl', opts.markerTtl) * 1000 : DEFAULT_MARKER_TTL_MS;
  const pollMs = positive('--backpressure-poll', opts.backpressurePoll);
  const retryForMs = positive('--retry-for', opts.retryFor);
  const current = currentModelVersions(config);
  if (opts.model !== undefined && !config.stages.some((s) => s.model === opts.model))
    process.stderr.write(
      `warning: no stage of pipeline ${config.pipeline} runs model ${opts.model} now (models: ${Object.values(current).join(', ') || 'none'})\n`,
    );

  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  const verb = opts.dryRun ? 'would reprocess' : 'reprocessed';
  const progress = (s: ReprocessSummary) => {
    if (!tty) return;
    const skipped = Object.values(s.skipped).reduce((a, b) => a + b, 0);
    const rate = Math.round(s.scanned / Math.max(0.001, (Date.now() - t0) / 1000));
    process.stderr.write(`\rscanned ${s.scanned}  ${verb} ${s.reprocessed}  skipped ${skipped} (in flight ${s.skipped.inFlight})  ${rate}/s `);
  };
  const cap = opts.maxLag === undefined ? undefined : Number(opts.maxLag);
  // A wait is said at most every 5 s, and its end only when it was said (on a TTY each below the progress line).
  let lastSaid = 0;
  let waitSaid = false;
  const onWait = (p: Pressure, stage: string, ms: number) => {
    if (Date.now() - lastSaid < 5_000) return;
    lastSaid = Date.now();
    waitSaid = true;
    process.stderr.write(`${tty ? '\n' : ''}reprocess: waiting for stage ${stage}: ${describe(p, cap)} (${Math.round(ms / 1000)} s so far)\n`);
  };
  const onClear = (ms: number) => {
    if (!waitSaid) return;
    waitSaid = false;
    process.stderr.write(`reprocess: resumed after ${Math.round(ms / 1000)} s of backpressure\n`);
  };

  // Refused put-backs (Redis full mid-batch, a failover) and scan pages (a failover, a Postgres restart): one line per cause while they
  // are retried; a Redis one in the CLI's words for it (explainRedisFailure: the cause and the setting, as `produce` says it), not ioredis's.
  let retrySaid = '';
  let explaining = false;
  const sayRetry = (why: string, retriedMs: number, budgetMs: number) => {
    if (why === retrySaid) return;
    retrySaid = why;
    const left = Math.max(0, Math.round((budgetMs - retriedMs) / 1000));
    process.stderr.write(`${tty ? '\n' : ''}reprocess: waiting: ${why}; retrying for up to ${left} s more (--retry-for)\n`);
  };
  const onRetry = (err: unknown, retriedMs: number, budgetMs: number) => {
    const raw = String((err as Error)?.message ?? err).split('\n')[0]!;
    const at = postgresOrigin(err);
    if (at) return sayRetry(`PostgreSQL at ${at}: ${raw}`, retriedMs, budgetMs);
    if (explaining) return;
    explaining = true;
    void explainRedisFailure(err)
      .catch(() => undefined)
      .then((d) => {
        explaining = false;
        sayRetry(d?.line ?? raw, retriedMs, budgetMs);
      });
  };

  // The totals so far, on stdout, when the run ends early: what was put back is not put back again by a rerun.
  const summary = emptySummary();
  // Each stored product counted in skipped.unreadable, named (the first few) on stderr when the run ends, however it ends.
  const unreadable = new UnreadableTally();
  const sayUnreadable = () => process.stderr.write(unreadable.warning('not put back'));
  const say = (event: string, extra: Record<string, unknown>) =>
    process.stdout.write(JSON.stringify({ event, dryRun: opts.dryRun === true, sink, ...summary, ...extra, seconds: (Date.now() - t0) / 1000 }) + '\n');
  const onSignal = (signal: NodeJS.Signals) => {
    if (tty) process.stderr.write('\n');
    sayUnreadable();
    say('reprocess.stopped', { signal });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);

  const redis = cliRedis(config.redis.url, { reconnectForever: true });
  // The scan (SSCAN and HGETALL of each page; a postgres page after the first) rides out a failover or a restart like the put-back: --retry-for.
  const source = storedProducts(config, opts, sink, filter, page, redis, { retryForMs, onRetry }, summary.skipped);
  try {
    if (!opts.dryRun) refuseEvictingPolicy(await warnEvictionPolicy(redis));
    // Refused as the put-backs are: a reprocess.failed line, and a pipeline user's NOPERM says to run it as the admin.
    await checkWorkerModels(redis, config, current, opts.dryRun === true, { retryForMs, onRetry })
      .then(() =>
        reprocess(redis, cap === undefined ? config : capMaxLag(config, cap), source.products, {
          current,
          ...(opts.fromStage !== undefined ? { fromStage: opts.fromStage } : {}),
          ...(opts.model !== undefined ? { model: opts.model } : {}),
          dryRun: opts.dryRun === true,
          batch,
          markerTtlMs,
          backpressure: { pollMs, onWait, onClear },
          retryForMs,
          onRetry,
          summary,
          onUnreadable: (key, why) => unreadable.add(key, why),
          onProgress: progress,
        }),
      )
      .catch(async (err: unknown) => {
        if (tty) process.stderr.write('\n');
        // A dry run only reads (the observer may); the real run puts work back, which only the admin may.
        const e = opts.dryRun
          ? await observerRefusal(err, 'pipeline reprocess --dry-run', config.redis.url)
          : await adminOnlyRefusal(err, 'pipeline reprocess', 'puts stored products back on a stage stream', config.redis.url);
        sayUnreadable();
        say('reprocess.failed', { error: String((e as Error)?.message ?? e) });
        throw e;
      });
    if (tty) process.stderr.write('\n');
    const line = {
      event: 'reprocess.done',
      dryRun: opts.dryRun === true,
      sink,
      ...summary,
      filter: { category: opts.category, model: opts.model, since: opts.since, fromStage: opts.fromStage },
      models: current,
      seconds: (Date.now() - t0) / 1000,
    };
    process.stdout.write(JSON.stringify(line) + '\n');
    // Nothing selected reads like "nothing to do", but is as often a mistyped filter: say which.
    const unmatched = summary.scanned === 0 ? noMatchWarning(sink, opts) : undefined;
    if (unmatched) process.stderr.write(unmatched);
    if (summary.skipped.gone > 0) process.stderr.write(goneWarning(summary.skipped.gone));
    sayUnreadable();
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await source.close();
    await redis.quit().catch(() => redis.disconnect());
  }
}
