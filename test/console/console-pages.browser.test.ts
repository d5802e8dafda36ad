/**
 * The console's pages in a real browser (Debian's headless Chromium through playwright-core, as
 * test/console/console.browser.test.ts), against a real `pipeline serve` and Redis with no workers: paging,
 * errors shown rather than thrown, busy buttons, layout with long text, empty states.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../../lib/stream/codec.js';
import { randomPipeline } from '../helpers/redis.js';
import { signedIn } from '../helpers/browser.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { addDeadLetter, addReviewItems, addUndecodableDeadLetter, ADMIN, auth, reviewConfig } from '../helpers/console.js';

const pipeline = randomPipeline('cp');
const keys = new Keys(pipeline);
const { server, redis, url, browser } = await consoleInBrowser(test, (redisUrl) => reviewConfig(redisUrl, pipeline), { console: { sampleIntervalMs: 250 } });

/** A page signed in as admin on `tab`; uncaught errors of the page are collected in `errors`. */
const open = (tab: string) => signedIn(browser, url, ADMIN, tab);

const toReview = (n: number) => addReviewItems(redis, keys, n);

test('review: 60 undecided items show as "1–50 of 60"; Next page reaches the newest, Previous goes back (only the 50 oldest had been reachable)', async () => {
  await toReview(60);
  const { page, errors } = await open('review');
  await page.waitForSelector('#review-count:has-text("Items 1–50 of 60")');
  assert.is(await page.locator('#review-items form.card').count(), 50);
  assert.ok(await page.isDisabled('#review-previous'));
  await page.click('#review-next');
  await page.waitForSelector('#review-count:has-text("Items 51–60 of 60")');
  assert.ok(await page.isVisible('form.card[data-key="r59"]'), 'the newest item is on the second page');
  assert.ok(await page.isDisabled('#review-next'), 'nothing newer');
  await page.click('#review-previous');
  await page.waitForSelector('#review-count:has-text("Items 1–50 of 60")');
  assert.ok(await page.isVisible('form.card[data-key="r0"]'));
  assert.equal(errors, []);
  await page.close();
});

test('dead letters: pages go oldest first and the button to the next one says newer, offered only while there are newer entries (it said "Older entries", and a full last page led to an empty one)', async () => {
  await redis.del(keys.dlq);
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) ids.push(await addDeadLetter(redis, keys, { id: `pg-${i}`, title: 'Koss EQ50 3-Band Stereo Equalizer' }));
  const { page, errors } = await open('dlq');
  await page.waitForSelector('#dlq-entries tbody tr:has-text("pg-199")');
  assert.is(await page.locator('#dlq-entries tbody tr').count(), 200);
  assert.ok(await page.isDisabled('#dlq-older'), 'all 200 on one page: no next page');
  ids.push(await addDeadLetter(redis, keys, { id: 'pg-200', title: 'Koss EQ50 3-Band Stereo Equalizer' }));
  await page.click('#dlq-refresh');
  await page.waitForSelector('#dlq-older:enabled');
  assert.is(await page.textContent('#dlq-page'), `${ids[0]} … ${ids[199]}`, 'the oldest 200 first');
  assert.match((await page.textContent('#dlq-older')) ?? '', /newer/);
  await page.click('#dlq-older');
  await page.waitForSelector('#dlq-entries tbody tr:has-text("pg-200")');
  assert.is(await page.textContent('#dlq-page'), `${ids[200]} … ${ids[200]}`, 'the next page holds the newer one');
  assert.ok(await page.isDisabled('#dlq-older'));
  assert.equal(errors, []);
  await redis.del(keys.dlq);
  await page.close();
});

test('dead letters: an id clicked after the entry is gone says so on the page (it had been an uncaught error, nothing shown)', async () => {
  const id = await addDeadLetter(redis, keys, { id: 'gone-1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  const { page, errors } = await open('dlq');
  await page.waitForSelector('#dlq-entries tbody tr:has-text("gone-1")');
  await redis.xdel(keys.dlq, id); // replayed or purged elsewhere since the page was drawn
  await page.click('#dlq-entries tbody tr:has-text("gone-1") a');
  await page.waitForSelector(`#dlq p.error:has-text("no dead letter ${id}")`);
  assert.equal(errors, [], 'no uncaught error');
  await page.close();
});

test('dead letters: a double click on Replay selected sends one request and says "Replayed 1." (two went, the second said Replayed 0); Replay all over 50 asks first; undecodable ones offer no replay', async () => {
  await redis.del(keys.dlq);
  await addDeadLetter(redis, keys, { id: 'dbl-1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  const { page, errors } = await open('dlq');
  const replays: string[] = [];
  page.on('request', (r) => void (r.url().endsWith('/console/api/dlq/replay') && replays.push(r.method())));
  await page.check('#dlq-entries tbody tr:has-text("dbl-1") input[type=checkbox]');
  await page.dblclick('#dlq-replay-selected');
  await page.waitForSelector('#dlq-result:has-text("Replayed")');
  assert.is(await page.textContent('#dlq-result'), 'Replayed 1.');
  assert.is(replays.length, 1, 'one request');

  await redis.del(keys.dlq);
  for (let i = 0; i < 51; i++) await addDeadLetter(redis, keys, { id: `many-${i}`, title: 'Koss EQ50 3-Band Stereo Equalizer' }, 'match', 'match');
  await addUndecodableDeadLetter(redis, keys, 'bad');
  await page.click('#tabs button[data-tab=dlq]'); // drawn again
  const row = page.locator('#dlq-groups tbody tr:has-text("match")');
  await row.waitFor();
  const asked: string[] = [];
  page.once('dialog', (d) => void (asked.push(d.message()), d.dismiss()));
  await row.locator('button:has-text("Replay all 51")').click();
  await page.waitForTimeout(300); // a request would have gone by now
  assert.equal(asked, ['Replay 51 dead letters of match/max_deliveries?']);
  assert.is(replays.length, 1, 'dismissed: nothing sent');
  assert.is(await redis.xlen(keys.dlq), 52);
  const bad = page.locator('#dlq-groups tbody tr:has-text("undecodable")');
  assert.is(await bad.locator('button:has-text("Replay")').count(), 0, 'no replay for undecodable');
  assert.match((await bad.textContent()) ?? '', /not replayable/);
  assert.equal(errors, []);
  await redis.del(keys.dlq);
  await page.close();
});

test('long unbroken text wraps: a 2,000-character error and a long output keep the page as wide as the window (it had been tens of thousands of px), and the trace keeps stage names whole', async () => {
  await redis.del(keys.dlq);
  const id = await addDeadLetter(redis, keys, { id: 'wide-1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  await addUndecodableDeadLetter(redis, keys, 'wide-2', 'E'.repeat(2000));
  const env: Envelope = {
    ...newEnvelope({ id: 'wide-3', title: 'T'.repeat(3000) }),
    outputs: { preprocess: { title: 'T'.repeat(3000) } },
    hops: [{ stage: 'preprocess', consumer: 'c', readAt: 1, doneAt: 2, batch: 1 }],
  };
  await redis.xadd(keys.stream('classify'), '*', 'k', 'wide-3', 'e', encodeEnvelope(env));
  const { page, errors } = await open('dlq');
  await page.waitForSelector('#dlq-entries tbody tr:has-text("wide-2")');
  await page.click(`#dlq-entries tbody tr:has-text("wide-1") a`);
  await page.waitForSelector('#dlq-detail:has-text("envelope")');
  const width = () => page.evaluate('document.documentElement.scrollWidth') as Promise<number>;
  assert.ok((await width()) <= 1366, `dead letters page ${await width()} px wide`);
  await page.click('#tabs button[data-tab=products]');
  await page.fill('#find-id', 'wide-3');
  await page.click('#find button');
  await page.waitForSelector('#trace .state.in_flight');
  assert.ok((await width()) <= 1366, `product trace ${await width()} px wide`);
  // Beside the long output, the stage and consumer names stay whole: one line each (they had been
  // squeezed to a few letters a line, "prepro|cess", in the docs' screenshot too).
  const lines = await page.$$eval('#trace table.hops tbody td:nth-child(-n+2)', (tds) =>
    tds.map((td) => {
      const range = td.ownerDocument.createRange();
      range.selectNodeContents(td);
      return `${td.textContent}: ${new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size}`;
    }),
  );
  assert.equal(lines, ['preprocess: 1', 'c: 1'], 'lines per cell');
  assert.equal(errors, []);
  await redis.xdel(keys.dlq, id);
  await page.close();
});

test('find by id: an unknown id and an empty one say so (an empty table had been all)', async () => {
  const { page, errors } = await open('products');
  await page.fill('#find-id', 'no-such-product');
  await page.click('#find button');
  await page.waitForSelector('#trace p:has-text("No product no-such-product: not stored")');
  await page.fill('#find-id', '  ');
  await page.click('#find button');
  await page.waitForSelector('#trace p:has-text("Enter a product id.")');
  assert.equal(errors, []);
  await page.close();
});

test('a link to a tab the page lacks opens the pipeline tab, a name every object has (#constructor, #toString) too: it had shown no tab at all', async () => {
  for (const tab of ['no-such-tab', 'constructor', 'toString', '__proto__']) {
    const { page, errors } = await open(tab);
    await page.waitForSelector('#pipeline:not([hidden])');
    assert.equal(await page.$$eval('#tabs button.active', (bs) => bs.map((b) => b.getAttribute('data-tab'))), ['pipeline'], tab);
    assert.equal(errors, [], tab);
    await page.close();
  }
});

test('loading the page and signing in asks for nothing the server lacks: no 404 (the browser had asked for /favicon.ico: a 404 logged per load)', async () => {
  const page = await browser.newPage();
  // (The page's first /console/api/me is a 401 by design: it asks for a token then.)
  const missing: string[] = [];
  page.on('response', (r) => {
    if (r.status() === 404) missing.push(r.url());
  });
  const icon = page.waitForResponse((r) => /favicon/.test(r.url()), { timeout: 10_000 });
  await page.goto(url);
  assert.is((await icon).status(), 200);
  await page.fill('#token', ADMIN);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#who:has-text("·")');
  assert.equal(missing, []);
  await page.close();
});

test('review: a 3,000-character title and a long key wrap inside the card, the page as wide as the window (it had been 27,000 px wide)', async () => {
  await redis.del(keys.stream('review'));
  const key = `wide-${'K'.repeat(400)}`;
  const env: Envelope = {
    ...newEnvelope({ id: key, title: 'T'.repeat(3000) }),
    outputs: { classify: { category: 'audio', confidence: 0.4 } },
    hops: [{ stage: 'classify', consumer: 'c', readAt: 1, doneAt: 2, batch: 1 }],
  };
  await redis.xadd(keys.stream('review'), '*', 'k', key, 'e', encodeEnvelope(env));
  const { page, errors } = await open('review');
  await page.waitForSelector('form.card .title:has-text("TTTT")');
  const width = (await page.evaluate('document.documentElement.scrollWidth')) as number;
  assert.ok(width <= 1366, `review page ${width} px wide`);
  assert.ok(await page.isVisible('form.card button:has-text("Save decision")'), 'the Save button is on screen');
  assert.equal(errors, []);
  await page.close();
});

test('review from the keyboard: Enter on the category saves, as in the other fields (the focus lands there after each decision, and Enter had done nothing)', async () => {
  await redis.del(keys.stream('review'));
  await addReviewItems(redis, keys, 2, 300);
  const { page, errors } = await open('review');
  await page.waitForSelector('form.card[data-key="r301"]');
  await page.focus('form.card[data-key="r300"] select[name=category]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('form.card[data-key="r300"] p[role=status]:has-text("r300: confirm → audio")');
  assert.is(await page.evaluate("document.activeElement.closest('form')?.dataset.key"), 'r301', "the focus is on the next item's category");
  await page.keyboard.press('ArrowDown'); // another category, chosen from the keyboard
  const chosen = await page.inputValue('form.card[data-key="r301"] select[name=category]');
  assert.is.not(chosen, 'audio');
  await page.keyboard.press('Enter');
  await page.waitForSelector(`form.card[data-key="r301"] p[role=status]:has-text("r301: correct → ${chosen}")`);
  const labels = (await redis.xrange(keys.extra('labels'), '-', '+')).map(([, f]) => JSON.parse(f[f.length - 1]!) as { id: string; category: string });
  assert.equal(
    labels.filter((l) => l.id.startsWith('r30')).map((l) => `${l.id}:${l.category}`),
    ['r300:audio', `r301:${chosen}`],
  );
  assert.equal(errors, []);
  await page.close();
});

test('review: exactly 50 undecided items (one full page) offer no next page (it was enabled, and led to "No newer items.")', async () => {
  await redis.del(keys.stream('review'));
  await addReviewItems(redis, keys, 50, 600);
  const { page, errors } = await open('review');
  await page.waitForSelector('#review-count:has-text("Items 1–50 of 50")');
  assert.ok(await page.isDisabled('#review-next'), 'nothing newer: no next page');
  await addReviewItems(redis, keys, 1, 650);
  await page.click('#review-refresh');
  await page.waitForSelector('#review-count:has-text("Items 1–50 of 51")');
  await page.click('#review-next:enabled');
  await page.waitForSelector('#review-count:has-text("Items 51–51 of 51")');
  assert.ok(await page.isVisible('form.card[data-key="r650"]'), 'the 51st is on the next page');
  assert.equal(errors, []);
  await page.close();
});

test('review from the keyboard: after a decision the focus goes to the next open item, past one already refused (a disabled picker had taken it, and the focus was lost)', async () => {
  await redis.del(keys.stream('review'));
  await addReviewItems(redis, keys, 3, 700);
  const { page, errors } = await open('review');
  await page.waitForSelector('form.card[data-key="r702"]');
  // Another reviewer decides r701 first: saving it here is refused, and its form is closed.
  const id = await page.getAttribute('form.card[data-key="r701"]', 'data-id');
  const other = await fetch(`${url}/console/api/review/${id}`, {
    method: 'POST',
    headers: { ...auth(ADMIN), 'content-type': 'application/json' },
    body: JSON.stringify({ category: 'audio' }),
  });
  assert.is(other.status, 200);
  await page.click('form.card[data-key="r701"] button:has-text("Save decision")');
  await page.waitForSelector('form.card[data-key="r701"] p.error:has-text("Not saved")');
  assert.ok(await page.isDisabled('form.card[data-key="r701"] select[name=category]'));
  await page.focus('form.card[data-key="r700"] select[name=category]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('form.card[data-key="r700"] p[role=status]:has-text("r700: confirm → audio")');
  assert.is(await page.evaluate("document.activeElement.closest('form')?.dataset.key ?? document.activeElement.tagName"), 'r702', 'the focus is on r702');
  assert.is(await page.evaluate('document.activeElement.name'), 'category');
  // The last open item decided: the focus stays on its status line.
  await page.keyboard.press('Enter');
  await page.waitForSelector('form.card[data-key="r702"] p[role=status]:has-text("r702: confirm → audio")');
  assert.is(await page.evaluate("document.activeElement.closest('form')?.dataset.key"), 'r702');
  assert.is(await page.evaluate("document.activeElement.getAttribute('role')"), 'status');
  assert.equal(errors, []);
  await page.close();
});

test('dead letters: a live sample taken before a purge and arriving after the redraw is not compared (it said the purged ones were new for one interval)', async () => {
  await redis.del(keys.dlq);
  for (let i = 0; i < 3; i++) await addDeadLetter(redis, keys, { id: `stale-${i}`, title: 'Koss EQ50 3-Band Stereo Equalizer' });
  const { page, errors } = await open('dlq');
  page.on('dialog', (d) => void d.accept());
  await page.waitForSelector('#dlq-entries tbody tr:has-text("stale-2")');
  await page.waitForSelector('#dlq-total:text-is("3")', { state: 'attached' }); // a sample that counted the 3
  const takenAt = Number(await page.getAttribute('#sampled-at', 'data-at'));
  await page.locator('#dlq-groups tbody tr:has-text("max_deliveries") button:has-text("Purge")').click();
  await page.waitForSelector('#dlq-result:has-text("Purged 3")');
  // That sample (3 dead letters, taken before the purge) arrives now, as the SSE stream can deliver it.
  // (The app's own module instance, called as its SSE handler calls it; read in the same task, before any later sample.)
  const said = await page.evaluate(
    `import('/console/dlq.js').then(({ dlqCount }) => { dlqCount(3, ${takenAt}); return document.querySelector('#dlq-new').textContent; })`,
  );
  assert.is(said, '', 'nothing new since drawn');
  await addDeadLetter(redis, keys, { id: 'stale-after', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  await page.waitForSelector('#dlq-new:has-text("1 new dead letter(s) since drawn.")'); // later samples still count
  assert.equal(errors, []);
  await redis.del(keys.dlq);
  await page.close();
});

// Last: it stops this file's Redis (and starts it again, empty).
test('a view whose first draw failed while Redis was away is drawn by its Refresh once Redis is back (Refresh had done nothing until the tab was switched)', async () => {
  const { page, errors } = await open('pipeline');
  const views = [
    { tab: 'dlq', add: () => addDeadLetter(redis, keys, { id: 'back-1', title: 'Koss EQ50' }), drawn: '#dlq-entries tbody tr:has-text("back-1")' },
    { tab: 'review', add: () => addReviewItems(redis, keys, 1, 400), drawn: 'form.card[data-key="r400"]' },
    { tab: 'workers', add: async () => {}, drawn: '#workers-drawn:has-text("As of")' },
  ];
  for (const { tab, add, drawn } of views) {
    await page.waitForSelector('#live-state:text-is("live")', { state: 'attached', timeout: 20_000 }); // (on the pipeline tab)
    await server.stop();
    await page.waitForSelector('#live-state:has-text("stale")', { state: 'attached' });
    await page.click(`#tabs button[data-tab=${tab}]`); // its first draw fails: 503, said on the page
    await page.waitForSelector(`#${tab} p.error`);
    await server.start();
    await page.waitForSelector('#live-state:text-is("live")', { state: 'attached', timeout: 20_000 }); // (on the pipeline tab)
    await add();
    await page.click(`#${tab}-refresh`);
    await page.waitForSelector(drawn);
    await page.click('#tabs button[data-tab=pipeline]');
  }
  assert.equal(errors, []);
  await page.close();
});

test.run();
