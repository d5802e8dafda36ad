/**
 * The chaos and soak counts of the terminal streams (scripts/scenarios/terminal-tally.ts): a record
 * routed to review by two stages (classify: low confidence; validate: a missing attribute) is
 * routing, not a duplicate; the same stage sending it twice is. The soak run had counted the first
 * as "duplicated" and failed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configShards } from '../../lib/redis/shard.js';
import { encodeEnvelope, FIELD_ENVELOPE, FIELD_KEY, newEnvelope } from '../../lib/stream/codec.js';
import { tallyTerminal } from '../../scripts/scenarios/terminal-tally.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

test('one record in review from two stages is not a duplicate; twice from one stage is', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const shards = configShards(config);
  const review = shards.all[0]!.stream('review');
  const send = (key: string, stage: string) => {
    const env = newEnvelope({ id: key, title: `Product ${key}` });
    env.hops.push({ stage, consumer: 'c', readAt: 0, doneAt: 0, batch: 1 });
    return redis.xadd(review, '*', FIELD_KEY, key, FIELD_ENVELOPE, encodeEnvelope(env));
  };
  await send('a', 'classify');
  await send('a', 'validate');
  await send('b', 'classify');
  let t = await tallyTerminal(redis, config, shards);
  assert.equal([...t.keys].sort(), ['a', 'b']);
  assert.is(t.repeated, 0, 'two routing stages: not a duplicate');
  await send('b', 'classify');
  t = await tallyTerminal(redis, config, shards);
  assert.is(t.repeated, 1, 'one stage twice: a duplicate');
});

test.run();
