/**
 * A worker process stopped (SIGTERM) while its Redis is frozen (SIGSTOP: connections up, nothing
 * answered) ends within `drainTimeoutMs` and the connections' short close, as the grace period of
 * the deploy files (`drainTimeoutMs` + 10 s) expects. It took twice `drainTimeoutMs`: the process
 * drained every stage, then stopped each, which drained again and waited a second time for the
 * reclaim pass and data-loss check the frozen Redis held (`pipeline up` SIGKILLed it first).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { StageProcess } from '../../lib/worker/process.js';
import { STAGES } from '../../stages/index.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { client, randomPipeline, startRedis, waitFor } from '../helpers/redis.js';

const server = await startRedis();
const redis = client(server.url);
const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))![1]);
const DRAIN_MS = 3_000;

test('a process stopped while its Redis is frozen ends within drainTimeoutMs and the close, not twice drainTimeoutMs', async () => {
  // Reclaim passes and data-loss checks often, so that one is in flight when Redis freezes.
  const config = rulesOnlyConfig(server.url, randomPipeline('frz'), { ...FAST, drainTimeoutMs: DRAIN_MS, claimIntervalMs: 50, dataLossCheckMs: 100 });
  const keys = new Keys(config.pipeline);
  const proc = new StageProcess({ config, stages: ['preprocess', 'validate', 'store'], kinds: STAGES, logger: silentLogger });
  const run = proc.run().catch(() => undefined);
  let frozen = false;
  try {
    await waitFor('groups made', async () => ((await redis.xinfo('GROUPS', keys.stream('in')).catch(() => [])) as unknown[]).length === 1, 20_000);
    await new Promise((r) => setTimeout(r, 500)); // the loops running
    process.kill(pid, 'SIGSTOP');
    frozen = true;
    await new Promise((r) => setTimeout(r, 300)); // a reclaim pass and a check sent into the frozen Redis
    const t0 = Date.now();
    await proc.stop();
    const took = Date.now() - t0;
    assert.ok(took < DRAIN_MS + 2_500, `stopped after ${took} ms (drainTimeoutMs ${DRAIN_MS})`);
  } finally {
    if (frozen) process.kill(pid, 'SIGCONT');
    await proc.stop();
    await run;
  }
});

test.after(async () => {
  redis.disconnect();
  await server.close();
});

test.run();
