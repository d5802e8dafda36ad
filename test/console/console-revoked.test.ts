/** The console's product trace of a revoked product (`pipeline revoke`, lib/console/products.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';
import { auth, READ, startConsole } from '../helpers/console.js';

const { server, redis } = await redisForFile(test);
type Trace = { state: string; tripEnded: boolean; revoked?: { stage: string; by: string; reason?: string; at: number } };
const json = async (r: Promise<Response>): Promise<Trace> => (await r).json() as Promise<Trace>;

test('a revoked product shows as revoked in its trace, with where, who and why, though its entry is still in the stream it was acked from', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  const { app, url } = await startConsole(config);
  try {
    await redis.xadd(keys.stream('validate'), '*', 'k', 'rv-1', 'e', encodeEnvelope(newEnvelope({ id: 'rv-1', title: 'Kensington K72349US Wireless Mouse' })));
    const before = await json(fetch(`${url}/console/api/products/rv-1`, { headers: auth(READ) }));
    assert.is(before.state, 'in_flight');
    assert.is(before.tripEnded, false, 'the console offers Revoke');
    const settings = { maxLen: 100, statusTtlMs: 60_000 };
    await recordCompletions(redis, keys, [{ key: 'rv-1', status: 'revoked', stage: 'validate', by: 'cli:ann', reason: 'withdrawn' }], settings);
    const trace = await json(fetch(`${url}/console/api/products/rv-1`, { headers: auth(READ) }));
    assert.is(trace.state, 'revoked');
    assert.is(trace.tripEnded, true, 'the console offers no Revoke');
    assert.equal({ ...trace.revoked, at: 0 }, { stage: 'validate', by: 'cli:ann', reason: 'withdrawn', at: 0 });
  } finally {
    await app.close();
  }
});

test('an id whose status ended while its entry is still in a stream reads in flight, its trip ended: no Revoke offered (it would answer 409)', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const { app, url } = await startConsole(rulesOnlyConfig(server.url, pipeline));
  try {
    await redis.xadd(keys.stream('validate'), '*', 'k', 'dl-1', 'e', encodeEnvelope(newEnvelope({ id: 'dl-1', title: 'Kensington K72349US Wireless Mouse' })));
    await recordCompletions(redis, keys, [{ key: 'dl-1', status: 'dead_lettered', stage: 'validate', reason: 'invalid' }], {
      maxLen: 100,
      statusTtlMs: 60_000,
    });
    const trace = await json(fetch(`${url}/console/api/products/dl-1`, { headers: auth(READ) }));
    assert.is(trace.state, 'in_flight');
    assert.is(trace.tripEnded, true);
  } finally {
    await app.close();
  }
});

test.run();
