import { isPermissionRefusal, outageMetric } from '../../lib/core/failure-policy.js';
import { stageKeySpace } from '../../lib/redis/shard.js';
import { explainRefusal, urlUser } from '../../lib/redis/noperm.js';
import type { StageContext } from '../../lib/worker/stage.js';
import { dropReprocessMarkers } from './redis.js';
import type { StoredProduct } from './sink.js';

/**
 * The `pipeline reprocess` markers of products a sink other than Redis has committed
 * (drop-reprocess-marker-1.lua), deleted after the commit. The products are stored by then: a
 * marker that cannot be deleted must not fail them (it had failed the batch, and a store user
 * without `{p}:reprocess:*`, an upgrade without `pipeline acl --apply`, dead-lettered every
 * product it had committed). It is left to expire (`--marker-ttl`) and blocks nothing: it names the
 * version put back, not the one stored now, so a later reprocess puts the product back. Each
 * failure is counted (`store.marker_errors`, and `redis.noperm` when the user lacks the
 * permission); the first of a run of them is logged, a refusal as `redis.noperm` naming the user,
 * the key and `pipeline acl --apply`; `redis.noperm_resolved` once they are deleted again.
 */
export function markerDropper(ctx: StageContext): { drop: (stored: readonly StoredProduct[]) => Promise<void> } {
  const tags = { stage: ctx.stage.name };
  let failingSince: number | undefined;
  let refusedSince: number | undefined;
  return {
    async drop(stored) {
      try {
        await dropReprocessMarkers(ctx.redis, stageKeySpace(ctx), stored);
        if (refusedSince !== undefined) ctx.logger.info('redis.noperm_resolved', { where: 'store.markers', waitedMs: Date.now() - refusedSince });
        failingSince = refusedSince = undefined;
      } catch (err) {
        ctx.metrics.increment('store.marker_errors', 1, tags);
        const alert = outageMetric(err);
        if (alert) ctx.metrics.increment(alert, 1, tags);
        if (failingSince !== undefined) return;
        failingSince = Date.now();
        const refused = isPermissionRefusal(err)
          ? await explainRefusal(err, { user: urlUser(ctx.stage.redisUrl), client: ctx.redis }).catch(() => undefined)
          : undefined;
        if (!refused) {
          ctx.logger.warn('store.markers_not_dropped', {
            count: stored.length,
            err,
            note: 'the products are stored; the markers expire by themselves (--marker-ttl)',
          });
          return;
        }
        refusedSince = failingSince;
        const { user, command, keys, fix } = refused;
        ctx.logger.error('redis.noperm', { where: 'store.markers', user, command, keys, fix, err: refused });
      }
    },
  };
}
