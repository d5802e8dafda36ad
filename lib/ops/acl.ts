import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { stageRedisUrlEnv } from '../config/load.js';
import type { ResolvedConfig, ResolvedStage } from '../config/types.js';
import { ConfigError } from '../core/errors.js';
import { loadLibrary } from '../redis/functions.js';
import { Keys } from '../redis/keys.js';
import { asCluster, isClusterUrl, parseRedisUrl, URL_FORMS } from '../redis/url.js';
import { KEY_READ_COMMANDS, SCRIPT_COMMANDS, SELF_CHECK_COMMANDS, stageGrants, type KeyGrant, type KeyMode } from './acl-grants.js';
import { onEveryClusterNode, onSentinelMasterAndReplicas, type ApplyAclOptions } from './acl-nodes.js';
import { API_READ_COMMANDS, API_REDIS_URL_ENV, apiGrants } from './acl-api.js';
import { WEBHOOKS_REDIS_URL_ENV, webhooksGrants } from './acl-webhooks.js';

export { CONSUMER_COMMANDS, FENCE_COMMANDS, LIVENESS_COMMANDS, SCRIPT_COMMANDS, SELF_CHECK_COMMANDS, stageGrants } from './acl-grants.js';
export type { KeyGrant, KeyMode, StageGrants } from './acl-grants.js';
export { API_READ_COMMANDS, API_REDIS_URL_ENV, apiGrants, type ApiGrants } from './acl-api.js';
export { clusterNodeAddresses, DEFAULT_ACL_NODE_CONNECT_TIMEOUT_MS, type ApplyAclOptions } from './acl-nodes.js';

/**
 * Least-privilege Redis ACL users derived from the config and the routing table (Redis >= 7:
 * selectors and read/write key permissions). One user per stage, one for the producer, one
 * read-only observer (status, export, `reprocess --dry-run`), one for `pipeline serve` (the HTTP API
 * and the console: lib/ops/acl-api.ts). What puts work back mid-pipeline
 * (`pipeline dlq replay`, `pipeline reprocess`: XADD to any stage stream, the
 * `{p}:reprocess:<key>` markers) is no pipeline user's: it runs as the admin of REDIS_URL, and the
 * observer gets NOPERM for it (test/store/reprocess.test.ts).
 *
 * A stage user's permissions are split so that no command reaches a key it has no business with:
 * - root: connection commands, ACL WHOAMI and ACL DRYRUN (a worker checks its own permissions at
 *   start, lib/redis/acl-dryrun.ts) and FCALL (the pipeline's Lua runs as one Redis Functions library,
 *   lib/redis/functions.ts, that the admin loads; no user but the admin may run EVAL, EVALSHA,
 *   SCRIPT or FUNCTION, so no pipeline user can run Lua it brings itself) with read-write access
 *   to every key the pipeline's functions declare (own stream, route targets, DLQ, the stage's
 *   data keys). Redis 7 checks every command a function runs, and every key it touches (declared
 *   or built inside it), against the user again, so the declared keys grant nothing by
 *   themselves: what a function may do is what the selectors below allow.
 * - selector 1: the consumer's commands (XREADGROUP, XACK, XCLAIM, ...) on its own input stream.
 * - selector 2: XADD only (write-only key permission `%W~`) on its route targets, the DLQ and the
 *   log stream (`{p}:logs`, lib/observe/log-stream.ts).
 * - selector 3: SET, DEL and GET on the stage's own watchdog liveness keys
 *   (`{p}:liveness:<stage>:*`, lib/worker/watchdog.ts; SET inside lib/lua/liveness-3.lua), and
 *   GET and SET of each consumer's hand-off and claim memories there (`...:<consumer>:handoff`,
 *   `...:<consumer>:claim`: lib/lua/handoff-N.lua, claim-3.lua).
 * - selector 4: GET and SET on the stage group's claim fence (`{p}:fence:<stage>`), which the
 *   hand-off reads and the reclaimer's claim sets to a fresh token (lib/lua/handoff-N.lua, claim-3.lua).
 * - HGETALL, read-only, on the stage's paused flag (`{p}:paused:<stage>`, lib/worker/pause-gate.ts).
 * - a stage with a `rateLimit`: HMGET/HSET/PEXPIRE on its token bucket (`{p}:ratelimit:<stage>`) and
 *   TIME (no key), which lib/lua/rate-limit-1.lua runs (lib/worker/rate-gate.ts).
 * - selector 5: TYPE, read-only, on the route targets and the DLQ: the hand-off checks each
 *   target is a stream before its first write (lib/lua/handoff-N.lua).
 * - selectors 6 and 7: GET/SET of the data-loss marker `{p}:epoch` and HSETNX/HSET/HINCRBY/HGETALL of
 *   the record `{p}:data-lost` (lib/stream/data-loss.ts; `pipeline health` reads it as the stage user).
 * - one selector per data grant of the stage kind (e.g. the store's product hashes and sets).
 */

export type AclRole = 'stage' | 'producer' | 'observer' | 'api' | 'webhooks';

export interface AclUser {
  name: string;
  role: AclRole;
  stage?: string;
  /** The env var that hands this user's URL to its process (REDIS_URL_<STAGE> for stages). */
  env: string;
  password: string;
  /** The Redis URL (base URL's scheme, host, port and db with this user's credentials). */
  url: string;
  /** `ACL SETUSER <name>` arguments; the password appears only as its SHA-256 (`#...`). */
  rules: string[];
  /** What it may do, for humans. */
  summary: string;
}

export interface AclOptions {
  /** Password for a user (`role`, `stage`). @defaultValue 32 random bytes, hex */
  password?: (user: { name: string; role: AclRole; stage?: string }) => string;
  /** URL whose scheme (redis/rediss), host, port and db the users' URLs keep. @defaultValue config.redis.url */
  baseUrl?: string;
  /** Data keys a stage touches beyond its streams (stages/access.ts). @defaultValue none */
  dataAccess?: (stage: ResolvedStage, keys: Keys) => KeyGrant[];
  /** User names are `<prefix><stage>`, `<prefix>producer`, `<prefix>observer`, `<prefix>api`. @defaultValue "<pipeline>-" */
  prefix?: string;
  /**
   * Users whose password on the server stays as it is (rerun of `pipeline acl --apply` without
   * `--rotate`, password not known here): their rules set no password and do not reset it; their
   * `password` and `url` are ''. @defaultValue none
   */
  keepPassword?: (user: { name: string; role: AclRole; stage?: string }) => boolean;
}

/**
 * What every connection needs: ioredis's handshake (CLIENT SETNAME for the connection names, INFO
 * for the ready check) and PING. AUTH, HELLO and QUIT need no permission. CLIENT SETINFO (Redis
 * 7.2+) is left out so the rules load on 7.0 too: ioredis ignores its refusal (CLIENT LIST then
 * shows no lib-name).
 */
export const CONNECTION_COMMANDS = ['ping', 'info', 'client|setname'];
/** What a Cluster client needs besides: the slot map and the ready check (ioredis). */
export const CLUSTER_CONNECTION_COMMANDS = ['cluster|slots', 'cluster|info'];
/**
 * The observer: `pipeline status`, `top`, `health`, `export --sink redis`, `labels export`, DLQ
 * inspection, `reprocess --dry-run`, and `functions status` (FCALL_RO of the library's version
 * probe: FCALL_RO runs only functions flagged `no-writes`, whose commands Redis checks against
 * these read-only rules again, so it reads nothing the rules below do not allow).
 */
export const OBSERVER_COMMANDS = ['fcall_ro', ...KEY_READ_COMMANDS];

const PERM: Record<KeyMode, string> = { r: '%R~', w: '%W~', rw: '~' };
const uniq = <T>(xs: T[]) => [...new Set(xs)];
const cmds = (list: string[]) => list.map((c) => `+${c}`);
const selector = (g: KeyGrant) => `(${[...uniq(g.keys).map((k) => PERM[g.mode] + k), ...cmds(uniq(g.commands))].join(' ')})`;

export const generatePassword = () => randomBytes(32).toString('hex');
export const passwordHash = (password: string) => `#${createHash('sha256').update(password).digest('hex')}`;

/** `base` with this user's credentials (for a cluster URL, every seed keeps them; for a sentinel URL, the master's login, the sentinels' kept). */
export function userUrl(base: string, user: string, password: string): string {
  const target = parseRedisUrl(base);
  if (target.kind === 'sentinel') {
    const at = base.indexOf('//') + 2;
    const rest = base.slice(at);
    return `${base.slice(0, at)}${encodeURIComponent(user)}:${encodeURIComponent(password)}@${rest.slice(rest.lastIndexOf('@') + 1)}`;
  }
  if (target.kind === 'cluster') {
    const hosts = target.seeds.map((s) => `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`).join(',');
    return `${target.tls ? 'rediss+cluster' : 'redis+cluster'}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${hosts}`;
  }
  const u = new URL(base);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError('redis.url', `expected ${URL_FORMS}, got ${u.protocol}`);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** The database a single-node or sentinel URL selects ('' for 0 or none; a cluster has db 0 only). */
function databaseOf(url: string): string {
  const target = parseRedisUrl(url);
  if (target.kind === 'sentinel') return target.db ? String(target.db) : '';
  return target.kind === 'cluster' ? '' : new URL(url).pathname.replace(/^\//, '');
}

function validName(name: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(name)) throw new ConfigError('acl', `user name ${JSON.stringify(name)} has characters ACL users cannot carry`);
  return name;
}

/** Every ACL user of the pipeline, derived from the config and its routing table. */
export function aclUsers(config: ResolvedConfig, opts: AclOptions = {}): AclUser[] {
  // Sharded pipelines (`shards` > 1) have one key set per shard: every rule names each shard's keys.
  const shards = Keys.shards(config.pipeline, config.shards);
  const each = (f: (keys: Keys) => string[]) => uniq(shards.flatMap(f));
  const base = opts.baseUrl ?? config.redis.url;
  const prefix = opts.prefix ?? `${config.pipeline}-`;
  const db = databaseOf(base);
  // SELECT only when the URL names a database other than 0 (ioredis sends it on connect).
  const connection = cmds([...CONNECTION_COMMANDS, ...(db && db !== '0' ? ['select'] : []), ...(isClusterUrl(base) ? CLUSTER_CONNECTION_COMMANDS : [])]);
  // '' = keep the server's password: everything but the password is reset (RESET would drop it).
  const start = (password: string) =>
    password === ''
      ? ['on', 'resetkeys', 'resetchannels', 'clearselectors', '-@all', ...connection]
      : ['reset', 'on', passwordHash(password), 'resetchannels', '-@all', ...connection];
  const make = (role: AclRole, name: string, stage: string | undefined, env: string, rules: (pw: string) => string[], summary: string): AclUser => {
    const keep = opts.keepPassword?.({ name, role, stage }) ?? false;
    const password = keep ? '' : (opts.password?.({ name, role, stage }) ?? generatePassword());
    return { name: validName(name), role, stage, env, password, url: keep ? '' : userUrl(base, name, password), rules: rules(password), summary };
  };

  const users: AclUser[] = config.stages.map((stage) => {
    const { scriptKeys, selectors, rootCommands, summary } = stageGrants(config, stage, opts.dataAccess);
    return make(
      'stage',
      `${prefix}${stage.name}`,
      stage.name,
      stageRedisUrlEnv(stage.name),
      (pw) => [
        ...start(pw),
        ...cmds([...SCRIPT_COMMANDS, ...SELF_CHECK_COMMANDS, ...rootCommands]),
        ...scriptKeys.map((k) => `~${k}`),
        ...selectors.map(selector),
      ],
      summary,
    );
  });
  const inputs = each((k) => [k.stream(config.input)]);
  // The producer adds batches through produce-batch-2.lua: XADD to the input stream and GET/SET of
  // its own exactly-once state key (`<input>:producer:<id>`, lib/producer/producer.ts).
  const producerState = inputs.map((input) => `${input}:producer:*`);
  users.push(
    make(
      'producer',
      `${prefix}producer`,
      undefined,
      'PIPELINE_PRODUCER_REDIS_URL',
      (pw) => [
        ...start(pw),
        '+wait',
        ...cmds(SCRIPT_COMMANDS),
        ...inputs.map((k) => `~${k}`),
        ...producerState.map((k) => `~${k}`),
        selector({ keys: inputs, mode: 'w', commands: ['xadd'] }),
        selector({ keys: producerState, mode: 'rw', commands: ['get', 'set'] }),
        // Backpressure (lib/producer/backpressure.ts): the lag of the input group and of every stage after it, and Redis memory.
        '+info',
        selector({ keys: each((k) => config.stages.map((s) => k.stream(s.input))), mode: 'r', commands: ['xinfo|groups', 'xlen'] }),
      ],
      `XADD to ${inputs.join(', ')} only, GET/SET its batch state ${producerState.join(', ')}, XINFO GROUPS/XLEN of the stages' streams and INFO for backpressure (pipeline produce)`,
    ),
  );
  // Every shard's keys and, sharded, the pipeline's own `{p}:*` too: the one log stream `{p}:logs`
  // (`logs.stream`, written by every shard's workers) and `{p}:labels` are not a shard's.
  const everything = uniq([...each((k) => [`${k.tag}:*`]), `${new Keys(config.pipeline).tag}:*`]);
  users.push(
    make(
      'observer',
      `${prefix}observer`,
      undefined,
      'PIPELINE_OBSERVER_REDIS_URL',
      (pw) => [...start(pw), ...cmds(OBSERVER_COMMANDS), ...everything.map((k) => `%R~${k}`)],
      `read-only on ${everything.join(', ')} (pipeline status, top, health, export, dlq list/show, labels export, reprocess --dry-run, functions status)`,
    ),
  );
  // `pipeline serve`: the API's submit and completions, the console's reads and actions (lib/ops/acl-api.ts).
  const api = apiGrants(config);
  users.push(
    make(
      'api',
      `${prefix}api`,
      undefined,
      API_REDIS_URL_ENV,
      (pw) => [
        ...start(pw),
        // The submit's WAIT (api.submitWaitReplicas), as the producer's; "auto" reads the replica count with INFO (CONNECTION_COMMANDS).
        '+wait',
        ...cmds([...SCRIPT_COMMANDS, ...API_READ_COMMANDS]),
        ...api.readKeys.map((k) => `%R~${k}`),
        ...api.scriptKeys.map((k) => `~${k}`),
        ...api.selectors.map(selector),
      ],
      api.summary,
    ),
  );
  // `pipeline webhooks` (lib/ops/acl-webhooks.ts), when the config has webhooks.
  if (config.webhooks.length > 0) {
    const hooks = webhooksGrants(config);
    users.push(
      make(
        'webhooks',
        `${prefix}webhooks`,
        undefined,
        WEBHOOKS_REDIS_URL_ENV,
        (pw) => [...start(pw), ...cmds([...SCRIPT_COMMANDS, ...hooks.rootCommands]), ...hooks.scriptKeys.map((k) => `~${k}`), ...hooks.selectors.map(selector)],
        hooks.summary,
      ),
    );
  }
  const names = users.map((u) => u.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new ConfigError('acl', `two users would be named ${dup} (a stage named like the producer, observer or api?)`);
  return users;
}

/**
 * The Kubernetes Secret holding a user's Redis URL (key `url`): `<pipeline>-<stage>-redis` per
 * stage (deploy/render.ts points the stage's REDIS_URL at it), `<pipeline>-producer-redis`,
 * `<pipeline>-observer-redis`, `<pipeline>-api-redis`; lower-cased, DNS-safe.
 */
export function k8sSecretName(pipeline: string, who: string): string {
  return `${pipeline}-${who}-redis`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 253)
    .replace(/-+$/, '');
}

/** One argument as redis-cli reads it: quoted when it has spaces, quotes or is empty. */
function cliArg(a: string): string {
  return a !== '' && /^[^\s"'\\]+$/.test(a) ? a : `"${a.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** `ACL SETUSER ...` as one line for redis-cli. */
export function formatSetUser(u: AclUser): string {
  return ['ACL', 'SETUSER', u.name, ...u.rules].map(cliArg).join(' ');
}

/**
 * Load the pipeline's Functions library (lib/redis/functions.ts; on a Cluster on every master) and
 * run the users' ACL SETUSER on `admin` (a connection allowed to run ACL and FUNCTION; a plain one
 * like cliRedis, not auto-pipelined). ACLs are per server, not replicated: on a Cluster client every
 * node CLUSTER NODES lists gets them, on a Sentinel client the master and every replica the
 * sentinels list (lib/ops/acl-nodes.ts: a node it cannot reach does not stop the others, and is
 * named by AclNodesUnreachableError at the end). Returns how many servers were set up.
 */
export async function applyAcl(admin: Redis, users: readonly AclUser[], o: ApplyAclOptions = {}): Promise<number> {
  await loadLibrary(admin);
  const cluster = asCluster(admin);
  if (cluster) return onEveryClusterNode(cluster, (node) => setUsers(node, users), o);
  if (admin.options.sentinels?.length) return onSentinelMasterAndReplicas(admin, (node) => setUsers(node, users), o);
  await setUsers(admin, users);
  return 1;
}

/** SHA-256 hex of each password a user has on the server (ACL GETUSER); undefined when there is no such user. */
export async function serverPasswordHashes(admin: Redis, name: string): Promise<string[] | undefined> {
  const reply = (await admin.call('ACL', 'GETUSER', name)) as unknown[] | null;
  if (!reply) return undefined;
  const i = reply.indexOf('passwords');
  return i >= 0 ? ((reply[i + 1] as string[]) ?? []).map(String) : [];
}

async function setUsers(server: Redis, users: readonly AclUser[]): Promise<void> {
  for (const u of users) await server.call('ACL', 'SETUSER', u.name, ...u.rules);
}
