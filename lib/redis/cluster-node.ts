import type { Redis } from 'ioredis';
import { ClusterNodeError } from '../core/errors.js';
import { isRedirectReply } from '../core/redis-replies.js';
import { asCluster } from './url.js';

/**
 * A single-node URL (`redis://`, `rediss://`) that points at a Redis Cluster node reaches that one
 * node: every key of another node's slots is answered `MOVED <slot> <node>`, which a single-node
 * client cannot follow. Found once, at start (INFO `cluster_enabled:1`) or at the first MOVED/ASK
 * such a client gets, and refused with ClusterNodeError (the CLI: one line naming
 * `redis+cluster://`, exit 19; docs/cli.md) instead of workers restarted in a loop and a producer
 * retrying a redirect it can never follow.
 */

/** host:port a single-node client talks to. */
function addressOf(redis: Redis): string {
  const { host, port } = redis.options ?? {};
  return `${host ?? '127.0.0.1'}:${port ?? 6379}`;
}

/** The ClusterNodeError for `err` when it is a redirect that reached a single-node client; undefined otherwise (a Cluster client's redirect is a failover or a resharding). */
export function clusterNodeError(redis: Redis, err: unknown): ClusterNodeError | undefined {
  if (asCluster(redis) || !isRedirectReply(err)) return undefined;
  return new ClusterNodeError(addressOf(redis), `it answered ${(err as Error).message}`, { cause: err });
}

/**
 * At start: throws ClusterNodeError when a single-node client's server is a Cluster node (INFO
 * cluster says `cluster_enabled:1`). A Cluster client passes; so does a server that cannot be
 * asked (its own commands then say why).
 */
export async function refuseClusterNode(redis: Redis): Promise<void> {
  if (asCluster(redis)) return;
  let info: string;
  try {
    info = await redis.info('cluster');
  } catch {
    return;
  }
  if (/^cluster_enabled:1\b/m.test(info)) throw new ClusterNodeError(addressOf(redis), 'INFO says cluster_enabled:1');
}
