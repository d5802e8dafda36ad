/**
 * The console's data-loss banner (console/data-loss.js, the sample's `dataLost`: lib/console/sampler.ts)
 * in Debian's headless Chromium against a real server and Redis: workers running, then FLUSHALL makes
 * them record a loss; every tab shows the red banner (what, when, seen by stage/consumer, what to do);
 * a read token sees no Acknowledge; the admin's Acknowledge asks first (Cancel keeps it), then clears
 * the record (POST /v1/data-loss/ack): the banner is gone and `pipeline status --json` says `dataLost: []`.
 */
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readDataLoss } from '../../lib/ops/data-loss.js';
import { Keys } from '../../lib/redis/keys.js';
import { cli, exited, FAST, rulesOnlyConfig, writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';
import { signedIn } from '../helpers/browser.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { ADMIN, READ } from '../helpers/console.js';

/** The workers read their data-loss marker again this often (stage option dataLossCheckMs). */
const TIMERS = { ...FAST, dataLossCheckMs: 100 };

const pipeline = randomPipeline('cdl');
const { server, redis, config, url, browser } = await consoleInBrowser(test, (redisUrl) => rulesOnlyConfig(redisUrl, pipeline, TIMERS), { workers: true });
const file = writeConfig(pipeline, TIMERS);

/** `pipeline status --json`'s `dataLost`. */
async function statusDataLost(): Promise<unknown[]> {
  const child = cli(['--config', file, 'status', '--json'], server.url);
  assert.is(await exited(child), 0, child.output());
  const line = child
    .output()
    .split('\n')
    .find((l) => l.includes('"dataLost"'));
  assert.ok(line, child.output());
  return (JSON.parse(line) as { dataLost: unknown[] }).dataLost;
}

test('Redis lost data (FLUSHALL under the workers): the red banner on every tab; Acknowledge (admin, confirmed) clears it, status dataLost []', async () => {
  await waitFor('the data-loss marker written', async () => (await redis.exists(new Keys(pipeline).epoch)) === 1, 10_000);
  await redis.flushall();
  // Its fields too: the first reporter writes `at` (HSETNX), then who and what (HSET), so a read between sees `at` alone.
  await waitFor('the workers recorded the loss', async () => Boolean((await readDataLoss(redis, config))[0]?.consumer), 20_000);
  const [record] = await readDataLoss(redis, config);

  // A read token: the banner, no button.
  const viewer = await signedIn(browser, url, READ, 'pipeline');
  const seen = viewer.page.locator('#data-loss');
  await seen.waitFor();
  assert.is(await seen.locator('button.data-loss-ack').isVisible(), false, 'a read token has no Acknowledge');
  assert.equal(viewer.errors, []);
  await viewer.page.close();

  const { page, errors } = await signedIn(browser, url, ADMIN, 'dlq');
  const banner = page.locator('#data-loss');
  await banner.waitFor();
  const text = (await banner.textContent()) ?? '';
  assert.match(text, /^Redis lost data: /);
  assert.ok(text.includes(`seen by ${record!.stage}/${record!.consumer}`), text);
  assert.ok(text.includes(new Date(record!.at).toISOString()), `when: ${text}`);
  assert.match(text, /may be gone: re-produce them .*appendonly yes/);
  // Every tab (it sits above them).
  for (const tab of ['review', 'products', 'workers', 'pipeline']) {
    await page.click(`#tabs button[data-tab="${tab}"]`);
    assert.ok(await banner.isVisible(), `the banner on ${tab}`);
  }

  // The confirm step: Cancel acknowledges nothing.
  const asked: string[] = [];
  let accept = false;
  page.on('dialog', (d) => {
    asked.push(d.message());
    void (accept ? d.accept() : d.dismiss());
  });
  const ack = banner.locator('button.data-loss-ack:text-is("Acknowledge")');
  await ack.click();
  await waitFor('asked', () => asked.length === 1, 5_000);
  assert.match(asked[0]!, /^Acknowledge the data loss of \{/);
  assert.is((await readDataLoss(redis, config)).length, 1, 'Cancel: still recorded');
  assert.ok(await banner.isVisible());

  accept = true;
  await ack.click();
  await banner.waitFor({ state: 'hidden' });
  const gone = Date.now();
  assert.equal(await readDataLoss(redis, config), [], 'the record cleared');
  assert.equal(await statusDataLost(), [], 'pipeline status --json: dataLost []');
  // Samples taken since (the time of the page's last one: #sampled-at's data-at) do not bring it back.
  await waitFor('the page drew a sample taken after the ack', async () => Number(await page.locator('#sampled-at').getAttribute('data-at')) > gone, 10_000);
  assert.is(await banner.isVisible(), false, 'still gone');
  assert.equal(errors, []);
  await page.close();
});

test.after(() => rmSync(file, { force: true }));

test.run();
