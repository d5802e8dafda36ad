/**
 * Several operators in the console at once (Debian's headless Chromium through playwright-core,
 * one browser context each, as test/console/console.browser.test.ts), against a real `pipeline serve` and
 * Redis with no workers: two admins (alice, bob) act on the same dead letters and review items,
 * and each page must say what the other did rather than act on, or show, what is gone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keys } from '../../lib/redis/keys.js';
import { serverTimeMs } from '../../lib/redis/server-time.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../../lib/stream/codec.js';
import { client, randomPipeline, startRedis } from '../helpers/redis.js';
import { launchBrowser } from '../helpers/browser.js';
import { addDeadLetter, addReviewItems, ADMIN, ADMIN2, reviewConfig, reviewRawConfig, startConsole } from '../helpers/console.js';
import { cli, exited } from '../helpers/pipeline.js';

const server = await startRedis();
const redis = client(server.url);
const pipeline = randomPipeline('co');
const keys = new Keys(pipeline);
const config = reviewConfig(server.url, pipeline);
const { app, url } = await startConsole(config, { sampleIntervalMs: 250 });
const browser: Browser = await launchBrowser();
const contexts: BrowserContext[] = [];

/** An operator's page in a browser context of its own (its own session), signed in with `token` on `tab`; uncaught errors go to `errors`. */
async function operator(token: string, tab: string): Promise<{ page: Page; errors: string[] }> {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${url}/#${tab}`);
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#who:has-text("·")');
  return { page, errors };
}

const deadLetters = async (n: number, prefix: string) => {
  for (let i = 0; i < n; i++) await addDeadLetter(redis, keys, { id: `${prefix}-${i}`, title: 'Koss EQ50 3-Band Stereo Equalizer' });
};

test('dead letters: after an action the view can still be refreshed (Refresh had stayed disabled until the tab was switched)', async () => {
  await redis.del(keys.dlq);
  await deadLetters(3, 'refresh');
  const { page, errors } = await operator(ADMIN, 'dlq');
  await page.waitForSelector('#dlq-groups tbody tr:has-text("max_deliveries")');
  await page.locator('#dlq-groups tbody tr:has-text("max_deliveries") button:has-text("Replay all 3")').click();
  await page.waitForSelector('#dlq-result:has-text("Replayed 3.")');
  await deadLetters(2, 'after'); // another stage dead-letters while the operator looks
  await page.waitForSelector('#dlq-new:has-text("2 new dead letter(s) since drawn.")');
  assert.ok(await page.isEnabled('#dlq-refresh'), 'Refresh is enabled after the action');
  await page.click('#dlq-refresh');
  await page.waitForSelector('#dlq-entries tbody tr:has-text("after-1")');
  assert.is(await page.textContent('#dlq-new'), '');
  assert.equal(errors, []);
});

test('dead letters: an action on what another operator replayed since the page was drawn says so (it had said a bare "Replayed 0." / "Purged 0 dead letter(s).")', async () => {
  await redis.del(keys.dlq);
  await deadLetters(4, 'both');
  const alice = await operator(ADMIN, 'dlq');
  const bob = await operator(ADMIN2, 'dlq');
  for (const { page } of [alice, bob]) await page.waitForSelector('#dlq-groups tbody tr:has-text("max_deliveries")');
  for (const key of ['both-0', 'both-1']) await bob.page.check(`#dlq-entries tbody tr:has-text("${key}") input[type=checkbox]`);
  await alice.page.locator('#dlq-groups tbody tr:has-text("max_deliveries") button:has-text("Replay all 4")').click();
  await alice.page.waitForSelector('#dlq-result:text-is("Replayed 4.")');
  await bob.page.waitForSelector('#dlq-new:has-text("4 dead letter(s) fewer since drawn")');
  await bob.page.click('#dlq-purge-selected');
  await bob.page.waitForSelector('#dlq-result:has-text("Purged")');
  assert.is(
    await bob.page.textContent('#dlq-result'),
    'Purged 0 dead letter(s); 2 of the 2 were no longer in the DLQ (replayed or purged by others since the page was drawn).',
  );
  await deadLetters(1, 'late'); // bob's view is drawn again by his purge; alice's is not
  await alice.page.waitForSelector('#dlq-new:has-text("1 new dead letter(s) since drawn.")');
  await bob.page.click('#dlq-refresh');
  await bob.page.waitForSelector('#dlq-groups tbody tr:has-text("max_deliveries") button:has-text("Replay all 1")');
  await alice.page.click('#dlq-refresh');
  await alice.page.waitForSelector('#dlq-groups tbody tr:has-text("max_deliveries") button:has-text("Replay all 1")');
  await Promise.all([bob, alice].map(({ page }) => page.locator('#dlq-groups tbody tr:has-text("max_deliveries") button:has-text("Replay all 1")').click()));
  for (const { page } of [alice, bob]) await page.waitForSelector('#dlq-result:has-text("Replayed")');
  const results = (await Promise.all([alice, bob].map(({ page }) => page.textContent('#dlq-result')))).sort();
  assert.is(results[1], 'Replayed 1.');
  // The other's request listed the group after the first replayed it, or before (then its replay skipped it).
  assert.match(
    results[0] ?? '',
    /^Replayed 0; (1 of the 1 were no longer in the DLQ \(replayed or purged by others since the page was drawn\)|skipped 1 \(\d+-\d+: not in the DLQ\))\.$/,
    'the other is told why not',
  );
  const replayed = (await redis.xrange(keys.stream('in'), '-', '+')).map(([, f]) => f[f.indexOf('k') + 1]!).filter((k) => /^(both|late)-/.test(k));
  assert.equal(replayed.sort(), ['both-0', 'both-1', 'both-2', 'both-3', 'late-0'], 'each dead letter replayed once');
  assert.equal([...alice.errors, ...bob.errors], []);
});

test('review: two reviewers save the same item; the second is told in the item, by whom, and that their choice was not applied (it had been a banner for 8 s, the card left ready to save again)', async () => {
  await addReviewItems(redis, keys, 3, 100);
  const alice = await operator(ADMIN, 'review');
  const bob = await operator(ADMIN2, 'review');
  for (const { page } of [alice, bob]) await page.waitForSelector('form.card[data-key="r100"]');
  const labels = await redis.xlen(keys.extra('labels'));
  await alice.page.click('form.card[data-key="r100"] button:has-text("Save decision")');
  await alice.page.waitForSelector('form.card[data-key="r100"] p[role=status]:has-text("confirm → audio")');
  await bob.page.fill('form.card[data-key="r100"] input[name=brand]', 'Bobs Brand');
  await bob.page.click('form.card[data-key="r100"] button:has-text("Save decision")');
  const said = bob.page.locator('form.card[data-key="r100"] p[role=status]');
  await said.waitFor();
  assert.match(
    (await said.textContent()) ?? '',
    /^Not saved: r100 was decided by alice at .+ while this page was open\. Your choice \(audio, Bobs Brand\) was not applied\.$/,
  );
  assert.is(await bob.page.locator('form.card[data-key="r100"] button').count(), 0, 'nothing left to save');
  assert.ok(await bob.page.isDisabled('form.card[data-key="r100"] input[name=brand]'), 'the form is closed, its values still shown');
  assert.is(await bob.page.inputValue('form.card[data-key="r100"] input[name=brand]'), 'Bobs Brand');
  assert.is(await redis.xlen(keys.extra('labels')), labels + 1, 'one decision applied');
  assert.equal([...alice.errors, ...bob.errors], []);
});

test("review: two reviewers decide neighbouring items of one record (classify's and validate's); the second is told in the item that the other decision closed it", async () => {
  const origin = `${(await serverTimeMs(redis)) - 60_000}-0`;
  for (const from of ['classify', 'validate']) {
    const stages = from === 'classify' ? ['preprocess', 'classify'] : ['preprocess', 'classify', 'validate'];
    const env: Envelope = {
      ...newEnvelope({ id: 'twice', title: 'Bluecorp speaker 3000' }),
      origin,
      outputs: { classify: { category: 'audio', confidence: 0.4 }, ...(from === 'validate' ? { validate: { valid: true } } : {}) },
      hops: stages.map((stage) => ({ stage, consumer: 'c', readAt: 1, doneAt: 1, batch: 1 })),
    };
    await redis.xadd(keys.stream('review'), '*', 'k', 'twice', 'e', encodeEnvelope(env));
  }
  const alice = await operator(ADMIN, 'review');
  const bob = await operator(ADMIN2, 'review');
  for (const { page } of [alice, bob]) await page.waitForSelector('form.card[data-key="twice"]:has-text("sent by validate")');
  await alice.page.click('form.card[data-key="twice"]:has-text("sent by classify") button:has-text("Save decision")');
  await alice.page.waitForSelector('form.card[data-key="twice"] p[role=status]:has-text("confirm → audio")');
  await bob.page.click('form.card[data-key="twice"]:has-text("sent by validate") button:has-text("Save decision")');
  const said = bob.page.locator('form.card[data-key="twice"] p[role=status]');
  await said.waitFor();
  assert.match(
    (await said.textContent()) ?? '',
    /^Not saved: another item of twice was decided by alice at .+; this one is closed\. Your choice \(audio\) was not applied\.$/,
  );
  assert.equal([...alice.errors, ...bob.errors], []);
});

test('review: items decided by another reviewer are said beside Refresh and the page\'s "of N" follows the badge (it had said "of 5" beside a badge of 2); its own decisions are not counted as others\'', async () => {
  await redis.del(keys.stream('review'));
  await addReviewItems(redis, keys, 5, 200);
  const alice = await operator(ADMIN, 'review');
  const bob = await operator(ADMIN2, 'review');
  for (const { page } of [alice, bob]) await page.waitForSelector('#review-count:has-text("Items 1–5 of 5 undecided")');
  for (const key of ['r200', 'r201']) {
    await bob.page.click(`form.card[data-key="${key}"] button:has-text("Save decision")`);
    await bob.page.waitForSelector(`form.card[data-key="${key}"] p[role=status]:has-text("confirm")`);
  }
  await alice.page.click('form.card[data-key="r202"] button:has-text("Save decision")');
  await alice.page.waitForSelector('form.card[data-key="r202"] p[role=status]:has-text("confirm")');
  await alice.page.waitForSelector('#review-badge:text-is("2")');
  await alice.page.waitForSelector('#review-new:text-is("2 item(s) decided or closed by others since drawn.")');
  assert.is(await alice.page.textContent('#review-count'), 'Items 1–5 of 2 undecided, oldest first.', 'the live count, as the badge');
  await bob.page.waitForSelector('#review-new:text-is("1 item(s) decided or closed by others since drawn.")');
  assert.ok(await alice.page.isVisible('form.card[data-key="r200"] button:has-text("Save decision")'), 'still drawn until refreshed');
  await addReviewItems(redis, keys, 3, 205); // new items arrive: the difference is net (2 gone, 3 new)
  await alice.page.waitForSelector('#review-new:text-is("1 new item(s) to review since drawn.")');
  await alice.page.click('#review-refresh');
  // The live count already reads "of 5" before the refresh (2 undecided + 3 new): wait for a card
  // only the refreshed list has (r203-r207 drawn), which is drawn in the same task as the count.
  await alice.page.waitForSelector('form.card[data-key="r207"]');
  await alice.page.waitForSelector('#review-count:has-text("Items 1–5 of 5 undecided")');
  assert.is(await alice.page.locator('form.card[data-key="r200"]').count(), 0, 'items decided elsewhere are gone after Refresh');
  assert.is(await alice.page.textContent('#review-new'), '');
  assert.equal([...alice.errors, ...bob.errors], []);
});

test("review: `pipeline status` counts what is left to review as the console does (the console group's lag: not listed yet, and pending: listed, undecided; it showed the stream's length only)", async () => {
  await redis.del(keys.stream('review'));
  await addReviewItems(redis, keys, 60, 300);
  const { page, errors } = await operator(ADMIN, 'review');
  await page.waitForSelector('#review-count:has-text("Items 1–50 of 60 undecided")');
  await page.click('form.card[data-key="r300"] button:has-text("Save decision")');
  await page.waitForSelector('#review-badge:text-is("59")');
  const file = join(mkdtempSync(join(tmpdir(), 'console-ops-')), 'pipeline.json');
  writeFileSync(file, JSON.stringify(reviewRawConfig(pipeline)));
  const child = cli(['--config', file, 'status'], server.url);
  assert.is(await exited(child), 0, child.output());
  const row = child
    .output()
    .split('\n')
    .find((l) => l.startsWith('review '))
    ?.trim()
    .split(/\s+/);
  // stream, stage, length, added, lag, pending, consumers: 10 not listed + 49 listed and undecided = the badge's 59.
  assert.equal(row, ['review', '-', '60', '60', '10', '49', '1'], child.output());
  assert.equal(errors, []);
});

test('review: page 2 numbers its items by the undecided ones before it when drawn (it kept "Items 51–60" after others decided earlier items: "of 57")', async () => {
  await redis.del(keys.stream('review'));
  await addReviewItems(redis, keys, 60, 400);
  const { page, errors } = await operator(ADMIN, 'review');
  await page.waitForSelector('#review-count:text-is("Items 1–50 of 60 undecided, oldest first.")');
  await page.click('#review-next');
  await page.waitForSelector('#review-count:text-is("Items 51–60 of 60 undecided, oldest first.")');
  // Another reviewer decides three items of the first page.
  for (const [id] of await redis.xrange(keys.stream('review'), '-', '+', 'COUNT', 3)) {
    const res = await fetch(`${url}/console/api/review/${id}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN2}`, 'content-type': 'application/json' },
      body: JSON.stringify({ category: 'audio' }),
    });
    assert.is(res.status, 200, await res.text());
  }
  await page.waitForSelector('#review-new:text-is("3 item(s) decided or closed by others since drawn.")');
  await page.click('#review-refresh');
  await page.waitForSelector('#review-count:text-is("Items 48–57 of 57 undecided, oldest first.")');
  await page.click('#review-previous'); // the first page is a full 50 again, the newest three of them shown on page 2 too
  await page.waitForSelector('#review-count:text-is("Items 1–50 of 57 undecided, oldest first.")');
  assert.equal(errors, []);
});

test('workers: the view says when it was drawn, and Refresh draws it again (a consumer that joined since shows; the view had stood still, saying nothing)', async () => {
  await redis.xgroup('CREATE', keys.stream('in'), 'preprocess', '0', 'MKSTREAM');
  await redis.xgroup('CREATECONSUMER', keys.stream('in'), 'preprocess', 'first-consumer');
  const { page, errors } = await operator(ADMIN, 'workers');
  await page.waitForSelector('#worker-stages td:text-is("first-consumer")');
  assert.match((await page.textContent('#workers-drawn')) ?? '', /^As of .+; not redrawn by itself\.$/);
  await redis.xgroup('CREATECONSUMER', keys.stream('in'), 'preprocess', 'joined-since'); // another operator started a worker
  await page.click('#workers-refresh');
  await page.waitForSelector('#worker-stages td:text-is("joined-since")');
  assert.equal(errors, []);
});

test('signed in again (after a 401: a token rotated by another operator), the charts hold each sample once (the history was appended again: the line ran back to the left)', async () => {
  const { page, errors } = await operator(ADMIN, 'pipeline');
  await page.waitForSelector('#stages tbody tr[data-stage="preprocess"] svg.spark path.lag');
  await page.evaluate("sessionStorage.setItem('streamline-enrich.token', 'not-a-token-0123456789')");
  await page.click('#tabs button[data-tab=workers]'); // answered 401: the sign-in form
  await page.waitForSelector('#login:not([hidden])');
  assert.is(await page.textContent('#login-error'), 'That token was not accepted.');
  await page.fill('#token', ADMIN);
  await page.click('#login button[type=submit]');
  await page.click('#tabs button[data-tab=pipeline]');
  const path = page.locator('#stages tbody tr[data-stage="preprocess"] svg.spark path.lag');
  await path.waitFor();
  const xs = ((await path.getAttribute('d')) ?? '').match(/[ML] [\d.]+/g)!.map((m) => Number(m.slice(2)));
  assert.ok(xs.length > 2, 'a line of several samples');
  assert.ok(
    xs.every((x, i) => i === 0 || x >= xs[i - 1]!),
    `x only grows: ${xs.join(' ')}`,
  );
  assert.equal(errors, []);
});

test.after(async () => {
  for (const c of contexts) await c.close();
  await browser.close();
  await app.close();
  redis.disconnect();
  await server.stop();
});

test.run();
