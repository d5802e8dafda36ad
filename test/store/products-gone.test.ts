/**
 * A member of the redis sink's products set with no stored product when its page is read (deleted
 * since SSCAN listed it, or a hash Redis lost) was passed over in silence: `reprocess` reported
 * fewer scanned with nothing to say why, `export` fewer lines. Now it is counted and said:
 * `skipped.gone` in `reprocess.done`, `gone` in `export.done`, and a warning on stderr naming how
 * many (stages/sinks/export.ts GoneTally).
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

/** `n` stored products (s0.., as the redis sink keeps them) and `gone` set members with no hash. */
async function stored(n: number, gone: string[]): Promise<{ config: string; keys: Keys }> {
  const pipeline = randomPipeline('g');
  const keys = new Keys(pipeline);
  for (let i = 0; i < n; i++) await writeStoredProduct(redis, keys, `s${i}`, i);
  if (gone.length) await redis.sadd(keys.products, ...gone);
  const config = writeConfig(pipeline);
  files.push(config);
  return { config, keys };
}

const run = (config: string, args: string[]) => runOverStored(server.url, config, args);

test('reprocess: two set members without a stored product are counted in skipped.gone (not in scanned) and said on stderr', async () => {
  const { config } = await stored(6, ['lost-a', 'lost-b']);
  const r = await run(config, ['reprocess', '--from-stage', 'validate', '--dry-run']);
  assert.is(r.code, 0, r.out);
  assert.is(r.done.scanned, 6, r.out);
  assert.is(r.done.reprocessed, 6, r.out);
  assert.is((r.done.skipped as Record<string, number>).gone, 2, r.out);
  assert.match(r.out, /warning: 2 members of the products set had no stored product when read/);
});

test('export: a set member without a stored product is not exported, and said (warning, gone in export.done); none gone, nothing said', async () => {
  const { config } = await stored(4, ['lost-a']);
  const r = await run(config, ['export']);
  assert.is(r.code, 0, r.out);
  const lines = r.out.split('\n').filter((l) => l.startsWith('{"key"'));
  assert.is(lines.length, 4, r.out);
  assert.equal([r.done.exported, r.done.gone], [4, 1], r.out);
  assert.match(r.out, /warning: 1 member of the products set had no stored product when read \(removed since the scan listed it, or lost by Redis\)/);

  const clean = await run((await stored(3, [])).config, ['export']);
  assert.equal([clean.done.exported, clean.done.gone], [3, 0], clean.out);
  assert.not.match(clean.out, /no stored product when read/);
});

test.after(async () => {
  for (const f of files) rmSync(f, { force: true });
});

test.run();
