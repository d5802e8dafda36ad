/** The console's hop reader: reads only what is new, keeps the newest per stream, skips what is no envelope. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { RecentHops } from '../../lib/console/recent-hops.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { redis } = await redisForFile(test);

const add = async (keys: Keys, n: number, at: number) => {
  for (let i = 0; i < n; i++) {
    const env = newEnvelope({ id: `p${at + i}`, title: 't' }, at + i);
    env.hops.push({ stage: 'classify', consumer: 'c1', readAt: at + i + 1, doneAt: at + i + 2, batch: 1 });
    await redis.xadd(keys.stream('extract'), '*', 'k', `p${at + i}`, 'e', encodeEnvelope(env));
  }
};

test('reads only entries added since the last update, keeps them after the stream is trimmed, newest perStream', async () => {
  const keys = new Keys(randomPipeline());
  const hops = new RecentHops(redis, keys, { streams: ['extract'], perStream: 4, chunk: 2 });
  await add(keys, 3, 1000);
  assert.equal((await hops.update(0)).map((h) => h.producedAt).sort(), [1000, 1001, 1002]);
  await redis.xtrim(keys.stream('extract'), 'MAXLEN', 0);
  await add(keys, 2, 2000);
  const seen = (await hops.update(0)).map((h) => h.producedAt).sort();
  assert.equal(seen, [1001, 1002, 2000, 2001], 'trimmed entries are still counted; only the newest 4 are kept');
  assert.equal((await hops.update(1500)).map((h) => h.producedAt).sort(), [2000, 2001], 'hops handed off before `since` are dropped');
  const spy = redis.duplicate();
  let read = 0;
  const orig = spy.xrevrangeBuffer.bind(spy);
  spy.xrevrangeBuffer = (async (...args: Parameters<typeof orig>) => {
    const r = await orig(...args);
    read += (r as unknown[]).length;
    return r;
  }) as typeof orig;
  const again = new RecentHops(spy, keys, { streams: ['extract'] });
  await again.update(0);
  await again.update(0);
  assert.is(read, 2, 'a second update with nothing new reads nothing');
  spy.disconnect();
});

test('entries that are not envelopes and stored documents without hops are skipped', async () => {
  const keys = new Keys(randomPipeline());
  await redis.xadd(keys.stream('review'), '*', 'k', 'x', 'e', 'not msgpack');
  await add(keys, 1, 3000);
  await redis.xadd(keys.extra('done'), '*', 'k', 'gone', 's', 'stored');
  const hops = new RecentHops(redis, keys, { streams: ['review', 'extract'] });
  assert.equal(
    (await hops.update(0)).map((h) => h.producedAt),
    [3000],
  );
});

test.run();
