/**
 * The console's sample while Redis is full (maxmemory reached under noeviction) on a real
 * redis-server: the sampler's lease write is refused with OOM, and the sample says so (the amber
 * banner: Redis full, what to do, nothing lost) instead of failing, which the page showed as
 * "stale" with no word of the outage; once the limit is lifted, the banner goes and the series is written again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consoleKeys, ConsoleSampler, type ConsoleSample, type SampleFailure } from '../../lib/console/sampler.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { addEntries, randomPipeline, redisForFile } from '../helpers/redis.js';

const { server, redis } = await redisForFile(test, { settings: { 'maxmemory-policy': 'noeviction' } });
const pipeline = randomPipeline('oc');
const config = rulesOnlyConfig(server.url, pipeline);
const keys = new Keys(pipeline);
await addEntries(redis, keys.stream(config.stages[0]!.input), 5);

/** Set maxmemory below what is in use (1 MB of ballast over it): Redis refuses every write that may grow memory with OOM. */
async function fill(): Promise<void> {
  await redis.set(`${pipeline}-ballast`, 'x'.repeat(2_000_000));
  const used = Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))![1]);
  await redis.config('SET', 'maxmemory', String(used - 1_000_000));
  const refused = await redis.set(`${pipeline}-probe`, 'x').then(
    () => '',
    (err: Error) => err.message,
  );
  assert.match(refused, /^OOM/, 'Redis refuses writes once full');
}

test('Redis full: the console sample names it (redisRefusesWrites, the banner line with what to do), no failure, no series write; gone once the limit is lifted', async () => {
  const sampler = new ConsoleSampler({ redis, config, logger: silentLogger, intervalMs: 100 });
  const failures: SampleFailure[] = [];
  sampler.subscribe(
    () => {},
    (f) => failures.push(f),
  );
  const series = () => redis.xlen(consoleKeys(keys).series);
  const calm = await sampler.sampleOnce();
  assert.equal([calm?.redisRefusesWrites, calm?.writeRefusalLine, sampler.writer], [null, null, true], JSON.stringify(failures));
  const written = await series();
  await fill();
  try {
    const sample = (await sampler.sampleOnce()) as ConsoleSample | undefined;
    assert.ok(sample, `the sample is taken: ${JSON.stringify(failures)}`);
    assert.match(sample.redisRefusesWrites ?? '', /^OOM command not allowed/);
    assert.match(sample.writeRefusalLine ?? '', /^Redis is full .*\[OOM command not allowed.*\]; raise `maxmemory` or free memory .*nothing is lost/);
    assert.is(sample.stages[0]!.lag, 5, 'the sample itself is read as usual');
    assert.equal([failures, sampler.writer, await series()], [[], false, written], 'no stale event; the chart has a gap');
  } finally {
    await redis.config('SET', 'maxmemory', '0');
  }
  const after = await sampler.sampleOnce();
  assert.equal([after?.redisRefusesWrites, after?.writeRefusalLine, sampler.writer, failures], [null, null, true, []]);
  assert.is(await series(), written + 1, 'written again');
});

test.run();
