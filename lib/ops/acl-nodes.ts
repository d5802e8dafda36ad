import { Redis, type Cluster } from 'ioredis';
import { AclNodesUnreachableError, errorMessage } from '../core/errors.js';
import { isTransientRedisError } from '../core/failure-policy.js';

/** How long `applyAcl` waits to connect to each Cluster node. @defaultValue 5000 */
export const DEFAULT_ACL_NODE_CONNECT_TIMEOUT_MS = 5_000;

export interface ApplyAclOptions {
  /** Connect timeout per Cluster node (one that does not answer is reported, not waited on for ever). @defaultValue DEFAULT_ACL_NODE_CONNECT_TIMEOUT_MS */
  nodeConnectTimeoutMs?: number;
}

/**
 * Run `apply` (ACL SETUSER of the users: lib/ops/acl.ts) over a connection of its own to every node
 * CLUSTER NODES lists, masters and replicas (ACLs are per server, not replicated; a replica promoted
 * at failover must know the users); nodes flagged failed are skipped. A listed node that cannot be
 * reached (down, not flagged yet) does not stop the others: every reachable node gets the users,
 * then AclNodesUnreachableError names the nodes that got them and those that did not. Any other
 * refusal (the admin's own NOPERM) is thrown at once. Returns how many nodes were set up.
 */
export async function onEveryClusterNode(cluster: Cluster, apply: (node: Redis) => Promise<void>, o: ApplyAclOptions = {}): Promise<number> {
  const nodes = clusterNodeAddresses(String(await cluster.nodes('master')[0]!.call('CLUSTER', 'NODES')));
  const applied: string[] = [];
  const unreachable: { address: string; error: string }[] = [];
  for (const { host, port } of nodes) {
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    // The Cluster client's node options carry the admin's credentials and TLS settings.
    const node = new Redis({
      ...cluster.options.redisOptions,
      host,
      port,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
      connectTimeout: o.nodeConnectTimeoutMs ?? DEFAULT_ACL_NODE_CONNECT_TIMEOUT_MS,
    });
    let connectError: unknown;
    node.on('error', (err: unknown) => (connectError ??= err)); // reported below, never an "Unhandled error event"
    try {
      await apply(node);
      applied.push(address);
    } catch (err) {
      if (!isTransientRedisError(err)) throw err;
      unreachable.push({ address, error: errorMessage(connectError ?? err) });
    } finally {
      node.disconnect();
    }
  }
  if (unreachable.length > 0) throw new AclNodesUnreachableError(applied, unreachable);
  return nodes.length;
}

/** host:port of every node in CLUSTER NODES output that is not flagged failed or address-less. */
export function clusterNodeAddresses(clusterNodes: string): { host: string; port: number }[] {
  return clusterNodes
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([, , flags]) => !flags!.split(',').some((f) => f === 'fail' || f === 'noaddr'))
    .map(([, addr]) => {
      const hostPort = addr!.split('@')[0]!;
      const colon = hostPort.lastIndexOf(':');
      return { host: hostPort.slice(0, colon).replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(hostPort.slice(colon + 1)) };
    });
}
