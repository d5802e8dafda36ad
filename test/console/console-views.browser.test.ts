/**
 * The console's products, workers and dead-letter views in a real browser (Debian's headless
 * Chromium through playwright-core, as test/console/console-pages.browser.test.ts) and through their API,
 * against a real `pipeline serve` and Redis with no workers: what the recent-products filter
 * searched, fused stages in the workers view, dead letters arrived since the page was drawn,
 * review items whose entries were trimmed, a pipeline with nothing yet, a trace past the DLQ it searched.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../lib/config/load.js';
import type { PipelineConfig } from '../../lib/config/types.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { isLivenessMarker, Keys } from '../../lib/redis/keys.js';
import { encodeEnvelope, newEnvelope } from '../../lib/stream/codec.js';
import { StageProcess } from '../../lib/worker/process.js';
import { STAGES } from '../../stages/index.js';
import { FAST, stageThenStore } from '../helpers/pipeline.js';
import { randomPipeline, waitFor } from '../helpers/redis.js';
import { signedIn } from '../helpers/browser.js';
import { consoleInBrowser } from '../helpers/console-browser.js';
import { ADMIN, READ, addDeadLetter, addReviewItems, auth, reviewConfig, startConsole } from '../helpers/console.js';

const pipeline = randomPipeline('cv');
const keys = new Keys(pipeline);
const { server, redis, url, browser } = await consoleInBrowser(test, (redisUrl) => reviewConfig(redisUrl, pipeline), { console: { sampleIntervalMs: 250 } });

/** A page signed in as admin on `tab` (of the console at `at`); uncaught errors of the page are collected in `errors`. */
const open = (tab: string, at = url) => signedIn(browser, at, ADMIN, tab);

/** `n` stored products (hash and completion, as the store stage writes them), with `category` and `confidence`. */
async function stored(n: number, prefix: string, category: string, confidence: number): Promise<void> {
  const p = redis.pipeline();
  for (let i = 0; i < n; i++) {
    const id = `${prefix}${i}`;
    p.hset(keys.product(id), 'category', category, 'confidence', String(confidence), 'brand', 'Koss', 'storedAt', String(Date.now()));
    p.xadd(keys.extra('done'), '*', 'k', id, 's', 'stored');
  }
  await p.exec();
}

const recent = async (q: string) => {
  const res = await fetch(`${url}/console/api/products?${q}`, { headers: auth(READ) });
  return { status: res.status, body: (await res.json()) as { products: { id: string }[]; scanned: number; completions: number; message?: string } };
};

test('recent products: category ignores case, confidence is entered as the percentage shown, the answer and the page say how many completions were searched (they had not; "Audio" and 90 found nothing)', async () => {
  await stored(3, 'old', 'audio', 0.95); // older than the newest 500
  await stored(500, 'new', 'computing', 0.5);
  const old = await recent('category=Audio');
  assert.is(old.status, 200);
  assert.equal(old.body.products, [], 'the old ones are not among the newest 500');
  assert.is(old.body.scanned, 500);
  assert.is(old.body.completions, 503);
  await stored(2, 'hi', 'audio', 0.95);
  await stored(1, 'lo', 'audio', 0.4);
  const audio = await recent('category=Audio&limit=500');
  assert.equal(audio.body.products.map((p) => p.id).sort(), ['hi0', 'hi1', 'lo0']);
  const sure = await recent('category=AUDIO&minConfidence=0.9');
  assert.equal(sure.body.products.map((p) => p.id).sort(), ['hi0', 'hi1']);
  const pct = await recent('minConfidence=90');
  assert.is(pct.status, 400, 'a percentage sent to the API is refused, not matched against nothing');
  assert.match(pct.body.message ?? '', /minConfidence/);

  const { page, errors } = await open('products');
  await page.waitForSelector('#recent-status:has-text("searched the newest 500 of 506 completions")');
  await page.fill('#filter input[name=category]', 'Audio');
  await page.fill('#filter input[name=minConfidence]', '90');
  await page.click('#filter button');
  await page.waitForSelector('#recent-status:has-text("2 product(s); searched the newest 500 of 506")');
  assert.equal((await page.locator('#recent tbody tr td:first-child').allTextContents()).sort(), ['hi0', 'hi1']);
  assert.is(await page.locator('#recent tbody tr td:nth-child(3)').first().textContent(), '95.0%');
  await page.fill('#filter input[name=minConfidence]', '0.9x');
  await page.click('#filter button');
  await page.waitForSelector('#recent-status:has-text("Confidence is a percentage from 0 to 100.")');
  assert.equal(errors, []);
  await page.close();
});

test('workers: a stage run fused in its process says "runs fused in <process>" with its liveness marker (it had said "0 consumer(s)", looking dead, and "0" in the stage table); no events says which stream, not a literal {p}', async () => {
  const name = randomPipeline('cvf');
  const fk = new Keys(name);
  const raw = stageThenStore(name, { name: 'preprocess', kind: 'preprocess' }, FAST) as PipelineConfig;
  raw.stages = raw.stages.map((s) => ({ ...s, process: 'front' }));
  const fusedConfig = resolveConfig(raw, 'test', { env: { REDIS_URL: server.url } });
  const proc = new StageProcess({ config: fusedConfig, stages: ['preprocess', 'store'], kinds: STAGES, logger: silentLogger });
  const run = proc.run();
  const other = await startConsole(fusedConfig, { sampleIntervalMs: 250 }).catch(async (err: unknown) => {
    await proc.stop(); // the try below has not begun: left running, it would hold the process
    await run;
    throw err;
  });
  try {
    await redis.xadd(fk.stream('in'), '*', 'k', 'f1', 'e', encodeEnvelope(newEnvelope({ id: 'f1', title: 'Koss EQ50 3-Band Stereo Equalizer' })));
    await waitFor('stored', async () => (await redis.scard(fk.products)) === 1, 10_000);
    // Redis makes a group's consumer when it is first delivered an entry: store's reader, blocked on its empty stream, is none yet.
    const [group] = (await redis.xinfo('GROUPS', fk.stream('store'))) as unknown[][];
    assert.is(group![group!.indexOf('consumers') + 1], 0, 'precondition: store has no consumer of its own');
    // A log line that is no event of the view's: the stream is not empty.
    await redis.xadd(fk.extra('logs'), '*', 'log', JSON.stringify({ event: 'batch.done', stage: 'store' }));
    // The view reads the markers once, when drawn: wait for store's watchdog to have written one since
    // the record, back at reading (a loaded machine is slow to; one written before it says processed 0,
    // and one written mid-batch another phase, as CI runs drew them).
    const marker1 = async () => {
      const keys = (await redis.keys(fk.liveness('store', '*'))).filter(isLivenessMarker);
      if (keys.length !== 1) return false;
      const marker = JSON.parse((await redis.get(keys[0]!)) ?? '{}') as { processed?: number; phase?: string };
      return marker.processed === 1 && marker.phase === 'reading';
    };
    await waitFor("store's liveness marker, written after the record", marker1, 10_000);
    const { page, errors } = await open('workers', other.url);
    const store = page.locator('#worker-stages h2[data-stage=store]');
    await store.waitFor();
    const heading = (await store.textContent()) ?? '';
    assert.match(heading, 'runs fused in front (in the batches of preprocess)');
    assert.not.match(heading, '0 consumer(s)');
    const table = page.locator('#worker-stages h2[data-stage=store] + table');
    // Its watchdog's marker, under the process's consumer (its stream has no consumer of its own).
    const marker = table.locator('tr:has-text("(fused)")');
    await marker.waitFor();
    const markerText = (await marker.textContent()) ?? '';
    assert.match(markerText, /reading · processed 1 · progress/, `the fused marker's row: ${markerText}`);
    const events = (await page.locator('#worker-events tbody td').first().textContent()) ?? '';
    assert.match(events, `No autoscaler, supervisor or watchdog events among the newest 1 lines of ${fk.extra('logs')}`);
    assert.not.match(events, '{p}');
    await page.click('#tab-pipeline');
    const consumers = page.locator('#stages tbody tr[data-stage=store] td:nth-child(4)');
    await consumers.waitFor();
    const cell = (await consumers.textContent()) ?? '';
    assert.is(cell, '0 · runs fused in front');
    assert.equal(errors, []);
    await page.close();
  } finally {
    await other.app.close();
    await proc.stop();
    await run;
  }
});

test('dead letters: "N new dead letter(s) since drawn" from the live count, Refresh redraws at the same page, and a tab switch keeps the page (the view had never refreshed, and a switch went back to the first page)', async () => {
  await Promise.all(Array.from({ length: 201 }, (_, i) => addDeadLetter(redis, keys, { id: `dl${i}`, title: 'Koss EQ50 3-Band Stereo Equalizer' })));
  const { page, errors } = await open('dlq');
  await page.waitForSelector('#dlq-entries tbody tr:has-text("dl0")');
  await page.click('#dlq-older');
  await page.waitForSelector('#dlq-entries tbody tr:has-text("dl200")');
  assert.is(await page.locator('#dlq-entries tbody tr').count(), 1, 'the second page holds the 201st');
  const second = await page.textContent('#dlq-page');
  await page.click('#tab-review');
  // The switch redraws the view (its count "drawn" included); the old rows stay in the DOM meanwhile, so wait for the redraw's
  // requests: dead letters added before it answers would count as drawn, not new (a flake under load).
  const redrawn = Promise.all(['/console/api/dlq?', '/console/api/audit'].map((path) => page.waitForResponse((r) => r.url().includes(path))));
  await page.click('#tab-dlq');
  await redrawn;
  await page.waitForSelector('#dlq-entries tbody tr:has-text("dl200")');
  assert.is(await page.textContent('#dlq-page'), second, 'back on the dead letters tab, the same page');
  assert.not.ok(await page.isDisabled('#dlq-first'));
  await addDeadLetter(redis, keys, { id: 'fresh1', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  await addDeadLetter(redis, keys, { id: 'fresh2', title: 'Koss EQ50 3-Band Stereo Equalizer' });
  await page.waitForSelector('#dlq-new:has-text("2 new dead letter(s) since drawn.")');
  assert.is(await page.locator('#dlq-entries tbody tr:has-text("fresh")').count(), 0, 'not drawn until asked');
  await page.click('#dlq-refresh');
  await page.waitForSelector('#dlq-entries tbody tr:has-text("fresh2")');
  assert.is(await page.locator('#dlq-entries tbody tr').count(), 3, 'the same page, now with the two new ones');
  assert.is(await page.textContent('#dlq-new'), '');
  assert.equal(errors, []);
  await page.close();
  await redis.del(keys.dlq);
});

test('review: items whose entries were trimmed are counted apart and listed by id (they had been "undecided" that no page showed), the node says so, and Acknowledge clears them', async () => {
  await addReviewItems(redis, keys, 5, 1000);
  const { page, errors } = await open('review');
  await page.waitForSelector('#review-count:has-text("Items 1–5 of 5")');
  assert.ok(await page.isHidden('#review-trimmed'), 'nothing trimmed: no box');
  await redis.xtrim(keys.stream('review'), 'MAXLEN', 2); // r1000..r1002 were listed and go
  await page.click('#tab-pipeline');
  await page.waitForSelector('#graph .node[data-stage="review"] .sub:has-text("2 to review · 3 trimmed")');
  assert.is(await page.textContent('#review-badge'), '2');
  await page.click('#tab-review');
  await page.waitForSelector('#review-count:has-text("Items 1–2 of 2")');
  assert.match((await page.textContent('#review-trimmed-count')) ?? '', /^3 review item\(s\) whose entries were trimmed/);
  assert.is(await page.locator('#review-trimmed-ids li').count(), 3, 'each listed by id');
  await page.click('#review-trimmed-actions button:has-text("Acknowledge 3 trimmed")');
  await page.waitForSelector('#review-trimmed-record:has-text("Acknowledged 3 item(s). So far 3 acknowledged")');
  assert.is(await page.textContent('#review-trimmed-count'), 'No review items whose entries were trimmed.');
  assert.is(await page.locator('form.card').count(), 2, 'the reviewable items stay');
  assert.equal(errors, []);
  await page.close();
});

/** What the test reads of an SVG element in the page (no DOM types here). */
type Svg = { querySelector(selector: string): { getAttribute(name: string): string | null } | null };

test("a stage chart's unknown rate (null: a counter went backwards, lib/ops/rates.ts) is a gap in its line, not a drop to 0", async () => {
  const { page, errors } = await open('pipeline');
  const points = [
    { at: 0, lag: 4, outRate: 10 },
    { at: 1, lag: 4, outRate: 10 },
    { at: 2, lag: 4, outRate: null },
    { at: 3, lag: 4, outRate: 10 },
    { at: 4, lag: 4, outRate: 10 },
  ];
  const d = await page.evaluate(
    async ([module, pts]) => {
      const { sparkline } = (await import(module)) as { sparkline: (p: unknown) => Svg };
      const svg = sparkline(pts);
      return { out: svg.querySelector('path.out')!.getAttribute('d')!, lag: svg.querySelector('path.lag')!.getAttribute('d')! };
    },
    ['/console/graph.js', points] as const,
  );
  const ys = (path: string) => [...path.matchAll(/[ML] [\d.]+ ([\d.]+)/g)].map((m) => Number(m[1]));
  assert.is(ys(d.out).length, 4, `the 4 known rates only: ${d.out}`);
  assert.is(new Set(ys(d.out)).size, 1, `all at the same height, none at 0: ${d.out}`);
  assert.is((d.out.match(/M/g) ?? []).length, 2, `two segments around the gap: ${d.out}`);
  assert.is(ys(d.lag).length, 5, 'the lag line is whole');
  assert.equal(errors, []);
  await page.close();
});

test('a pipeline with nothing yet says so in every view, naming the pipelines Redis holds (all zeros, a blank entries table and Recent actions had been all); a trace past maxBulk dead letters says it searched only the newest (it said "no dead letter of it" of one there), and one no stage ran yet says so (its table was empty)', async () => {
  const fresh = randomPipeline('ce');
  const freshKeys = new Keys(fresh);
  const { app, url: at } = await startConsole(reviewConfig(server.url, fresh), { sampleIntervalMs: 250, maxBulk: 5 });
  try {
    const { page, errors } = await open('pipeline', at);
    await page.waitForSelector('#nothing-yet:visible');
    const nothing = (await page.textContent('#nothing-yet')) ?? '';
    assert.ok(nothing.startsWith(`Nothing of pipeline "${fresh}" in this Redis yet`), nothing);
    assert.ok(nothing.includes('this Redis holds the pipelines') && nothing.includes(pipeline), `the file's pipeline named: ${nothing}`);
    await page.click('#tab-dlq');
    await page.waitForSelector('#dlq-groups td:has-text("No dead letters.")');
    assert.is(await page.textContent('#dlq-entries tbody'), 'No dead letters.');
    assert.match((await page.textContent('#audit')) ?? '', /^No actions yet/);
    await page.click('#tab-products');
    await page.waitForSelector('#recent-status:has-text("No product stored yet")');
    await page.click('#tab-review');
    await page.waitForSelector('#review-items p:has-text("Nothing to review.")');
    // One dead letter of the product, then maxBulk newer ones: the trace reads those only.
    await addDeadLetter(redis, freshKeys, { id: 'early-one', title: 'Koss EQ50 3-Band Stereo Equalizer' });
    for (let i = 0; i < 5; i++) await addDeadLetter(redis, freshKeys, { id: `later-${i}`, title: 'Koss EQ50 3-Band Stereo Equalizer' });
    await page.waitForSelector('#nothing-yet', { state: 'hidden' }); // a dead letter: something ran
    await page.click('#tab-products');
    await page.fill('#find-id', 'early-one');
    await page.click('#find button');
    await page.waitForSelector('#trace p');
    assert.match((await page.textContent('#trace p')) ?? '', /no dead letter of it among the newest 5 dead letters \(older ones are not searched/);
    // A product waiting for its first stage (no worker): the trace says so, not an empty table.
    await redis.xadd(freshKeys.stream('in'), '*', 'k', 'waiting-1', 'e', encodeEnvelope(newEnvelope({ id: 'waiting-1', title: 'Koss EQ50' })));
    await page.fill('#find-id', 'waiting-1');
    await page.click('#find button');
    await page.waitForSelector('#trace h2:has-text("in flight")');
    assert.match((await page.textContent('#trace tbody')) ?? '', /^No stage has handed waiting-1 on yet/);
    assert.equal(errors, []);
    await page.close();
  } finally {
    await app.close();
  }
});

test.run();
