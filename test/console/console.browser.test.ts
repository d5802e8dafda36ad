/**
 * The console in a real browser: Debian's headless Chromium driven by playwright-core against a
 * real `pipeline serve` (buildServer + the console plugin) and a real Redis with the pipeline
 * running. Screenshots (1366×768, a laptop screen) go to a temporary folder; with
 * UPDATE_SCREENSHOTS=1 they replace docs/images/, shown by docs/console.md (a test run leaves the tree clean).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { addDeadLetter, ADMIN, READ, reviewConfig } from '../helpers/console.js';

const IMAGES = process.env.UPDATE_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../docs/images') : mkdtempSync(join(tmpdir(), 'console-shots-'));

const pipeline = randomPipeline('c');
const keys = new Keys(pipeline);
const { redis, url, browser } = await consoleInBrowser(test, (redisUrl) => reviewConfig(redisUrl, pipeline, 0.9), {
  console: { sampleIntervalMs: 250 },
  workers: true,
});

const TITLES = [
  'Koss EQ50 3-Band Stereo Equalizer',
  'Kensington K72349US Wireless Mouse for Netbooks',
  'Imation Corp 50PK CDR 700MB 80MIN 52X-SPINDLE 17301',
  'Sony MDR-ZX100 Stereo Headphones',
  'Logitech K120 USB Keyboard',
  'Seagate 1TB Portable Hard Drive STBU1000100',
];
let n = 0;
async function produce(count: number, title = (i: number) => TITLES[i % TITLES.length]!): Promise<void> {
  const p = redis.pipeline();
  for (let i = 0; i < count; i++, n++) p.xadd(keys.stream('in'), '*', 'k', `p${n}`, 'e', encodeEnvelope(newEnvelope({ id: `p${n}`, title: title(n) })));
  await p.exec();
}

/** A page signed in with `token`, at a laptop's screen size. */
async function open(token: string, tab = 'pipeline'): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  page.on('pageerror', (err) => console.error('page error:', err.message));
  await page.goto(`${url}/#${tab}`);
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#who:has-text("·")');
  return page;
}

test('the page loads and the live numbers change while records flow (SSE, no reload)', async () => {
  const page = await open(ADMIN);
  await page.waitForSelector('#graph svg .node[data-stage="classify"]');
  await page.waitForSelector('#stages tbody tr[data-stage="store"]');
  assert.ok(await page.isVisible('#graph svg .node[data-stage="review"]'), 'the review stream is drawn');
  const stored = async () => Number(await page.textContent('#stored'));
  const before = await stored();
  await produce(40);
  await waitFor('stored count to rise on the page', async () => (await stored()) > before, 30_000, 100);
  // Records keep flowing while we wait: a rate is a difference between two samples, and a burst
  // that fits between them (a loaded machine) shows none.
  let lastSent = Date.now();
  await waitFor(
    'an out rate on the page',
    async () => {
      if (Date.now() - lastSent > 1_000) {
        lastSent = Date.now();
        await produce(10);
      }
      const rates = await page.$$eval('#stages tbody td.out', (tds) => tds.map((td) => Number(td.textContent)));
      return rates.some((r) => r > 0);
    },
    30_000,
    100,
  );
  assert.ok((await page.textContent('#live-state')) === 'live');
  await produce(400, (i) => TITLES[1 + (i % (TITLES.length - 1))]!); // sure ones: the review queue stays short
  // Screenshot while records flow: some stage shows an in rate.
  await waitFor(
    'records flowing on the page',
    async () => (await page.$$eval('#stages tbody td.in', (tds) => tds.map((td) => Number(td.textContent)))).some((r) => r > 0),
    30_000,
    50,
  );
  await page.screenshot({ path: `${IMAGES}/console-pipeline.png` });
  await page.close();
});

test('a dead letter is replayed from the page and arrives stored; the action names who did it', async () => {
  await addDeadLetter(redis, keys, { id: 'dead-1', title: 'Kensington K72349US Wireless Mouse for Netbooks' });
  const page = await open(ADMIN, 'dlq');
  await page.waitForSelector('#dlq-entries tbody input[type=checkbox]');
  await page.click('#dlq-entries tbody tr:has-text("dead-1") a');
  await page.waitForSelector('#dlq-detail:has-text("envelope")');
  await page.screenshot({ path: `${IMAGES}/console-dead-letters.png` });
  await page.check('#dlq-entries tbody tr:has-text("dead-1") input[type=checkbox]');
  await page.click('#dlq-replay-selected');
  await waitFor('replayed product stored', async () => (await redis.hget(keys.product('dead-1'), 'category')) !== null, 30_000);
  await page.waitForSelector('#audit li:has-text("alice")');
  assert.match((await page.textContent('#audit')) ?? '', /alice · dlq_replay · replayed 1/);
  assert.match((await page.textContent('#dlq-result')) ?? '', /^Replayed 1\.$/, 'the page says what the replay did');
  await page.close();
});

test("a group's Purge takes the dead letters the operator confirmed, not those arrived since the page was drawn (it had purged 6 after confirming 1)", async () => {
  await addDeadLetter(redis, keys, { id: 'late-0', title: 'Sony MDR-ZX100 Stereo Headphones' }, 'match', 'match');
  const page = await open(ADMIN, 'dlq');
  const row = page.locator('#dlq-groups tbody tr:has-text("match")');
  await row.waitFor();
  assert.is((await row.locator('td.num').textContent())?.trim(), '1');
  for (let i = 1; i <= 5; i++) await addDeadLetter(redis, keys, { id: `late-${i}`, title: 'Sony MDR-ZX100 Stereo Headphones' }, 'match', 'match');
  page.once('dialog', (d) => void d.accept());
  await row.locator('button:has-text("Purge")').click();
  await page.waitForSelector('#dlq-result:has-text("Purged")');
  assert.is(await page.textContent('#dlq-result'), 'Purged 1 dead letter(s).');
  const left = (await redis.xrange(keys.dlq, '-', '+')).filter(([, f]) => f[f.indexOf('stage') + 1] === 'match');
  assert.is(left.length, 5, 'the five that arrived after the page was drawn are still there');
  await redis.xdel(keys.dlq, ...left.map(([id]) => id)); // the next test counts the DLQ
  await page.close();
});

test('a review item is corrected in the page and arrives stored with the corrected category and reviewedBy', async () => {
  await produce(1, () => 'blue thing 3000');
  const id = `p${n - 1}`;
  await waitFor('routed to review', async () => (await redis.xlen(keys.stream('review'))) > 0, 30_000);
  const page = await open(ADMIN, 'review');
  const card = page.locator(`form.card[data-key="${id}"]`);
  await card.waitFor();
  assert.is(await card.locator('.top span').count(), 3, 'top three categories shown');
  await card.locator('select[name=category]').selectOption('audio');
  await card.locator('input[name=brand]').fill('Bluecorp');
  await page.screenshot({ path: `${IMAGES}/console-review.png` });
  // Enter in a field saves, as the Save decision button does; the result line takes the focus.
  await card.locator('input[name=brand]').press('Enter');
  await page.waitForSelector(`text=${id}: correct → audio`);
  assert.is(await page.locator(':focus').getAttribute('role'), 'status', 'focus on the result line');
  assert.is(page.url().split('#')[1], 'review', 'the page was not submitted away');
  await waitFor('stored after review', async () => (await redis.hget(keys.product(id), 'reviewedBy')) === 'alice', 30_000);
  assert.is(await redis.hget(keys.product(id), 'category'), 'audio');
  // Find it: the trip, with the review hop and the extractor of the corrected category.
  // Tabs are a WAI-ARIA tab list: the arrow keys move along it, aria-selected follows.
  await page.focus('#tabs button[data-tab=review]');
  await page.keyboard.press('ArrowRight');
  assert.is(await page.getAttribute('#tab-products', 'aria-selected'), 'true');
  assert.is(await page.getAttribute('#tab-review', 'aria-selected'), 'false');
  assert.ok((await page.isVisible('#products')) && !(await page.isVisible('#review')), 'the products panel shows');
  await page.fill('#find-id', id);
  await page.click('#find button');
  await page.waitForSelector('#trace .state.stored');
  const stages = await page.$$eval('#trace tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
  assert.ok(stages.includes('review') && stages.includes('extract.electronics'), stages.join(','));
  await page.screenshot({ path: `${IMAGES}/console-product.png`, fullPage: false });
  await page.close();
});

test('a read token sees but cannot act: no action buttons, and the POSTs answer 403', async () => {
  await addDeadLetter(redis, keys, { id: 'dead-2', title: 'Logitech K120 USB Keyboard' });
  const page = await open(READ, 'dlq');
  await page.waitForSelector('#dlq-entries tbody tr:has-text("dead-2")');
  assert.not.ok(await page.isVisible('#dlq-replay-selected'), 'replay button hidden');
  assert.is(await page.locator('#dlq-groups button').count(), 0, 'no replay/purge per reason');
  const status = await page.evaluate(
    async (t) =>
      (
        await fetch('/console/api/dlq/replay', {
          method: 'POST',
          headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
          body: JSON.stringify({ all: true }),
        })
      ).status,
    READ,
  );
  assert.is(status, 403);
  await page.click('#tabs button[data-tab=workers]');
  await page.waitForSelector('#worker-stages h2');
  await page.screenshot({ path: `${IMAGES}/console-workers.png` });
  assert.is(await redis.xlen(keys.dlq), 1, 'nothing replayed');
  await page.close();
});

test.run();
