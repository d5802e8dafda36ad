import type { Redis } from 'ioredis';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { duringDrops } from '../redis/connection-drops.js';
import { Script } from '../redis/script.js';
import { streamIdOlder } from '../stream/stream-id.js';

const missedScript = new Script('webhook-missed-1');

/**
 * Nothing lost silently: `{p}:done` is capped (`limits.doneMaxLen`, XADD MAXLEN ~), so a webhook
 * group that falls further behind than that loses entries to trimming before it reads them.
 * webhook-missed-1.lua tells (Redis 7's counters: more entries added after the group's position
 * than the stream still holds) and
 * moves the group past the gap in the same step, so the loss is counted once whichever
 * `pipeline webhooks` saw it; here it is logged (`webhook.missed`, error) and counted
 * (`webhooks.missed`, by how many: entries-added less the group's entries-read less the length;
 * 1 when Redis has no entries-read for the group). Returns the count (0: nothing missed).
 */
export async function checkMissed(
  redis: Redis,
  stream: string,
  group: string,
  d: { hook: { name: string }; logger: Logger; metrics: Metrics; shard?: number },
): Promise<number> {
  const { value, dropped } = await duringDrops(redis, () => missedScript.run<[number, string]>(redis, [stream], [group]));
  const [missed, last] = value;
  if (missed === 0) {
    if (dropped) await sayUnsure(redis, stream, last, d);
    return 0;
  }
  const n = missed > 0 ? missed : 1;
  d.metrics.increment('webhooks.missed', n, { webhook: d.hook.name });
  d.logger.error('webhook.missed', {
    webhook: d.hook.name,
    stream,
    ...(d.shard === undefined ? {} : { shard: d.shard }),
    missed: n,
    exact: missed > 0,
    last_delivered: last,
    fix: 'the group fell behind by more than limits.doneMaxLen completions: raise limits.doneMaxLen or run more `pipeline webhooks` (docs/webhooks.md#sizing)',
  });
  return n;
}

/**
 * The connection dropped during the check, and ioredis sent it again by itself: when the first call
 * had found a gap, it moved the group just before the first entry and its report went with the lost
 * reply; the re-send finds the group there and no gap. A group found before the first entry after
 * a drop is therefore said (`webhook.missed_unsure`, error): entries may have been trimmed past it,
 * how many is not known. A group at or past the first entry lost nothing.
 */
async function sayUnsure(redis: Redis, stream: string, last: string, d: { hook: { name: string }; logger: Logger; shard?: number }): Promise<void> {
  const [first] = await redis.xrange(stream, '-', '+', 'COUNT', 1);
  if (first === undefined || !streamIdOlder(last, first[0])) return;
  d.logger.error('webhook.missed_unsure', {
    webhook: d.hook.name,
    stream,
    ...(d.shard === undefined ? {} : { shard: d.shard }),
    last_delivered: last,
    why: 'the connection dropped while checking for completions trimmed past the group; a report of such a loss went with the lost reply, if there was one',
    fix: 'compare webhooks.lag with limits.doneMaxLen (docs/webhooks.md#sizing)',
  });
}
