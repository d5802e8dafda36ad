import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { PipelineError, errorMessage } from '../core/errors.js';
import type { Keys } from '../redis/keys.js';
import { Script } from '../redis/script.js';
import { configShards } from '../redis/shard.js';
import { groupBacklog, LAG_ESTIMATE_CAP } from '../stream/group-backlog.js';
import { createGroup } from '../stream/consumer-group.js';
import { streamInfo } from '../stream/stream-info.js';
import { UnknownStageError } from './pause.js';

/**
 * `pipeline purge <stage>`: a stage's waiting backlog (entries after its group's last-delivered-id,
 * not yet read by any consumer) is dead-lettered with reason `purged`, chunk by chunk
 * (lib/lua/stage-purge-N.lua), never deleted: `pipeline dlq replay` puts it back, `pipeline dlq
 * purge` deletes it for good. Pending entries (delivered, in work or to be reclaimed) stay.
 */
const script = new Script('stage-purge-N');

/** Entries per script call when no `chunk` is given. */
export const DEFAULT_PURGE_CHUNK = 500;

export interface PurgeOptions {
  /** At most this many entries in all. @defaultValue every entry waiting */
  count?: number;
  /** Entries per script call: each call holds Redis for its chunk. @defaultValue DEFAULT_PURGE_CHUNK */
  chunk?: number;
  /** Only this shard (sharded pipelines). @defaultValue every shard */
  shard?: number;
  /** Who purged (the dead letters' `error` field says it). */
  by: string;
  /**
   * Per stream key, the last entry the purge may take (`purgeBounds`, read when the waiting entries
   * were counted for a confirmation): records added after it (the API and producers keep taking
   * them) are never purged. @defaultValue each stream's last entry when the purge reaches it
   */
  until?: ReadonlyMap<string, string>;
  /**
   * A stream with no group of the stage yet (no worker has read it) gets it, from the stream's start
   * as a worker makes it; false: NoStageGroupError instead (the API's Redis user may not create a
   * stage's group, lib/ops/acl-api.ts). @defaultValue true
   */
  createGroup?: boolean;
  /** Asked before each chunk: true ends the purge there, `stopped` in its summary (the API server closing). @defaultValue never */
  stop?: () => boolean;
}

/** What a purge did on one shard's stream. */
export interface ShardPurge {
  /** Shard number; undefined for an unsharded pipeline. */
  shard?: number;
  stream: string;
  purged: number;
}

export interface PurgeSummary {
  stage: string;
  purged: number;
  shards: ShardPurge[];
  /** `stop` ended it before the entries it would have taken were all purged. */
  stopped?: true;
}

/** A purge stopped by an error: `done` is what it had dead-lettered before; a re-run goes on from there. */
export class StagePurgeError extends PipelineError {
  constructor(
    readonly done: PurgeSummary,
    cause: unknown,
  ) {
    super(`purge of ${done.stage} stopped after ${done.purged} entries: ${errorMessage(cause)}`, { cause });
  }
}

/** The stage's group is not on `stream` yet (no worker has read it) and the purge was told not to create it. */
export class NoStageGroupError extends PipelineError {
  constructor(
    readonly stage: string,
    readonly stream: string,
  ) {
    super(
      `no worker of ${stage} has read ${stream} yet (it has no group ${stage}), and this purge may not create the group: start a worker of ${stage}, or run \`pipeline purge ${stage}\` as the admin`,
    );
  }
}

function stageOf(config: ResolvedConfig, name: string) {
  const stage = config.stages.find((s) => s.name === name);
  if (!stage)
    throw new UnknownStageError(
      name,
      config.stages.map((s) => s.name),
      false,
    );
  return stage;
}

function shardKeys(config: ResolvedConfig, shard?: number): readonly Keys[] {
  const space = configShards(config);
  return shard === undefined ? space.all : [space.shard(shard)];
}

/** What waits for a stage (countWaiting). */
export interface WaitingCount {
  waiting: number;
  /** Redis could not tell a shard's lag and LAG_ESTIMATE_CAP of its entries were counted: more may wait. */
  atLeast: boolean;
  /** The streams with entries but no group of the stage yet (no worker has read them): all their entries count as waiting. */
  noGroup: string[];
  /** Per stream whose count stopped at LAG_ESTIMATE_CAP, the last entry counted: a purge bounded there takes the entries counted. */
  lastCounted: Map<string, string>;
}

/** The entries waiting for `stage` on each shard's stream (or `shard`'s). */
export async function countWaiting(redis: Redis, config: ResolvedConfig, stageName: string, shard?: number): Promise<WaitingCount> {
  const stage = stageOf(config, stageName);
  let waiting = 0;
  let atLeast = false;
  const noGroup: string[] = [];
  const lastCounted = new Map<string, string>();
  for (const keys of shardKeys(config, shard)) {
    const key = keys.stream(stage.input);
    const info = await streamInfo(redis, key);
    const group = info.groups.find((g) => g.get('name') === stage.name);
    if (!info.stream) continue;
    // No group yet: its workers create it from the stream's start (createGroup), so every entry waits.
    if (!group) {
      waiting += Number(info.stream.get('length'));
      noGroup.push(key);
      continue;
    }
    const end = { length: Number(info.stream.get('length')), lastId: String(info.stream.get('last-generated-id')) };
    const backlog = await groupBacklog(redis, key, group, end, LAG_ESTIMATE_CAP);
    waiting += backlog.lag ?? 0;
    if (backlog.lagEstimated && backlog.lag === LAG_ESTIMATE_CAP) {
      atLeast = true;
      if (backlog.lastCountedId !== undefined) lastCounted.set(key, backlog.lastCountedId);
    }
  }
  return { waiting, atLeast, noGroup, lastCounted };
}

/** Each of the stage's input streams (every shard's, or `shard`'s) and its last entry id now: what a purge started now may take at most. */
export async function purgeBounds(redis: Redis, config: ResolvedConfig, stageName: string, shard?: number): Promise<Map<string, string>> {
  const stage = stageOf(config, stageName);
  const bounds = new Map<string, string>();
  for (const keys of shardKeys(config, shard)) {
    const key = keys.stream(stage.input);
    const info = await streamInfo(redis, key);
    if (info.stream) bounds.set(key, String(info.stream.get('last-generated-id')));
  }
  return bounds;
}

/** Dead-letter the entries waiting for `stage` (reason `purged`), in chunks; StagePurgeError with what was done when one fails. */
export async function purgeStage(redis: Redis, config: ResolvedConfig, stageName: string, o: PurgeOptions): Promise<PurgeSummary> {
  const stage = stageOf(config, stageName);
  const chunk = o.chunk ?? DEFAULT_PURGE_CHUNK;
  const summary: PurgeSummary = { stage: stage.name, purged: 0, shards: [] };
  const error = `purged by ${o.by}`;
  // The status value's fields but its time (the script adds it): one JSON object.
  const statusPrefix = JSON.stringify({ s: 'dead_lettered', g: stage.name, r: 'purged', x: error }).slice(0, -1) + ',';
  try {
    const until = o.until ?? (await purgeBounds(redis, config, stage.name, o.shard));
    shards: for (const keys of shardKeys(config, o.shard)) {
      const key = keys.stream(stage.input);
      const done: ShardPurge = { ...(keys.shard === undefined ? {} : { shard: keys.shard }), stream: key, purged: 0 };
      summary.shards.push(done);
      const last = until.get(key);
      for (;;) {
        if (last === undefined) break; // no stream when the bounds were read: nothing was waiting
        const want = Math.min(chunk, (o.count ?? Infinity) - summary.purged);
        if (want <= 0) break;
        if (o.stop?.()) {
          summary.stopped = true;
          break shards;
        }
        const info = await streamInfo(redis, key);
        if (!info.stream) break;
        const group = info.groups.find((g) => g.get('name') === stage.name);
        if (!group) {
          if (o.createGroup === false) throw new NoStageGroupError(stage.name, key);
          // The group its workers would create (from the stream's start): the entries already there wait for it.
          await createGroup(redis, key, stage.name);
          continue;
        }
        const entries = (await redis.xrange(key, `(${String(group.get('last-delivered-id'))}`, last, 'COUNT', want)) as [string, string[]][];
        if (entries.length === 0) break;
        const records = new Set<string>();
        for (const [, fields] of entries) for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'k') records.add(fields[i + 1]!);
        const recordKeys = [...records];
        const reply = await script.runLarge<number | [number, string]>(
          redis,
          [key, keys.dlq, keys.done, ...recordKeys.map((k) => keys.status(k))],
          [
            stage.name,
            entries.at(-1)![0],
            stage.input,
            error,
            String(Date.now()),
            String(config.limits.doneMaxLen),
            String(config.limits.statusTtlMs),
            statusPrefix,
            ...recordKeys,
          ],
        );
        if (reply === -1 || !Array.isArray(reply)) throw new PipelineError(`the group ${stage.name} on ${key} is gone`);
        // 0 moved: consumers read the chunk meanwhile (it is theirs); the next round starts after them.
        done.purged += Number(reply[0]);
        summary.purged += Number(reply[0]);
      }
    }
  } catch (err) {
    throw new StagePurgeError(summary, err);
  }
  return summary;
}
