import { createInterface } from 'node:readline/promises';
import { countWaiting, purgeBounds, purgeStage, StagePurgeError, type PurgeSummary } from '../../lib/ops/stage-purge.js';
import { isPermissionRefusal } from '../../lib/core/failure-policy.js';
import { createLogger, stderrSink } from '../../lib/observe/logger.js';
import { createMetrics } from '../../lib/observe/metrics.js';
import { reportPurge } from '../../lib/ops/stage-purge-report.js';
import { adminOnlyRefusal, cliActor, cliRedis, loadConfig, type GlobalOptions } from './common.js';

export interface PurgeCommandOptions extends GlobalOptions {
  yes?: boolean;
  count?: string;
  chunk?: string;
  shard?: string;
}

/** How many wait, as counted: when Redis cannot tell a lag (after a deletion, a restart from the AOF) the count is a floor, and every waiting entry is purged. */
const entriesWaiting = (n: number, atLeast: boolean) => (atLeast ? `at least ${n} entries wait (Redis cannot tell how many more)` : `${n} entries wait`);

async function confirmed(stage: string, waiting: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${stage}: ${waiting}; dead-letter them all (reason purged; \`pipeline dlq replay\` puts them back)? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/**
 * `pipeline purge <stage> [--yes] [--count n] [--chunk n] [--shard n]`: dead-letter the entries
 * waiting for a stage (lib/ops/stage-purge.ts) as the admin; prints one JSON summary line. Without
 * --yes it asks on a terminal and refuses elsewhere (a script must say it means it).
 */
export async function purgeCommand(stage: string, opts: PurgeCommandOptions): Promise<void> {
  const config = loadConfig(opts);
  const redis = cliRedis(config.redis.url);
  const shard = opts.shard === undefined ? undefined : Number(opts.shard);
  try {
    // The entries counted (and confirmed) are the ones purged: records added after this (API, producers) are not.
    const until = await purgeBounds(redis, config, stage, shard);
    const counted = await countWaiting(redis, config, stage, shard);
    const waiting = entriesWaiting(counted.waiting, counted.atLeast);
    if (!opts.yes) {
      if (!process.stdin.isTTY) throw new Error(`pipeline purge ${stage}: ${waiting}; not a terminal, so nobody can confirm: pass --yes to dead-letter them`);
      if (!(await confirmed(stage, waiting))) {
        process.stderr.write('nothing purged\n');
        return;
      }
    }
    const t0 = Date.now();
    const by = cliActor();
    // Counted (messages.dead_lettered, reason purged) and logged (stage.purge, stderr) as the workers' dead letters are.
    const logger = createLogger({ component: 'purge' }, undefined, stderrSink);
    const metrics = createMetrics(config.metrics, { pipeline: config.pipeline }, logger);
    let summary: PurgeSummary;
    try {
      summary = await purgeStage(redis, config, stage, {
        by,
        until,
        ...(opts.count ? { count: Number(opts.count) } : {}),
        ...(opts.chunk ? { chunk: Number(opts.chunk) } : {}),
        ...(shard === undefined ? {} : { shard }),
      });
      reportPurge(metrics, logger, summary, by);
    } catch (err) {
      // What was done before the error is said: a re-run goes on from there.
      if (err instanceof StagePurgeError) {
        process.stdout.write(JSON.stringify({ event: 'purge', ...err.done, stopped: true }) + '\n');
        reportPurge(metrics, logger, err.done, by, true);
      }
      throw err instanceof StagePurgeError && isPermissionRefusal(err.cause) ? err.cause : err;
    } finally {
      await metrics.close();
    }
    process.stdout.write(JSON.stringify({ event: 'purge', ...summary, seconds: (Date.now() - t0) / 1000 }) + '\n');
  } catch (err) {
    throw isPermissionRefusal(err) ? await adminOnlyRefusal(err, 'pipeline purge', "dead-letters a stage's waiting entries", config.redis.url) : err;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
