/**
 * The console's dead-letter views on a large DLQ (a security review's findings): the summary is read
 * a page at a time and once for concurrent requests, a filter reads at most maxBulk entries and says
 * where it stopped, a product's trace reads the newest maxBulk only.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sharedWhileSame } from '../../lib/console/shared-result.js';
import { ConsoleSampler } from '../../lib/console/sampler.js';
import { silentLogger } from '../../lib/observe/logger.js';
import { Keys } from '../../lib/redis/keys.js';
import { rulesOnlyConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';
import { addDeadLetter, ADMIN, auth, READ, startConsole } from '../helpers/console.js';

const { server, redis } = await redisForFile(test);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = async (r: Promise<Response>): Promise<any> => (await r).json();

test('sharedWhileSame: concurrent and later callers share one call while the version stays; a new version or a failure reads again (pure)', async () => {
  let calls = 0;
  let fail = false;
  let version = 'a';
  const read = sharedWhileSame(async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 20));
    if (fail) throw new Error('boom');
    return calls;
  });
  const get = () => read(version);

  assert.equal(await Promise.all([get(), get(), get()]), [1, 1, 1]);
  assert.is(await get(), 1, 'kept while the version stays');
  version = 'b';
  assert.is(await get(), 2, 'read again for a new version');
  version = 'c';
  fail = true;
  assert.match(String(await get().catch((e: Error) => e.message)), /boom/);
  fail = false;
  assert.is(await get(), 4, 'a failure is not kept');
});

test('a filter that matches nothing reads maxBulk entries and says where it stopped (it had read the whole DLQ per call); a trace finds the newest dead letter', async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const config = rulesOnlyConfig(server.url, pipeline);
  const { app, url } = await startConsole(config, { sampleIntervalMs: 60_000, maxBulk: 50 });
  try {
    for (let i = 0; i < 120; i++) await addDeadLetter(redis, keys, { id: `old-${i}`, title: `item ${i}` });
    await addDeadLetter(redis, keys, { id: 'late', title: 'the newest one' }, 'validate', 'validate');
    const none = await json(fetch(`${url}/console/api/dlq?reason=no_route`, { headers: auth(READ) }));
    assert.equal([none.entries.length, none.scanned, none.complete], [0, 50, false]);
    const [fiftieth] = (await redis.xrange(keys.dlq, '-', '+', 'COUNT', 50)).slice(-1);
    assert.is(none.scannedTo, fiftieth![0]);
    // Going on from scannedTo reaches the end in maxBulk steps.
    const found: string[] = [];
    let calls = 0;
    for (let after = '', done = false; !done; calls++) {
      const page = await json(fetch(`${url}/console/api/dlq?stage=validate${after ? `&after=${after}` : ''}`, { headers: auth(READ) }));
      found.push(...page.entries.map((e: { key: string }) => e.key));
      [after, done] = [page.scannedTo, page.complete];
    }
    assert.equal([found, calls], [['late'], 3]);
    assert.equal([none.counted, none.total], [50, 121], 'the summary counts the oldest maxBulk');
    const trace = await json(fetch(`${url}/console/api/products/late`, { headers: auth(READ) }));
    assert.is(trace.state, 'dead_lettered');
    assert.equal(trace.deadLettersSearched, { scanned: 50, complete: false }, 'the newest maxBulk read');
    // A purge changes the DLQ: the next read shows it at once.
    const purged = await json(
      fetch(`${url}/console/api/dlq/purge`, {
        method: 'POST',
        headers: { ...auth(ADMIN), 'content-type': 'application/json' },
        body: JSON.stringify({ stage: 'preprocess', reason: 'max_deliveries', until: fiftieth![0] }),
      }),
    );
    assert.is(purged.purged, 50);
    const after = await json(fetch(`${url}/console/api/dlq`, { headers: auth(READ) }));
    assert.equal([after.total, after.counted], [71, 50]);
  } finally {
    await app.close();
  }
});

test("a stage's dead letters in the live sample are a whole count of a DLQ above 10,000: none until the first count ends, the last one while it is counted again after a replay (10,000 then 20,000 of 25,000 had been shown, a sample each)", async () => {
  const pipeline = randomPipeline();
  const keys = new Keys(pipeline);
  const p = redis.pipeline();
  for (let i = 0; i < 12_000; i++) p.xadd(keys.dlq, '*', 'k', `d${i}`, 'e', 'x', 'stage', 'preprocess', 'reason', 'max_deliveries');
  await p.exec();
  const sampler = new ConsoleSampler({ redis, config: rulesOnlyConfig(server.url, pipeline), logger: silentLogger });
  const preprocess = async () => {
    const s = (await sampler.sampleOnce())!;
    return [s.dlq, s.stages.find((x) => x.stage === 'preprocess')!.deadLetters];
  };
  assert.equal(await preprocess(), [12_000, null], 'the first 10,000 read: not a count yet');
  assert.equal(await preprocess(), [12_000, 12_000]);
  const [oldest] = (await redis.xrange(keys.dlq, '-', '+', 'COUNT', 1))[0]!;
  await redis.xdel(keys.dlq, oldest!); // replayed
  assert.equal(await preprocess(), [11_999, 12_000], 'counted again: the last whole count meanwhile');
  assert.equal(await preprocess(), [11_999, 11_999]);
});

test.run();
