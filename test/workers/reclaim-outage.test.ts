/**
 * The reclaimer during a Redis outage (a real redis-server at `maxmemory`): a pass that fails is
 * counted each time (`reclaim.errors`), but said once as the outage begins (`reclaim.error`), then
 * at most every `errorLogEveryMs` with the passes it stands for, and its end once
 * (`reclaim.recovered`, with the passes that failed); a new outage is said at once again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/observe/logger.js';
import { memoryMetrics } from '../../lib/observe/metrics.js';
import { ThrottledWarn } from '../../lib/observe/throttled-warn.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test);

test('a pass failing while Redis is full: counted every pass, said once, then its recovery once with the passes that failed', async () => {
  const pipeline = randomPipeline('reclaimoom');
  const config = rulesOnlyConfig(server.url, pipeline, FAST);
  const stage = config.stages[0]!;
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({}, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const metrics = memoryMetrics();
  const worker = new Worker({ config, stage: stage.name, stages: STAGES, logger, metrics });
  const reclaimEvents = () => lines.filter((l) => typeof l.event === 'string' && l.event.startsWith('reclaim.'));
  try {
    await redis.xgroup('CREATE', new Keys(pipeline).stream(stage.input), stage.name, '$', 'MKSTREAM');
    await worker.reclaimer.runOnce();
    assert.equal(reclaimEvents(), [], 'a pass that went well says nothing');

    await redis.config('SET', 'maxmemory', '1');
    const passes = 5;
    for (let i = 0; i < passes; i++) await worker.reclaimer.runOnce();
    const failed = metrics.records.filter((r) => r.name === 'reclaim.errors');
    assert.ok(failed.length >= passes, `each failed pass counted: ${JSON.stringify(failed)}`);
    const said = reclaimEvents();
    assert.is(said.length, 1, JSON.stringify(said));
    assert.is(said[0]!.event, 'reclaim.error');
    assert.is(said[0]!.level, 'warn');
    assert.match(String((said[0]!.err as { message?: string }).message ?? said[0]!.err), /^OOM/);
    assert.is(said[0]!.failedPasses, 1);

    await redis.config('SET', 'maxmemory', '0');
    await worker.reclaimer.runOnce();
    const back = reclaimEvents().slice(1);
    assert.is(back.length, 1, JSON.stringify(back));
    assert.is(back[0]!.event, 'reclaim.recovered');
    assert.is(back[0]!.failedPasses, passes);

    // A new outage is said at once, not held back for errorLogEveryMs.
    await redis.config('SET', 'maxmemory', '1');
    await worker.reclaimer.runOnce();
    const again = reclaimEvents().slice(2);
    assert.equal(
      again.map((l) => [l.event, l.failedPasses]),
      [['reclaim.error', 1]],
    );
  } finally {
    await redis.config('SET', 'maxmemory', '0');
    await worker.stop();
  }
});

test('a repeated failure: the first said at once, the next ones within everyMs counted on the line after it', () => {
  const lines: Record<string, unknown>[] = [];
  const warnings = new ThrottledWarn(
    createLogger({}, 'info', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)),
    1_000,
  );
  for (const at of [0, 400, 900, 1_000, 1_500, 2_100]) warnings.warn('x.error', { at }, at);
  assert.equal(
    lines.map((l) => [l.at, l.failures]),
    [
      [0, 1],
      [1_000, 3],
      [2_100, 2],
    ],
  );
});

test.run();
