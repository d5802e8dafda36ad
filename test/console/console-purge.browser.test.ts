/**
 * The console's Purge button (console/workers.js, Debian's headless Chromium through playwright-core)
 * against a real server and Redis: the confirmation says how many entries wait; Cancel purges
 * nothing; confirmed, those entries are dead-lettered (reason `purged`, by the admin) and records
 * added while the confirmation was open stay waiting; the view says how many went and Recent
 * actions name the stage. A read-only token sees no button.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline } from '../helpers/redis.js';
import { signedIn } from '../helpers/browser.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { ADMIN, READ } from '../helpers/console.js';
import { audit } from '../../lib/ops/audit.js';
import { createLogger } from '../../lib/observe/logger.js';

const pipeline = randomPipeline('cpu');
const keys = new Keys(pipeline);
const input = keys.stream('in');
const { redis, url, browser } = await consoleInBrowser(test, (redisUrl) => rulesOnlyConfig(redisUrl, pipeline));

async function addRecords(prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await redis.xadd(input, '*', 'k', `${prefix}${i}`, 'e', 'x');
}

/** The records after preprocess's last-delivered-id on `in`: those still waiting. */
async function waitingKeys(): Promise<string[]> {
  const row = ((await redis.xinfo('GROUPS', input)) as unknown[][])[0]!;
  const after = String(row[row.indexOf('last-delivered-id') + 1]);
  return ((await redis.xrange(input, `(${after}`, '+')) as [string, string[]][]).map(([, f]) => f[1]!);
}

const deadLetters = async () =>
  ((await redis.xrange(keys.dlq, '-', '+')) as [string, string[]][]).map(
    ([, f]) => new Map(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i]!, f[2 * i + 1]!])),
  );

test('workers view: Purge confirms with the count waiting, Cancel purges nothing; confirmed, those go to the DLQ and records added meanwhile stay', async () => {
  await redis.xgroup('CREATE', input, 'preprocess', '0', 'MKSTREAM');
  await addRecords('bad', 5);
  const { page, errors } = await signedIn(browser, url, ADMIN, 'workers');
  const heading = page.locator('#worker-stages h2[data-stage="preprocess"]');
  const purge = heading.locator('button.stage-purge:text-is("Purge")');

  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.dismiss();
  });
  await purge.click();
  // Disabled as the click runs, enabled again once the dismissed confirmation returned.
  await page.waitForSelector('#worker-stages h2[data-stage="preprocess"] button.stage-purge:not([disabled])');
  assert.match(asked, /^Purge preprocess\? The 5 entries waiting for it/);
  assert.is(await redis.xlen(keys.dlq), 0, 'Cancel: nothing purged');
  assert.is((await waitingKeys()).length, 5);

  // Two records come in while the confirmation is open: they are not purged.
  page.once('dialog', (d) => {
    asked = d.message();
    void addRecords('good', 2).then(() => d.accept());
  });
  await purge.click();
  await page.locator('#workers-result:has-text("Purged preprocess")').waitFor();
  assert.match(asked, /The 5 entries waiting/);
  assert.match((await page.locator('#workers-result').textContent()) ?? '', /Purged preprocess: 5 entries dead-lettered \(reason purged\)/);
  const dead = await deadLetters();
  assert.equal(
    dead.map((d) => [d.get('k'), d.get('reason'), d.get('error')]),
    Array.from({ length: 5 }, (_, i) => [`bad${i}`, 'purged', 'purged by api:alice']),
  );
  assert.equal(await waitingKeys(), ['good0', 'good1'], 'the records added after the confirmation still wait');

  await page.click('#tab-dlq');
  await page.waitForSelector('#audit li:has-text("stage_purge")');
  const actions = await page.locator('#audit li').allTextContents();
  assert.match(actions[0]!, /alice · stage_purge · preprocess · purged 5$/);
  assert.equal(errors, []);
  await page.close();
});

test('Recent actions say why a stage purge stopped part way: the server closing is no error, an error is named', async () => {
  // As lib/api/stage-purge-route.ts audits them: stopped by the server closing, and by an error.
  const logger = createLogger({ component: 'test' }, 'error');
  await audit(redis, keys, logger, { action: 'stage_purge', by: 'alice', requestId: 'r1', stage: 'preprocess', purged: 3, stopped: true });
  await audit(redis, keys, logger, {
    action: 'stage_purge',
    by: 'alice',
    requestId: 'r2',
    stage: 'preprocess',
    purged: 4,
    stopped: true,
    error: 'OOM command not allowed',
  });
  const { page, errors } = await signedIn(browser, url, ADMIN, 'dlq');
  await page.waitForSelector('#audit li:has-text("purged 4")');
  const actions = await page.locator('#audit li').allTextContents();
  assert.match(actions[0]!, /stage_purge · preprocess \(stopped by an error: OOM command not allowed\) · purged 4$/);
  assert.match(actions[1]!, /stage_purge · preprocess \(stopped: the server was closing\) · purged 3$/);
  assert.equal(errors, []);
  await page.close();
});

test('a read-only token sees no Purge button', async () => {
  const { page, errors } = await signedIn(browser, url, READ, 'workers');
  const heading = page.locator('#worker-stages h2[data-stage="preprocess"]');
  await heading.waitFor();
  assert.is(await heading.locator('button.stage-purge').isVisible(), false);
  assert.equal(errors, []);
  await page.close();
});

test.run();
