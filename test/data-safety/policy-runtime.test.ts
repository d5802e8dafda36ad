/**
 * A maxmemory-policy changed at run time under a running worker (`CONFIG SET maxmemory-policy
 * allkeys-lru`, a common answer to OOM refusals): the worker says so, one line per change, within
 * `dataLossCheckMs` (error for allkeys-*, warn for volatile-*, info back to noeviction), and goes on.
 * It had read the policy at start only: keys evicted afterwards went without a word.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile, waitFor } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { settings: { 'maxmemory-policy': 'noeviction' } });

test('a policy set at run time: one redis.eviction_policy line per change (error allkeys-lru, warn volatile-lru, info noeviction), allkeys-* counted in the metric while it lasts, the worker still running', async () => {
  const config = rulesOnlyConfig(server.url, randomPipeline('pw'));
  const lines: Record<string, unknown>[] = [];
  const metrics = memoryMetrics();
  const evicting = () => metrics.records.filter((r) => r.name === 'redis.eviction_policy');
  const worker = new Worker({
    metrics,
    config: { ...config, stages: config.stages.map((s) => ({ ...s, ...FAST, dataLossCheckMs: 100 })) },
    stage: 'validate',
    stages: STAGES,
    logger: createLogger({ stage: 'validate' }, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
  });
  let ended = false;
  const running = worker.run().finally(() => (ended = true));
  try {
    await waitFor('the worker to start', () => lines.some((l) => l.event === 'worker.started'), 10_000);
    const policyLines = () => lines.filter((l) => l.event === 'redis.eviction_policy');
    assert.equal(policyLines(), [], 'noeviction at start: nothing said');
    for (const [policy, level] of [
      ['allkeys-lru', 'error'],
      ['volatile-lru', 'warn'],
      ['noeviction', 'info'],
    ] as const) {
      const before = policyLines().length;
      await redis.config('SET', 'maxmemory-policy', policy);
      await waitFor(`the line for ${policy}`, () => policyLines().length > before, 5_000);
      await new Promise((r) => setTimeout(r, 400)); // several more checks: the change is said once
      const said = policyLines().slice(before);
      assert.is(said.length, 1, JSON.stringify(said));
      assert.is(said[0]!.level, level);
      assert.is(said[0]!.policy, policy);
      if (level !== 'info') assert.match(String(said[0]!.err), new RegExp(`maxmemory-policy is ${policy}, not noeviction.*changed at run time`));
      // allkeys-* is counted on every check while it lasts (what the PipelineRedisEvictionPolicy alert reads); the others not at all.
      const counted = evicting().filter((r) => r.tags.policy === policy);
      if (policy === 'allkeys-lru') {
        assert.ok(counted.length >= 2, `counted ${counted.length} checks under allkeys-lru`);
        assert.equal(counted[0]!.tags, { stage: 'validate', policy });
      } else assert.is(counted.length, 0, policy);
    }
    const afterwards = evicting().length;
    await new Promise((r) => setTimeout(r, 300));
    assert.is(evicting().length, afterwards, 'back to noeviction: no longer counted');
    assert.is(ended, false, 'the worker goes on');
  } finally {
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await worker.stop();
    await running;
  }
});

test.run();
