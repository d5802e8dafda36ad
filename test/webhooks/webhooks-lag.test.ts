/**
 * A webhook's backlog (the lag of its group on `{p}:done`) as `pipeline status` shows it and as the
 * monitor sends it (`webhooks.lag`), read as a stage's `group.lag` is: when Redis cannot tell it (an
 * entry deleted after the group's position) it is counted, and a lag its counters made up
 * (entries-read short, as on a Redis Cluster replica promoted by a failover) is not believed.
 * `pipeline monitor` (a real process, real StatsD over UDP) sends the lag of the group summed over
 * the shards while its receiver answers 503, and nothing for a webhook whose group does not exist yet
 * (the same on a Redis Cluster: test/topologies/cluster-webhook-lag.test.ts).
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig, ResolvedConfig } from '../../lib/config/types.js';
import { pairs } from '../../lib/core/reply-pairs.js';
import { emitGauges, GaugeSampler } from '../../lib/ops/gauges.js';
import { pipelineStatus } from '../../lib/ops/inspect.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Keys } from '../../lib/redis/keys.js';
import { webhookGroup, webhookGroups } from '../../lib/stream/webhook-groups.js';
import { webhooksStatus, webhooksText } from '../../lib/webhooks/status.js';
import { FAST } from '../helpers/pipeline.js';
import { addEntries, randomPipeline, redisForFile } from '../helpers/redis.js';
import { reportedLag, webhookLagSeen } from '../helpers/webhook-lag.js';

const { server, redis } = await redisForFile(test);
const RAW = JSON.parse(readFileSync(new URL('../../config/rules-only.json', import.meta.url), 'utf8')) as PipelineConfig;
const HOOK = { secretEnv: 'HOOK_SECRET', blockMs: 50, checkIntervalMs: 100 };

const configWith = (pipeline: string, webhooks: unknown[], extra: Partial<PipelineConfig> = {}): ResolvedConfig =>
  resolveConfig({ ...RAW, pipeline, defaults: FAST, ...extra, webhooks } as PipelineConfig, 'test', { env: { REDIS_URL: server.url } });

test('pipeline monitor sends webhooks.lag, the lag of the webhook group summed over the shards, while its receiver answers 503', async () => {
  const seen = await webhookLagSeen(redis, server.url, { shards: 2 });
  assert.ok(seen.lag > 0 && seen.lag < 60, `lag ${seen.lag}`);
  assert.is(seen.lag, 60 - seen.pending, 'the lag is what no reader has taken yet');
  assert.ok(seen.refused >= 2, 'the receiver was asked and answered 503');
  const app = seen.lines.filter((l) => l.name === 'webhooks.lag' && l.tags.webhook === 'app').at(-1)!;
  assert.equal([app.value, app.type, app.tags.pipeline], [seen.lag, 'g', seen.pipeline]);
  assert.ok(
    seen.lines.some((l) => l.name === 'group.lag'),
    'the monitor samples the stages too',
  );
  assert.equal(
    seen.lines.filter((l) => l.name === 'webhooks.lag' && l.tags.webhook !== 'app'),
    [],
    'a webhook without its group is not sent',
  );
  assert.is(seen.exit, 0, seen.output);
});

/** The `webhooks.lag` gauges one sample of the monitor's sampler sends: [webhook, value]. */
async function gauges(config: ResolvedConfig): Promise<[string | undefined, number][]> {
  const metrics = memoryMetrics();
  await new GaugeSampler({ redis, config, metrics, logger: silentLogger }).sampleOnce();
  return metrics.records.filter((r) => r.name === 'webhooks.lag').map((r) => [r.tags.webhook, r.value]);
}

test('pipeline status and webhooks.lag: a webhook lag Redis cannot tell is counted (~), one its counters made up is not believed, one left uncounted is unknown', async () => {
  const pipeline = randomPipeline('whu');
  const config = configWith(pipeline, [{ ...HOOK, name: 'app', url: 'http://127.0.0.1:9/hook' }]);
  const keys = new Keys(pipeline);
  await addEntries(redis, keys.done, 10);
  const ids = ((await redis.xrange(keys.done, '-', '+')) as [string, string[]][]).map(([id]) => id);

  // Made at the stream's end with entries-read 0: Redis reports 10 (its counters), nothing waits.
  await redis.xgroup('CREATE', keys.done, webhookGroup('app'), '$', 'ENTRIESREAD', 0);
  assert.is(await reportedLag(redis, [keys.done], webhookGroup('app')), 10, 'Redis reports the made-up lag');
  assert.equal(await gauges(config), [['app', 0]]);
  assert.match(webhooksText(await webhooksStatus(redis, config)), /^webhook app: lag 0,/);

  // Delivered the third entry, and the seventh deleted: Redis reports no lag; the 6 after it are counted.
  await redis.xgroup('SETID', keys.done, webhookGroup('app'), ids[2]!, 'ENTRIESREAD', 3);
  await redis.xdel(keys.done, ids[6]!);
  const row = ((await redis.xinfo('GROUPS', keys.done)) as unknown[][]).map(pairs)[0]!;
  assert.is(row.get('lag'), null, 'Redis cannot tell');
  const [status] = await webhooksStatus(redis, config);
  assert.equal([status!.lag, status!.lagEstimated], [6, true]);
  assert.match(webhooksText([status!]), /^webhook app: lag ~6,/);
  assert.equal(await gauges(config), [['app', 6]]);
  const unknown = await webhookGroups(redis, config, 0);
  assert.equal(
    unknown.map((w) => w.lag),
    [null],
    'left unknown without counting',
  );
  const metrics = memoryMetrics();
  emitGauges(metrics, await pipelineStatus(redis, config), true, unknown);
  assert.equal(
    metrics.records.filter((r) => r.name === 'webhooks.lag'),
    [],
    'an unknown lag is not sent, as group.lag is not',
  );
});

test.run();
