import type { RedisOptions } from 'ioredis';
import { ConfigError } from '../core/errors.js';
import { decodeUrlPart, parseHostList, splitUrlAuth } from './url-parts.js';

/**
 * A Redis master found through Sentinel: `redis+sentinel://[user:password@]host1[:port1],host2[:port2]/<master>[/<db>][?db=N&sentinelUsername=U&sentinelPassword=P&sentinelWatchRetryMs=T]`
 * (`rediss+sentinel://`: TLS to the sentinels and to the master). The form Harbor uses, built like
 * this project's `redis+cluster://`: the hosts are the sentinels (port 26379 unless given), the first
 * path segment is the master's name as the sentinels know it (`sentinel monitor <name> ...`), then
 * the database. The URL's user and password log in to the master (and to the replica promoted in
 * its place); `sentinelUsername` and `sentinelPassword` log in to the sentinels (`requirepass` in
 * sentinel.conf), which have no ACL users of the pipeline's.
 */
export interface SentinelTarget {
  kind: 'sentinel';
  tls: boolean;
  sentinels: { host: string; port: number }[];
  /** The master's name as the sentinels monitor it. */
  name: string;
  db: number;
  username?: string;
  password?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** `sentinelWatchRetryMs`: how long the `+switch-master` watch (sentinel-watch.ts) waits between reconnects to a sentinel that is down; unset: SENTINEL_WATCH_RETRY_MS. */
  watchRetryMs?: number;
}

/** The `+switch-master` watch's wait between reconnects to a sentinel that is down, unless the URL's `sentinelWatchRetryMs` says. @defaultValue 1000 */
export const SENTINEL_WATCH_RETRY_MS = 1_000;

const SENTINEL_SCHEMES = new Set(['redis+sentinel:', 'rediss+sentinel:']);
/** A sentinel's port when the URL gives none (Sentinel's own default). */
export const SENTINEL_PORT = 26379;
const PARAMS = ['db', 'sentinelUsername', 'sentinelPassword', 'sentinelWatchRetryMs'] as const;

export function isSentinelUrl(url: string): boolean {
  return SENTINEL_SCHEMES.has(url.slice(0, url.indexOf('//')).toLowerCase());
}

const decode = (part: string, what: string, where: string): string => decodeUrlPart(part, what, where, 'sentinel URL');

function retryMs(raw: string, where: string): number {
  const ms = /^\d{1,7}$/.test(raw) ? Number(raw) : NaN;
  if (!(ms >= 1 && ms <= 3_600_000))
    throw new ConfigError(where, `sentinelWatchRetryMs must be a whole number of milliseconds from 1 to 3600000, got ${JSON.stringify(raw)}`);
  return ms;
}

function database(raw: string, what: string, where: string): number {
  if (!/^\d{1,9}$/.test(raw)) throw new ConfigError(where, `the database (${what}) must be a number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** The query's parameters; an unknown one is an error naming it (a typo would be ignored otherwise). Values are never echoed. */
function queryOf(query: string, where: string): Partial<Record<(typeof PARAMS)[number], string>> {
  const out: Partial<Record<(typeof PARAMS)[number], string>> = {};
  for (const pair of query.split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = decode(eq >= 0 ? pair.slice(0, eq) : pair, 'parameter name', where);
    if (!(PARAMS as readonly string[]).includes(key))
      throw new ConfigError(where, `unknown parameter ${JSON.stringify(key)} in the sentinel URL (expected ${PARAMS.join(', ')})`);
    out[key as (typeof PARAMS)[number]] = decode(eq >= 0 ? pair.slice(eq + 1) : '', `parameter ${key}`, where);
  }
  return out;
}

/** Parse a redis+sentinel:// or rediss+sentinel:// URL. Throws ConfigError naming the part that is wrong, never echoing a password. */
export function parseSentinelUrl(url: string, where = 'redis.url'): SentinelTarget {
  const scheme = url.slice(0, url.indexOf('//')).toLowerCase();
  let rest = url.slice(scheme.length + 2);
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const params = queryOf(q >= 0 ? rest.slice(q + 1) : '', where);
  if (q >= 0) rest = rest.slice(0, q);
  const auth = splitUrlAuth(rest, where, 'sentinel URL');
  rest = auth.rest;
  const { username, password } = auth;
  const slash = rest.indexOf('/');
  const hosts = slash >= 0 ? rest.slice(0, slash) : rest;
  const sentinels = parseHostList(hosts, SENTINEL_PORT, 'sentinel address', where);
  if (sentinels.length === 0) throw new ConfigError(where, `${scheme}// needs at least one sentinel host:port before the master name`);
  const segments = slash >= 0 ? rest.slice(slash + 1).split('/') : [];
  const name = segments[0] ? decode(segments[0], 'master name', where) : '';
  if (!name) throw new ConfigError(where, `${scheme}// needs the master's name after the sentinels (${scheme}//host:26379/mymaster)`);
  if (segments.length > 2 || (segments.length === 2 && segments[1] === ''))
    throw new ConfigError(where, `after the master name only a database may follow (/<name>/<db>), got ${JSON.stringify(`/${segments.slice(1).join('/')}`)}`);
  const pathDb = segments[1] !== undefined ? database(segments[1], 'after the master name', where) : undefined;
  const queryDb = params.db !== undefined ? database(params.db, 'db=', where) : undefined;
  if (pathDb !== undefined && queryDb !== undefined && pathDb !== queryDb)
    throw new ConfigError(where, `the database is given twice and differs: /${pathDb} after the master name, db=${queryDb}`);
  return {
    kind: 'sentinel',
    tls: scheme === 'rediss+sentinel:',
    sentinels,
    name,
    db: pathDb ?? queryDb ?? 0,
    username,
    password,
    ...(params.sentinelUsername ? { sentinelUsername: params.sentinelUsername } : {}),
    ...(params.sentinelPassword !== undefined ? { sentinelPassword: params.sentinelPassword } : {}),
    ...(params.sentinelWatchRetryMs !== undefined ? { watchRetryMs: retryMs(params.sentinelWatchRetryMs, where) } : {}),
  };
}

/**
 * ioredis options of a client that asks the sentinels for the master's address at every connect
 * and reconnect (ioredis SentinelConnector), on top of the caller's `options`. Such a client
 * follows a failover by reconnecting: a SIGKILLed master closes its sockets, a master demoted in
 * place has its clients killed by Sentinel (`CLIENT KILL TYPE normal`) and answers READONLY to a
 * write (`reconnectOnError`, lib/core/failure-policy.ts), and the ready check (`INFO`, role) refuses
 * a replica the sentinels still called master; each reconnect asks the sentinels again. The
 * `retryStrategy` of `options` also paces the rounds over all sentinels (none answering).
 */
export function sentinelOptions(t: SentinelTarget, options: RedisOptions): RedisOptions {
  return {
    ...options,
    sentinels: t.sentinels,
    name: t.name,
    role: 'master',
    db: t.db,
    // The ready check reads the role from INFO: without it ioredis would stay on a replica.
    enableReadyCheck: true,
    ...(t.username !== undefined ? { username: t.username } : {}),
    ...(t.password !== undefined ? { password: t.password } : {}),
    ...(t.sentinelUsername !== undefined ? { sentinelUsername: t.sentinelUsername } : {}),
    ...(t.sentinelPassword !== undefined ? { sentinelPassword: t.sentinelPassword } : {}),
    ...(t.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    ...(options.retryStrategy ? { sentinelRetryStrategy: options.retryStrategy } : {}),
  };
}

/** host:port of each sentinel and the master's name, for messages (no credentials). */
export function describeSentinels(t: SentinelTarget): string {
  return `${t.sentinels.map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`).join(',')}/${t.name}`;
}
