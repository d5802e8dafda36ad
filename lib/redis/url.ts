import { Cluster, Command, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ConfigError } from '../core/errors.js';
import { isDbOutOfRange } from '../core/redis-replies.js';
import { dropStrayMasters } from './cluster-strays.js';
import { describeSentinels, isSentinelUrl, parseSentinelUrl, sentinelOptions, type SentinelTarget } from './sentinel.js';
import { watchSwitchMaster } from './sentinel-watch.js';
import { keySlot } from './shard.js';
import { decodeUrlPart, parseHostList, splitUrlAuth } from './url-parts.js';

/**
 * `REDIS_URL` forms, parsed here and nowhere else:
 * - `redis://[user:password@]host:port[/db]`, `rediss://...` (TLS): one server (ioredis `Redis`);
 * - `redis+cluster://[user:password@]host1:port1,host2:port2,...`, `rediss+cluster://...` (TLS):
 *   a Redis Cluster, reached through any of these seed nodes (ioredis `Cluster`; it discovers the
 *   rest with CLUSTER SLOTS). A cluster has database 0 only: a path other than `/` or `/0` is an error;
 * - `redis+sentinel://[user:password@]host1:port1,host2:port2/<master>[/<db>][?sentinelPassword=...]`,
 *   `rediss+sentinel://...` (TLS): the master the sentinels name (ioredis `Redis` in Sentinel mode,
 *   lib/redis/sentinel.ts), followed through failovers.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; tls: boolean; seeds: { host: string; port: number }[]; username?: string; password?: string }
  | SentinelTarget;

/** Every scheme REDIS_URL takes, for error messages. */
export const URL_FORMS = 'redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel://';

const CLUSTER_SCHEMES = new Set(['redis+cluster:', 'rediss+cluster:']);

export function isClusterUrl(url: string): boolean {
  return CLUSTER_SCHEMES.has(url.slice(0, url.indexOf('//')).toLowerCase());
}

/**
 * A one-server URL: redis:// or rediss://, and a database that is a number. Else ioredis would
 * take `http://host:6379` for a socket path and `/abc` for SELECT NaN (a stack trace at the first
 * command).
 */
function checkSingleUrl(url: string, where: string): void {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/?#]*@)?[^/?#]*(\/[^?#]*)?/i.exec(url);
  if (!m || !/^rediss?$/i.test(m[1]!)) throw new ConfigError(where, `expected ${URL_FORMS}, got ${m ? `${m[1]}://` : 'no scheme'}`);
  const path = m[2] ?? '';
  if (path !== '' && path !== '/' && !/^\/\d{1,9}$/.test(path))
    throw new ConfigError(where, `the database after the port must be a number, got ${JSON.stringify(path)}`);
  // What WHATWG URL (which ioredis parses with) refuses had reached the user as a bare `Invalid URL`
  // or `URI malformed`, naming neither the setting nor the fault. Said here, the URL not echoed (its password).
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(
      where,
      `not a valid ${m[1]}:// URL: the port must be a number up to 65535, the host has no spaces, and an @ : / ? # or % in the user or password must be percent-encoded (%40 %3A %2F %3F %23 %25)`,
    );
  }
  decodeUrlPart(parsed.username, 'user name', where, 'URL');
  decodeUrlPart(parsed.password, 'password', where, 'URL');
}

/** Parse a Redis URL (see RedisTarget). Throws ConfigError naming what is wrong, never echoing the password. */
export function parseRedisUrl(url: string, where = 'redis.url'): RedisTarget {
  if (isSentinelUrl(url)) return parseSentinelUrl(url, where);
  if (!isClusterUrl(url)) {
    checkSingleUrl(url, where);
    return { kind: 'single', url };
  }
  const scheme = url.slice(0, url.indexOf('//')).toLowerCase();
  let rest = url.slice(scheme.length + 2);
  const auth = splitUrlAuth(rest, where, 'cluster URL');
  rest = auth.rest;
  const { username, password } = auth;
  const slash = rest.search(/[/?]/);
  const hosts = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash) : '';
  if (path && !/^\/0?(\?.*)?$/.test(path) && path !== '?')
    throw new ConfigError(where, `a cluster URL has no database (Redis Cluster has db 0 only): drop ${JSON.stringify(path)}`);
  const seeds = parseHostList(hosts, 6379, 'cluster seed', where);
  if (seeds.length === 0) throw new ConfigError(where, `${scheme}// needs at least one host:port`);
  return { kind: 'cluster', tls: scheme === 'rediss+cluster:', seeds, username, password };
}

/** How a Cluster client rides out failovers and resharding (ioredis Cluster options, our defaults). */
export interface ClusterTimings {
  /** A command that hit a closed connection (its master died) is re-sent after this long, with a slot-map refresh. @defaultValue 200 */
  retryDelayOnFailoverMs?: number;
  /** A CLUSTERDOWN reply (a slot without a master, mid-failover) is retried after this long. @defaultValue 200 */
  retryDelayOnClusterDownMs?: number;
  /** A TRYAGAIN reply (multi-key command during a slot migration) is retried after this long. @defaultValue 100 */
  retryDelayOnTryAgainMs?: number;
  /** A MOVED reply is followed after this long (0 = at once); a small delay avoids ping-pong while a new map settles. @defaultValue 50 */
  retryDelayOnMovedMs?: number;
  /** Redirections and retries of one command before it fails (then our own retry loops take over). @defaultValue 16 */
  maxRedirections?: number;
  /** CLUSTER SLOTS must answer within this long. @defaultValue 2000 */
  slotsRefreshTimeoutMs?: number;
  /**
   * Also refresh the slot map this often (0 = only on MOVED and connection errors, which is what
   * follows a failover or a resharding anyway). Each refresh opens a short-lived connection, per
   * client. @defaultValue 0
   */
  slotsRefreshIntervalMs?: number;
  /**
   * A slot map read while a slot this client used has no master (mid-failover) is read again after
   * this long, until it has one: then the sockets opened meanwhile to other masters are closed
   * (lib/redis/cluster-strays.ts). 0 = only at the refreshes ioredis makes. @defaultValue 1000
   */
  ownerlessRefreshMs?: number;
  /**
   * A socket that opens to a master serving none of the slots the client used (a command retried
   * on a random master mid-failover that ran out of redirections there, a command without a key)
   * has the slot map read again this long after, which closes it if it still serves none. 0 = only
   * at the refreshes ioredis makes. @defaultValue 1000
   */
  strayCheckMs?: number;
}

/**
 * A client for `url`: a `Redis` for redis:// and rediss://, exactly as before; for the +sentinel
 * forms a `Redis` that asks the sentinels for the master at each (re)connect (every connection of
 * the runtime, blocking readers included, is one such client: each follows the promoted master on
 * its own); a `Cluster` for the
 * +cluster forms, with `options` as the options of each node connection (connection name, ready
 * check, ...) and `retryStrategy` as the cluster's reconnect strategy. The Cluster is returned
 * typed as `Redis`: it answers the same command API (ioredis Commander), which is all the runtime
 * uses; `status`, `quit`, `disconnect(reconnect)`, `pipeline` and the `*Buffer` variants behave
 * alike. Multi-key commands, scripts and pipelines must stay in one slot, which the pipeline's
 * hash tags guarantee. Use `asCluster` where the difference matters (WAIT per master).
 */
export function createClient(url: string, options: RedisOptions = {}, timings: ClusterTimings = {}): Redis {
  const target = parseRedisUrl(url);
  if (target.kind === 'single') return closeOnBadDb(new Redis(url, options));
  if (target.kind === 'sentinel') {
    const client = closeOnBadDb(new Redis(sentinelOptions(target, options)));
    watchSwitchMaster(client, target);
    return client;
  }
  // Options the Cluster owns (reconnects, offline queue, routing) are not node options.
  const { retryStrategy, reconnectOnError: _r, enableAutoPipelining, enableOfflineQueue: _q, readOnly: _ro, lazyConnect, ...node } = options;
  const clusterOptions: ClusterOptions = {
    redisOptions: {
      ...node,
      ...(target.username !== undefined ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
    },
    // Writes and blocking reads go to masters only: a replica's copy may lag.
    scaleReads: 'master',
    enableAutoPipelining,
    // Each node connection still checks itself (INFO, `enableReadyCheck` of `options`); the
    // cluster-wide check would send CLUSTER INFO to a random master and keep that connection open:
    // a reader would hold two sockets instead of one. A cluster in `fail` state answers CLUSTERDOWN,
    // which is retried like a failover.
    enableReadyCheck: false,
    lazyConnect,
    clusterRetryStrategy: retryStrategy ? (times) => retryStrategy(times) ?? null : undefined,
    retryDelayOnFailover: timings.retryDelayOnFailoverMs ?? 200,
    retryDelayOnClusterDown: timings.retryDelayOnClusterDownMs ?? 200,
    retryDelayOnTryAgain: timings.retryDelayOnTryAgainMs ?? 100,
    retryDelayOnMoved: timings.retryDelayOnMovedMs ?? 50,
    maxRedirections: timings.maxRedirections ?? 16,
    slotsRefreshTimeout: timings.slotsRefreshTimeoutMs ?? 2_000,
    slotsRefreshInterval: timings.slotsRefreshIntervalMs ?? 0,
    // With TLS, keep the hostname (not its resolved IP) so the certificate check sees the name.
    ...(target.tls ? { dnsLookup: (address: string, cb: (err: null, address: string) => void) => cb(null, address) } : {}),
  };
  const cluster = new Cluster(target.seeds, clusterOptions);
  // ioredis first treats every seed as a master; a seed that turns out to be a replica gets a
  // READONLY connection that then idles for the client's life. Reads go to masters only: drop it.
  cluster.on('refresh', () => {
    for (const replica of cluster.nodes('slave')) if (replica.status !== 'wait' && replica.status !== 'end') replica.disconnect();
  });
  routeSubcommandKeys(cluster);
  dropStrayMasters(cluster, { ownerlessRefreshMs: timings.ownerlessRefreshMs ?? 1_000, strayCheckMs: timings.strayCheckMs ?? 1_000 });
  return cluster as unknown as Redis;
}

/**
 * A database the server does not have (`/99` on 16): ioredis reports the refused SELECT as an
 * error event and goes on with database 0. Close instead, before the commands queued behind the
 * SELECT run there; commands then fail and diagnose.ts names the cause (exit 18).
 */
function closeOnBadDb(client: Redis): Redis {
  client.on('error', (err: Error) => {
    if (isDbOutOfRange(err)) client.disconnect();
  });
  return client;
}

/** Commands whose key follows a subcommand (`XINFO STREAM <key>`, `XGROUP CREATE <key> ...`). */
const SUBCOMMAND_KEYED = ['xinfo', 'xgroup'] as const;

/**
 * ioredis's command table gives XINFO and XGROUP no key, so a Cluster client sends them to a
 * random node (a MOVED round trip and a slot-map refresh each time), and with auto-pipelining it
 * groups them by their subcommand's slot, so most fail with MOVED. These methods send them with
 * their key named, so they go straight to the key's master like any other command.
 */
function routeSubcommandKeys(cluster: Cluster): void {
  const send = (name: string, replyEncoding: BufferEncoding | null, args: (string | Buffer | number)[]) => {
    const command = new Command(name, args, { replyEncoding });
    if (args[1] !== undefined) (command as unknown as { keys: unknown[] }).keys = [args[1]];
    return cluster.sendCommand(command);
  };
  const target = cluster as unknown as Record<string, unknown>;
  for (const name of SUBCOMMAND_KEYED) {
    target[name] = (...args: (string | Buffer | number)[]) => send(name, 'utf8', args);
    target[`${name}Buffer`] = (...args: (string | Buffer | number)[]) => send(name, null, args);
  }
}

/** The Cluster behind a client from `createClient`, or undefined for a single-server client. */
export function asCluster(client: Redis): Cluster | undefined {
  return (client as unknown as { isCluster?: boolean }).isCluster === true ? (client as unknown as Cluster) : undefined;
}

/**
 * The master connection that serves `key`'s slot in a Cluster client (the very connection the
 * client's commands for that slot use, so a WAIT sent on it waits for their replication), from the
 * client's current slot map. Undefined when the map has no node for the slot yet.
 */
export function masterForKey(cluster: Cluster, key: string): Redis | undefined {
  const owner = cluster.slots[keySlot(key)]?.[0];
  if (!owner) return undefined;
  return cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
}

/** Where a URL points, for messages: `host:port` (every seed of a cluster URL), never its credentials. */
export function describeRedisUrl(url: string): string {
  try {
    const t = parseRedisUrl(url);
    if (t.kind === 'cluster') return t.seeds.map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`).join(',');
    if (t.kind === 'sentinel') return `sentinels ${describeSentinels(t)}`;
    return new URL(url).host || url.replace(/\/\/[^@/]*@/, '//');
  } catch {
    return '(unparsable URL)';
  }
}

/** The URL with its password (and a sentinel URL's `sentinelPassword`) replaced by `***` (user name kept), for printing. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@').replace(/([?&]sentinelPassword=)[^&#]*/gi, '$1***');
}
