/**
 * A stored product of the redis sink whose hash cannot be read back (a doc that does not parse, no
 * doc, no storedAt) or whose doc lacks what `reprocess` rebuilds an envelope from (input, outputs,
 * hops: an older record) is counted and named on stderr with why, and the scan goes on past it:
 * `reprocess` counts it in `skipped.unreadable`, `export` leaves it out (`unreadable` in
 * `export.done`). A doc that did not parse had ended both runs half-way with a bare JSON error.
 */
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Keys } from '../../lib/redis/keys.js';
import { writeConfig } from '../helpers/pipeline.js';
import { randomPipeline, redisForFile } from '../helpers/redis.js';
import { runOverStored, writeStoredProduct } from '../helpers/stored-products.js';

const { server, redis } = await redisForFile(test);
const files: string[] = [];

/** `n` readable stored products (s0..) and the odd ones: a doc cut short, a hash without doc or storedAt, a doc without hops. */
async function stored(n: number): Promise<string> {
  const pipeline = randomPipeline('u');
  const keys = new Keys(pipeline);
  for (let i = 0; i < n; i++) await writeStoredProduct(redis, keys, `s${i}`, i);
  const now = String(Date.now());
  await redis.hset(keys.product('cut'), { doc: '{"key":"cut","input":{"title":"Acme', category: 'widgets', entry: '2-1', trace: 'x', storedAt: now });
  await redis.hset(keys.product('bare'), { category: 'widgets' });
  const noHops = { key: 'old', input: { id: 'old', title: 'Acme old' }, outputs: {}, route: ['preprocess', 'validate', 'store'] };
  await redis.hset(keys.product('old'), { doc: JSON.stringify(noHops), category: 'widgets', entry: '2-3', trace: 'z', storedAt: now });
  await redis.sadd(keys.products, 'cut', 'bare', 'old');
  const config = writeConfig(pipeline);
  files.push(config);
  return config;
}

const run = (config: string, args: string[]) => runOverStored(server.url, config, args);

test('reprocess: unreadable stored products are counted in skipped.unreadable and named with why; every readable one is put back', async () => {
  const config = await stored(40);
  // --page 4: the odd ones come on some page in the middle, not only at the end.
  for (const args of [['--dry-run'], ['--since', '1h', '--dry-run'], []]) {
    const r = await run(config, ['reprocess', '--from-stage', 'validate', '--page', '4', ...args]);
    assert.is(r.code, 0, r.out);
    assert.is(r.done.scanned, 43, r.out);
    assert.is(r.done.reprocessed, 40, r.out);
    assert.is((r.done.skipped as Record<string, number>).unreadable, 3, r.out);
    assert.match(r.out, /warning: 3 stored products could not be read, not put back \(kept in the sink as stored\): /);
    assert.match(r.out, /cut: its doc does not parse as JSON \(/);
    assert.match(r.out, /bare: the hash has no doc field/);
    assert.match(r.out, /old: its stored doc has no hops/);
  }
});

test('export: unreadable stored products are left out, counted (unreadable in export.done) and named; a doc without hops is exported', async () => {
  const config = await stored(10);
  const r = await run(config, ['export', '--page', '3']);
  assert.is(r.code, 0, r.out);
  const keys = r.out
    .split('\n')
    .filter((l) => l.startsWith('{"key"'))
    .map((l) => (JSON.parse(l) as { key: string }).key);
  assert.is(keys.length, 11, r.out);
  assert.ok(keys.includes('old'), r.out);
  assert.equal([r.done.exported, r.done.unreadable], [11, 2], r.out);
  assert.match(r.out, /warning: 2 stored products could not be read, not exported \(kept in the sink as stored\): /);
  assert.match(r.out, /cut: its doc does not parse as JSON/);
  assert.match(r.out, /bare: the hash has no doc field/);
});

test.after(async () => {
  for (const f of files) rmSync(f, { force: true });
});

test.run();
