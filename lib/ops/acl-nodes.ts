import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { AclNodesUnreachableError, errorMessage } from '../core/errors.js';
import { isTransientRedisError } from '../core/failure-policy.js';
import { dropConnection } from '../redis/drop-connection.js';

/** How long `applyAcl` waits to connect to each Cluster node, sentinel or replica. @defaultValue 5000 */
export const DEFAULT_ACL_NODE_CONNECT_TIMEOUT_MS = 5_000;

export interface ApplyAclOptions {
  /** Connect timeout per Cluster node, sentinel or replica (one that does not answer is reported, not waited on for ever). @defaultValue DEFAULT_ACL_NODE_CONNECT_TIMEOUT_MS */
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
  // The Cluster client's node options carry the admin's credentials and TLS settings.
  return onEachNode(nodes, cluster.options.redisOptions ?? {}, apply, o, 'cluster');
}

/**
 * Run `apply` on `admin`, a Sentinel-mode client (the master), and over a connection of its own to
 * each replica of that master the sentinels list (`SENTINEL REPLICAS`, asked of each sentinel in
 * turn until one answers; replicas flagged down or disconnected are skipped): ACLs are per server,
 * and the replica the sentinels promote must know the users. A replica that cannot be reached is
 * named by AclNodesUnreachableError after the others got the users. Returns how many servers were set up.
 */
export async function onSentinelMasterAndReplicas(admin: Redis, apply: (node: Redis) => Promise<void>, o: ApplyAclOptions = {}): Promise<number> {
  await apply(admin);
  const { sentinels = [], sentinelUsername, sentinelPassword, sentinelTLS, name } = admin.options;
  let listed: { host: string; port: number }[] | undefined;
  let lastError: unknown;
  for (const s of sentinels) {
    const sentinel = new Redis({
      host: s.host,
      port: s.port,
      username: sentinelUsername ?? undefined,
      password: sentinelPassword ?? undefined,
      tls: sentinelTLS,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
      enableReadyCheck: false,
      connectTimeout: o.nodeConnectTimeoutMs ?? DEFAULT_ACL_NODE_CONNECT_TIMEOUT_MS,
    });
    sentinel.on('error', () => {}); // the next sentinel is asked; the last error is thrown
    try {
      listed = replicaAddresses((await sentinel.call('SENTINEL', 'REPLICAS', name!)) as unknown[]);
      break;
    } catch (err) {
      lastError = err;
    } finally {
      dropConnection(sentinel);
    }
  }
  if (!listed) throw lastError ?? new Error('no sentinel to ask for the replicas');
  const { sentinels: _s, name: _n, role: _r, ...standalone } = admin.options;
  return 1 + (await onEachNode(listed, standalone, apply, o, 'sentinel', [`the master ${name!}`]));
}

/** host:port of each replica in a SENTINEL REPLICAS reply that is not flagged down or disconnected. */
function replicaAddresses(reply: unknown[]): { host: string; port: number }[] {
  return reply
    .map((r) => {
      const fields = (r as unknown[]).map(String);
      const get = (k: string) => fields[fields.indexOf(k) + 1] ?? '';
      return { host: get('ip'), port: Number(get('port')), flags: get('flags') };
    })
    .filter((r) => r.host && r.port && !/s_down|o_down|disconnected/.test(r.flags))
    .map(({ host, port }) => ({ host, port }));
}

/**
 * `apply` over a connection of its own (`options`: the admin's credentials and TLS) to each of
 * `nodes`; one that cannot be reached does not stop the others, then AclNodesUnreachableError
 * names those that got the users (and `applied`, set up before) and those that did not. Any other
 * refusal (the admin's own NOPERM) is thrown at once. Returns how many nodes were set up.
 */
async function onEachNode(
  nodes: readonly { host: string; port: number }[],
  options: RedisOptions,
  apply: (node: Redis) => Promise<void>,
  o: ApplyAclOptions,
  listedBy: 'cluster' | 'sentinel',
  applied: string[] = [],
): Promise<number> {
  const unreachable: { address: string; error: string }[] = [];
  for (const { host, port } of nodes) {
    const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const node = new Redis({
      ...options,
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
      dropConnection(node);
    }
  }
  if (unreachable.length > 0) throw new AclNodesUnreachableError(applied, unreachable, listedBy);
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
