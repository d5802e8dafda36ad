/**
 * The count of `npm run chaos` and `npm run soak` (scripts/scenarios/chaos.ts, scripts/scenarios/soak.ts), once the
 * pipeline has drained: each good record stored (and in how many copies), in a terminal stream, or
 * dead-lettered as bad; a record a stage forwarded twice (forward-tally.ts); the DLQ; what the
 * input streams received. Records are `<prefix>0` ..
 * `<prefix><produced - 1>` (every one good); garbage entries `garbage-<n>`.
 */
import type { Redis } from 'ioredis';
import type { ResolvedConfig } from '../../lib/config/types.js';
import type { Shards } from '../../lib/redis/shard.js';
import { tallyForwarded } from './forward-tally.js';
import { tallyTerminal } from './terminal-tally.js';

export interface ChaosTally {
  /** Good records whose product exists. */
  stored: number;
  /**
   * Records stored from more than one production (`copies` > 1, counted by lineage), or sent to a
   * terminal stream twice by one stage. A record a stage forwarded twice is one production: see
   * `forwardedTwice`.
   */
  duplicated: number;
  /** Records a stage forwarded twice: one production in two entries of a stream (forward-tally.ts), over the entries the streams still hold. */
  forwardedTwice: number;
  /** Entries of the stages' streams read for `forwardedTwice`. */
  checked: number;
  /** Entries the stages' streams received but no longer hold (trimmed): not checked for `forwardedTwice`. */
  unchecked: number;
  /** Good records neither stored nor in a terminal stream, nor (with `badAllowed`) dead-lettered as bad. */
  lost: number;
  /** Records in a terminal stream (e.g. review). */
  inTerminal: number;
  /** DLQ entries in all, the garbage ones (reason undecodable), and the records a stage refused for good (permanent_error, no_route). */
  dlq: number;
  dlqGarbage: number;
  dlqBad: number;
  /** DLQ entries that are neither garbage nor (with `badAllowed`) a record refused for good: each fails the run. */
  dlqUnexpected: number;
  /** Entries the input streams received (XINFO STREAM entries-added, over the shards). */
  added: number;
}

export interface ChaosTallyOptions {
  /** Record ids are `<prefix><n>`. @defaultValue 'c' */
  prefix?: string;
  /**
   * A record dead-lettered as permanent_error / no_route is accepted (counted in dlqBad, not lost):
   * true only when a stage may refuse a good record legitimately (a model stage, see `hasModelStage`).
   * Otherwise every input record is good and one not stored is lost.
   */
  badAllowed: boolean;
}

/** True when a stage runs a model: only such a stage may refuse one of the run's good records for good. */
export function hasModelStage(config: ResolvedConfig): boolean {
  return config.stages.some((s) => s.model !== undefined);
}

/** Counts stored products, terminal streams, the DLQ and what the input stream received. */
export async function tallyChaos(redis: Redis, config: ResolvedConfig, shards: Shards, produced: number, o: ChaosTallyOptions): Promise<ChaosTally> {
  const prefix = o.prefix ?? 'c';
  const copies: (string | null)[] = [];
  for (let i = 0; i < produced; i += 2000) {
    const p = redis.pipeline();
    for (let j = i; j < Math.min(produced, i + 2000); j++) p.hget(shards.keysFor(`${prefix}${j}`).product(`${prefix}${j}`), 'copies');
    copies.push(...((await p.exec()) ?? []).map(([, v]) => v as string | null));
  }
  const terminal = await tallyTerminal(redis, config, shards);
  const forwarded = await tallyForwarded(redis, config, shards);
  const dlq = (await Promise.all(shards.all.map((k) => redis.xrange(k.dlq, '-', '+')))).flat();
  const dlqGarbage = dlq.filter(([, f]) => f[1]?.startsWith('garbage-') && f.includes('undecodable')).length;
  // Records a stage refused for good (a permanent error, no route): counted apart, and not lost only where a model may refuse one.
  const badReasons = new Set(['permanent_error', 'no_route']);
  const dlqBad = new Set(dlq.filter(([, f]) => !f[1]?.startsWith('garbage-') && badReasons.has(f[f.indexOf('reason') + 1] ?? '')).map(([, f]) => f[1]!));
  const accepted = o.badAllowed ? dlqBad : new Set<string>();
  let added = 0;
  for (const k of shards.all) {
    const info = (await redis.xinfo('STREAM', k.stream(config.input)).catch(() => [])) as unknown[];
    added += Number(info[info.indexOf('entries-added') + 1] ?? 0);
  }
  return {
    stored: copies.filter((c) => c !== null).length,
    duplicated: copies.filter((c) => Number(c) > 1).length + terminal.repeated,
    forwardedTwice: forwarded.forwardedTwice,
    checked: forwarded.checked,
    unchecked: forwarded.unchecked,
    lost: copies.filter((c, i) => c === null && !terminal.keys.has(`${prefix}${i}`) && !accepted.has(`${prefix}${i}`)).length,
    inTerminal: terminal.keys.size,
    dlq: dlq.length,
    dlqGarbage,
    dlqBad: dlqBad.size,
    dlqUnexpected: dlq.length - dlqGarbage - accepted.size,
    added,
  };
}

/** What in `t` fails a chaos or soak run: records lost, duplicated or forwarded twice, unexpected DLQ entries. */
export function tallyFailures(t: ChaosTally, badAllowed: boolean): string[] {
  const unexpected = `${t.dlqUnexpected} unexpected DLQ entries${!badAllowed && t.dlqBad > 0 ? ` (${t.dlqBad} good records dead-lettered as bad, and no model stage)` : ''}`;
  return [
    t.lost > 0 && `${t.lost} lost`,
    t.duplicated > 0 && `${t.duplicated} duplicated`,
    t.forwardedTwice > 0 && `${t.forwardedTwice} forwarded twice`,
    t.dlqUnexpected !== 0 && unexpected,
  ].filter((f): f is string => typeof f === 'string');
}
