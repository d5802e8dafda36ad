import type { Redis } from 'ioredis';
import { asCluster } from './url.js';

/**
 * Where to send a command without a key (TIME, INFO). On a Cluster, a master this client already
 * has a socket to: ioredis sends a keyless command to a random master, opening a socket there that
 * lib/redis/cluster-strays.ts then closes (a connection and a slot-map read per call, from every
 * caller that polls). The client itself when none is ready, or when it is not a Cluster.
 */
export function keylessNode(redis: Redis): Redis {
  return (
    asCluster(redis)
      ?.nodes('master')
      .find((node) => node.status === 'ready') ?? redis
  );
}
