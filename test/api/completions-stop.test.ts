/**
 * `Completions.stop` (lib/stream/completions.ts) leaves no timer behind: the server's close must not
 * keep the process alive, nor wake a read loop afterwards. Before: stop raced the loop against a
 * `completionsBlockMs + 500` ms sleep that was never cleared (600 ms here), and a read loop
 * waiting out a failed read slept its backoff (up to 5 s) after stop.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Completions } from '../../lib/stream/completions.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { client, randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

/** Timers pending in this process (setTimeout / setInterval), from Node's own list of what keeps it alive. */
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('after stop resolves, no timer of the reader is left (before: a 600 ms sleep outlived it)', async () => {
  const reader = client(server.url);
  const done = new Keys(randomPipeline('cs')).done;
  const completions = new Completions([{ reader, stream: done }], silentLogger, {
    completionsBlockMs: 100,
    completionsBatch: 10,
    completionsRetryMs: 100,
    completionsRetryMaxMs: 5_000,
  });
  try {
    completions.start();
    await waitFor('following', () => completions.following);
    const before = timers();
    await completions.stop();
    assert.ok(timers() <= before, `timers before stop ${before}, after ${timers()}: ${process.getActiveResourcesInfo().join(', ')}`);
  } finally {
    reader.disconnect();
  }
});

test('stop during a read backoff ends the loop at once: its sleep is cleared, nothing reads after stop (before: it slept its backoff out)', async () => {
  const reader = client(server.url);
  const done = new Keys(randomPipeline('cs')).done;
  await redis.set(done, 'not a stream'); // every XREVRANGE fails (WRONGTYPE): the loop backs off
  let reads = 0;
  const counting = new Proxy(reader, {
    get: (target, name, receiver) => {
      if (name === 'xrevrange' || name === 'xread') reads++;
      return Reflect.get(target, name, receiver) as unknown;
    },
  });
  const completions = new Completions([{ reader: counting, stream: done }], silentLogger, {
    completionsBlockMs: 100,
    completionsBatch: 10,
    completionsRetryMs: 5_000,
    completionsRetryMaxMs: 5_000,
  });
  try {
    const before = timers();
    completions.start();
    await waitFor('a failed read', () => completions.errors >= 1);
    const startedAt = Date.now();
    await completions.stop();
    // Half the 5 s backoff: a neighbour file taking a core can stretch "at once" past a few hundred ms, never to a backoff slept out.
    assert.ok(Date.now() - startedAt < 2_500, `stop took ${Date.now() - startedAt} ms`);
    assert.ok(timers() <= before, `timers before start ${before}, after stop ${timers()}: ${process.getActiveResourcesInfo().join(', ')}`);
    const readsAtStop = reads;
    await new Promise((res) => setTimeout(res, 200));
    assert.is(reads, readsAtStop, 'no read after stop');
  } finally {
    reader.disconnect();
  }
});

test.run();
