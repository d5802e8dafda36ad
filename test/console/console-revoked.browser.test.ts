/** The console's product view of a revoked product (`pipeline revoke`) in a real browser: its state and who stopped it where, why. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { recordCompletions } from '../../lib/stream/done.js';
import { randomPipeline } from '../helpers/redis.js';
import { signedIn } from '../helpers/browser.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { READ } from '../helpers/console.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';

const pipeline = randomPipeline('crv');
const keys = new Keys(pipeline);
const { redis, url, browser } = await consoleInBrowser(test, (redisUrl) => rulesOnlyConfig(redisUrl, pipeline));

test('a revoked product: the trace says revoked, where, by whom and why', async () => {
  await redis.xadd(keys.stream('validate'), '*', 'k', 'rv-1', 'e', encodeEnvelope(newEnvelope({ id: 'rv-1', title: 'Kensington K72349US Wireless Mouse' })));
  await recordCompletions(redis, keys, [{ key: 'rv-1', status: 'revoked', stage: 'validate', by: 'cli:ann', reason: 'withdrawn' }], {
    maxLen: 100,
    statusTtlMs: 60_000,
  });
  const { page, errors } = await signedIn(browser, url, READ, 'products');
  await page.fill('#find-id', 'rv-1');
  await page.click('#find button');
  await page.waitForSelector('#trace .state.revoked');
  assert.match((await page.textContent('#trace')) ?? '', /revoked at validate by cli:ann: withdrawn/);
  assert.equal(errors, []);
  await page.close();
});

test.run();
