import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { backoffMs, sleep } from '../core/backoff.js';
import { FunctionsMissingError } from '../core/errors.js';
import { asCluster } from './url.js';
import { isFunctionNotFound, isLibraryExists, isNoPermission } from '../core/redis-replies.js';
import { dropConnection } from './drop-connection.js';
import { duringDrops } from './connection-drops.js';

/**
 * The pipeline's Lua (lib/lua/<name>-<NUMKEYS>.lua, kept as plain script bodies with their
 * KEYS/ARGV header) as one Redis Functions library (Redis >= 7.0): each body becomes
 * `redis.register_function`'s callback with `KEYS` and `ARGV` as its parameters, so the body runs
 * unchanged. Called with FCALL, so no pipeline user needs EVAL, EVALSHA or SCRIPT: a stage, the
 * producer or an observer cannot run Lua it brings itself. Unlike the EVALSHA script cache,
 * functions persist in RDB/AOF and replicate. Helpers several scripts share (stream-id
 * comparisons) live once in lib/lua/shared/ and head the library's code, as locals its callbacks see.
 *
 * The library name and every function name carry a hash of the sources: a new release loads a
 * new library beside the old one, and processes of the old release keep calling theirs during a
 * rolling upgrade.
 */

const LUA_DIR = resolve(import.meta.dirname, '../lua');

/**
 * Function flags per script. `allow-oom`: runs while Redis is over `maxmemory` (functions without
 * it are refused whole with OOM, before any of their writes): the scripts that only free memory
 * (trimming, idle consumers, reprocess markers, purging dead letters: XDEL ran at maxmemory, and a purge is how an operator frees memory then),
 * and the liveness keys (three small keys per consumer: a worker waiting out a full Redis is healthy);
 * the console's trimmed review items (acking frees their pending entries, and their count is one
 * hash field: clearing them and counting them right must not wait for memory); a stage's rate-limit
 * bucket (one small hash rewritten in place: a full Redis is waited out at the hand-off, not turned into loop errors before the read).
 */
const FLAGS: Record<string, string[]> = {
  'trim-acked-1': ['allow-oom'],
  'delete-idle-consumer-1': ['allow-oom'],
  'liveness-3': ['allow-oom'],
  'drop-reprocess-marker-1': ['allow-oom'],
  'review-ack-trimmed-2': ['allow-oom'],
  'review-unlisted-2': ['allow-oom'],
  'dlq-purge-1': ['allow-oom'],
  'rate-limit-1': ['allow-oom'],
};

export interface FunctionLibrary {
  /** `streamline_<hash>`. */
  name: string;
  /** Hash of every script's source and flags (12 hex digits). */
  version: string;
  /** The `FUNCTION LOAD` body. */
  code: string;
  /** Script name (`handoff-N`) to its function name (`sle_<hash>_handoff_N`). */
  functions: Map<string, string>;
  /** A no-key, read-only function returning `version`: what a process calls to see the library is there. */
  probe: string;
}

const identifier = (s: string) => s.replace(/[^A-Za-z0-9_]/g, '_');

/** `<dir>/shared/*.lua`: helpers (local functions) every script of the library may call; none when absent. */
function sharedSources(dir: string): { name: string; body: string }[] {
  const at = resolve(dir, 'shared');
  if (!existsSync(at)) return [];
  return readdirSync(at)
    .filter((f) => f.endsWith('.lua'))
    .sort()
    .map((f) => ({ name: f.slice(0, -4), body: readFileSync(resolve(at, f), 'utf8') }));
}

/** Build the library from a folder of `name.lua` files (default lib/lua) and its shared helpers (`shared/`). */
export function buildLibrary(dir = LUA_DIR): FunctionLibrary {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.lua'))
    .sort();
  const sources = files.map((f) => ({ name: f.slice(0, -4), body: readFileSync(resolve(dir, f), 'utf8') }));
  const shared = sharedSources(dir);
  const hash = createHash('sha256');
  for (const s of shared) hash.update(`shared/${s.name}\0${s.body}\0`);
  for (const s of sources) hash.update(`${s.name}\0${(FLAGS[s.name] ?? []).join(',')}\0${s.body}\0`);
  const version = hash.digest('hex').slice(0, 12);
  const name = `streamline_${version}`;
  const functions = new Map(sources.map((s) => [s.name, `sle_${version}_${identifier(s.name)}`]));
  const probe = `sle_${version}_version`;
  const lua = (s: string) => JSON.stringify(s); // a JSON string is a valid Lua string literal for ASCII names
  // The shared helpers first: plain locals of the library's chunk, seen by every callback below.
  const parts = [`#!lua name=${name}`, ...shared.map((s) => s.body)];
  for (const s of sources) {
    const flags = FLAGS[s.name] ?? [];
    parts.push(
      `redis.register_function{function_name=${lua(functions.get(s.name)!)}, flags={${flags.map(lua).join(', ')}}, callback=function(KEYS, ARGV)`,
      s.body,
      'end}',
    );
  }
  parts.push(
    `redis.register_function{function_name=${lua(probe)}, flags={'no-writes', 'allow-oom', 'allow-stale'}, callback=function() return ${lua(version)} end}`,
  );
  return { name, version, code: parts.join('\n') + '\n', functions, probe };
}

let cached: FunctionLibrary | undefined;
/** The pipeline's library (built once per process). */
export const library = (): FunctionLibrary => (cached ??= buildLibrary());

/** Recognised in lib/core/redis-replies.ts; re-exported for the callers of this module. */
export { isFunctionNotFound };

/**
 * host:port of every master in CLUSTER NODES output that serves slots and is not flagged failed or
 * address-less. A master without slots needs no library (a node given slots later loads it at its
 * first call), and the node that answered may still see a new replica as one: loading there was
 * refused (READONLY) until gossip caught up.
 */
export function clusterMasters(clusterNodes: string): { host: string; port: number }[] {
  return clusterNodes
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .filter(([, , flags, , , , , , ...slots]) => {
      const f = flags?.split(',') ?? [];
      return f.includes('master') && !f.some((x) => x === 'fail' || x === 'noaddr') && slots.some((s) => /^\d/.test(s));
    })
    .map(([, addr]) => {
      const hostPort = addr!.split('@')[0]!;
      const colon = hostPort.lastIndexOf(':');
      return { host: hostPort.slice(0, colon).replace(/^\[|\]$/g, '') || '127.0.0.1', port: Number(hostPort.slice(colon + 1)) };
    });
}

/**
 * `FUNCTION LOAD` the library on the server (every master of a Cluster, each over a connection of
 * its own with the client's credentials and TLS settings) where it is missing. Needs a user allowed
 * to run FUNCTION (the admin, or the default user of a local `npm start`); a refusal is thrown as
 * is (NOPERM). Returns how many servers loaded it now.
 */
export async function loadLibrary(client: Redis, lib = library()): Promise<number> {
  const cluster = asCluster(client);
  if (!cluster) return (await loadOn(client, lib)) ? 1 : 0;
  let loaded = 0;
  for (const { host, port } of clusterMasters(String(await cluster.call('CLUSTER', 'NODES')))) {
    const node = new Redis({ ...cluster.options.redisOptions, host, port, lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => null });
    node.on('error', () => {}); // the command's rejection carries it
    try {
      if (await loadOn(node, lib)) loaded++;
    } finally {
      dropConnection(node);
    }
  }
  return loaded;
}

/** FUNCTION LOAD on one server: true when this call loaded the library, false when it was there. */
async function loadOn(server: Redis, lib: FunctionLibrary): Promise<boolean> {
  // Whether it was there before: a load whose reply was lost with the connection is sent again by
  // the client itself, and the re-send is refused as "already exists" whoever loaded it. A user
  // that may not probe (undefined) gets the load's own answer (a refusal, for a pipeline user).
  const before = await libraryPresent(server, lib).catch((err: unknown) => {
    if (isNoPermission(err)) return undefined;
    throw err;
  });
  const { value: loaded, dropped } = await duringDrops(server, () =>
    server.call('FUNCTION', 'LOAD', lib.code).then(
      () => true,
      (err: unknown) => {
        if (isLibraryExists(err)) return false;
        throw err;
      },
    ),
  );
  return loaded || (dropped && before === false);
}

/**
 * True when the library answers its probe (FCALL_RO: the probe is `no-writes`, so the observer, which
 * may run FCALL_RO only, may ask too: `pipeline functions status`). On a Cluster the probe goes, through the client, to the
 * master of each of `keys` (the keys this process's calls use: their masters are the ones that
 * must have it; the user must be allowed those keys), or to every master when `keys` is empty.
 */
export async function libraryPresent(client: Redis, lib = library(), keys: readonly string[] = []): Promise<boolean> {
  const probe = async (call: () => Promise<unknown>) => {
    try {
      return (await call()) === lib.version;
    } catch (err) {
      if (isFunctionNotFound(err)) return false;
      throw err;
    }
  };
  const cluster = asCluster(client);
  if (!cluster) return probe(() => client.call('FCALL_RO', lib.probe, 0));
  if (keys.length > 0) {
    for (const key of new Set(keys)) if (!(await probe(() => cluster.call('FCALL_RO', lib.probe, 1, key)))) return false;
    return true;
  }
  for (const { host, port } of clusterMasters(String(await cluster.call('CLUSTER', 'NODES')))) {
    const node = new Redis({ ...cluster.options.redisOptions, host, port, lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => null });
    node.on('error', () => {});
    try {
      if (!(await probe(() => node.call('FCALL_RO', lib.probe, 0)))) return false;
    } finally {
      dropConnection(node);
    }
  }
  return true;
}

/**
 * Make sure the library is there, loading it if this connection's user may. Throws
 * FunctionsMissingError (a TransientError: callers retry later) when it is missing and may not be
 * loaded by this user. `keys`: see libraryPresent.
 */
export async function ensureLibrary(client: Redis, lib = library(), keys: readonly string[] = []): Promise<'present' | 'loaded'> {
  if (await libraryPresent(client, lib, keys)) return 'present';
  try {
    await loadLibrary(client, lib);
    return 'loaded';
  } catch (err) {
    if (isNoPermission(err)) throw missing(lib, err);
    throw err;
  }
}

export const missing = (lib: FunctionLibrary, cause?: unknown) =>
  new FunctionsMissingError(
    `Redis Functions library ${lib.name} is not loaded and this user may not load it (FUNCTION LOAD refused): run \`pipeline acl --apply\` or \`pipeline functions load\` as an admin`,
    { cause },
  );

export interface AwaitLibraryOptions {
  /** Backoff between checks (doubling, jittered). @defaultValue 200 / 5000 ms (the stage's retryBaseMs / retryMaxMs) */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** One line when it starts waiting (once), and when the library appears. */
  onWait?: (err: FunctionsMissingError) => void;
  /** Give up (throw the last error) once this is true. */
  stopping?: () => boolean;
  /** On a Cluster: keys whose masters must have it (see libraryPresent). @defaultValue every master */
  keys?: readonly string[];
}

/**
 * At start: `ensureLibrary`, and while the library is missing and this user may not load it, say
 * so once and check again with backoff until an admin loads it (a worker started before
 * `pipeline acl --apply` waits for it rather than fail each batch).
 */
export async function awaitLibrary(client: Redis, opts: AwaitLibraryOptions = {}, lib = library()): Promise<'present' | 'loaded' | 'waited'> {
  let waited = false;
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await ensureLibrary(client, lib, opts.keys);
      return waited ? 'waited' : r;
    } catch (err) {
      if (!(err instanceof FunctionsMissingError) || opts.stopping?.()) throw err;
      if (!waited) opts.onWait?.(err);
      waited = true;
    }
    await sleep(backoffMs(attempt, opts.retryBaseMs ?? 200, opts.retryMaxMs ?? 5_000));
  }
}
