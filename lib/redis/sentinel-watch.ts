import { Redis } from 'ioredis';
import { SENTINEL_WATCH_RETRY_MS, type SentinelTarget } from './sentinel.js';

/**
 * Sentinel's `+switch-master` announcements, followed for every Sentinel-mode client of this
 * process. A master failed over while alive (`SENTINEL FAILOVER`, a partition that heals) stays a
 * master until the sentinels convert it to a replica, which they do only after some seconds
 * (Sentinel waits to see the new configuration spread, then at its next INFO: 8-16 s measured).
 * Until then every client still connected to it would go on reading and writing there (a split
 * brain whose writes are lost at the conversion). On `+switch-master` for the client's master,
 * each client not already on the new address drops its socket and reconnects at once (ioredis asks
 * the sentinels again; commands in flight are sent again, as after any reconnect).
 *
 * One subscriber connection per sentinel per process and master (ioredis' own `failoverDetector`
 * opens them per client and prints "Unhandled error event" stacks when a sentinel is down), shared
 * by the clients of that master and closed with the last of them, so it never holds a finished
 * process open. Its connection errors are dropped: a sentinel that is down only delays this
 * shortcut; the clients still follow the failover when the sentinels convert the old master.
 */
interface Watch {
  subscribers: Redis[];
  clients: Set<Redis>;
}

const watches = new Map<string, Watch>();

function keyOf(t: SentinelTarget): string {
  return JSON.stringify([t.name, t.sentinels, t.tls, t.sentinelUsername ?? '', t.sentinelPassword ?? '', t.watchRetryMs ?? SENTINEL_WATCH_RETRY_MS]);
}

/** Whether `client`'s socket is connected to host:port already. */
function connectedTo(client: Redis, host: string, port: number): boolean {
  const stream = (client as unknown as { stream?: { remoteAddress?: string; remotePort?: number } }).stream;
  return client.status === 'ready' && stream?.remotePort === port && (stream.remoteAddress === host || stream.remoteAddress === `::ffff:${host}`);
}

function open(t: SentinelTarget, w: Watch): Redis[] {
  return t.sentinels.map(({ host, port }) => {
    const s = new Redis({
      host,
      port,
      ...(t.sentinelUsername !== undefined ? { username: t.sentinelUsername } : {}),
      ...(t.sentinelPassword !== undefined ? { password: t.sentinelPassword } : {}),
      ...(t.tls ? { tls: {} } : {}),
      connectionName: 'sentinel-watch',
      enableReadyCheck: false,
      maxRetriesPerRequest: null,
      retryStrategy: () => t.watchRetryMs ?? SENTINEL_WATCH_RETRY_MS,
    });
    s.on('error', () => {}); // a sentinel down: see above
    s.subscribe('+switch-master').catch(() => {});
    s.on('message', (_channel: string, message: string) => {
      // "<master name> <old ip> <old port> <new ip> <new port>"
      const [name, , , newHost, newPort] = message.split(' ');
      if (name !== t.name || !newHost || !newPort) return;
      // Only a socket that is up can be on the old master; one (re)connecting asks the sentinels anyway.
      for (const c of w.clients) if ((c.status === 'ready' || c.status === 'connect') && !connectedTo(c, newHost, Number(newPort))) c.disconnect(true);
    });
    return s;
  });
}

/** Follow `+switch-master` for `client` (a Sentinel-mode client of `t`) until it ends. */
export function watchSwitchMaster(client: Redis, t: SentinelTarget): void {
  const key = keyOf(t);
  let w = watches.get(key);
  if (!w) {
    w = { subscribers: [], clients: new Set() };
    w.subscribers = open(t, w);
    watches.set(key, w);
  }
  w.clients.add(client);
  const watch = w;
  client.once('end', () => {
    watch.clients.delete(client);
    if (watch.clients.size > 0 || watches.get(key) !== watch) return;
    watches.delete(key);
    for (const s of watch.subscribers) s.disconnect();
  });
}
