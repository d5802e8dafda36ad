/**
 * The console's Pause and Resume buttons (console/workers.js, Debian's headless Chromium through
 * playwright-core) against a real server and Redis: an admin pauses a stage with a reason, the
 * workers view shows it PAUSED by them, the flag workers read is set (lib/ops/pause.ts) and the action
 * audited, Recent actions naming the stage and the reason; Resume clears it. A read-only token sees no button.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readAudit } from '../../lib/ops/audit.js';
import { pausedStages } from '../../lib/ops/pause.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';
import { signedIn } from '../helpers/browser.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { ADMIN, READ } from '../helpers/console.js';

const pipeline = randomPipeline('cp');
const { redis, config, app, url, browser } = await consoleInBrowser(test, (redisUrl) => rulesOnlyConfig(redisUrl, pipeline));

test('workers view: Pause asks why, shows the stage PAUSED by the admin, sets the flag and audits it; Resume clears it', async () => {
  await redis.xgroup('CREATE', new Keys(pipeline).stream('validate'), 'validate', '0', 'MKSTREAM');
  const { page, errors } = await signedIn(browser, url, ADMIN, 'workers');
  let asked = '';
  page.on('dialog', (d) => {
    asked = d.message();
    void d.accept('swapping the model');
  });
  const heading = page.locator('#worker-stages h2[data-stage="validate"]');
  await heading.locator('button.stage-pause:text-is("Pause")').click();
  await heading.locator('.paused').waitFor();
  assert.match(asked, /^Pause validate\?/);
  assert.match((await heading.textContent()) ?? '', /PAUSED by api:alice \d+ ms ago: swapping the model/);
  const flag = (await pausedStages(redis, config)).get('validate');
  assert.is(flag?.by, 'api:alice');
  assert.is(flag?.reason, 'swapping the model');
  assert.equal([...(await pausedStages(redis, config)).keys()], ['validate'], 'only that stage');

  await heading.locator('button.stage-pause:text-is("Resume")').click();
  await heading.locator('button.stage-pause:text-is("Pause")').waitFor();
  assert.is(await heading.locator('.paused').count(), 0);
  await waitFor('the flag cleared', async () => (await pausedStages(redis, config)).size === 0, 5_000);
  const trail = await readAudit(redis, new Keys(pipeline));
  assert.equal(
    trail.map((e) => [e.action, e.by]),
    [
      ['stage_resume', 'alice'],
      ['stage_pause', 'alice'],
    ],
  );
  // Recent actions name the stage and the reason (they had listed a bare "stage_pause").
  await page.click('#tab-dlq');
  await page.waitForSelector('#audit li:has-text("stage_resume")');
  const actions = await page.locator('#audit li').allTextContents();
  assert.match(actions[0]!, /alice · stage_resume · validate$/);
  assert.match(actions[1]!, /alice · stage_pause · validate: swapping the model$/);
  assert.equal(errors, []);
  await page.close();
});

test('a read-only token sees the paused state and no button', async () => {
  await app.inject({ method: 'POST', url: '/v1/stages/store/pause', headers: { authorization: `Bearer ${ADMIN}` } });
  const { page, errors } = await signedIn(browser, url, READ, 'workers');
  const heading = page.locator('#worker-stages h2[data-stage="store"]');
  await heading.locator('.paused').waitFor();
  assert.match((await heading.textContent()) ?? '', /PAUSED by api:alice/);
  assert.is(await heading.locator('button.stage-pause').isVisible(), false);
  assert.equal(errors, []);
  await page.close();
});

test.run();
