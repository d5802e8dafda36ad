/**
 * The console's amber banner while Redis refuses writes because it cannot persist (MISCONF;
 * console/write-refusal.js, the sample's `writeRefusalLine`: lib/console/sampler.ts) in Debian's
 * headless Chromium against a real server and a real redis-server put into MISCONF: the refusal and
 * what to do on every tab, not the red data-loss banner, the page still "live"; gone once Redis saves
 * again.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allowWrites, refuseWrites } from '../helpers/misconf.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';
import { signedIn } from '../helpers/browser.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { READ } from '../helpers/console.js';

const { redis, url, browser } = await consoleInBrowser(test, (redisUrl) => rulesOnlyConfig(redisUrl, randomPipeline('cmc')), {
  console: { sampleIntervalMs: 250 },
});

test('Redis refusing writes (MISCONF): the amber banner with what to do on every tab while it lasts, the page live; gone when Redis saves again', async () => {
  const { page, errors } = await signedIn(browser, url, READ, 'pipeline');
  const banner = page.locator('#write-refusal');
  const liveState = page.locator('#live-state');
  await waitFor('a sample drawn', async () => (await liveState.textContent()) === 'live', 10_000);
  assert.is(await banner.isVisible(), false, 'none while Redis takes writes');

  await refuseWrites(redis);
  try {
    await banner.waitFor();
    const text = (await banner.textContent()) ?? '';
    assert.match(text, /^Redis refuses every write: it cannot persist to disk .*\[MISCONF /);
    assert.match(text, 'free the disk or fix what failed the save (the Redis log names it), then `BGSAVE`');
    assert.is(await page.locator('#data-loss').isVisible(), false, 'not the data-loss banner');
    // Amber, an outage: not the red of data gone.
    // (A string: the tests' tsconfig has no DOM types.)
    assert.is(await page.evaluate("getComputedStyle(document.querySelector('#write-refusal')).backgroundColor"), 'rgb(254, 240, 199)');
    for (const tab of ['dlq', 'workers', 'pipeline']) {
      await page.click(`#tabs button[data-tab="${tab}"]`);
      assert.ok(await banner.isVisible(), `the banner on ${tab}`);
    }
    const sampledAt = Number(await page.locator('#sampled-at').getAttribute('data-at'));
    await waitFor('a later sample drawn', async () => Number(await page.locator('#sampled-at').getAttribute('data-at')) > sampledAt, 10_000);
    assert.is(await liveState.textContent(), 'live', 'sampling goes on (it had said "stale: sampling failed (MISCONF ...)")');
  } finally {
    await allowWrites(redis);
  }
  await banner.waitFor({ state: 'hidden' });
  assert.equal(errors, []);
  await page.close();
});

test.run();
