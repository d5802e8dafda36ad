import type { Cluster, Redis } from 'ioredis';

/** The Redis server's clock in ms (TIME): what orders stream ids, whatever the caller's clock says. */
export async function serverTimeMs(redis: Redis): Promise<number> {
  const [seconds, micros] = await openNode(redis).time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/**
 * On a Cluster, a master this client already has a socket to: TIME has no key, and ioredis sends
 * such a command to a random master, opening a socket there that lib/redis/cluster-strays.ts then
 * closes (one connection and one slot-map read per call, from every caller that polls the time).
 * The client itself when it has none ready, or is not a Cluster.
 */
function openNode(redis: Redis): Redis {
  if (!redis.isCluster) return redis;
  return (redis as unknown as Cluster).nodes('master').find((node) => node.status === 'ready') ?? redis;
}
