/**
 * The console's workers view says what a consumer waits for, as `pipeline status` does: a real
 * preprocess worker whose hand-off a full real redis-server refuses (maxmemory, noeviction), in
 * Debian's headless Chromium. Its row had said only `committing · processed N · progress 1 s ago`,
 * the lag growing with no reason given; it says `waits N s for Redis (out of memory): OOM ...`, and
 * no longer once memory is freed.
 */
import { hostname } from 'node:os';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consumerHealth } from '../../lib/ops/consumer-health.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { Worker } from '../../lib/worker/worker.js';
import { STAGES } from '../../stages/index.js';
import { signedIn } from '../helpers/browser.js';
import { READ } from '../helpers/console.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { refusedHandOff } from '../helpers/full-handoff.js';
import { FAST, rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';

const { redis, config, url, browser } = await consoleInBrowser(
  test,
  (redisUrl) => rulesOnlyConfig(redisUrl, randomPipeline('cow'), { ...FAST, retryMaxMs: 200, pausePollMs: 100 }),
  { console: { sampleIntervalMs: 250 }, redis: { settings: { 'maxmemory-policy': 'noeviction' } } },
);
const keys = new Keys(config.pipeline);

test('a consumer whose hand-off waits for a full Redis: its row in the workers view says it waits for Redis (out of memory) with the error; gone once memory is freed', async () => {
  const worker = new Worker({ config, stage: 'preprocess', stages: STAGES, logger: silentLogger });
  const run = worker.run();
  const health = () => consumerHealth(redis, config, 'preprocess', { host: hostname(), pid: process.pid });
  try {
    await waitFor('preprocess live', async () => (await health()).ok, 20_000);
    await refusedHandOff(redis, keys, 100, async () => (await health()).progress?.paused !== undefined);
    await waitFor('the marker says the wait', async () => (await health()).progress?.outage !== undefined, 10_000);
    const { page, errors } = await signedIn(browser, url, READ, 'workers');
    const row = page.locator('#worker-stages h2[data-stage=preprocess] + table tbody tr').first();
    await row.waitFor();
    const text = (await row.textContent()) ?? '';
    assert.match(text, /committing · processed \d+ · progress .* ago · waits \d+ (ms|s) for Redis \(out of memory\): OOM command not allowed/, text);

    await redis.config('SET', 'maxmemory', '0');
    await waitFor('the wait over', async () => (await health()).progress?.outage === undefined, 10_000);
    await page.click('#workers-refresh');
    await waitFor('the row redrawn without it', async () => !/waits/.test((await row.textContent()) ?? ''), 10_000);
    assert.equal(errors, []);
    await page.close();
  } finally {
    await redis.config('SET', 'maxmemory', '0');
    await worker.stop();
    await run;
  }
});

test.run();
