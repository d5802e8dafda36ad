import { ConfigError } from '../../lib/core/errors.js';
import { parseRecheckOptions, type RecheckOptions } from './match-recheck.js';
import { SHARD_WAIT_DEFAULT_MS } from './shard-waits.js';
import { parseIndexOptions, type IndexOptions } from './vector-index.js';

export interface MatchSettings {
  threshold: number;
  index: IndexOptions;
  shardWaitMs: number;
  recheck: RecheckOptions;
}

/**
 * A match stage's `settings` (`threshold`, `index`, `shardWaitMs`, `recheck`) with their defaults;
 * `where` names the settings in errors (`stages[6].settings`). Parsed when the config loads
 * (stages/settings-checks.ts), so `status`, `deploy render --check` and `up` refuse what the worker
 * would, naming the file, and again by the stage itself.
 */
export function matchSettings(where: string, settings: Readonly<Record<string, unknown>>): MatchSettings {
  const threshold = settings.threshold ?? 0.92;
  // A threshold given as text ("0.9") had been ignored for the default.
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1))
    throw new ConfigError(`${where}.threshold`, `expected a cosine similarity in (0, 1], got ${JSON.stringify(threshold)}`);
  const shardWaitMs = settings.shardWaitMs ?? SHARD_WAIT_DEFAULT_MS;
  if (typeof shardWaitMs !== 'number' || !(shardWaitMs > 0))
    throw new ConfigError(`${where}.shardWaitMs`, `expected milliseconds > 0, got ${JSON.stringify(shardWaitMs)}`);
  return {
    threshold,
    index: parseIndexOptions(`${where}.index`, settings.index),
    shardWaitMs,
    recheck: parseRecheckOptions(`${where}.recheck`, settings.recheck),
  };
}
