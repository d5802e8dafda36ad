/**
 * Consumer health (`pipeline health`): is this host's consumer of a stage making progress, read
 * from XINFO CONSUMERS and the progress watchdog's liveness keys (every shard's, when sharded).
 */
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { namesText } from '../config/processes.js';
import { isTransientRedisError } from '../core/failure-policy.js';
import { consumerName, type Keys } from '../redis/keys.js';
import { configShards } from '../redis/shard.js';
import { pairs } from './inspect.js';
import { isMissingGroup, isNoPermReply } from '../core/redis-replies.js';
import { functionsWaitReason } from './functions-wait.js';
import { parsePauseRecord, pauseLine } from '../stream/pause-flag.js';
import { writeRefusal, writeRefusalLine } from './write-refusal.js';

export interface ConsumerHealth {
  ok: boolean;
  stage: string;
  /** This host's consumer that proved progress (or, failing that, the one seen last). */
  consumer?: string;
  /** XINFO CONSUMERS idle of that consumer (ms since it last sent a command), when Redis lists it. */
  idleMs?: number;
  /** The watchdog's liveness record: phase, processed, progressAt. */
  progress?: Record<string, unknown>;
  reason?: string;
  /** Redis could not be asked (connection error): the consumer's health is unknown. */
  unreachable?: boolean;
  /**
   * Redis refuses writes (MISCONF: it cannot persist to disk), said first in `reason`: no worker can
   * record progress then, so the consumer's health is unknown, as with `unreachable`.
   */
  redisRefusesWrites?: boolean;
  /** Sharded pipelines: the shards checked (all must progress). */
  shards?: number[];
  /**
   * Healthy, but its batch waits out a dependency outage (the liveness record's `outage`): what for,
   * since when, the last error (`waiting 35 s for PostgreSQL: ...`). Information: waiting out an outage is progress.
   * Paused (`pipeline pause`): `paused by <who> <n> s ago: <reason> (pipeline resume <stage>)`, healthy too.
   */
  note?: string;
}

/** The progress watchdog's liveness key of a consumer (lib/worker/watchdog.ts writes it with SET PX while the loop progresses). */
export function progressKey(keys: Keys, stage: string, consumer: string): string {
  return keys.liveness(stage, consumer);
}

/**
 * Is this host's consumer of `stage` making progress? Progress, not liveness: the consumer's
 * watchdog keeps `{p}:liveness:<stage>:<consumer>` alive (SET PX) only while its read loop gets replies
 * and finishes batches, so the key expires `blockMs + stallTimeoutMs` after the loop wedges,
 * whether on a half-open socket or inside the stage. Consumers are found by name (host-pid-n)
 * in XINFO CONSUMERS, never by SCAN; `pid` narrows to one process, otherwise any of this host's.
 */
export async function consumerHealth(
  redis: Redis,
  config: ResolvedConfig,
  stageName: string,
  opts: { host: string; pid?: number; shards?: readonly number[] },
): Promise<ConsumerHealth> {
  const stage = config.stages.find((s) => s.name === stageName);
  // Name what there is, as `pipeline worker` does: a probe mistyped in a manifest had failed with "no stage named x" alone.
  if (!stage) return { ok: false, stage: stageName, reason: `no stage or process named ${JSON.stringify(stageName)} (${namesText(config)})` };
  const [h, refusal] = await Promise.all([stageHealth(redis, config, stage, opts), writeRefusal(redis)]);
  return refusal ? refusingWrites(h, refusal) : h;
}

/**
 * A stage's health while Redis refuses writes (MISCONF): Redis is the finding, first. Every worker
 * holds its batch and cannot beat (its liveness record is a write), so its marker lapses
 * `blockMs + stallTimeoutMs` into the outage: a missing marker then says nothing about the worker.
 */
function refusingWrites(h: ConsumerHealth, refusal: string): ConsumerHealth {
  const lapsed = !h.ok && h.consumer !== undefined && h.progress === undefined;
  const consumer = h.ok
    ? `stage ${h.stage}'s consumer ${h.consumer} holds its batch (its progress marker lapses blockMs + stallTimeoutMs into the outage: its beat is a write too)`
    : lapsed
      ? `stage ${h.stage}'s consumer ${h.consumer} shows no progress because of this outage, not because its worker stalled (its watchdog's beat is a write, refused too)`
      : `stage ${h.stage}: ${h.reason}`;
  return { ...h, ok: false, redisRefusesWrites: true, reason: `${writeRefusalLine(refusal)}. Meanwhile ${consumer}` };
}

async function stageHealth(
  redis: Redis,
  config: ResolvedConfig,
  stage: ResolvedConfig['stages'][number],
  opts: { host: string; pid?: number; shards?: readonly number[] },
): Promise<ConsumerHealth> {
  const space = configShards(config);
  if (space.count === 1) return shardHealth(redis, config, space.all[0]!, stage, opts);
  // Sharded: the worker has one read loop per shard it reads; every one of them must progress.
  const shards = opts.shards?.length ? opts.shards : space.all.map((_, i) => i);
  const each = await Promise.all(shards.map((i) => shardHealth(redis, config, space.shard(i), stage, opts)));
  const bad = each.findIndex((h) => !h.ok);
  if (bad < 0) {
    const notes = each.flatMap((x, i) => (x.note ? [`shard ${shards[i]}: ${x.note}`] : []));
    return { ...each[0]!, shards: [...shards], ...(notes.length ? { note: notes.join('; ') } : {}) };
  }
  const h = each[bad]!;
  return { ...h, shards: [...shards], reason: `shard ${shards[bad]}: ${h.reason}`, unreachable: each.some((x) => x.unreachable) };
}

/** XINFO CONSUMERS of a stage's group, [] when the stream or group does not exist yet. */
async function groupConsumers(redis: Redis, key: string, group: string): Promise<unknown[][]> {
  try {
    return (await redis.xinfo('CONSUMERS', key, group)) as unknown[][];
  } catch (err) {
    if (isMissingGroup(err)) return [];
    throw err;
  }
}

async function shardHealth(
  redis: Redis,
  config: ResolvedConfig,
  keys: Keys,
  stage: ResolvedConfig['stages'][number],
  opts: { host: string; pid?: number },
): Promise<ConsumerHealth> {
  const key = keys.stream(stage.input);
  const prefix = opts.pid === undefined ? `${opts.host}-` : `${opts.host}-${opts.pid}-`;
  try {
    // The stages sharing this stage's process read under the same consumer names (host-pid-n): a
    // stage run fused is rarely delivered anything in its own group, so its consumer is found
    // through theirs (it had failed health without --pid, or matched an exited process's name).
    const proc = config.processes.find((p) => p.stages.includes(stage.name));
    const siblings = config.stages.filter((s) => s.name === stage.name || proc?.stages.includes(s.name));
    // A sibling's stream the stage's own Redis user may not read (a user per stage) just adds no names.
    const notAllowed = (err: unknown) => {
      if (isNoPermReply(err)) return [];
      throw err;
    };
    const sibling = (s: (typeof siblings)[number]) =>
      s.name === stage.name ? groupConsumers(redis, key, s.name) : groupConsumers(redis, keys.stream(s.input), s.name).catch(notAllowed);
    const listed = (await Promise.all(siblings.map(sibling))).flat();
    const byName = new Map<string, { name: string; idle?: number }>();
    for (const m of listed.map((c) => pairs(c))) {
      const c = { name: String(m.get('name')), idle: Number(m.get('idle')) };
      if (!c.name.startsWith(prefix) || !/^\d+(-\d+)?$/.test(c.name.slice(prefix.length))) continue;
      const seen = byName.get(c.name);
      if (!seen || (c.idle ?? Infinity) < (seen.idle ?? Infinity)) byName.set(c.name, c);
    }
    const mine = [...byName.values()].sort((a, b) => (a.idle ?? Infinity) - (b.idle ?? Infinity));
    // Redis adds a consumer to the group only when it is first delivered something: an idle
    // stage's consumer is not listed yet, so with a pid its first reader's name is asked directly.
    const first = opts.pid === undefined ? undefined : consumerName(opts.host, opts.pid, 0);
    if (first && !mine.some((c) => c.name === first)) mine.push({ name: first });
    // A worker waiting at start for the Functions library has not joined its group nor written a marker: say that, not only "no consumer".
    const functionsWait = async (reason: string) => {
      const waits = await functionsWaitReason(redis, stage.name, key);
      return waits ? `${waits} (${reason})` : reason;
    };
    if (mine.length === 0)
      return {
        ok: false,
        stage: stage.name,
        reason: await functionsWait(
          `no consumer ${prefix}* in group ${stage.name} of ${key} (not started, still loading its model, or never delivered anything: pass --pid)`,
        ),
      };
    const markers = await Promise.all(mine.map((c) => redis.get(progressKey(keys, stage.name, c.name))));
    const i = markers.findIndex((m) => m !== null);
    if (i < 0) {
      return {
        ok: false,
        stage: stage.name,
        consumer: mine[0]!.name,
        idleMs: mine[0]!.idle,
        reason: await functionsWait(
          `no progress marker for ${mine.map((c) => c.name).join(', ')}: the read loop stopped or made no progress for blockMs + stallTimeoutMs`,
        ),
      };
    }
    let progress: Record<string, unknown>;
    try {
      progress = JSON.parse(markers[i]!) as Record<string, unknown>;
    } catch {
      progress = { raw: markers[i] };
    }
    // Alive, but a step waits for a permission its Redis user lacks (not serving until `pipeline acl
    // --apply`), or the store for a privilege its database role lacks (until the GRANT).
    const waiting = progress.waiting as WaitingRecord | undefined;
    if (waiting) return { ok: false, stage: stage.name, consumer: mine[i]!.name, idleMs: mine[i]!.idle, progress, reason: waitingReason(waiting) };
    // Waiting out a dependency outage (Postgres down): progress by design, passed with a note saying what for.
    const outage = progress.outage as OutageRecord | undefined;
    // Paused (`pipeline pause`): holding still on purpose, passed with a note saying who paused it.
    const paused = parsePauseRecord(progress.paused as Record<string, string> | undefined);
    const notes = [
      ...(paused ? [`${pauseLine(paused)} (pipeline resume ${stage.name})`] : []),
      ...(outage ? [`waiting ${outageLine(outage)} (an outage, waited out in place: nothing is lost)`] : []),
    ];
    const note = notes.length ? notes.join('; ') : undefined;
    return { ok: true, stage: stage.name, consumer: mine[i]!.name, idleMs: mine[i]!.idle, progress, ...(note ? { note } : {}) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, stage: stage.name, reason: `cannot read from Redis: ${message}`, unreachable: isTransientRedisError(err) };
  }
}

/** A liveness record's `waiting` as written (lib/worker/permission-notice.ts `PermissionWait`), read leniently. */
export interface WaitingRecord {
  /** `noperm` (a Redis user), `postgres_noperm` (the store's database role). */
  cause?: string;
  user?: string;
  command?: string;
  keys?: string[];
  role?: string;
  line?: string;
  fix?: string;
  since?: number;
}

/** A liveness record's `waiting` in two parts: what is missing (`a PostgreSQL privilege`, `a Redis permission`) and the details with the fix. */
export function waitingParts(w: WaitingRecord): { kind: string; detail: string } {
  if (w.cause === 'postgres_noperm') return { kind: 'a PostgreSQL privilege', detail: w.line ?? `database role "${w.role ?? '?'}" was refused` };
  const on = w.keys?.length ? ` on ${w.keys.join(', ')}` : '';
  return {
    kind: 'a Redis permission',
    detail: `user ${w.user ?? '?'} may not run ${w.command ?? '?'}${on}: ${w.fix ?? 'run `pipeline acl --apply` as the admin'}`,
  };
}

/** A liveness record's `waiting` (lib/worker/permission-notice.ts) as one line (`health`, `top`). */
export function waitingReason(w: WaitingRecord): string {
  const since = typeof w.since === 'number' ? ` for ${Math.round((Date.now() - w.since) / 1000)} s` : '';
  const { kind, detail } = waitingParts(w);
  return `waiting${since} for ${kind}: ${detail}`;
}

/** A liveness record's `outage` as written (lib/worker/stage-runner.ts `DependencyWait`), read leniently. */
export interface OutageRecord {
  /** What is out, for a person: `PostgreSQL`, `Redis`, what the stage's TransientError names. */
  dependency?: string;
  /** The outage class (lib/core/failure-policy.ts `Outage`). */
  cause?: string;
  since?: number;
  /** The last try's error, one line. */
  error?: string;
}

/** A liveness record's `outage` as `<n> s for <dependency>: <error>` (top: `store waits 35 s for PostgreSQL: ...`). */
export function outageLine(o: OutageRecord, now = Date.now()): string {
  const since = typeof o.since === 'number' ? `${Math.max(0, Math.round((now - o.since) / 1000))} s ` : '';
  return `${since}for ${o.dependency ?? 'a dependency'}${o.error ? `: ${o.error}` : ''}`;
}
