import type { Cluster, Redis } from 'ioredis';
import type { FailingNode } from './diagnose.js';
import { keySlot } from './shard.js';
import { asCluster } from './url.js';

/** `currentFailingNode`'s `refreshTimeoutMs` default: how long the slot map's refresh may take before the client's current map is used. */
export const DEFAULT_SLOT_REFRESH_TIMEOUT_MS = 1_000;

/**
 * The host:port a failed command's own error names: a connect error's address (`connect
 * ECONNREFUSED 127.0.0.1:7003`, or its `address` and `port`), or the node a MOVED/ASK reply sent it
 * to (also as a Cluster client's `Too many Cluster redirections. Last error: MOVED 1189 host:port`).
 */
export function nodeInError(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const { address, port } = err as { address?: unknown; port?: unknown };
  if (typeof address === 'string' && typeof port === 'number') return `${address}:${port}`;
  const m = /\b(?:connect E[A-Z]+|(?:MOVED|ASK) \d+) (\[[^\]]+\]|[^\s:]+):(\d+)\b/.exec(err.message);
  return m ? `${m[1]}:${m[2]}` : undefined;
}

/** Refreshes the Cluster client's slot map (CLUSTER SLOTS from a node that answers), waiting at most `timeoutMs`. */
function refreshSlots(cluster: Cluster, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    cluster.refreshSlotsCache(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * The Cluster node a failed command fails at now, for the line of a partial outage (`noted`: the
 * node whose connection failed last, from ioredis' `node error`; undefined: no partial outage
 * known, undefined returned). In a long run `noted` may be another node (another shard's master)
 * or stale (a failover since moved its slots), so the node named is, first to last: the node the
 * command's own error names, the master of `key`'s slot (the key the command was for, e.g. a
 * producer lane's stream), then `noted`; whether it is a master is read from the slot map
 * refreshed first (at most `refreshTimeoutMs`, default DEFAULT_SLOT_REFRESH_TIMEOUT_MS).
 * A single-node client: `noted`.
 */
export async function currentFailingNode(
  redis: Redis,
  noted: FailingNode | undefined,
  err: unknown,
  opts: { key?: string; refreshTimeoutMs?: number } = {},
): Promise<FailingNode | undefined> {
  const cluster = asCluster(redis);
  if (!cluster || !noted) return noted;
  await refreshSlots(cluster, opts.refreshTimeoutMs ?? DEFAULT_SLOT_REFRESH_TIMEOUT_MS);
  const owner = opts.key !== undefined ? cluster.slots[keySlot(opts.key)]?.[0] : undefined;
  const address = nodeInError(err) ?? owner ?? noted.address;
  const masters = new Set(Object.values(cluster.slots).map((nodes) => nodes[0]));
  return { address, master: masters.has(address) };
}
