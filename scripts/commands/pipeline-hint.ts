import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../../lib/config/types.js';
import { pipelineStatus, type PipelineStatus } from '../../lib/ops/inspect.js';
import { configShards } from '../../lib/redis/shard.js';
import { asCluster } from '../../lib/redis/url.js';
import { nothingYet, pipelineTags } from '../../lib/ops/pipeline-presence.js';

/**
 * Whether a shard holds the completion stream `{p}:done` or the webhook dead letters: what a run of
 * `pipeline webhooks` alone leaves (its group made the stream), which the stages' status does not
 * count. Key by key (a Cluster's shards are in other slots); a refused read counts as none.
 */
async function hasCompletions(redis: Redis, config: ResolvedConfig): Promise<boolean> {
  const keys = configShards(config).all.flatMap((k) => [k.done, k.webhooksDlq]);
  const found = await Promise.all(keys.map((k) => redis.exists(k).catch(() => 0)));
  return found.some((n) => n > 0);
}

/**
 * When the config's pipeline has nothing in this Redis (no stream, group, dead letter or product),
 * warn on stderr and name the pipelines that it does hold: all zeros in `status`, an empty
 * `export` or records `produce`d where no worker reads are as often a mistyped PIPELINE or the
 * wrong database. A hint only: `status` passes the status it read; otherwise a Redis that refuses
 * the reads (a producer user without XINFO, the observer without SCAN) or is not ready gives no
 * warning or no list, and the command goes on. `after` ends the line (produce: what becomes of the
 * records). Returns whether it warned.
 */
export async function warnIfNoPipeline(redis: Redis, config: ResolvedConfig, status?: PipelineStatus, after = ''): Promise<boolean> {
  if (!status && redis.status !== 'ready') return false;
  const s = status ?? (await pipelineStatus(redis, config).catch(() => undefined));
  if (!s || !nothingYet(s) || (await hasCompletions(redis, config))) return false;
  // Its own tag may hold other keys (a console's stats, a produce run's state): not listed as another pipeline.
  const others = asCluster(redis) ? [] : (await pipelineTags(redis).catch(() => [])).filter((t) => t !== s.pipeline);
  process.stderr.write(
    `warning: nothing of pipeline ${JSON.stringify(s.pipeline)} in this Redis yet (no stream, group, dead letter or product)` +
      (others.length ? `; pipelines here: ${others.join(', ')} (set PIPELINE or the config's "pipeline")` : '') +
      after +
      '\n',
  );
  return true;
}
