import type { Cluster, Redis } from 'ioredis';

/** When a Cluster client reads its slot map again to close sockets it does not need (ClusterTimings, lib/redis/url.ts). */
export interface StrayTimings {
  /** Read the map again after this long while a slot the client used has no master in it. 0 = only at the refreshes ioredis makes. */
  ownerlessRefreshMs: number;
  /** Read the map again this long after a socket opened to a master serving none of the client's slots. 0 = only at the refreshes ioredis makes. */
  strayCheckMs: number;
}

/**
 * While a dead master's slot has no connection (mid-failover), ioredis sends the slot's commands
 * to a random master, which answers MOVED; that connection then stayed open for the client's life,
 * so after a failover a shard's reader held a socket on every master (a soak: 36 connections
 * before two failovers, 59 after). The slots a client sends to are noted, and at each new slot map
 * (`refresh`) the open connections to masters serving none of them are closed (a command still
 * on one is re-sent, as after any closed connection). Nothing is closed before the client has
 * used a slot, or while one it used has no master in the map; then the map is read again after
 * `ownerlessRefreshMs`, until it has one: the refresh a MOVED to the new master asks for is
 * skipped while another is in flight, and if that one had read the map from before the promotion,
 * no refresh came after it and a socket to a random master stayed open. For the same reason a
 * refresh asked for while one is in flight (ioredis drops it) is made once that one ends.
 * And a socket may open after the last map was read with nothing asking for another: a command
 * retried on a random master whose MOVED there is its last redirection (ioredis then rejects it,
 * `Too many Cluster redirections`, and neither follows the MOVED nor reads the map), or a command
 * without a key (TIME, PING), which ioredis sends to a random master. So a socket that opens to a
 * master serving none of the client's slots has the map read again `strayCheckMs` later, which
 * closes it if it still serves none.
 */
export function dropStrayMasters(cluster: Cluster, timings: StrayTimings): void {
  const used = new Set<number>();
  const send = cluster.sendCommand.bind(cluster);
  cluster.sendCommand = (command, stream, node) => {
    const slot = (node as { slot?: number } | undefined)?.slot ?? command.getSlot();
    if (typeof slot === 'number') used.add(slot);
    return send(command, stream, node);
  };
  const readAgain = later(cluster, timings.ownerlessRefreshMs);
  const checkStray = later(cluster, timings.strayCheckMs);
  // ioredis drops a refresh asked for while one is in flight; note it, and make it when that one ends.
  let askedMeanwhile = false;
  const refresh = cluster.refreshSlotsCache.bind(cluster);
  cluster.refreshSlotsCache = (callback) => {
    if ((cluster as unknown as { isRefreshing?: boolean }).isRefreshing) askedMeanwhile = true;
    return refresh(callback);
  };
  cluster.on('refresh', () => {
    if (askedMeanwhile) {
      askedMeanwhile = false;
      // After this refresh has ended (ioredis emits 'refresh' just before it does).
      process.nextTick(() => cluster.status === 'ready' && cluster.refreshSlotsCache());
    }
  });
  /** The masters ("host:port") serving the slots the client used; undefined while one of them has none. */
  const needed = (): Set<string> | undefined => {
    const owners = new Set<string>();
    for (const slot of used) {
      const owner = cluster.slots[slot]?.[0];
      if (!owner) return undefined;
      owners.add(owner);
    }
    return owners;
  };
  cluster.on('refresh', () => {
    const owners = needed();
    if (!owners) return readAgain();
    if (owners.size === 0) return;
    for (const master of cluster.nodes('master')) if (OPEN.includes(master.status) && !owners.has(keyOf(master))) master.disconnect();
  });
  cluster.on('+node', (node: Redis) => {
    node.on('ready', () => {
      const owners = needed();
      if (owners && owners.size > 0 && !owners.has(keyOf(node)) && cluster.nodes('master').includes(node)) checkStray();
    });
  });
}

const OPEN = ['connecting', 'connect', 'ready', 'reconnecting'];

const keyOf = (node: Redis) => `${node.options.host}:${node.options.port}`;

/** A slot-map read `ms` from the first call (later calls until then join it); none when `ms` is 0. */
function later(cluster: Cluster, ms: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  return () => {
    if (timer !== undefined || ms <= 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (cluster.status === 'ready') cluster.refreshSlotsCache();
    }, ms).unref();
  };
}
