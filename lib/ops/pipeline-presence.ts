import type { Redis } from 'ioredis';
import type { PipelineStatus } from './inspect.js';

/**
 * The `{tag}` prefixes of the keys in this (non-cluster) Redis, sorted: the pipelines it holds. A
 * bounded SCAN (at most `maxKeys` keys looked at, stopping at `maxTags` names), for a hint only:
 * `pipeline status` and the console name them when the configured pipeline has nothing here.
 */
export async function pipelineTags(redis: Redis, maxKeys = 100_000, maxTags = 20): Promise<string[]> {
  const tags = new Set<string>();
  let cursor = '0';
  let scanned = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', '{*}:*', 'COUNT', 1000);
    for (const k of keys) tags.add(k.slice(1, k.indexOf('}')));
    cursor = next;
    scanned += keys.length;
  } while (cursor !== '0' && scanned < maxKeys && tags.size < maxTags);
  return [...tags].sort();
}

/**
 * Nothing of the pipeline in this Redis yet: no stream with an entry ever added or a stage's group
 * (a worker makes it as it starts), no dead letter, no stored product. A terminal stream's group is
 * the console's own (made as its Review view lists): no sign of a run. The console's sample and the
 * CLI's warning (scripts/commands/pipeline-hint.ts) both read it.
 */
export function nothingYet(status: PipelineStatus): boolean {
  return status.dlq === 0 && !status.stored && status.streams.every((s) => s.length === 0 && !s.added && (!s.group || !s.stage));
}
