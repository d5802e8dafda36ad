import type { Redis } from 'ioredis';
import { fusedRoutes, type FusedRoute } from '../config/fusion-plan.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Keys } from '../redis/keys.js';
import { Shards } from '../redis/shard.js';
import { isMissingGroup, isNoPermReply } from '../core/redis-replies.js';

/**
 * The routes the running workers fuse, as their liveness markers say (`fuses`, written by
 * lib/worker/process.ts): whether a route runs fused depends on the Redis URL each stage's workers
 * resolve (`REDIS_URL_<STAGE>`: a user per stage fuses nothing, lib/config/fusion-plan.ts), which a
 * view running apart from them (the console, `pipeline top`) cannot see in its own environment.
 *
 * A stage with a live marker that names what it fuses: those routes (several workers: any of
 * them). A stage without one (no worker of it has read anything yet, so its consumer is not
 * listed, or workers of a release before `fuses`): `fusedRoutes` by this process's environment.
 * Markers are found under the consumer names of every stage's group (a stage run fused reads under
 * its process's names, rarely delivered anything of its own): one XINFO CONSUMERS per stage and
 * one MGET per shard.
 */
export async function liveFusedRoutes(redis: Redis, config: ResolvedConfig, space: Keys | Shards): Promise<FusedRoute[]> {
  const reported = new Map<string, Set<string>>();
  for (const keys of Shards.of(space).all) {
    const listed = await Promise.all(config.stages.map((s) => consumerNames(redis, keys.stream(s.input), s.name)));
    const names = [...new Set(listed.flat())];
    if (names.length === 0) continue;
    const markers = await redis.mget(config.stages.flatMap((s) => names.map((n) => keys.liveness(s.name, n))));
    config.stages.forEach((s, i) => {
      for (const raw of markers.slice(i * names.length, (i + 1) * names.length)) {
        const fuses = raw === null ? undefined : fusesOf(raw);
        if (fuses === undefined) continue;
        const set = reported.get(s.name) ?? new Set<string>();
        for (const to of fuses) set.add(to);
        reported.set(s.name, set);
      }
    });
  }
  const planned = fusedRoutes(config);
  // Per stage, in config order: the workers' word, else the plan.
  return config.stages.flatMap((from) => {
    const said = reported.get(from.name);
    if (!said) return planned.filter((r) => r.from === from.name);
    return config.stages.filter((to) => said.has(to.name)).map((to) => ({ from: from.name, to: to.name }));
  });
}

async function consumerNames(redis: Redis, key: string, group: string): Promise<string[]> {
  try {
    const raw = (await redis.xinfo('CONSUMERS', key, group)) as unknown[][];
    return raw.map((c) => String(c[c.indexOf('name') + 1]));
  } catch (err) {
    if (isMissingGroup(err) || isNoPermReply(err)) return [];
    throw err;
  }
}

/** The `fuses` of a liveness marker; undefined when it has none (not JSON, or a worker of an older release). */
function fusesOf(raw: string): string[] | undefined {
  try {
    const m = JSON.parse(raw) as { fuses?: unknown };
    return Array.isArray(m.fuses) ? m.fuses.filter((f): f is string => typeof f === 'string') : undefined;
  } catch {
    return undefined;
  }
}
