/**
 * `GET /v1/events` resumed with a Last-Event-ID that the capped `{p}:done` (`limits.doneMaxLen`)
 * has trimmed past: an `event: gap` frame first (no id, so the client's Last-Event-ID stays),
 * naming the client's id and the first entry kept, and the `api.events_gap` log line; then the
 * entries kept, in order. Resumed from an entry still kept, or on a stream never trimmed: no gap.
 * Before: the catch-up began at the first entry kept, and the client could not tell it had lost any.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { listeningApi, readyOrClosed } from '../helpers/api-server.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { openEvents } from '../helpers/sse-stream.js';

const { server, redis } = await redisForFile(test);
const TOKEN = 'admin-token-0123456789a';
const auth = { authorization: `Bearer ${TOKEN}` };

/** An API on a new pipeline whose `{p}:done` holds completions k1..kN; their entry ids, and the server's log lines. */
async function withCompletions(n: number) {
  const pipeline = randomPipeline('gap');
  const keys = new Keys(pipeline);
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const { app, base } = await listeningApi(rulesOnlyConfig(server.url, pipeline), TOKEN, { logger });
  const list = Array.from({ length: n }, (_, i) => ({ key: `k${i + 1}`, status: 'stored' as const, stage: 'store' }));
  let ids: string[] = [];
  await readyOrClosed(app, async () => {
    await recordCompletions(redis, keys, list, { maxLen: 1000, statusTtlMs: 60_000 });
    ids = (await redis.xrange(keys.done, '-', '+')).map(([id]) => id);
  });
  return { app, base, keys, ids, lines };
}

test('resumed from an id trimmed away: a gap frame naming it and the first entry kept, before the entries kept; logged', async () => {
  const { app, base, keys, ids, lines } = await withCompletions(5);
  try {
    await redis.xtrim(keys.done, 'MAXLEN', 2); // exact: k4 and k5 are kept
    const resumed = await openEvents(base, auth, ids[0]);
    await waitFor('the entries kept', () => resumed.keys().length === 2);
    await resumed.close();
    assert.equal(resumed.keys(), ['k4', 'k5']);
    assert.equal(resumed.gaps, [{ data: { after: ids[0], first: ids[3] }, before: 0 }], 'the gap first, once');
    const logged = lines.filter((l) => l.event === 'api.events_gap');
    assert.is(logged.length, 1);
    assert.is(logged[0]!.after, ids[0]);
    assert.is(logged[0]!.first, ids[3]);
    assert.is(logged[0]!.level, 'warn');
  } finally {
    await app.close();
  }
});

test('resumed from an entry still kept, or from 0-0 on a stream never trimmed: no gap', async () => {
  const { app, base, keys, ids } = await withCompletions(5);
  try {
    const fresh = await openEvents(base, auth, '0-0');
    await waitFor('all five', () => fresh.keys().length === 5);
    await fresh.close();
    assert.equal(fresh.gaps, [], 'never trimmed');
    await redis.xtrim(keys.done, 'MAXLEN', 2);
    const kept = await openEvents(base, auth, ids[3]);
    await waitFor('k5', () => kept.keys().length === 1);
    await kept.close();
    assert.equal(kept.keys(), ['k5']);
    assert.equal(kept.gaps, [], 'the client had the first entry kept');
  } finally {
    await app.close();
  }
});

test.run();
