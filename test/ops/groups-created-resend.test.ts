/**
 * The groups `pipeline monitor` makes when they are missing (at start, and again when a sample finds
 * them gone: `gauges.groups_created`, a sign Redis lost its data). An XGROUP CREATE whose reply was
 * lost with its connection is sent again by ioredis itself once it reconnects, and the re-send is
 * refused (BUSYGROUP: the first call made the group); the group still counts as made by this call,
 * as it was missing just before (it had been left out, and the warning with it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ensureGroups } from '../../lib/ops/inspect.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { throughReplyLosingProxy } from '../helpers/reply-losing-proxy.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);
const serverPort = Number(new URL(server.url).port);

test('groups made by calls whose replies were lost with the connection are named as made', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline());
  const keys = new Keys(config.pipeline);
  const first = config.stages[0]!;
  const created = await throughReplyLosingProxy(
    serverPort,
    async () =>
      (await redis.exists(keys.stream(first.input))) === 1 ? ((await redis.xinfo('GROUPS', keys.stream(first.input))) as unknown[]).length > 0 : false,
    async (viaProxy, proxy) => {
      const made = await ensureGroups(viaProxy, config);
      assert.ok(proxy.dropped(), 'the connection was dropped after a group was made');
      return made;
    },
    /xgroup/i,
  );
  assert.equal(created, config.stages.map((s) => s.name).sort());
  assert.equal(await ensureGroups(redis, config), [], 'all there: none made the second time');
});

test.run();
