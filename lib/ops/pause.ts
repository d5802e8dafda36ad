import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../config/types.js';
import { PipelineError } from '../core/errors.js';
import { Keys } from '../redis/keys.js';
import { parsePauseRecord, pauseFields, type PauseRecord } from '../stream/pause-flag.js';

/**
 * Pausing and resuming stages (`pipeline pause|resume`, `POST /v1/stages/:stage/pause|resume`, the
 * console's button): the flag `{p}:paused:<stage>` is written on every shard's tag, so each shard's
 * workers read their own copy on the slot of their stage's other control keys (fence, liveness).
 * Their consumers finish the batch in hand and then hold still (lib/worker/pause-gate.ts).
 */

/**
 * A stage name the config does not have (`pipeline pause`, `POST /v1/stages/:stage/pause`, the
 * console's dead-letter actions: a 404 naming it). `orAll`: the target may also be `all` (pausing).
 */
export class UnknownStageError extends PipelineError {
  constructor(
    readonly stage: string,
    readonly known: readonly string[],
    orAll = true,
  ) {
    super(`no stage ${JSON.stringify(stage)} in this pipeline (stages: ${known.join(', ')}${orAll ? '; or all' : ''})`);
  }
}

/** The stages `target` names: one stage, or `all`; an unknown name is an UnknownStageError. */
export function stagesToPause(config: ResolvedConfig, target: string): string[] {
  const names = config.stages.map((s) => s.name);
  if (target === 'all') return names;
  if (!names.includes(target)) throw new UnknownStageError(target, names);
  return [target];
}

const shardKeys = (config: ResolvedConfig) => Keys.shards(config.pipeline, config.shards);

/** Pause `target` (a stage or `all`): returns the stages paused. Pausing a paused stage again replaces who, when and why. */
export async function pauseStages(
  redis: Redis,
  config: ResolvedConfig,
  target: string,
  who: { by: string; reason?: string },
  now = Date.now(),
): Promise<string[]> {
  const stages = stagesToPause(config, target);
  const record: PauseRecord = { by: who.by, at: now, ...(who.reason ? { reason: who.reason } : {}) };
  for (const k of shardKeys(config))
    for (const s of stages) {
      await redis.hset(k.paused(s), pauseFields(record));
      if (!record.reason) await redis.hdel(k.paused(s), 'reason'); // one given before, not now, must not stay
    }
  return stages;
}

/** Resume `target` (a stage or `all`): returns the stages that had been paused. */
export async function resumeStages(redis: Redis, config: ResolvedConfig, target: string): Promise<string[]> {
  const stages = stagesToPause(config, target);
  const was = await pausedStages(redis, config);
  for (const k of shardKeys(config)) for (const s of stages) await redis.del(k.paused(s));
  return stages.filter((s) => was.has(s));
}

/** Every paused stage and its flag (a stage paused on any shard counts; the first shard's flag is shown). */
export async function pausedStages(redis: Redis, config: ResolvedConfig): Promise<Map<string, PauseRecord>> {
  const out = new Map<string, PauseRecord>();
  for (const k of shardKeys(config)) {
    const flags = await Promise.all(config.stages.map((s) => redis.hgetall(k.paused(s.name))));
    config.stages.forEach((s, i) => {
      const r = parsePauseRecord(flags[i]);
      if (r && !out.has(s.name)) out.set(s.name, r);
    });
  }
  return out;
}
