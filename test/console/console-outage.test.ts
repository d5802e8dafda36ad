/**
 * The console while Redis is away and back, against a real redis-server stopped and restarted:
 * what the live stream and the review count tell the page.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { resolveConfig } from '../../lib/config/load.js';
import { reviewCategories } from '../../lib/console/plugin.js';
import { reviewCounts } from '../../lib/console/review-trimmed.js';
import { listReview } from '../../lib/console/review-list.js';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';
import { ADMIN, auth, startConsole } from '../helpers/console.js';

const { server, redis } = await redisForFile(test);
redis.on('error', () => {}); // the server is stopped on purpose below

test('the reviewer may pick every category of the shipped config (its routes name groups: the picker had offered none beyond the top 3)', () => {
  const file = resolve(import.meta.dirname, '../../config/pipeline.json');
  const config = resolveConfig(JSON.parse(readFileSync(file, 'utf8')), file, { env: {} });
  const categories = reviewCategories(config);
  assert.is(categories.length, 15);
  for (const c of ['audio', 'storage', 'tv_video', 'software']) assert.ok(categories.includes(c), c);
});

test('undecided reviews: every entry before the console listed any, then lag + pending (the badge had shown the stream length, decided ones too)', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const keys = new Keys(config.pipeline);
  const open = async () => (await reviewCounts(redis, keys)).open;
  assert.is(await open(), 0, 'no review stream yet');
  for (let i = 0; i < 4; i++)
    await redis.xadd(keys.stream('review'), '*', 'k', `r${i}`, 'e', encodeEnvelope(newEnvelope({ id: `r${i}`, title: 'blue thing 3000' })));
  assert.is(await open(), 4);
  const [first] = await listReview(redis, keys, 1); // delivered to the console group: pending
  await redis.xack(keys.stream('review'), 'console', first!.id); // decided
  assert.is(await open(), 3);
});

test('a live page is told its numbers are stale while sampling fails, and live again when Redis is back; signing in needs no Redis', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const { app, url } = await startConsole(config, { sampleIntervalMs: 150 });
  const ctrl = new AbortController();
  try {
    const res = await fetch(`${url}/console/api/events`, { headers: auth(ADMIN), signal: ctrl.signal });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = '';
    const until = async (what: RegExp) => {
      const from = seen.length;
      await waitFor(
        `${what}`,
        async () => {
          const { value } = await reader.read();
          seen += value ?? '';
          return what.test(seen.slice(from));
        },
        20_000,
        0,
      );
    };
    await until(/event: sample\n/);
    await server.stop();
    await until(/event: stale\ndata: \{[^\n]*"error"/);
    const me = await fetch(`${url}/console/api/me`, { headers: auth(ADMIN) });
    assert.is(me.status, 200, 'a page opened during the outage can sign in');
    await server.start();
    await until(/event: sample\n/);
  } finally {
    ctrl.abort();
    await app.close();
  }
});

test.run();
