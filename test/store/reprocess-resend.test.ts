/**
 * A `pipeline reprocess` put-back whose reply was lost with its connection is sent again by ioredis
 * itself once it reconnects; the first call had put the product back and set its marker, so the
 * re-send finds the marker. The marker names the run, so the run counts the product as put back
 * (it counted it `skipped.inFlight`, as if another run had it), and the stage stream has it once.
 * Another run that finds the marker still skips it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reprocess } from '../../lib/ops/reprocess.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { each, storedRef } from '../helpers/stored-products.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { appendonly: true, appendfsync: 'always' });
const serverPort = Number(new URL(server.url).port);

test('a put-back whose reply was lost with the connection counts as put back, once; another run skips it as in flight', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const keys = new Keys(config.pipeline);
  const input = keys.stream(config.stages.find((s) => s.name === 'validate')!.input);
  // The Functions library loaded first (one put-back), so the proxied connection's first FCALL is the put-back.
  await reprocess(redis, config, each([storedRef('warm-up')]), { current: {}, fromStage: 'validate' });
  await throughReplyLosingProxy(
    serverPort,
    async () => (await redis.xlen(input)) === 2,
    async (viaProxy, proxy) => {
      const r = await reprocess(viaProxy, config, each([storedRef('p1')]), { current: {}, fromStage: 'validate' });
      assert.ok(proxy.dropped(), 'the connection was dropped after the put-back went through');
      assert.equal({ reprocessed: r.reprocessed, inFlight: r.skipped.inFlight }, { reprocessed: 1, inFlight: 0 });
      assert.is(await redis.xlen(input), 2, 'on the stage stream once (beside the warm-up)');
    },
  );
  const again = await reprocess(redis, config, each([storedRef('p1')]), { current: {}, fromStage: 'validate' });
  assert.equal({ reprocessed: again.reprocessed, inFlight: again.skipped.inFlight }, { reprocessed: 0, inFlight: 1 });
});

test.run();
