import { Readable } from 'node:stream';
import type { Redis } from 'ioredis';
import { produce } from '../../lib/producer/producer.js';
import type { Keys } from '../../lib/redis/keys.js';

/**
 * `n` records in the input stream of a running preprocess worker whose hand-off a full Redis then
 * refuses: the stage is paused while they go in, `maxmemory` is set to half the memory in use
 * (`noeviction`), and the pause is lifted (DEL is taken while full), so the worker reads them and
 * its hand-off waits. `CONFIG SET maxmemory 0` ends it.
 */
export async function refusedHandOff(redis: Redis, keys: Keys, n: number, paused: () => Promise<boolean>): Promise<void> {
  await redis.hset(keys.paused('preprocess'), { by: 'test', at: String(Date.now()) });
  for (let i = 0; i < 100 && !(await paused()); i++) await new Promise((r) => setTimeout(r, 100));
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ id: `o${i}`, title: `Product ${i} ${'x'.repeat(300)}` })).join('\n');
  const summary = await produce(redis, Readable.from([lines]), { stream: keys.stream('in'), source: 'full-handoff', maxRecordBytes: 65536 });
  if (summary.produced !== n) throw new Error(`produced ${summary.produced} of ${n}`);
  const used = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))![1]);
  await redis.config('SET', 'maxmemory', String(Math.floor(used / 2)));
  await redis.del(keys.paused('preprocess'));
}
