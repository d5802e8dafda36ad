import type { ResolvedConfig, ResolvedStage } from '../config/types.js';
import { probesFor, type DryRunProbe } from '../redis/acl-dryrun.js';
import { Keys } from '../redis/keys.js';
import { compileRoutes } from '../stream/router.js';

/** r: read (`%R~`), w: write (`%W~`), rw: both (`~`). */
export type KeyMode = 'r' | 'w' | 'rw';

/** Commands on keys matching patterns, with one permission. */
export interface KeyGrant {
  /** Full key patterns (`{products}:product:*`). */
  keys: string[];
  mode: KeyMode;
  /** Command names, `container|sub` for subcommands (`xinfo|stream`). */
  commands: string[];
}

/** The read-only commands on keys that the observer and the API user share (stream and group state, ranges, sets, hashes, strings). */
export const KEY_READ_COMMANDS = [
  'xinfo|stream',
  'xinfo|groups',
  'xinfo|consumers',
  'xlen',
  'xpending',
  'xrange',
  'xrevrange',
  'scard',
  'sscan',
  'smembers',
  'hget',
  'hgetall',
  'hmget',
  'get',
  'mget',
];

/**
 * The pipeline's Lua, as functions of its library (lib/redis/script.ts: FCALL). Not EVAL, EVALSHA,
 * SCRIPT or FUNCTION: those would let a user run Lua of its own (`EVAL "while true do end" 0`).
 */
export const SCRIPT_COMMANDS = ['fcall', 'fcall_ro'];
/** What lib/worker/consumer.ts, lib/worker/reclaimer.ts and lib/stream/retention.ts run on a stage's own input stream (directly or in scripts). */
export const CONSUMER_COMMANDS = [
  'xreadgroup',
  'xack',
  'xclaim',
  'xautoclaim',
  'xpending',
  'xlen',
  'xtrim',
  'exists',
  'xinfo|stream',
  'xinfo|groups',
  'xinfo|consumers',
  'xgroup|create',
  'xgroup|createconsumer',
  'xgroup|delconsumer',
];
/** The watchdog's liveness marker (lib/worker/watchdog.ts): SET PX while progressing, DEL on stop, GET for `pipeline health` (run as the stage user); GET and SET of the consumer's hand-off and claim memories inside lib/lua/handoff-N.lua and claim-3.lua. */
export const LIVENESS_COMMANDS = ['set', 'del', 'get'];
/**
 * The data-loss watch (lib/stream/data-loss.ts): GET and SET NX of the marker `{p}:epoch`; the record
 * `{p}:data-lost` written (HSETNX, HSET, HINCRBY) when Redis lost data, read (HGETALL) by `pipeline health`.
 */
export const EPOCH_COMMANDS = ['get', 'set'];
export const DATA_LOST_COMMANDS = ['hsetnx', 'hset', 'hincrby', 'hgetall'];
/** The group's claim fence, inside the hand-off (GET) and claim (SET of a fresh token) scripts. */
export const FENCE_COMMANDS = ['get', 'set'];
/**
 * A worker's check of its own permissions at start (lib/redis/acl-dryrun.ts): who it is, and ACL
 * DRYRUN of each command it will run. DRYRUN answers for any user name: a stage user may learn
 * which users exist and what they may run (never a password or data).
 */
export const SELF_CHECK_COMMANDS = ['acl|whoami', 'acl|dryrun'];
/** A rate-limited stage's token bucket (`rateLimit`, lib/lua/rate-limit-1.lua): read, rewrite and expire it, by the server's clock (TIME, no key). */
export const RATE_LIMIT_COMMANDS = ['hmget', 'hset', 'pexpire'];
export const RATE_LIMIT_ROOT_COMMANDS = ['time'];

const uniq = <T>(xs: T[]) => [...new Set(xs)];

/** What a stage's user may do: the keys its functions declare (FCALL) and, in order, its selectors. */
export interface StageGrants {
  /** Root key patterns for FCALL/FCALL_RO: every key the pipeline's functions declare for the stage. */
  scriptKeys: string[];
  /** Consumer commands on its input, XADD to its appends, TYPE on its targets, liveness, fence, statuses, then its kind's data grants. */
  selectors: KeyGrant[];
  /** Commands without a key it may run (TIME in lib/lua/rate-limit-1.lua for a stage with a `rateLimit`), besides FCALL and the self-check. */
  rootCommands: string[];
  /** For humans (`pipeline acl`). */
  summary: string;
}

/**
 * The grants of a stage's user, from the config and its routing table (`dataAccess`: its kind's
 * data keys, stages/access.ts). Sharded pipelines name every shard's keys. `pipeline acl` writes
 * them as rules (lib/ops/acl.ts); a worker checks them against its own user at start.
 */
export function stageGrants(config: ResolvedConfig, stage: ResolvedStage, dataAccess?: (stage: ResolvedStage, keys: Keys) => KeyGrant[]): StageGrants {
  const shards = Keys.shards(config.pipeline, config.shards);
  const each = (f: (keys: Keys) => string[]) => uniq(shards.flatMap(f));
  const own = each((k) => [k.stream(stage.input)]);
  const targetNames = compileRoutes(config.routes, config.stages, config.streams.terminal).get(stage.name)?.targets ?? [];
  const targets = each((k) => targetNames.map((t) => k.stream(t)));
  // Data grants per shard, merged by position (the same grant of every shard in one selector).
  const perShard = shards.map((k) => dataAccess?.(stage, k) ?? []);
  const data: KeyGrant[] = (perShard[0] ?? []).map((g, i) => ({ ...g, keys: uniq(perShard.flatMap((grants) => grants[i]!.keys)) }));
  // The log stream (`logs.stream`): write-only, like the targets (XADD's MAXLEN/MINID can still trim: docs/security.md).
  // One stream for the whole pipeline, `{p}:logs`, sharded or not (lib/worker/worker.ts).
  // Completions (lib/stream/done.ts): every stage may end a product (store, dead letters, review routes).
  const appends = uniq([...targets, ...each((k) => [k.dlq]), new Keys(config.pipeline).extra('logs'), ...each((k) => [k.done])]);
  const statuses = each((k) => [k.status('*')]);
  const liveness = each((k) => [k.liveness(stage.name, '*')]);
  const fences = each((k) => [k.fence(stage.name)]);
  const epochs = each((k) => [k.epoch]);
  const dataLost = each((k) => [k.dataLost]);
  // The stage's paused flag (`pipeline pause`), read between batches (lib/worker/pause-gate.ts): read-only.
  const paused = each((k) => [k.paused(stage.name)]);
  // Revoked ids (`pipeline revoke`), read with the paused flag (lib/stream/revokes.ts): read-only.
  const revokes = each((k) => [k.revokes]);
  // The count of records ended revoked, INCR beside their completion (lib/stream/done.ts).
  const revokedCounts = each((k) => [k.revokedCount]);
  // The token bucket of a stage with a `rateLimit`, taken from before each read (lib/worker/rate-gate.ts): its function's keys and commands.
  const buckets = stage.rateLimit ? each((k) => [k.rateLimit(stage.name)]) : [];
  // The liveness marker is written by FCALL too (lib/lua/liveness-3.lua, allow-oom: it holds while Redis is full), with its registration and alive key.
  const scriptKeys = uniq([...own, ...fences, ...liveness, ...targets, ...each((k) => [k.dlq]), ...buckets, ...data.flatMap((g) => g.keys)]);
  const summary =
    `reads ${own.join(', ')} as group ${stage.name}; XADD to ${appends.join(', ')}; SET/DEL/GET ${liveness.join(', ')}; GET/SET ${fences.join(', ')}; HGETALL ${paused.join(', ')}; XRANGE ${revokes.join(', ')}; INCR ${revokedCounts.join(', ')}; SET ${statuses.join(', ')}; GET/SET ${epochs.join(', ')}; HSETNX/HSET/HINCRBY/HGETALL ${dataLost.join(', ')}` +
    (buckets.length ? `; HMGET/HSET/PEXPIRE ${buckets.join(', ')}, TIME` : '') +
    (data.length ? `; ${data.map((g) => `${g.commands.join(' ')} on ${g.keys.join(' ')}`).join('; ')}` : '');
  const selectors: KeyGrant[] = [
    { keys: own, mode: 'rw', commands: CONSUMER_COMMANDS },
    { keys: appends, mode: 'w', commands: ['xadd'] },
    // The hand-off checks each target's type before its first write (lib/lua/handoff-N.lua).
    { keys: uniq([...targets, ...each((k) => [k.dlq])]), mode: 'r', commands: ['type'] },
    { keys: liveness, mode: 'rw', commands: LIVENESS_COMMANDS },
    { keys: fences, mode: 'rw', commands: FENCE_COMMANDS },
    { keys: statuses, mode: 'w', commands: ['set'] },
    { keys: epochs, mode: 'rw', commands: EPOCH_COMMANDS },
    { keys: dataLost, mode: 'rw', commands: DATA_LOST_COMMANDS },
    { keys: paused, mode: 'r', commands: ['hgetall'] },
    { keys: revokes, mode: 'r', commands: ['xrange'] },
    { keys: revokedCounts, mode: 'rw', commands: ['incr'] },
    ...(buckets.length ? [{ keys: buckets, mode: 'rw' as const, commands: RATE_LIMIT_COMMANDS }] : []),
    ...data,
  ];
  return { scriptKeys, selectors, rootCommands: stage.rateLimit ? RATE_LIMIT_ROOT_COMMANDS : [], summary };
}

/**
 * What a worker of `stage` checks with ACL DRYRUN at start (lib/redis/acl-dryrun.ts): each command
 * of its grants on a key of each pattern, and FCALL naming each key its functions declare.
 */
export function stageProbes(config: ResolvedConfig, stage: ResolvedStage, dataAccess?: (stage: ResolvedStage, keys: Keys) => KeyGrant[]): DryRunProbe[] {
  const { scriptKeys, selectors } = stageGrants(config, stage, dataAccess);
  return [...probesFor(['fcall'], scriptKeys), ...selectors.flatMap((g) => probesFor(g.commands, g.keys))];
}
