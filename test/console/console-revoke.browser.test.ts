/**
 * The products view's Revoke (console/revoke.js, Debian's headless Chromium through playwright-core)
 * against a real server, Redis and workers: a record queued behind a paused stage is revoked from
 * its page with a reason, the page says it was marked and follows its status until it ends revoked,
 * never stored; one stored before the click answers with the status it ended with; a failed request
 * is said; a read-only token sees no button.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { Readable } from 'node:stream';
import { readAudit } from '../../lib/ops/audit.js';
import { produce } from '../../lib/producer/producer.js';
import { pauseStages, resumeStages } from '../../lib/ops/pause.js';
import { Keys } from '../../lib/redis/keys.js';
import { readStatus } from '../../lib/stream/status-value.js';
import type { Worker } from '../../lib/worker/worker.js';
import { FAST, rulesOnlyConfig, startWorkers, stopAll } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';
import { signedIn } from '../helpers/browser.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { ADMIN, ADMIN2, auth, READ } from '../helpers/console.js';

const pipeline = randomPipeline('crk');
const keys = new Keys(pipeline);
// Stopped before the console and Redis (the hooks run in the order added).
let workers: Worker[] = [];
test.after(() => stopAll(workers));
const { redis, config, app, url, browser } = await consoleInBrowser(test, (redisUrl) => rulesOnlyConfig(redisUrl, pipeline, { ...FAST, pausePollMs: 100 }));
// Paused before its workers start: every record submitted waits in the input stream, queued.
await pauseStages(redis, config, 'preprocess', { by: 'test' });
workers = startWorkers(config);

async function submit(id: string): Promise<void> {
  const r = await app.inject({ method: 'POST', url: '/v1/products', headers: auth(ADMIN), payload: [{ id, title: 'Kensington K72349US Wireless Mouse' }] });
  assert.is(r.statusCode, 202, r.body);
}

async function find(page: Page, id: string): Promise<void> {
  await page.fill('#find-id', id);
  await page.click('#find button');
  await page.waitForSelector(`#trace:has-text("${id}")`);
}

const revokeButton = (page: Page) => page.locator('#trace button.product-revoke');

test('a read-only token sees no Revoke, for a queued record or an id nothing is known of; the route refuses it 403 and the page says so', async () => {
  await submit('ro-1');
  const { page, errors } = await signedIn(browser, url, READ, 'products');
  await find(page, 'ro-1');
  await page.waitForSelector('#trace .state.in_flight');
  assert.is(await revokeButton(page).count(), 1, 'drawn, hidden by the read-only class');
  assert.is(await revokeButton(page).isVisible(), false);
  await find(page, 'never-sent-ro');
  assert.is(await revokeButton(page).isVisible(), false);
  // A script's click on the hidden button: the server refuses it, the page says so, nothing is marked.
  page.once('dialog', (d) => void d.accept(''));
  await page.evaluate("document.querySelector('#trace button.product-revoke').click()");
  await page.waitForSelector('#revoke-result.error');
  assert.match((await page.textContent('#revoke-result')) ?? '', /^Revoke of never-sent-ro failed: HTTP 403: /);
  assert.is(await redis.exists(keys.revokes), 0);
  assert.equal(errors, []);
  await page.close();
});

test('a failed revoke is said (no answer; a 5xx with its message), never swallowed', async () => {
  const { page, errors } = await signedIn(browser, url, ADMIN, 'products');
  await find(page, 'never-sent-1');
  // Nothing of it is known here: Revoke is offered all the same (it may wait deeper in a backlog).
  assert.match((await page.textContent('#trace')) ?? '', /No product never-sent-1/);
  page.on('dialog', (d) => void d.accept(''));
  await page.route('**/v1/products/never-sent-1/revoke', (r) => r.abort('connectionreset'));
  await revokeButton(page).click();
  await page.waitForSelector('#revoke-result.error');
  assert.match(
    (await page.textContent('#revoke-result')) ?? '',
    /^Revoke of never-sent-1 failed: no answer from the server \(.+\)\. Whether it was marked is not known/,
  );
  await page.unroute('**/v1/products/never-sent-1/revoke');
  await page.route('**/v1/products/never-sent-1/revoke', (r) =>
    r.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: 'redis_unavailable', message: 'Redis is not ready' }) }),
  );
  await page.waitForSelector('#trace button.product-revoke:not([disabled])');
  await revokeButton(page).click();
  await page.waitForSelector('#revoke-result:has-text("HTTP 503")');
  assert.is((await page.textContent('#revoke-result')) ?? '', 'Revoke of never-sent-1 failed: HTTP 503: Redis is not ready.');
  assert.is(await redis.exists(keys.revokes), 0);
  assert.equal(errors, []);
  await page.close();
});

test('an admin revokes a record queued behind a paused stage: marked with its cut-off, followed until it ends revoked, never stored; one stored before the click answers its status', async () => {
  await submit('rk-1');
  await submit('st-1');
  const a = await signedIn(browser, url, ADMIN, 'products');
  const b = await signedIn(browser, url, ADMIN2, 'products');
  await find(a.page, 'rk-1');
  await find(b.page, 'st-1');
  let asked = '';
  a.page.once('dialog', (d) => {
    asked = d.message();
    void d.accept('withdrawn from the catalogue');
  });
  await revokeButton(a.page).click();
  await a.page.waitForSelector('#revoke-result:has-text("Now queued at preprocess")');
  assert.match(asked, /^Revoke rk-1\? .*Reason \(optional\):$/s);
  const cutoff = (await redis.xrevrange(keys.stream('in'), '+', '-', 'COUNT', 1))[0]![0];
  assert.match((await a.page.textContent('#revoke-result')) ?? '', new RegExp(`^Revoked rk-1 \\(it was queued\\): versions sent up to input entry ${cutoff} `));
  assert.equal(
    (await readAudit(redis, keys)).map((e) => [e.action, e.by]),
    [['product_revoke', 'alice']],
  );

  // Resumed: the stage reads rk-1, acks it unprocessed; the page, following its status, draws it revoked.
  await resumeStages(redis, config, 'preprocess');
  await a.page.waitForSelector('#trace .state.revoked');
  await a.page.waitForSelector('#revoke-result:has-text("It ended")');
  assert.match((await a.page.textContent('#revoke-result')) ?? '', /It ended revoked at preprocess\.$/);
  assert.match((await a.page.textContent('#trace')) ?? '', /revoked at preprocess by api:alice: withdrawn from the catalogue/);
  assert.is(await revokeButton(a.page).count(), 0, 'an ended trip offers no Revoke');
  assert.is((await readStatus(redis, keys.status('rk-1'))).s, 'revoked');

  // st-1, drawn while queued, is stored meanwhile: its Revoke answers 409 with that status and the trace is drawn again.
  await waitFor('st-1 stored', async () => (await readStatus(redis, keys.status('st-1'))).s === 'stored');
  assert.is(await redis.exists(keys.product('rk-1')), 0, 'the revoked record is not stored');
  b.page.once('dialog', (d) => void d.accept(''));
  await revokeButton(b.page).click();
  await b.page.waitForSelector('#trace .state.stored');
  assert.match((await b.page.textContent('#revoke-result')) ?? '', /^st-1 was not revoked: its trip had ended stored; nothing changed\./);
  assert.is(await revokeButton(b.page).count(), 0);
  assert.is((await readStatus(redis, keys.status('st-1'))).s, 'stored');
  // Recent actions name the id, the outcome and the reason (they had listed a bare "product_revoke").
  await b.page.click('#tab-dlq');
  await b.page.waitForSelector('#audit li:has-text("product_revoke")');
  const actions = await b.page.locator('#audit li').allTextContents();
  assert.match(actions[0]!, /bob · product_revoke · st-1: not revoked, its trip had ended$/);
  assert.match(actions[1]!, /alice · product_revoke · rk-1: revoked: withdrawn from the catalogue$/);
  assert.equal([...a.errors, ...b.errors], []);
  await a.page.close();
  await b.page.close();
});

test('an id stored, then produced again: the page offers Revoke anyway (admin only), says the last trip ended and what force does, marks it audited, follows until the new version ends revoked; the overview and /metrics count it', async () => {
  await submit('fz-1');
  await waitFor('fz-1 stored', async () => (await readStatus(redis, keys.status('fz-1'))).s === 'stored');
  await pauseStages(redis, config, 'preprocess', { by: 'test' });
  await new Promise((res) => setTimeout(res, 500)); // every consumer has read the flag (pausePollMs 100)
  // As `pipeline produce` sends it: no queued status, so the id reads as ended while this version waits.
  await produce(redis, Readable.from([JSON.stringify({ id: 'fz-1', title: 'Kensington K72349US Wireless Mouse, v2' })]), {
    stream: keys.stream('in'),
    source: 'test',
    maxRecordBytes: 65536,
  });
  const ro = await signedIn(browser, url, READ, 'products');
  await find(ro.page, 'fz-1');
  await ro.page.waitForSelector('#trace .state.stored');
  assert.is(await ro.page.locator('#trace button.product-revoke-force').isVisible(), false, 'read-only: hidden');
  await ro.page.close();

  const { page, errors } = await signedIn(browser, url, ADMIN, 'products');
  await find(page, 'fz-1');
  await page.waitForSelector('#trace .state.stored');
  assert.is(await revokeButton(page).count(), 0, 'no plain Revoke: it would answer 409');
  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.accept('sent again by mistake');
  });
  await page.click('#trace button.product-revoke-force');
  await page.waitForSelector('#revoke-result:has-text("(its last trip)")');
  assert.match(
    asked,
    /^The last trip of fz-1 ended stored\. Revoke it anyway \(force, as pipeline revoke --force\)\? That trip stays as it ended .*Reason \(optional\):$/s,
  );
  const cutoff = (await redis.xrevrange(keys.stream('in'), '+', '-', 'COUNT', 1))[0]![0];
  assert.match(
    (await page.textContent('#revoke-result')) ?? '',
    new RegExp(`^Revoked fz-1 anyway \\(its last trip ended stored\\): versions sent up to input entry ${cutoff} .* Now stored at store \\(its last trip\\)`),
  );
  const [audited] = await readAudit(redis, keys);
  assert.equal([audited!.action, audited!.id, audited!.outcome, audited!.force, audited!.by], ['product_revoke', 'fz-1', 'revoked', true, 'alice']);

  await resumeStages(redis, config, 'preprocess');
  await page.waitForSelector('#revoke-result:has-text("It ended")');
  assert.match((await page.textContent('#revoke-result')) ?? '', /It ended revoked at preprocess\.$/);
  assert.is((await readStatus(redis, keys.status('fz-1'))).s, 'revoked');
  assert.is(await redis.exists(keys.product('fz-1')), 1, 'the stored product of the ended trip stays');

  // Recent actions say it was forced; the overview and /metrics count rk-1 and fz-1 revoked, and their two marks.
  await page.click('#tab-dlq');
  await page.waitForSelector('#audit li:has-text("fz-1")');
  assert.match(
    (await page.locator('#audit li').allTextContents())[0]!,
    /alice · product_revoke · fz-1: revoked \(forced: its last trip had ended\): sent again by mistake$/,
  );
  await page.click('#tab-pipeline');
  await page.waitForSelector('#revoked-total:text-is("2")');
  assert.is(await page.textContent('#revoke-marks'), '2');
  await waitFor('/metrics counts them', async () => {
    const body = (await app.inject({ method: 'GET', url: '/metrics', headers: auth(READ) })).body;
    return /\npipeline_revoked_records\{[^}]*\} 2\n/.test(body) && /\npipeline_revokes_marks\{[^}]*\} 2\n/.test(body);
  });
  assert.equal(errors, []);
  await page.close();
});

test.run();
