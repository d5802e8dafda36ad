/**
 * A webhook's backlog (the lag of its group on `{p}:done`), read as a stage's `group.lag` is: when
 * Redis cannot tell it (an entry deleted after the group's position) it is counted, and a lag its
 * counters made up (entries-read short, as on a Redis Cluster replica promoted by a failover) is not
 * believed.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { pairs } from '../../lib/core/reply-pairs.js';
import { Keys } from '../../lib/redis/keys.js';
import { webhookGroup, webhookGroups } from '../../lib/stream/webhook-groups.js';
import { webhooksStatus, webhooksText } from '../../lib/webhooks/status.js';
import { FAST } from '../helpers/pipeline.js';
import { addEntries, client, randomPipeline, startRedis } from '../helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);
const RAW = JSON.parse(readFileSync(new URL('../../config/rules-only.json', import.meta.url), 'utf8')) as PipelineConfig;
const HOOK = { secretEnv: 'HOOK_SECRET', blockMs: 50, checkIntervalMs: 100 };

const configWith = (pipeline: string, webhooks: unknown[], extra: Partial<PipelineConfig> = {}): ResolvedConfig =>
  resolveConfig({ ...RAW, pipeline, defaults: FAST, ...extra, webhooks } as PipelineConfig, 'test', { env: { REDIS_URL: server.url } });

/** The group's lag as Redis reports it (XINFO GROUPS), summed over the streams. */
async function reportedLag(streams: readonly string[], group: string): Promise<number> {
  let sum = 0;
  for (const s of streams) {
    const row = ((await redis.xinfo('GROUPS', s)) as unknown[][]).map(pairs).find((g) => g.get('name') === group);
    sum += Number(row!.get('lag'));
  }
  return sum;
}

test('pipeline status: a webhook lag Redis cannot tell is counted (~), one its counters made up is not believed, one left uncounted is unknown', async () => {
  const pipeline = randomPipeline('whu');
  const config = configWith(pipeline, [{ ...HOOK, name: 'app', url: 'http://127.0.0.1:9/hook' }]);
  const keys = new Keys(pipeline);
  await addEntries(redis, keys.done, 10);
  const ids = ((await redis.xrange(keys.done, '-', '+')) as [string, string[]][]).map(([id]) => id);

  // Made at the stream's end with entries-read 0: Redis reports 10 (its counters), nothing waits.
  await redis.xgroup('CREATE', keys.done, webhookGroup('app'), '$', 'ENTRIESREAD', 0);
  assert.is(await reportedLag([keys.done], webhookGroup('app')), 10, 'Redis reports the made-up lag');
  assert.match(webhooksText(await webhooksStatus(redis, config)), /^webhook app: lag 0,/);

  // Delivered the third entry, and the seventh deleted: Redis reports no lag; the 6 after it are counted.
  await redis.xgroup('SETID', keys.done, webhookGroup('app'), ids[2]!, 'ENTRIESREAD', 3);
  await redis.xdel(keys.done, ids[6]!);
  const row = ((await redis.xinfo('GROUPS', keys.done)) as unknown[][]).map(pairs)[0]!;
  assert.is(row.get('lag'), null, 'Redis cannot tell');
  const [status] = await webhooksStatus(redis, config);
  assert.equal([status!.lag, status!.lagEstimated], [6, true]);
  assert.match(webhooksText([status!]), /^webhook app: lag ~6,/);
  assert.equal(
    (await webhookGroups(redis, config, 0)).map((w) => w.lag),
    [null],
    'left unknown without counting',
  );
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});
test.run();
